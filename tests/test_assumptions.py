"""``hpc-e2e doctor --assumptions`` (issue 16): each observable guess of the simulated host.

On the default simulated host every guess holds by construction, so each check is also run
against a simulated host changed on purpose (a HostProfile field, or one of the sim's texts
replaced) and must then say ``fail``; and each check is fed a host that answers otherwise
through a stub transport, so none of them can pass whatever the host says.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli import main
from harness.commands import assumptions as A
from harness.cri import Crictl
from harness.errors import EXIT_NOT_READY, HarnessError
from harness.hosts import endpoint_target
from harness.runtime.sandbox_image import sandbox_image_for
from harness.sim.host import SimHost
from harness.sim.hostmodel import HostProfile
from harness.transport import open_transport
from harness.windows.errors import HostScriptError

PAUSE = sandbox_image_for(26100).image  # the default profile's build
ASSUMPTIONS_MD = Path(__file__).resolve().parents[1] / "harness" / "sim" / "ASSUMPTIONS.md"


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory):
    """One provisioned simulated host with the sandbox image, shared by the tests that
    change the sim only while the doctor runs (monkeypatch) and whose checks leave the host
    as it was (each of them asserts so)."""
    sim = SimHost(tmp_path_factory.mktemp("provisioned") / "state", ssh_port=None,
                  profile=HostProfile(restart_seconds=0.5)).start()
    try:
        code = main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)])
        assert code == 0
        pull_an_image(sim)
        yield sim
    finally:
        sim.stop()


def assumptions_json(capsys, sim) -> tuple[int, dict[str, dict]]:
    code = main(["doctor", "--assumptions", "--json", "--sim-state-dir", str(sim.state_dir)])
    (host,) = json.loads(capsys.readouterr().out)["hosts"]
    return code, {c["check"]: c for c in host["checks"]}


def failing_row(capsys, sim, check: str) -> dict:
    """The row of ``check`` on a host changed on purpose: it fails, and so does the doctor."""
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY, rows
    row = rows[check]
    assert row["status"] == "fail", row
    return row


def pull_an_image(sim) -> None:
    """The sandbox image: crictl-images-ref needs an image, crictl-reserved-name this one."""
    endpoint = json.loads(sim.endpoint_file.read_text())
    with open_transport(endpoint_target(endpoint)) as transport:
        Crictl(transport).pull(PAUSE)


def test_every_guess_holds_on_a_provisioned_default_simulated_host(serve_sim, capsys):
    sim = serve_sim()
    assert main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)]) == 0
    capsys.readouterr()
    pull_an_image(sim)  # crictl-images-ref needs an image to list
    code, rows = assumptions_json(capsys, sim)
    assert set(A.IDS) <= set(rows)
    statuses = {i: rows[i]["status"] for i in A.IDS}
    assert code == 0, rows
    # Observed and held, except the one a non-elevated account is needed for.
    assert statuses == {i: ("not checked" if i == "features-unelevated" else "ok")
                        for i in A.IDS}, rows
    # Nothing is left behind: no pod, no probe service.
    assert not sim.machine.cri.pods
    assert not sim.machine.services.exists(A.PROBE_SERVICE)
    assert not sim.machine.services.exists(A.EXIT_PROBE_SERVICE)
    assert not [p for p in sim.machine.fs.listdir(r"C:\ProgramData\hpc-e2e")
                if p.startswith("assumption-logs-")]


def test_a_host_without_the_nat_network_fails_hns_nat(serve_sim, capsys):
    sim = serve_sim(features={"Containers": "Installed", "Hyper-V": "Available"},
                 nat_network=None)
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY
    assert rows["hns-nat"]["status"] == "fail", rows["hns-nat"]
    assert "lists no 'nat' network" in rows["hns-nat"]["detail"]
    assert "ASSUMPTIONS.md" in rows["hns-nat"]["hint"]


def test_a_host_whose_hyper_v_runs_no_hypervisor_fails_hypervisor_view(serve_sim, capsys):
    # Hyper-V installed on a machine without virtualization extensions: no hypervisor runs,
    # where the guess says HypervisorPresent is true once Hyper-V is installed.
    sim = serve_sim(features={"Containers": "Installed", "Hyper-V": "Installed"},
                 hyperv_capable=False)
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY
    assert rows["hypervisor-view"]["status"] == "fail", rows["hypervisor-view"]
    assert "HypervisorPresent=False" in rows["hypervisor-view"]["detail"]


def test_a_non_elevated_account_observes_features_unelevated(serve_sim, capsys):
    sim = serve_sim(elevated=False)
    _, rows = assumptions_json(capsys, sim)
    assert rows["features-unelevated"]["status"] == "ok", rows["features-unelevated"]


def test_net_user_with_another_text_fails(serve_sim, capsys, monkeypatch):
    from harness.sim.programs import identity

    monkeypatch.setattr(identity, "NET_USER_NOT_FOUND", ("No such account.", ""))
    sim = serve_sim()
    code, rows = assumptions_json(capsys, sim)
    assert rows["net-user-unknown"]["status"] == "fail", rows["net-user-unknown"]
    assert "No such account." in rows["net-user-unknown"]["detail"]
    assert code == EXIT_NOT_READY


# --- each check fails when the host answers otherwise -------------------------------------------
def _result(exit_code: int, stdout: str = "", stderr: str = ""):
    return SimpleNamespace(exit_code=exit_code, stdout=stdout, stderr=stderr)


class StubContext(A.Context):
    """A host that answers every command with ``answers[argv[0]]``."""

    def __init__(self, answers, facts=None, crictl=True):
        files = SimpleNamespace(info=lambda paths: [SimpleNamespace(is_file=crictl)])
        host = SimpleNamespace(files=files, nat_network=lambda: None)
        layout = SimpleNamespace(crictl_exe=r"C:\c\crictl.exe", crictl_yaml=r"C:\c\crictl.yaml")
        super().__init__(transport=None, host=host, facts=facts, layout=layout)
        self.answers = answers

    def run(self, argv, timeout=A.TIMEOUT):
        key = argv[0] if argv[0] != self.layout.crictl_exe else f"crictl {argv[5]}"
        if key == "ping":
            key = f"ping {argv[-1]}"
        return self.answers[key]


LOOPBACK = _result(0, "Reply from 127.0.0.1: bytes=32 time<1ms TTL=128")
OTHER_ANSWERS = [
    ("net-user-unknown", {"net": _result(1, "", "The user name could not be found.")}),
    ("waitfor-timeout", {"waitfor": _result(0, "SUCCESS: Signal received.")}),
    ("ping-texts", {"ping 127.0.0.1": _result(0, "Reply from 127.0.0.1: TTL=64")}),
    ("ping-texts", {"ping 127.0.0.1": LOOPBACK,
                    f"ping {A.NO_SUCH_HOST}": _result(1, "Ping request could not find host "
                                                         "x. Check the name.")}),
    ("crictl-error-line", {"crictl inspectp": _result(1, "", "FATA[0000] no such pod")}),
    ("crictl-stop-missing", {"crictl stop": _result(1, "", 'time="2026-01-01T00:00:00Z" '
                                                           'level=fatal msg="NotFound"')}),
]


@pytest.mark.parametrize("check_id,answers", OTHER_ANSWERS,
                         ids=[f"{c}-{i}" for i, (c, _) in enumerate(OTHER_ANSWERS)])
def test_each_command_check_fails_on_another_answer(check_id, answers):
    check = next(a.check for a in A.ASSUMPTIONS if a.id == check_id)
    status, detail = check(StubContext(answers))
    assert status == A.DIFFERS, detail


@pytest.mark.parametrize("check_id,text", [
    ("get-service-text", "Cannot find any service with name 'hpc-e2e-no-such-service'."),
    ("create-directory-text", "An item with the specified name already exists."),
])
def test_each_script_check_fails_on_another_error_text(check_id, text, monkeypatch):
    def refuse(*args, **kwargs):
        raise HostScriptError(None, f"script failed: {text}", text=text)

    monkeypatch.setattr(A, "call", refuse)
    check = next(a.check for a in A.ASSUMPTIONS if a.id == check_id)
    status, detail = check(StubContext({}))
    assert status == A.DIFFERS and text in detail, detail


def test_the_facts_checks_fail_on_other_facts():
    def facts(**kw):
        base = dict(virtualization_firmware_enabled=True, vm_monitor_mode_extensions=False,
                    slat=True, hypervisor_present=True, elevated=False,
                    feature_error="Access is denied.")
        base.update(kw)
        f = SimpleNamespace(**base)
        f.feature_installed = lambda name: kw.get("hyperv_installed", False)
        f.feature_state = lambda name: "Installed"
        return f

    assert A.hypervisor_view(StubContext({}, facts()))[0] == A.DIFFERS  # a guest, mixed
    assert A.hypervisor_view(StubContext({}, facts(hyperv_installed=True)))[0] == A.DIFFERS
    assert A.features_unelevated(StubContext({}, facts()))[0] == A.DIFFERS
    assert A.hns_nat(StubContext({}, facts()))[0] == A.DIFFERS
    # bindfltapi.dll missing on 26100 (the stub's files say not a file).
    assert A.bindflt_dll(StubContext({}, facts(build=26100), crictl=False))[0] == A.DIFFERS


def test_a_host_without_bindfltapi_dll_fails_bindflt(serve_sim, capsys):
    # A 26100 host whose System32 lacks the DLL the sim creates from 19041 on.
    sim = serve_sim()
    sim.machine.fs.remove(r"C:\Windows\System32\bindfltapi.dll")
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY
    assert rows["bindflt-dll"]["status"] == "fail", rows["bindflt-dll"]
    assert "is missing" in rows["bindflt-dll"]["detail"]


# --- ASSUMPTIONS.md names the checks ------------------------------------------------------------
CHECK_NAMED = re.compile(r"Check: `doctor --assumptions` `([a-z0-9-]+)`")
NO_CHECK = re.compile(r"No check(?: yet)?: \S")
BULLET = re.compile(r"(?m)^(?=- \*\*)")


def assumptions_md_entries(text: str) -> list[tuple[str, str]]:
    """ASSUMPTIONS.md's entries after its first (checking) section, as (title, text): each
    top-level bullet with a bold title, each ``###`` block without such bullets, and each
    ``##`` section that has neither."""
    entries = []
    for section in re.split(r"(?m)^(?=## )", text)[2:]:
        blocks = re.split(r"(?m)^(?=### )", section)
        for i, block in enumerate(blocks):
            title, parts = block.splitlines()[0], BULLET.split(block)
            if len(parts) == 1 and (i > 0 or len(blocks) == 1):
                entries.append((title, block))
            entries.extend((f"{title} / {b.split('**')[1]}", b) for b in parts[1:])
    return entries


