"""Every crictl command line the harness can emit uses only flags crictl has.

crictl cannot run here, so each public method of :class:`harness.cri.Crictl` (and the
deployment's ``crictl --version``) is driven against a recording transport with
representative arguments - every option on, and off - and each recorded argv is parsed
the way crictl parses it (tests/checks/crictl_argv.py) for every crictl release in
``fixtures/crictl-flags.json``: global flags, command, the command's flags and their value
types, the argument count, and no flag after an argument.  The broken-input tests show the
check failing on exactly the mistakes docs/behaviour/ecosystem.md §7 lists.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import ntpath
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from checks.crictl_argv import (
    ArgvProblem,
    crictl_flags,
    crictl_versions,
    parse_crictl_argv,
)

from harness.cmdline import cmd_command_line
from harness.cri import ContainerSpec, Crictl, PodSpec
from harness.cri.crictl import ContainerRef, Launch, PodRef
from harness.cri.output import expect_id
from harness.errors import HarnessError
from harness.transport.base import CommandResult

RUN = "20260813-070737-abc123"
POD_ID = "a" * 64
CTR_ID = "b" * 64
CRICTL = r"C:\Program Files\containerd\bin\crictl.exe"
NEWEST = crictl_versions()[-1]


# --- a recording transport that answers like crictl ------------------------------------------
def _sub(argv: list[str]) -> str | None:
    """The command of a crictl argv, read with the newest crictl's grammar (None: not crictl)."""
    if ntpath.basename(argv[0]).lower() != "crictl.exe":
        return None
    try:
        return parse_crictl_argv(argv, NEWEST).command
    except ArgvProblem:
        return "?"


def _pod_status(pod_id: str) -> dict:
    return {"status": {"id": pod_id, "metadata": {"name": "p", "namespace": "hpc-e2e",
                                                  "uid": "u", "attempt": 0},
                       "state": "SANDBOX_READY", "createdAt": "1723532857000000000",
                       "network": {"ip": ""}, "labels": {}, "annotations": {},
                       "runtimeHandler": "runhcs-wcow-hypervisor"},
            "info": {"runtimeType": "io.containerd.runhcs.v1"}}


def _ctr_status(cid: str) -> dict:
    return {"status": {"id": cid, "metadata": {"name": "c", "attempt": 0},
                       "state": "CONTAINER_RUNNING", "exitCode": 0,
                       "createdAt": "1723532857000000000", "image": {"image": "img"}},
            "info": {"sandboxID": POD_ID}}


def _answer(argv: list[str]) -> tuple[int, str, str]:
    sub = _sub(argv)
    if sub is None:  # mkdir, del, containerd.exe --version, ...
        name = ntpath.basename(argv[0]).lower()
        return 0, (f"{name} version v0.15.0\n" if "shim" in name else
                   "containerd github.com/containerd/containerd v1.7.22 abc\n"
                   if name == "containerd.exe" else ""), ""
    if "--version" in argv:
        return 0, "crictl version v1.31.1\n", ""
    parsed = parse_crictl_argv(argv, NEWEST) if sub != "?" else None
    args = parsed.arguments if parsed else []
    first = args[0] if args else ""
    return {
        "pull": (0, "Image is up to date for sha256:0123abc\n", ""),
        "images": (0, json.dumps({"images": [{"id": "sha256:0123abc", "repoTags": [
            "mcr.microsoft.com/windows/nanoserver:ltsc2025"]}]}), ""),
        "runp": (0, f"{POD_ID}\n", ""),
        "create": (0, f"{CTR_ID}\n", ""),
        "start": (0, f"{first}\n", ""),
        "stop": (0, f"{first}\n", ""),
        "rm": (0, f"{first}\n", ""),
        "stopp": (0, f"Stopped sandbox {first}\n", ""),
        "rmp": (0, f"Removed sandbox {first}\n", ""),
        "exec": (0, "hello\r\n\n", ""),
        "logs": (0, "log line\r\n", ""),
        "inspectp": (0, json.dumps(_pod_status(first) if len(args) == 1
                                   else [_pod_status(a) for a in args]), ""),
        "inspect": (0, json.dumps(_ctr_status(first) if len(args) == 1
                                  else [_ctr_status(a) for a in args]), ""),
        "pods": (0, json.dumps({"items": [{"id": POD_ID, "metadata": {"name": "p"}}]}), ""),
        "ps": (0, json.dumps({"containers": [{"id": CTR_ID, "podSandboxId": POD_ID}]}), ""),
        "info": (0, json.dumps({"status": {"conditions": [
            {"type": "RuntimeReady", "status": True},
            {"type": "NetworkReady", "status": True}]}}), ""),
        "version": (0, ("Version:  0.1.0\nRuntimeName:  containerd\nRuntimeVersion:  v1.7.22\n"
                        "RuntimeApiVersion:  v1\n"), ""),
    }.get(sub, (1, "", f"unexpected crictl command {sub}"))