def test_assumptions_md_names_every_check_and_only_real_ones():
    text = ASSUMPTIONS_MD.read_text(encoding="utf-8")
    named = set(CHECK_NAMED.findall(text))
    assert named == set(A.IDS), (named ^ set(A.IDS))


def test_every_assumptions_md_entry_names_its_check_or_why_it_has_none():
    entries = assumptions_md_entries(ASSUMPTIONS_MD.read_text(encoding="utf-8"))
    assert len(entries) > 50  # the parser found the entries, not one big block
    bare = [title for title, body in entries
            if not CHECK_NAMED.search(body) and not NO_CHECK.search(body)]
    assert not bare, "entries with neither 'Check: ...' nor 'No check: <why>':\n" + \
        "\n".join(bare)


def test_the_counts_in_assumptions_md_are_the_real_ones():
    text = ASSUMPTIONS_MD.read_text(encoding="utf-8")
    entries = assumptions_md_entries(text)
    checked = [t for t, body in entries if CHECK_NAMED.search(body)]
    stated = re.search(r"(\d+) checks cover (\d+) of the (\d+) entries", text)
    assert stated, "the checking section states '<n> checks cover <m> of the <t> entries'"
    assert [int(g) for g in stated.groups()] == [len(A.IDS), len(checked), len(entries)]


def test_the_entry_parser_sees_bullets_headings_and_bare_sections():
    text = ("# t\n## first\nx\n## A\n- **One.** Check: `doctor --assumptions` `a`\n"
            "- **Two.** no\n### H\nNo check: why\n## B\nprose\n")
    entries = assumptions_md_entries(text)
    assert [t for t, _ in entries] == ["## A / One.", "## A / Two.", "### H", "## B"]


def test_the_table_names_what_differs(serve_sim, capsys):
    sim = serve_sim(features={"Containers": "Installed", "Hyper-V": "Available"},
                 nat_network=None)
    code = main(["doctor", "--assumptions", "--sim-state-dir", str(sim.state_dir)])
    out = capsys.readouterr().out
    assert code == EXIT_NOT_READY
    assert "differs from the simulated host" in out and "hns-nat" in out
    assert "1 of 1 host(s) differ from the simulated host's guesses" in out


def test_a_host_whose_new_service_reads_exit_code_0_fails_service_probe(serve_sim, capsys,
                                                                      monkeypatch):
    # A simulated SCM whose never-started services read ExitCode 0 instead of 1077.
    import dataclasses

    from harness.sim import services as sim_services

    @dataclasses.dataclass
    class ZeroExitService(sim_services._Service):
        exit_code: int = 0

    monkeypatch.setattr(sim_services, "_Service", ZeroExitService)
    sim = serve_sim()
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY
    assert rows["service-probe"]["status"] == "fail", rows["service-probe"]
    assert "ExitCode 0, not 1077" in rows["service-probe"]["detail"]
    # The probe service is removed again.
    assert not sim.machine.services.exists(A.PROBE_SERVICE)