class RecordingTransport:
    """Records every argv (each must render as a Windows command line) and every upload."""

    def __init__(self):
        self.argvs: list[list[str]] = []
        self.puts: dict[str, bytes] = {}
        self.target = SimpleNamespace(name="recording")

    def run(self, argv, *, timeout, stdin=None, check=False):
        if isinstance(argv, str):
            return self._batch(argv, stdin)
        argv = [str(a) for a in argv]
        cmd_command_line(argv)
        self.argvs.append(argv)
        rc, out, err = _answer(argv)
        return CommandResult(command=" ".join(argv), exit_code=rc, stdout_bytes=out.encode(),
                             stderr_bytes=err.encode())

    def _batch(self, line, stdin) -> CommandResult:
        """crictl_batch.ps1 (harness/cri/batch.py): each step's argv is recorded and answered
        like a single call; the files it writes count as uploads."""
        from harness.sim.winparse import split_argv
        from harness.transport.powershell import RESULT_PREFIX, bootstrap_command_line

        assert line == bootstrap_command_line(), line[:200]
        data = stdin if isinstance(stdin, bytes) else b"".join(stdin)
        first, *contents = data.split(b"\r\n")
        header = json.loads(base64.b64decode(first))
        assert header["name"] == "crictl_batch"
        args = header["args"]
        for f, content in zip(args.get("files") or [], contents):
            self.puts[f["path"]] = base64.b64decode(content)
        groups: dict[int, list[dict]] = {}
        for step in args["steps"]:
            groups.setdefault(step["group"], []).append(step)
        done, printed = [], {}
        for g, steps in groups.items():
            for i, step in enumerate(steps):
                arguments = step["arguments"]
                if "id_from" in step:
                    arguments = arguments.replace("@hpc-e2e-id@",
                                                  printed[(g, step["id_from"])].strip())
                argv = [step["file"], *split_argv("crictl.exe " + arguments)[1:]]
                self.argvs.append(argv)
                rc, out, err = _answer(argv)
                printed[(g, i)] = out
                done.append({"group": g, "index": i, "stage": step["stage"],
                             "command_line": arguments, "exit_code": rc, "stdout": out,
                             "stderr": err, "timed_out": False, "start_error": None,
                             "started": None, "ended": None})
                if rc:
                    break
        out = RESULT_PREFIX + json.dumps({"files": [], "steps": done}) + "\r\n"
        return CommandResult(command=line, exit_code=0, stdout_bytes=out.encode())

    def put(self, local, remote, **kw):
        with open(local, "rb") as f:
            self.puts[remote] = f.read()

    def crictl_argvs(self) -> list[list[str]]:
        return [a for a in self.argvs if ntpath.basename(a[0]).lower() == "crictl.exe"]


# --- every public method, every option ---------------------------------------------------------
def _pod() -> PodSpec:
    return PodSpec("hpc", host_process=True, run_as_username="NT AUTHORITY\\SYSTEM",
                   annotations={"microsoft.com/hostprocess-inherit-user": "true"})


def _ctr() -> ContainerSpec:
    return ContainerSpec("c0", "mcr.microsoft.com/windows/nanoserver:ltsc2025",
                         command=["cmd", "/c", "echo", "hi"], host_process=True)


def _pod_ref(c: Crictl) -> PodRef:
    return c.runp(_pod(), runtime_handler="runhcs-wcow-hypervisor")


def _ctr_ref(c: Crictl) -> ContainerRef:
    return c.create(_pod_ref(c), _ctr())


DRIVERS: dict[str, Callable[[Crictl], object]] = {
    "pull": lambda c: c.pull("mcr.microsoft.com/windows/nanoserver:ltsc2025"),
    "images": lambda c: (c.images(), c.images("mcr.microsoft.com/windows/nanoserver:ltsc2025")),
    "runp": lambda c: (c.runp(_pod()),
                       c.runp(_pod(), runtime_handler="runhcs-wcow-hypervisor",
                              cancel_timeout=600),
                       c.runp(_pod(), runtime_handler="runhcs-wcow-process",
                              cancel_timeout=1.5)),
    "stopp": lambda c: (c.stopp(POD_ID), c.stopp(_pod_ref(c))),
    "rmp": lambda c: (c.rmp(POD_ID), c.rmp(POD_ID, force=True)),
    "inspectp": lambda c: c.inspectp(POD_ID),
    "inspectp_many": lambda c: c.inspectp_many([POD_ID, "c" * 64]),
    "pods": lambda c: (c.pods(), c.pods(labels={"suite": "x", "case": "y"}, all_runs=True,
                                         name="^hpc$", state="SANDBOX_READY")),
    "create": lambda c: (c.create(_pod_ref(c), _ctr()),
                         c.create(_pod_ref(c), _ctr(), with_pull=True)),
    "start": lambda c: (c.start(CTR_ID), c.start(_ctr_ref(c))),
    "exec": lambda c: (c.exec(CTR_ID, ["cmd", "/c", "echo", "hello"]),
                       c.exec(CTR_ID, ["powershell", "-NoProfile", "-Command", "exit 3"],
                              timeout=2.5),
                       c.exec(CTR_ID, ["--", "-x"], timeout=1)),
    "inspect": lambda c: c.inspect(CTR_ID),
    "inspect_many": lambda c: c.inspect_many([CTR_ID, "d" * 64]),
    "ps": lambda c: (c.ps(), c.ps(pod=POD_ID, labels={"suite": "x"}, all_runs=True,
                                  all_states=False, name="^c0$", state="CONTAINER_RUNNING")),
    "logs": lambda c: (c.logs(CTR_ID), c.logs(CTR_ID, tail=0), c.logs(CTR_ID, tail=100)),
    "stop": lambda c: (c.stop(CTR_ID), c.stop(CTR_ID, timeout=0), c.stop(CTR_ID, timeout=30)),
    "rm": lambda c: (c.rm(CTR_ID), c.rm(CTR_ID, force=True)),
    "info": lambda c: c.info(),
    "version": lambda c: c.version(),
    "cleanup": lambda c: (c.upload("x.json", b"{}"), c.cleanup()),
    "create_and_start": lambda c: c.create_and_start(_pod_ref(c), _ctr()),
    "launch": lambda c: c.launch([
        Launch(_pod(), "runhcs-wcow-hypervisor", _ctr(), start=True, cancel_timeout=60),
        Launch(_pod(), None, _ctr(), with_pull=True), Launch(_pod()),
        Launch(pod=_pod_ref(c), container_spec=_ctr(), start=True)]),
    "rmp_many": lambda c: (c.rmp_many([POD_ID, "c" * 64]), c.rmp_many([POD_ID], force=False)),
}
# Plumbing the drivers above go through, not crictl commands of their own.
PLUMBING = {"argv", "deadline", "global_flags", "run", "upload", "put_file", "batch", "checked",
            "step"}