def test_service_probe_fails_when_new_service_accepts_a_duplicate():
    registered = []

    class Services:
        def register(self, name, binary, **kw):
            registered.append(name)
            return SimpleNamespace(exit_code=1077)

        def delete(self, name):
            registered.append(f"deleted {name}")

    ctx = StubContext({}, SimpleNamespace(elevated=True))
    ctx.host.services = Services()
    status, detail = A.service_probe(ctx)
    assert status == A.DIFFERS and "succeeded" in detail
    assert registered[-1] == f"deleted {A.PROBE_SERVICE}"


# --- the checks added for the first real night's report ---------------------------------------
def test_a_cmd_whose_echo_trims_trailing_blanks_fails_cmd_line_ends(serve_sim, capsys,
                                                                   monkeypatch):
    # A cmd.exe that drops the unquoted trailing blanks of a line before its builtins see it.
    from harness.sim.programs import cmd_builtins

    echo = cmd_builtins.BUILTINS["echo"]
    monkeypatch.setitem(cmd_builtins.BUILTINS, "echo",
                        lambda sh, rest, h: echo(sh, rest.rstrip(" \t"), h))
    sim = serve_sim()
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY
    assert rows["cmd-line-ends"]["status"] == "fail", rows["cmd-line-ends"]
    assert "'hpc-e2e-probe\\r\\n'" in rows["cmd-line-ends"]["detail"]


def test_cmd_line_ends_fails_when_a_trailing_operator_is_ignored():
    # Wine's cmd.exe: `echo x &` runs `echo x` and ignores the operator.
    class Cmd(StubContext):
        def run(self, argv, timeout=A.TIMEOUT):
            line = argv.rstrip(" &|")
            return _result(0, line[len("echo "):] + ("   " if argv.endswith("   ") else "")
                           + "\r\n")

    status, detail = A.cmd_line_ends(Cmd({}))
    assert status == A.DIFFERS and "nothing run" in detail, detail


def test_a_runtime_that_honours_the_images_filter_fails_crictl_images_ref(provisioned, capsys,
                                                                         monkeypatch):
    # A crictl/containerd that lists only the images matching `crictl images REF` (as the
    # sim once did), where real containerd ignores the CRI filter.
    import dataclasses

    from harness.sim.programs.crictl import command_table
    from harness.sim.programs.crictl.client import image_client

    plain = command_table.COMMANDS["images"]

    def filtering(app, p):
        if not p.args:
            return plain.action(app, p)
        for img in image_client(app).rt.list_images():
            if p.args[0] in img.get("repoTags", ()):
                app.println(img["id"])
        return None

    monkeypatch.setitem(command_table.COMMANDS, "images",
                        dataclasses.replace(plain, action=filtering))
    sim = provisioned
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY
    assert rows["crictl-images-ref"]["status"] == "fail", rows["crictl-images-ref"]
    assert "0 of 1 image(s) listed" in rows["crictl-images-ref"]["detail"]


def test_crictl_images_ref_is_not_checked_without_an_image():
    ctx = StubContext({"crictl images": _result(0, "")})
    ctx.run = lambda argv, timeout=A.TIMEOUT: _result(0, "")
    assert A.crictl_images_ref(ctx)[0] == A.UNOBSERVED


def test_a_host_that_accepts_basic_fails_winrm_service_auth(serve_sim, capsys):
    sim = serve_sim(basic=True)
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY
    assert rows["winrm-service-auth"]["status"] == "fail", rows["winrm-service-auth"]
    assert rows["winrm-service-auth"]["detail"].split(": ", 1)[1].startswith("Basic=true")


def test_winrm_service_auth_is_not_checked_when_the_wsman_drive_cannot_be_read(serve_sim,
                                                                               capsys):
    sim = serve_sim(elevated=False)
    _, rows = assumptions_json(capsys, sim)
    assert rows["winrm-service-auth"]["status"] == "not checked", rows["winrm-service-auth"]
    assert "Access is denied." in rows["winrm-service-auth"]["detail"]


def test_a_host_that_writes_warnings_to_stderr_fails_powershell_streams(serve_sim, capsys,
                                                                        monkeypatch):
    # A powershell.exe that sends warning records to stderr as CLIXML even under
    # -OutputFormat Text (what it does without that switch).
    from harness.sim.programs import powershell

    text_warning = powershell.ScriptContext.warning

    def clixml_warning(self, text):
        self.proc.extra["ps_output_format"] = "xml"
        try:
            text_warning(self, text)
        finally:
            self.proc.extra["ps_output_format"] = "text"

    monkeypatch.setattr(powershell.ScriptContext, "warning", clixml_warning)
    sim = serve_sim()
    row = failing_row(capsys, sim, "powershell-streams")
    assert "no 'WARNING: warning hpc-e2e-assumption-probe' line on stdout" in row["detail"]
    assert "CLIXML was written" in row["detail"]


def test_powershell_streams_fails_on_an_error_on_stdout_or_a_progress_record(monkeypatch):
    token = A.STREAM_TOKEN
    good_out = f"WARNING: warning {token}\r\nVERBOSE: verbose {token}\r\n"
    for stdout, stderr, said in [
        (good_out + f"error {token}\r\n", "", "on stdout"),
        (good_out, f"error {token}\r\nprogress {token}", "progress record"),
    ]:
        monkeypatch.setattr(A, "run_script", lambda *a, o=stdout, e=stderr, **k: SimpleNamespace(
            exit_code=0, value={"text": token}, stdout=o, stderr=e))
        status, detail = A.powershell_streams(StubContext({}))
        assert status == A.DIFFERS and said in detail, detail


def test_an_scm_that_records_1053_for_an_unconnected_process_fails_service_start_exit(
        serve_sim, capsys, monkeypatch):
    # An SCM that records ERROR_SERVICE_REQUEST_TIMEOUT (1053), not 1067, for a service
    # process that ended without ever reporting to it.
    from harness.sim import services as sim_services

    monkeypatch.setattr(sim_services, "ERROR_PROCESS_ABORTED", 1053)
    sim = serve_sim()
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY
    assert rows["service-start-exit"]["status"] == "fail", rows["service-start-exit"]
    assert "state Stopped, ExitCode 1053" in rows["service-start-exit"]["detail"]
    assert not sim.machine.services.exists(A.EXIT_PROBE_SERVICE)


def test_service_start_exit_fails_when_start_service_refuses(monkeypatch):
    deleted = []
    monkeypatch.setattr(A, "call", lambda *a, **k: {
        "state": "Stopped", "exit_code": 1053, "error": "The service did not respond to the "
        "start or control request in a timely fashion"})
    ctx = StubContext({}, SimpleNamespace(elevated=True))
    ctx.host.services = SimpleNamespace(register=lambda *a, **k: None,
                                        delete=lambda name: deleted.append(name))
    status, detail = A.service_start_exit(ctx)
    assert status == A.DIFFERS and "StartService failed" in detail, detail
    assert deleted == [A.EXIT_PROBE_SERVICE]


def test_a_containerd_2_wording_fails_crictl_pull_missing(serve_sim, capsys, monkeypatch):
    # containerd 2.x pulls through its transfer service and words a missing tag
    # "failed to resolve image" (containerd v2.4.2 core/transfer/local/pull.go), where the sim
    # words it as 1.7 does.
    from harness.sim.cri import runtime
    from harness.sim.cri.runtime import CriError

    pull = runtime.CriRuntime.pull_image

    def pull_2x(self, ref):
        try:
            return pull(self, ref)
        except CriError as exc:
            if exc.code != "NotFound":
                raise
            raise CriError("NotFound", f'failed to pull and unpack image "{ref}": failed to '
                                       f'resolve image: {ref}: not found') from None

    monkeypatch.setattr(runtime.CriRuntime, "pull_image", pull_2x)
    sim = serve_sim()
    assert main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)]) == 0
    capsys.readouterr()
    code, rows = assumptions_json(capsys, sim)
    assert code == EXIT_NOT_READY
    assert rows["crictl-pull-missing"]["status"] == "fail", rows["crictl-pull-missing"]
    assert "containerd 1.7's words" in rows["crictl-pull-missing"]["detail"]