CLIENTS = {
    "defaults": {},
    "batches": {"batch": True},  # harness/cri/batch.py: the steps of crictl_batch.ps1
    "all options": {"timeout": 90.5, "runtime_endpoint": "npipe:////./pipe/containerd-containerd",
                    "image_endpoint": "npipe:////./pipe/containerd-containerd",
                    "config_path": r"C:\Program Files\containerd\bin\crictl.yaml"},
}


def _record(driver: str, client: str) -> list[list[str]]:
    transport = RecordingTransport()
    crictl = Crictl(transport, run_id=RUN, crictl_path=CRICTL, **CLIENTS[client])
    DRIVERS[driver](crictl)
    return transport.crictl_argvs()


@pytest.fixture(scope="module")
def recorded() -> dict[tuple[str, str], list[list[str]]]:
    return {(d, c): _record(d, c) for d in DRIVERS for c in CLIENTS}


def _deploy_version_argv(tmp_path) -> list[str]:
    """``crictl --version`` as the deployment runs it (harness.runtime.deploy.report_versions)."""
    from harness.runtime import RuntimeLayout, load_bundle
    from harness.runtime.deploy import report_versions
    from harness.sim.bundle import write_sim_bundle

    bundle = load_bundle(write_sim_bundle(tmp_path / "bundle"))
    layout = RuntimeLayout.for_bundle(bundle)

    class Host:
        transport = RecordingTransport()

    report_versions(Host, bundle, layout)
    argvs = Host.transport.crictl_argvs()
    assert argvs == [[layout.crictl_exe, "--version"]]
    return argvs[0]


def test_every_public_crictl_method_has_a_driver():
    public = {name for name, member in inspect.getmembers(Crictl, inspect.isfunction)
              if not name.startswith("_")}
    assert public - PLUMBING == set(DRIVERS), (
        "a public Crictl method without a driver here emits command lines nobody checks; "
        "add it to DRIVERS with every option on")


def test_every_driver_reaches_crictl(recorded):
    for (driver, client), argvs in recorded.items():
        assert argvs, f"{driver} ({client}) ran no crictl command"
    commands = {parse_crictl_argv(a, NEWEST).command
                for argvs in recorded.values() for a in argvs}
    assert commands == {"pull", "images", "runp", "stopp", "rmp", "inspectp", "pods", "create", "start",
                        "exec", "inspect", "ps", "logs", "stop", "rm", "info", "version"}


@pytest.mark.parametrize("version", crictl_versions())
def test_every_emitted_argv_parses_for_each_crictl_release(recorded, version, tmp_path):
    problems = []
    argvs = [a for argvs in recorded.values() for a in argvs] + [_deploy_version_argv(tmp_path)]
    for argv in argvs:
        try:
            parse_crictl_argv(argv, version)
        except ArgvProblem as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


def test_options_reach_crictl_as_the_flags_meant(recorded):
    """The parse is not vacuous: the values the client was given come out of crictl's parse."""
    runp = [parse_crictl_argv(a, NEWEST) for a in recorded[("runp", "all options")]]
    assert runp[1].flag("runtime") == "runhcs-wcow-hypervisor"
    assert runp[1].flag("cancel-timeout") == "600s"
    assert runp[2].flag("cancel-timeout") == "1500ms"
    assert dict(runp[0].global_flags)["timeout"] == "90500ms"
    assert dict(runp[0].global_flags)["runtime-endpoint"].startswith("npipe:")
    ex = [parse_crictl_argv(a, NEWEST) for a in recorded[("exec", "defaults")]]
    assert ex[0].flag("sync") is True and ex[0].flag("timeout") == "120"
    assert ex[0].arguments == [CTR_ID] and ex[0].command_line == ["cmd", "/c", "echo", "hello"]
    assert ex[1].command_line == ["powershell", "-NoProfile", "-Command", "exit 3"]
    assert ex[2].command_line == ["--", "-x"]
    create = parse_crictl_argv(recorded[("create", "defaults")][-1], NEWEST)
    assert create.flag("with-pull") is True and len(create.arguments) == 3
    stop = [parse_crictl_argv(a, NEWEST) for a in recorded[("stop", "defaults")]]
    assert [s.flag("timeout") for s in stop] == [None, "0", "30"]
    ps = parse_crictl_argv(recorded[("ps", "defaults")][-1], NEWEST)
    assert [v for n, v in ps.flags if n == "label"] == ["suite=x"]
    assert ps.flag("all") is None and ps.flag("pod") == POD_ID