def test_crictl_pull_missing_is_not_checked_without_a_registry():
    answer = _result(1, "", 'time="2026-01-01T00:00:00Z" level=fatal msg="pulling image: rpc '
                            'error: code = Unknown desc = dial tcp: lookup mcr.microsoft.com: '
                            'no such host"')
    status, detail = A.crictl_pull_missing(StubContext({"crictl pull": answer}))
    assert status == A.UNOBSERVED, detail


def test_a_containerd_logging_json_fails_containerd_log_format(serve_sim, capsys, monkeypatch):
    # A containerd whose log lines are logrus' JSON formatter's (`--log-format json`), not
    # the text lines the sim writes.
    from harness.sim.programs import containerd

    def json_line(self, level, msg, fields=None):
        line = json.dumps({"level": level, "msg": msg, "time": "2026-01-01T00:00:00Z",
                           **(fields or {})}) + "\n"
        if self.path is None:
            self.ctx.stderr.write(line)
            return
        with self.ctx.machine.fs.open(self.path, "ab") as f:
            f.write(line.encode("utf-8"))

    monkeypatch.setattr(containerd._Log, "__call__", json_line)
    sim = serve_sim()
    assert main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)]) == 0
    capsys.readouterr()
    row = failing_row(capsys, sim, "containerd-log-format")
    assert "are not logrus text lines" in row["detail"] and '{"level"' in row["detail"]


def test_containerd_log_format_reads_a_local_offset_as_a_difference():
    line = ('time="2026-01-01T01:00:00.000000000+01:00" level=info msg="starting containerd" '
            'version=1.7.22')
    files = SimpleNamespace(info=lambda paths: [SimpleNamespace(is_file=True, size=len(line))],
                            read_text=lambda path: line + "\n")
    ctx = StubContext({})
    ctx.host.files = files
    ctx.layout.log_file = r"C:\ProgramData\hpc-e2e\logs\containerd.log"
    status, detail = A.containerd_log_format(ctx)
    assert status == A.DIFFERS and "+01:00" in detail, detail
    assert A.LOGRUS_LINE.match(line.replace("+01:00", "Z"))


def test_a_containerd_2_code_fails_crictl_reserved_name(provisioned, capsys, monkeypatch):
    # containerd 2.x refuses a reserved name with FailedPrecondition (v2.4.2
    # internal/registrar/registrar.go ReservedErr.Conflict), where the sim says Unknown.
    from harness.sim.cri import runtime
    from harness.sim.cri.runtime import CriError

    run = runtime.CriRuntime.run_pod_sandbox

    def run_2x(self, config, handler=""):
        try:
            return run(self, config, handler)
        except CriError as exc:
            if "failed to reserve" not in exc.message:
                raise
            raise CriError("FailedPrecondition", exc.message) from None

    monkeypatch.setattr(runtime.CriRuntime, "run_pod_sandbox", run_2x)
    sim = provisioned
    row = failing_row(capsys, sim, "crictl-reserved-name")
    assert "code FailedPrecondition" in row["detail"]
    assert not sim.machine.cri.pods  # the check's pod is removed again


POD_CHECKS = ("crictl-reserved-name", "hpc-exec-missing", "hpc-stop-exit", "hpc-logons",
              "hpc-rootfs-hidden", "hpc-mount-missing-source", "hpc-readonly-mount",
              "hpc-file-mount", "crictl-logs-streams", "crictl-config-bom")