# --- the fixture itself ----------------------------------------------------------------------
def test_the_fixture_covers_the_sim_bundles_crictl_and_the_newest_release():
    from harness.sim.bundle import DEFAULT_VERSIONS

    versions = crictl_versions()
    assert DEFAULT_VERSIONS["crictl"] in versions
    assert versions[-1] == "1.37.0"
    for v in versions:
        assert crictl_flags()["versions"][v]["commit"], v


@pytest.mark.parametrize("version", crictl_versions())
def test_the_fixture_is_consistent(version):
    spec = crictl_flags()["versions"][version]
    names = [n for f in spec["global"] for n in [f["name"], *f["aliases"]]]
    assert len(names) == len(set(names)), "a global flag name is listed twice"
    for cname, cmd in spec["commands"].items():
        names = [n for f in cmd["flags"] for n in [f["name"], *f["aliases"]]]
        assert len(names) == len(set(names)), f"{cname}: a flag name is listed twice"
        rule = cmd.get("positional") or {}
        named = set(rule.get("none_with", [])) | set((rule.get("with_filters") or {})
                                                      .get("flags", []))
        assert named <= {f["name"] for f in cmd["flags"]}, cname


# --- broken input: the check catches it -------------------------------------------------------
def _argv(*args: str) -> list[str]:
    return [CRICTL, "--config", r"C:\crictl.yaml", "--timeout", "300s", *args]


@pytest.mark.parametrize("argv, expected", [
    (_argv("runp", "--no-such-flag", "pod.json"), "flag provided but not defined: -no-such-flag"),
    ([CRICTL, "--no-such-flag", "version"], "flag provided but not defined: -no-such-flag"),
    # global --timeout is a Go duration; exec --timeout whole seconds (§7 "three timeouts")
    ([CRICTL, "--timeout", "300", "info"], 'invalid value "300" for flag -timeout (duration)'),
    (_argv("exec", "--sync", "--timeout", "5s", CTR_ID, "cmd"),
     'invalid value "5s" for flag -timeout (int64)'),
    (_argv("stop", "--timeout", "1m", CTR_ID), 'invalid value "1m" for flag -timeout (int64)'),
    (_argv("runp", "--runtime"), "flag needs an argument: -runtime"),
    (_argv("rmp", "--force=maybe", POD_ID), 'invalid value "maybe" for flag -force (bool)'),
    (_argv("no-such-command"), "crictl has no command 'no-such-command'"),
    (_argv(), "no command after the global flags"),
    # a global flag after the command is the command's business, and runp has no --config
    ([CRICTL, "runp", "--config", "x", "pod.json"], "flag provided but not defined: -config"),
])
def test_unknown_flags_and_bad_values_are_caught(argv, expected):
    for version in crictl_versions():
        with pytest.raises(ArgvProblem) as info:
            parse_crictl_argv(argv, version)
        assert expected in str(info.value), version


def test_max_retries_is_a_flag_from_crictl_1_37_only():
    """--max-retries was on cri-tools' development branch (docs/behaviour/ecosystem.md §7) and is in
    the v1.37.0 release (cmd/crictl/main.go; the real binary lists it: tests/realcri)."""
    argv = [CRICTL, "--max-retries", "3", "info"]
    for version in crictl_versions():
        if version == "1.37.0":
            parse_crictl_argv(argv, version)
            continue
        with pytest.raises(ArgvProblem) as info:
            parse_crictl_argv(argv, version)
        assert "flag provided but not defined: -max-retries" in str(info.value), version


@pytest.mark.parametrize("argv, expected", [
    # flags after a positional argument are not parsed (docs/behaviour/ecosystem.md §7)
    (_argv("runp", "pod.json", "--runtime", "runhcs-wcow-hypervisor"),
     "'--runtime' comes after the argument 'pod.json'"),
    (_argv("rmp", POD_ID, "-f"), "'-f' comes after the argument"),
    (_argv("inspectp", POD_ID, "--output", "json"), "'--output' comes after the argument"),
    # wrong argument counts: crictl prints its help and exits 0
    (_argv("create", POD_ID, "ctr.json"), "crictl create takes 3 arguments"),
    (_argv("runp"), "crictl runp takes 1 arguments"),
    (_argv("exec", "--sync", CTR_ID), "crictl exec takes 2.. arguments"),
    (_argv("ps", "--all", CTR_ID), "crictl ps takes 0 arguments"),
    (_argv("logs", CTR_ID, CTR_ID), "crictl logs takes 1 arguments"),
])
def test_flags_after_arguments_and_wrong_counts_are_caught(argv, expected):
    with pytest.raises(ArgvProblem) as info:
        parse_crictl_argv(argv, "1.31.1")
    assert expected in str(info.value)


def test_a_command_without_a_positional_rule_is_reported():
    with pytest.raises(ArgvProblem, match="no positional-argument rule"):
        parse_crictl_argv(_argv("imagefsinfo"), "1.31.1")


def test_the_exec_command_line_may_look_like_flags_but_its_id_may_not():
    parsed = parse_crictl_argv(_argv("exec", "-s", CTR_ID, "cmd", "/c", "dir", "-x"), "1.31.1")
    assert parsed.command_line == ["cmd", "/c", "dir", "-x"]
    # exec filters (1.32+) move the command to the first argument; 1.31 has no --name
    parsed = parse_crictl_argv(_argv("exec", "-s", "--name", "c0", "cmd", "/c", "dir"), "1.36.0")
    assert parsed.arguments == [] and parsed.command_line == ["cmd", "/c", "dir"]
    with pytest.raises(ArgvProblem, match="not defined: -name"):
        parse_crictl_argv(_argv("exec", "-s", "--name", "c0", "cmd"), "1.31.1")


def test_combined_short_options_follow_urfave():
    parsed = parse_crictl_argv(_argv("rmp", "-fa"), "1.31.1")
    assert ("force", True) in parsed.flags and ("all", True) in parsed.flags
    with pytest.raises(ArgvProblem, match="not defined: -fz"):
        parse_crictl_argv(_argv("rmp", "-fz", POD_ID), "1.31.1")
    # runp does not enable short-option handling: "-rT" is one (unknown) flag
    with pytest.raises(ArgvProblem, match="not defined: -rT"):
        parse_crictl_argv(_argv("runp", "-rT", "h", "pod.json"), "1.31.1")


def test_a_client_that_puts_the_handler_after_the_file_is_caught():
    """The whole pipeline - drive, record, parse - fails on a client with that mistake."""

    class Broken(Crictl):
        def runp(self, spec, *, runtime_handler=None, cancel_timeout=None):
            spec = spec.with_run_id(self.run_id)
            path = self.upload("pod.json", spec.render(self.run_id))
            result = self.run("runp", "runp", path, "--runtime", runtime_handler, rpc_factor=2)
            return PodRef(expect_id("runp", result), spec, runtime_handler, path)

    transport = RecordingTransport()
    with contextlib.suppress(HarnessError):  # the fake answers a malformed argv with exit 1
        Broken(transport, run_id=RUN, crictl_path=CRICTL).runp(
            _pod(), runtime_handler="runhcs-wcow-hypervisor")
    with pytest.raises(ArgvProblem, match="'--runtime' comes after the argument"):
        parse_crictl_argv(transport.crictl_argvs()[0], "1.31.1")