def test_a_pod_check_whose_cleanup_fails_warns_and_says_what_was_left(provisioned, capsys,
                                                                       monkeypatch):
    # The pods are removed, but the cleanup reports a problem (as a host whose rmp fails
    # would): a guess that held is then a warning that names what the cleanup left.
    cleanup = Crictl.cleanup

    def cleanup_that_fails(self):
        return cleanup(self) + [HarnessError("rmp of pod abc failed")]

    monkeypatch.setattr(Crictl, "cleanup", cleanup_that_fails)
    sim = provisioned
    _, rows = assumptions_json(capsys, sim)
    for check in POD_CHECKS:
        row = rows[check]
        assert row["status"] == "warn", row
        assert row["detail"].endswith("; cleanup: rmp of pod abc failed"), row
    assert not sim.machine.cri.pods


def test_crictl_reserved_name_is_not_checked_without_the_sandbox_image(serve_sim, capsys):
    sim = serve_sim()
    assert main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)]) == 0
    capsys.readouterr()
    _, rows = assumptions_json(capsys, sim)
    row = rows["crictl-reserved-name"]
    assert row["status"] == "not checked" and "pulls nothing" in row["detail"], row
    assert not sim.machine.cri.list_images()  # nothing was pulled


def test_a_host_without_the_bind_filter_fails_hpc_exec_missing(serve_sim, capsys):
    # Without bindfltapi.dll the shim does not prefix `cmd /c` (hcsshim's jobcontainers
    # CreateProcess), so the missing program is the launch's own failure, not cmd's exit 3.
    sim = serve_sim()
    assert main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)]) == 0
    capsys.readouterr()
    pull_an_image(sim)
    sim.machine.fs.remove(r"C:\Windows\System32\bindfltapi.dll")
    row = failing_row(capsys, sim, "hpc-exec-missing")
    assert "exec of C:\\hpc-e2e-no-such-dir\\no-such.exe" in row["detail"]
    assert not sim.machine.cri.pods  # the check's pod is removed again


def test_a_shim_whose_killed_job_reports_1067_fails_hpc_stop_exit(provisioned, capsys,
                                                                   monkeypatch):
    # A flavor whose terminated job container reports 1067 (what the sim gives every other
    # killed container) instead of the job object's exit code 1.
    from harness.sim.cri import flavors

    monkeypatch.setattr(flavors.Flavor, "job_exit_code",
                        lambda self, code, *, killed, init: 1067 if killed else code)
    sim = provisioned
    row = failing_row(capsys, sim, "hpc-stop-exit")
    assert "exit code 1067" in row["detail"]
    assert not sim.machine.cri.pods


def test_a_host_with_another_disabled_account_text_fails_hpc_logons(provisioned, capsys,
                                                                    monkeypatch):
    # Older Windows words ERROR_ACCOUNT_DISABLED "Logon failure: account currently disabled."
    from harness.sim.cri import runtime

    monkeypatch.setitem(runtime.WIN32_TEXT, 1331, "Logon failure: account currently disabled.")
    sim = provisioned
    row = failing_row(capsys, sim, "hpc-logons")
    assert row["detail"].startswith("PI-HPC logons: Guest: ")
    assert "Logon failure: account currently disabled." in row["detail"]
    assert not sim.machine.cri.pods


def test_a_shim_that_makes_the_rootfs_folder_on_the_host_fails_hpc_rootfs_hidden(
        provisioned, capsys, monkeypatch):
    # A shim that creates C:\hpc\<id> on the host's own disk before binding the volume in
    # the silo (the sim shows the rootfs only to the container).
    from harness.sim.cri import runtime

    start = runtime.CriRuntime.start_container

    def start_making_the_folder(self, container_id):
        self.machine.fs.makedirs(f"C:\\hpc\\{container_id}")
        return start(self, container_id)

    monkeypatch.setattr(runtime.CriRuntime, "start_container", start_making_the_folder)
    sim = provisioned
    row = failing_row(capsys, sim, "hpc-rootfs-hidden")
    assert "exists on the host (directory)" in row["detail"]
    assert not sim.machine.cri.pods


def test_a_containerd_that_creates_a_missing_source_fails_hpc_mount_missing_source(
        provisioned, capsys, monkeypatch):
    # Newer containerd creates a missing mount source (parseMount with MkdirAll) instead of
    # failing CreateContainer; the check removes the folder it left.
    from harness.sim.cri import runtime

    parse = runtime.CriRuntime._oci_mount

    def parse_making_the_source(self, mount, spec_err):
        self.machine.fs.makedirs(str(mount["host_path"]))
        return parse(self, mount, spec_err)

    monkeypatch.setattr(runtime.CriRuntime, "_oci_mount", parse_making_the_source)
    sim = provisioned
    row = failing_row(capsys, sim, "hpc-mount-missing-source")
    assert "the container started and made the source folder (removed again)" in row["detail"]
    assert not sim.machine.fs.exists(A.MISSING_SOURCE)
    assert not sim.machine.cri.pods


def test_a_runtime_that_ignores_readonly_fails_hpc_readonly_mount(provisioned, capsys,
                                                                   monkeypatch):
    # A runtime that binds every mount read-write (drops the CRI mount's readonly).
    from harness.sim.cri import runtime

    parse = runtime.CriRuntime._oci_mount

    def parse_read_write(self, mount, spec_err):
        return parse(self, {**mount, "readonly": False}, spec_err)

    monkeypatch.setattr(runtime.CriRuntime, "_oci_mount", parse_read_write)
    sim = provisioned
    row = failing_row(capsys, sim, "hpc-readonly-mount")
    assert "exit 0" in row["detail"] and "(removed again)" in row["detail"]
    assert not sim.machine.fs.exists(
        r"C:\ProgramData\hpc-e2e\logs" + "\\" + A.RO_PROBE)
    assert not sim.machine.cri.pods


def test_a_container_listing_a_file_mount_as_a_file_fails_hpc_file_mount(provisioned, capsys,
                                                                         monkeypatch):
    # A container file system whose `dir` lists a mounted file as a file, where the sim
    # lists it as a folder.
    from harness.sim import guest
    from harness.sim.filesystem import FileStat

    scandir = guest.ContainerFileSystem.scandir

    def scandir_files(self, path, cwd=None):
        return [(n, FileStat(7, st.mtime, False, st.ctime) if n == A.FILE_MOUNT_NAME else st)
                for n, st in scandir(self, path, cwd)]

    monkeypatch.setattr(guest.ContainerFileSystem, "scandir", scandir_files)
    sim = provisioned
    row = failing_row(capsys, sim, "hpc-file-mount")
    assert "7 probe.log" in row["detail"]
    assert not sim.machine.cri.pods


def test_a_crictl_that_splits_the_log_streams_fails_crictl_logs_streams(provisioned, capsys,
                                                                        monkeypatch):
    # A crictl that writes the stderr stream's lines to its own stderr (as cri-tools'
    # ReadLogs is given os.Stdout and os.Stderr), where the sim prints both on stdout.
    import dataclasses

    from harness.sim.programs.crictl import command_table

    plain = command_table.COMMANDS["logs"]

    def split(app, p):
        out = app.ctx.stdout

        class Splitter:
            def write(self, data):
                text = data if isinstance(data, str) else data.decode()
                for line in text.splitlines(keepends=True):
                    (app.ctx.stderr if A.LOG_ERR in line else out).write(line)

        app.ctx.stdout = Splitter()
        try:
            return plain.action(app, p)
        finally:
            app.ctx.stdout = out

    monkeypatch.setitem(command_table.COMMANDS, "logs", dataclasses.replace(plain, action=split))
    sim = provisioned
    row = failing_row(capsys, sim, "crictl-logs-streams")
    assert "the stderr line on stderr" in row["detail"]
    assert not sim.machine.cri.pods
    assert not [p for p in sim.machine.fs.listdir(r"C:\ProgramData\hpc-e2e")
                if p.startswith("assumption-logs-")]


def test_a_crictl_that_keeps_the_bom_fails_crictl_config_bom(provisioned, capsys,
                                                            monkeypatch):
    # A crictl that decodes a config file as plain UTF-8 and keeps the BOM, so the file is
    # not the JSON it parses.
    from harness.sim.programs.crictl import cri_configs

    monkeypatch.setattr(cri_configs, "_decode_text", lambda data: data.decode("utf-8", "replace"))
    sim = provisioned
    row = failing_row(capsys, sim, "crictl-config-bom")
    assert "utf-8 with a BOM: exit 1" in row["detail"]
    assert "utf-16-le with a BOM: exit 1" in row["detail"]
    assert not sim.machine.cri.pods
    folder = r"C:\Program Files\containerd\bin"
    assert "crictl.yaml" in sim.machine.fs.listdir(folder)  # the folder the copies went to
    assert not [n for n in sim.machine.fs.listdir(folder) if n.startswith("assumption-")]
