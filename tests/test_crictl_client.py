"""The Crictl client against a fake transport with canned crictl output.

The canned texts follow crictl's documented shapes (docs/behaviour/ecosystem.md §3.2-§3.4) and its
sources (cri-tools v1.36: errors are one logrus entry, Go-quoted when stderr is not a
console; ``exec -s`` prints stdout then stderr, each with a newline; inspectp gives an
object for one ID and an array for more).  What is checked is what the client *sends*
(argv order, flags, deadlines, uploaded files) and what it makes of the answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cmdline import cmd_command_line
from harness.cri import (
    RUN_ID_LABEL,
    ContainerSpec,
    Crictl,
    CrictlOutputError,
    CriExecTimeout,
    CriStageError,
    PodSpec,
)
from harness.cri.crictl import DEFAULT_CONFIG, DEFAULT_CRICTL, split_exec_output
from harness.cri.errors import crictl_error_text, go_unquote, split_grpc
from harness.cri.status import parse_time
from harness.errors import CommandTimeout, HarnessError
from harness.transport.base import CommandResult

RUN = "20260813-070737-abc123"
POD_ID = "a" * 64
CTR_ID = "b" * 64
HPC_MISMATCH = ("pod spec and all containers inside must have the HostProcess field set "
                "to be valid")
UVM_GATE = ("failed to create containerd task: failed to create shim task: "
            "UVM does not support HostProcess containers")


def go_quote(text: str) -> str:
    """Go's %q for the characters crictl messages contain."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def logrus(msg: str, level: str = "error") -> str:
    return f'time="2026-08-13T07:07:37Z" level={level} msg="{go_quote(msg)}"\n'


def klog(msg: str) -> str:
    return f'E0813 07:07:37.123456    4312 remote_runtime.go:636] "{msg}" err="x"\n'


class FakeTransport:
    """Records argv and uploads; answers from a queue of (rc, stdout, stderr) per sub-command."""

    def __init__(self):
        self.calls: list[tuple[list[str], float]] = []
        self.puts: dict[str, bytes] = {}
        self.answers: dict[str, list[tuple[int, str, str]]] = {}

    def answer(self, sub: str, rc: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.answers.setdefault(sub, []).append((rc, stdout, stderr))

    def run(self, argv, *, timeout, stdin=None, check=False):
        argv = list(argv)
        cmd_command_line(argv)  # every argv must be renderable as a Windows command line
        self.calls.append((argv, timeout))
        sub = subcommand(argv)
        queue = self.answers.get(sub)
        if not queue:
            rc, out, err = (0, "", "") if sub in ("mkdir", "del") else (
                1, "", f"no canned answer for {sub}")
        else:
            rc, out, err = queue.pop(0)
        return CommandResult(command=" ".join(argv), exit_code=rc, stdout_bytes=out.encode(),
                             stderr_bytes=err.encode())

    def put(self, local_path, remote_path, *, timeout=None):
        self.puts[remote_path] = Path(local_path).read_bytes()

    def crictl_calls(self, sub: str) -> list[list[str]]:
        return [a for a, _ in self.calls if subcommand(a) == sub]


GLOBAL_WITH_VALUE = {"--config", "--timeout", "--runtime-endpoint", "--image-endpoint"}


def subcommand(argv: list[str]) -> str:
    if argv[0] != DEFAULT_CRICTL and not argv[0].endswith("crictl.exe"):
        return argv[0]
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in GLOBAL_WITH_VALUE else 1
    return argv[i]


def sub_args(argv: list[str]) -> list[str]:
    sub = subcommand(argv)
    return argv[argv.index(sub) + 1:]


@pytest.fixture
def fake():
    return FakeTransport()


@pytest.fixture
def crictl(fake):
    return Crictl(fake, run_id=RUN)


def hpc_pod(**kw):
    return PodSpec("hpc", host_process=True, **kw)


def hpc_ctr(**kw):
    return ContainerSpec("c0", "mcr.microsoft.com/windows/nanoserver:ltsc2025",
                         command=["cmd", "/c", "ping", "-t", "127.0.0.1"], host_process=True, **kw)


def started_pod(crictl, fake, handler="runhcs-wcow-hypervisor"):
    fake.answer("runp", stdout=POD_ID + "\n")
    return crictl.runp(hpc_pod(), runtime_handler=handler)


# --- the command lines ---------------------------------------------------------------------
def test_runp_puts_global_flags_first_and_the_file_last(crictl, fake):
    pod = started_pod(crictl, fake)
    assert pod.id == POD_ID and str(pod) == POD_ID
    argv, deadline = next((a, t) for a, t in fake.calls if subcommand(a) == "runp")
    assert argv[:5] == [DEFAULT_CRICTL, "--config", DEFAULT_CONFIG, "--timeout", "300s"]
    assert sub_args(argv) == ["--runtime", "runhcs-wcow-hypervisor", pod.config_path]
    assert pod.config_path == f"C:\\ProgramData\\hpc-e2e\\runs\\{RUN}\\" + \
        f"pod-hpc-{pod.spec.uid[:8]}.json"
    # crictl dials within --timeout, then RunPodSandbox gets 2x (docs/behaviour/ecosystem.md §3.1)
    assert deadline > 300 + 2 * 300


def test_runp_uploads_the_snake_case_pod_file_once_per_pod(crictl, fake):
    pod = started_pod(crictl, fake)
    assert [a for a, _ in fake.calls if a[0] == "mkdir"] == [
        ["mkdir", f"C:\\ProgramData\\hpc-e2e\\runs\\{RUN}"]]
    uploaded = json.loads(fake.puts[pod.config_path])
    assert uploaded["windows"]["security_context"]["host_process"] is True
    assert uploaded["labels"][RUN_ID_LABEL] == RUN
    fake.answer("create", stdout=CTR_ID + "\n")
    fake.answer("create", stdout="c" * 64 + "\n")
    c1 = crictl.create(pod, hpc_ctr())
    c2 = crictl.create(pod, ContainerSpec("c1", "img", host_process=True))
    creates = fake.crictl_calls("create")
    assert sub_args(creates[0]) == [POD_ID, c1.config_path, pod.config_path]
    assert sub_args(creates[1]) == [POD_ID, c2.config_path, pod.config_path]
    assert c1.config_path != c2.config_path
    assert len([p for p in fake.puts if "pod-" in p]) == 1
    assert len([a for a, _ in fake.calls if a[0] == "mkdir"]) == 1
    ctr = json.loads(fake.puts[c1.config_path])
    assert ctr["command"] == ["cmd", "/c", "ping", "-t", "127.0.0.1"]
    assert ctr["labels"][RUN_ID_LABEL] == RUN


def test_default_handler_sends_no_runtime_flag(crictl, fake):
    fake.answer("runp", stdout=POD_ID + "\n")
    crictl.runp(PodSpec("p"))
    assert sub_args(fake.crictl_calls("runp")[0])[:-1] == []


def test_optional_global_flags(fake):
    c = Crictl(fake, run_id=RUN, timeout=2.5, runtime_endpoint="npipe:////./pipe/x",
               image_endpoint="npipe:////./pipe/y", config_path="C:\\cfg\\crictl.yaml",
               crictl_path="C:\\bin\\crictl.exe")
    assert c.argv("version") == [
        "C:\\bin\\crictl.exe", "--config", "C:\\cfg\\crictl.yaml", "--timeout", "2500ms",
        "--runtime-endpoint", "npipe:////./pipe/x", "--image-endpoint", "npipe:////./pipe/y",
        "version"]
    with pytest.raises(ValueError):
        Crictl(fake, timeout=0)


def test_existing_run_folder_is_fine_but_other_mkdir_failures_are_not(fake):
    fake.answer("mkdir", 1, "", "A subdirectory or file C:\\x already exists.\r\n")
    fake.answer("runp", stdout=POD_ID + "\n")
    Crictl(fake, run_id=RUN).runp(PodSpec("p"))
    fake.answer("mkdir", 1, "", "Access is denied.\r\n")
    with pytest.raises(HarnessError, match="mkdir"):
        Crictl(fake, run_id="r2").runp(PodSpec("p"))


def test_a_spec_of_another_run_is_refused(crictl, fake):
    with pytest.raises(HarnessError, match="belongs to run other"):
        crictl.runp(PodSpec("p", run_id="other"))
    assert not fake.crictl_calls("runp")


# --- exit 0 is not success ------------------------------------------------------------------
HELP = ("NAME:\n   crictl runp - Run a new pod\n\nUSAGE:\n   crictl runp [command options] "
        "pod-config.[json|yaml]\n")


def test_help_text_with_exit_0_is_not_an_id(crictl, fake):
    fake.answer("runp", stdout=HELP)
    with pytest.raises(CrictlOutputError) as info:
        crictl.runp(PodSpec("p"))
    assert info.value.stage == "runp" and "help" in str(info.value)


def test_start_stop_rm_expect_their_id_back(crictl, fake):
    fake.answer("start", stdout=CTR_ID + "\n")
    crictl.start(CTR_ID)
    fake.answer("stop", stdout=CTR_ID + "\n")
    crictl.stop(CTR_ID, timeout=5)
    assert sub_args(fake.crictl_calls("stop")[0]) == ["--timeout", "5", CTR_ID]
    fake.answer("rm", stdout=CTR_ID + "\n")
    crictl.rm(CTR_ID, force=True)
    assert sub_args(fake.crictl_calls("rm")[0]) == ["--force", CTR_ID]
    fake.answer("start", stdout="")
    with pytest.raises(CrictlOutputError, match="start"):
        crictl.start(CTR_ID)
    fake.answer("stop", stdout="c" * 64 + "\n")
    with pytest.raises(CrictlOutputError):
        crictl.stop(CTR_ID)


def test_stopp_and_rmp_read_their_sentences(crictl, fake):
    fake.answer("stopp", stdout=f"Stopped sandbox {POD_ID}\n")
    crictl.stopp(POD_ID)
    fake.answer("rmp", stdout=f"Removed sandbox {POD_ID}\n")
    crictl.rmp(POD_ID, force=True)
    assert sub_args(fake.crictl_calls("rmp")[0]) == ["--force", POD_ID]
    fake.answer("rmp", stdout="")
    with pytest.raises(CrictlOutputError, match="Removed sandbox"):
        crictl.rmp(POD_ID)


# --- stage errors ----------------------------------------------------------------------------
def test_create_refusal_names_the_stage_and_keeps_containerds_text(crictl, fake):
    pod = started_pod(crictl, fake)
    fake.answer("create", 1, "", klog("CreateContainer from runtime service failed")
                + logrus(f"creating container: rpc error: code = Unknown desc = {HPC_MISMATCH}"))
    with pytest.raises(CriStageError) as info:
        crictl.create(pod, ContainerSpec("c", "img", host_process=False))
    err = info.value
    assert err.stage == "create"
    assert err.runtime_message == HPC_MISMATCH
    assert err.grpc_code == "Unknown"
    assert err.crictl_message.startswith("creating container: rpc error")
    assert err.result.exit_code == 1
    assert isinstance(err, HarnessError) and not isinstance(err, AssertionError)
    assert "crictl create c failed" in str(err)


def test_start_refusal_carries_the_shim_text(crictl, fake):
    fake.answer("start", 1, "", logrus(
        f'starting the container "{CTR_ID}": rpc error: code = Unknown desc = {UVM_GATE}'))
    with pytest.raises(CriStageError) as info:
        crictl.start(CTR_ID)
    assert info.value.stage == "start"
    assert info.value.runtime_message == UVM_GATE
    assert info.value.object_id == CTR_ID


def test_go_quoted_paths_come_back_with_single_backslashes(crictl, fake):
    text = ("failed to create containerd task: failed to create shim task: "
            "unsafe path detected: \"C:\\hpc\\..\\x\"\r\nsecond line\tend")
    fake.answer("runp", 1, "", logrus(f"run pod sandbox: rpc error: code = Unknown desc = {text}"))
    with pytest.raises(CriStageError) as info:
        crictl.runp(hpc_pod(), runtime_handler="runhcs-wcow-hypervisor")
    assert info.value.stage == "runp"
    assert info.value.runtime_message == text


@pytest.mark.parametrize("stderr", [
    "run pod sandbox: rpc error: code = NotFound desc = no runtime for \"x\" is configured\n",
    ("FATA[0002] run pod sandbox: rpc error: code = NotFound desc = no runtime for \"x\" "
    "is configured\n"),
    ("WARN[0000] something harmless\nERRO[0002] run pod sandbox: rpc error: code = NotFound "
    "desc = no runtime for \"x\" is configured\n"),
    'time="2026-08-13T07:07:37Z" level=warning msg="harmless"\n' + logrus(
        'run pod sandbox: rpc error: code = NotFound desc = no runtime for "x" is configured',
        level="fatal"),
])
def test_error_forms_plain_console_and_logfmt_agree(crictl, fake, stderr):
    fake.answer("runp", 1, "", stderr)
    with pytest.raises(CriStageError) as info:
        crictl.runp(PodSpec("p"), runtime_handler="x")
    assert info.value.runtime_message == 'no runtime for "x" is configured'
    assert info.value.grpc_code == "NotFound"


def test_crictls_own_errors_keep_their_whole_text(crictl, fake):
    fake.answer("runp", 1, "", logrus("load podSandboxConfig: name or namespace is not in "
                                      "metadata \"x\""))
    with pytest.raises(CriStageError) as info:
        crictl.runp(PodSpec("p"))
    assert info.value.grpc_code is None
    assert info.value.runtime_message.startswith("load podSandboxConfig: name or namespace")


def test_deadline_exceeded_gets_a_hint(crictl, fake):
    fake.answer("runp", 1, "", logrus("run pod sandbox: rpc error: code = DeadlineExceeded "
                                      "desc = context deadline exceeded"))
    with pytest.raises(CriStageError) as info:
        crictl.runp(PodSpec("p"))
    assert info.value.grpc_code == "DeadlineExceeded"
    assert "--timeout" in str(info.value)


def test_silent_failure_still_says_something(crictl, fake):
    fake.answer("stopp", 1, "", "")
    with pytest.raises(CriStageError, match="exited with 1 and printed nothing"):
        crictl.stopp(POD_ID)


def test_transport_deadline_is_not_caught(crictl):
    class Slow(FakeTransport):
        def run(self, argv, *, timeout, stdin=None, check=False):
            raise CommandTimeout(" ".join(argv), timeout)

    c = Crictl(Slow(), run_id=RUN)
    with pytest.raises(CommandTimeout):
        c.info()


# --- exec -------------------------------------------------------------------------------------
def test_exec_success_splits_crictls_framing(crictl, fake):
    fake.answer("exec", 0, "nt authority\\system\r\n\n\n")
    res = crictl.exec(CTR_ID, ["whoami"], timeout=30)
    assert (res.exit_code, res.stdout, res.stderr) == (0, "nt authority\\system\r\n", "")
    assert res.ok and not res.stdout_discarded
    argv = fake.crictl_calls("exec")[0]
    assert sub_args(argv) == ["--sync", "--timeout", "30", CTR_ID, "whoami"]
    deadline = next(t for a, t in fake.calls if a is argv)
    assert deadline > 300 + 300 + 30


def test_exec_success_with_stderr(crictl, fake):
    fake.answer("exec", 0, "out\r\n\nwarn line\r\n\n")
    res = crictl.exec(CTR_ID, ["cmd", "/c", "echo out & echo warn line 1>&2"])
    assert (res.stdout, res.stderr) == ("out\r\n", "warn line\r\n")


@pytest.mark.parametrize("text,expected", [
    ("\n\n", ("", "")), ("hello\n\n", ("hello", "")), ("\nerr\r\n\n", ("", "err\r\n")),
    ("a\r\nb\r\n\nc\r\n\n", ("a\r\nb\r\n", "c\r\n")), ("unix\nlines\n\n\n", ("unix\nlines\n", "")),
])
def test_split_exec_output(text, expected):
    assert split_exec_output(text) == expected


@pytest.mark.parametrize("stdout,stderr", [
    ("out\n", "err\n"), ("out\r\n", "err\r\n"), ("", "err\n"), ("a\nb\n", ""),
    ("a\n\nb\n", ""), ("a\nb\n", "c\nd\n"), ("", ""), ("out\n", ""),
])
def test_split_exec_output_undoes_crictls_two_printlns(stdout, stderr):
    """crictl prints ``fmt.Println(stdout); fmt.Println(stderr)`` (cri-tools v1.37.0
    cmd/crictl/exec.go ExecSync); a stderr ending in a bare LF used to land in stdout
    (seen with real crictl: tests/realcri test_exec_success_keeps_stdout_and_stderr_apart)."""
    assert split_exec_output(f"{stdout}\n{stderr}\n") == (stdout, stderr)


def test_the_last_error_with_a_grpc_status_wins_over_a_summary():
    """crictl before 1.34 logs each object's error, then ends ``rm`` with a summary that
    has no runtime answer (cri-tools v1.31 cmd/crictl/container.go)."""
    stderr = (logrus('removing container "x" failed: rpc error: code = NotFound desc = an '
                     'error occurred when try to find container "x": not found')
              + logrus("unable to remove container(s)", "fatal"))
    assert crictl_error_text(stderr).endswith('find container "x": not found')
    err = CriStageError.from_result("rm", CommandResult("crictl rm x", 1,
                                                        stderr_bytes=stderr.encode()))
    assert err.grpc_code == "NotFound"
    assert err.runtime_message == 'an error occurred when try to find container "x": not found'


def test_crictl_1_34_prints_exec_errors_plain_and_the_commands_stderr_is_kept_whole(crictl, fake):
    """crictl 1.32-1.35 print rm/exec/rmp errors with fmt.Fprintln (urfave/cli v2 handles
    a k8s aggregate itself; seen with real crictl 1.34): the last LF is Fprintln's."""
    argv = ["/bin/sh", "-c", "echo err >&2; exit 3"]
    fake.answer("exec", 1, "", klog("ExecSync cmd from runtime service failed") +
                f"execing command in container {CTR_ID} synchronously: command "
                f"'{' '.join(argv)}' exited with 3: err\n\n")
    res = crictl.exec(CTR_ID, argv)
    assert (res.exit_code, res.stderr) == (3, "err\n")


def test_a_pull_error_with_code_unknown_gets_its_code_back():
    """The CRI client strips code Unknown from PullImage errors (kubernetes cri-client
    pkg/remote_image.go PullImage), crictl prefixes "pulling image: "."""
    msg = ('failed to pull and unpack image "r/x:1": failed to resolve image: failed to do '
           'request: Head "http://r/v2/x/manifests/1": dial tcp: connect: connection refused')
    err = CriStageError.from_result("pull", CommandResult(
        "crictl pull r/x:1", 1, stderr_bytes=logrus("pulling image: " + msg).encode()))
    assert (err.grpc_code, err.runtime_message) == ("Unknown", msg)
    # another stage's text is left alone
    other = CriStageError.from_result("rm", CommandResult(
        "crictl rm x", 1, stderr_bytes=logrus("pulling image: " + msg).encode()))
    assert other.grpc_code is None and other.runtime_message.startswith("pulling image: ")


def test_exec_failure_recovers_the_commands_exit_code_and_stderr(crictl, fake):
    argv = ["cmd", "/c", "dir", "C:\\nope"]
    msg = (f"execing command in container {CTR_ID} synchronously: command "
           f"'{' '.join(argv)}' exited with 2: File Not Found\r\n")
    fake.answer("exec", 1, "", logrus(msg))
    res = crictl.exec(CTR_ID, argv)
    assert res.exit_code == 2
    assert res.stderr == "File Not Found\r\n"
    assert res.stdout == "" and res.stdout_discarded and not res.ok


def test_exec_exit_code_9009_and_negative_ntstatus(crictl, fake):
    fake.answer("exec", 1, "", logrus(
        f"execing command in container {CTR_ID} synchronously: command 'nope.exe' exited "
        "with 9009: 'nope.exe' is not recognized as an internal or external command,\r\n"
        "operable program or batch file.\r\n"))
    res = crictl.exec(CTR_ID, ["nope.exe"])
    assert res.exit_code == 9009 and res.stderr.startswith("'nope.exe' is not recognized")
    fake.answer("exec", 1, "", logrus(
        f"execing command in container {CTR_ID} synchronously: command 'crash.exe' exited "
        "with -1073741819: "))
    assert crictl.exec(CTR_ID, ["crash.exe"]).exit_code == -1073741819


def test_exec_stderr_that_looks_like_an_exit_does_not_confuse(crictl, fake):
    argv = ["cmd", "/c", "exit 3"]
    fake.answer("exec", 1, "", logrus(
        f"execing command in container {CTR_ID} synchronously: command 'cmd /c exit 3' "
        "exited with 3: command 'x' exited with 7: timed out after 1s"))
    res = crictl.exec(CTR_ID, argv)
    assert res.exit_code == 3 and res.stderr == "command 'x' exited with 7: timed out after 1s"


def test_exec_timeout_is_a_deadline_not_a_product_failure(crictl, fake):
    fake.answer("exec", 1, "", logrus(
        f"execing command in container {CTR_ID} synchronously: command timed out: "
        '"cmd /c ping -t 127.0.0.1" timed out after 5s'))
    with pytest.raises(CriExecTimeout) as info:
        crictl.exec(CTR_ID, ["cmd", "/c", "ping", "-t", "127.0.0.1"], timeout=4.2)
    assert info.value.stage == "exec" and info.value.timeout == 5
    assert isinstance(info.value, HarnessError) and not isinstance(info.value, AssertionError)
    assert sub_args(fake.crictl_calls("exec")[0])[:3] == ["--sync", "--timeout", "5"]


def test_exec_rpc_refusal_is_a_stage_error(crictl, fake):
    fake.answer("exec", 1, "", logrus(
        f"execing command in container {CTR_ID} synchronously: rpc error: code = NotFound "
        f'desc = an error occurred when try to find container "{CTR_ID}": not found'))
    with pytest.raises(CriStageError) as info:
        crictl.exec(CTR_ID, ["whoami"])
    assert info.value.stage == "exec" and info.value.grpc_code == "NotFound"
    assert info.value.runtime_message.endswith("not found")


def test_exec_arguments_follow_the_id_verbatim(crictl, fake):
    fake.answer("exec", 0, "\n\n")
    crictl.exec(CTR_ID, ["cmd", "/c", "echo", "a b", "-t", "%PATH%", 'q"uote'])
    assert sub_args(fake.crictl_calls("exec")[0])[3:] == [
        CTR_ID, "cmd", "/c", "echo", "a b", "-t", "%PATH%", 'q"uote']


# --- inspect and lists ------------------------------------------------------------------------
def pod_status_json(pod_id=POD_ID, handler="runhcs-wcow-hypervisor", hpc="true"):
    return {
        "status": {
            "id": pod_id,
            "metadata": {"attempt": 0, "name": "hpc", "namespace": "hpc-e2e", "uid": "u-1"},
            "state": "SANDBOX_READY", "createdAt": "2026-08-13T07:07:37.123456789Z",
            "network": {"additionalIps": [], "ip": ""},
            "linux": None, "labels": {RUN_ID_LABEL: RUN}, "annotations": {},
            "runtimeHandler": handler,
        },
        "info": {
            "pid": 0, "processStatus": "running", "netNamespaceClosed": False,
            "image": "registry.k8s.io/pause:3.10.2", "snapshotKey": pod_id,
            "snapshotter": "windows", "runtimeType": "io.containerd.runhcs.v1",
            "runtimeOptions": {"SandboxIsolation": 1},
            "config": {"metadata": {"name": "hpc"},
                       "windows": {"security_context": {"host_process": True}}},
            "runtimeSpec": {"annotations": {"microsoft.com/hostprocess-container": hpc},
                            "windows": {"hyperv": {}}},
            "cniResult": None,
        },
    }


def test_inspectp_single_object(crictl, fake):
    fake.answer("inspectp", stdout=json.dumps(pod_status_json(), indent=2) + "\n")
    st = crictl.inspectp(POD_ID)
    assert sub_args(fake.crictl_calls("inspectp")[0]) == ["--output", "json", POD_ID]
    assert (st.id, st.name, st.namespace, st.state) == (POD_ID, "hpc", "hpc-e2e", "SANDBOX_READY")
    assert st.ready and st.ip == "" and st.additional_ips == []
    assert st.runtime_handler == "runhcs-wcow-hypervisor"
    assert st.runtime_spec_annotations["microsoft.com/hostprocess-container"] == "true"
    assert st.runtime_options == {"SandboxIsolation": 1}
    assert st.runtime_type == "io.containerd.runhcs.v1"
    assert st.config["windows"]["security_context"]["host_process"] is True
    assert st.labels[RUN_ID_LABEL] == RUN
    assert st.created_at.year == 2026 and st.created_at.microsecond == 123456
    assert st.info["cniResult"] is None


def test_inspectp_array_for_several_ids(crictl, fake):
    two = [pod_status_json("1" * 64), pod_status_json("2" * 64, handler="runhcs-wcow-process")]
    two[1]["status"]["network"] = {"ip": "172.20.0.5", "additionalIps": [{"ip": "fd00::5"}]}
    fake.answer("inspectp", stdout=json.dumps(two))
    got = crictl.inspectp_many(["1" * 64, "2" * 64])
    assert [p.id for p in got] == ["1" * 64, "2" * 64]
    assert got[1].ip == "172.20.0.5" and got[1].additional_ips == ["fd00::5"]
    fake.answer("inspectp", stdout=json.dumps(two))
    with pytest.raises(HarnessError, match="returned 2 pods"):
        crictl.inspectp(POD_ID)


def test_inspectp_garbage_is_an_output_error(crictl, fake):
    fake.answer("inspectp", stdout="ID: x\nStatus: SANDBOX_READY\n")
    with pytest.raises(CrictlOutputError, match="inspectp"):
        crictl.inspectp(POD_ID)
    fake.answer("inspectp", stdout="[1, 2]")
    with pytest.raises(CrictlOutputError):
        crictl.inspectp(POD_ID)


def test_inspectp_refusal(crictl, fake):
    fake.answer("inspectp", 1, "", logrus(
        'get the status of pod sandboxes: get pod sandbox status: rpc error: code = NotFound '
        'desc = an error occurred when try to find sandbox "x": not found'))
    with pytest.raises(CriStageError) as info:
        crictl.inspectp("x")
    assert info.value.stage == "inspectp"
    assert info.value.runtime_message == 'an error occurred when try to find sandbox "x": not found'


def container_status_json(state="CONTAINER_EXITED", exit_code=1):
    return {
        "status": {
            "id": CTR_ID, "metadata": {"attempt": 0, "name": "c0"}, "state": state,
            "createdAt": "2026-08-13T07:07:38.5+02:00",
            "startedAt": "2026-08-13T07:07:39Z",
            "finishedAt": "1970-01-01T00:00:00Z" if state != "CONTAINER_EXITED"
            else "2026-08-13T07:08:00Z",
            "exitCode": exit_code, "image": {"annotations": {}, "image": "nanoserver"},
            "imageRef": "sha256:abc", "reason": "Error" if exit_code else "Completed",
            "message": "", "labels": {RUN_ID_LABEL: RUN}, "annotations": {}, "mounts": [],
            "logPath": "C:\\logs\\c0.log",
        },
        "info": {"sandboxID": POD_ID, "pid": 4312, "runtimeType": "io.containerd.runhcs.v1",
                 "runtimeOptions": {"SandboxIsolation": 1},
                 "config": {"windows": {"security_context": {"host_process": True}}},
                 "runtimeSpec": {"annotations": {"microsoft.com/hostprocess-container": "true"},
                                 "process": {"args": ["cmd", "/c", "ping"],
                                             "user": {"username": "NT AUTHORITY\\SYSTEM"},
                                             "cwd": "C:\\hpc"}}},
    }


def test_inspect_container(crictl, fake):
    fake.answer("inspect", stdout=json.dumps(container_status_json()))
    st = crictl.inspect(CTR_ID)
    assert sub_args(fake.crictl_calls("inspect")[0]) == ["--output", "json", CTR_ID]
    assert st.exited and not st.running and st.exit_code == 1 and st.reason == "Error"
    assert st.sandbox_id == POD_ID and st.pid == 4312
    assert st.process["user"]["username"] == "NT AUTHORITY\\SYSTEM"
    assert st.runtime_spec_annotations["microsoft.com/hostprocess-container"] == "true"
    assert st.image == "nanoserver" and st.log_path == "C:\\logs\\c0.log"
    assert st.created_at.utcoffset().total_seconds() == 7200
    assert st.finished_at is not None and st.finished_at > st.started_at


def test_never_times_are_none(crictl, fake):
    running = container_status_json("CONTAINER_CREATED", 0)
    running["status"]["startedAt"] = "0001-01-01T00:00:00Z"
    running["status"]["finishedAt"] = "1970-01-01T01:00:00+01:00"
    fake.answer("inspect", stdout=json.dumps(running))
    st = crictl.inspect(CTR_ID)
    assert st.started_at is None and st.finished_at is None and st.state == "CONTAINER_CREATED"


@pytest.mark.parametrize("value,expected", [
    (None, None), ("", None), ("0", None), ("1723532857000000000", 2024),
    ("2026-08-13T07:07:37.123456789-07:00", 2026), ("not a time", None),
])
def test_parse_time(value, expected):
    got = parse_time(value)
    assert (got.year if got else None) == expected


def test_pods_and_ps_filter_by_this_runs_label(crictl, fake):
    fake.answer("pods", stdout=json.dumps({"items": [{
        "id": POD_ID, "metadata": {"name": "hpc", "uid": "u", "namespace": "hpc-e2e",
                                   "attempt": 0},
        "state": "SANDBOX_READY", "createdAt": "1723532857000000000",
        "labels": {RUN_ID_LABEL: RUN}, "annotations": {}, "runtimeHandler": "runhcs-wcow-process"}]}))
    pods = crictl.pods(labels={"suite": "x"})
    assert sub_args(fake.crictl_calls("pods")[0]) == [
        "--output", "json", "--label", "suite=x", "--label", f"{RUN_ID_LABEL}={RUN}"]
    assert pods[0].id == POD_ID and pods[0].runtime_handler == "runhcs-wcow-process"
    assert pods[0].created_at.year == 2024
    fake.answer("ps", stdout=json.dumps({"containers": [{
        "id": CTR_ID, "podSandboxId": POD_ID, "metadata": {"name": "c0", "attempt": 0},
        "image": {"image": "img"}, "imageRef": "sha256:1", "state": "CONTAINER_RUNNING",
        "createdAt": "1723532857000000000", "labels": {}, "annotations": {}}]}))
    ctrs = crictl.ps(pod=POD_ID)
    assert sub_args(fake.crictl_calls("ps")[0]) == [
        "--output", "json", "--all", "--pod", POD_ID, "--label", f"{RUN_ID_LABEL}={RUN}"]
    assert ctrs[0].pod_id == POD_ID and ctrs[0].state == "CONTAINER_RUNNING"
    fake.answer("pods", stdout=json.dumps({"items": []}))
    assert crictl.pods(all_runs=True) == []
    assert sub_args(fake.crictl_calls("pods")[1]) == ["--output", "json"]
    fake.answer("ps", stdout="{}")
    assert crictl.ps() == []


def test_info_version_logs_pull(crictl, fake):
    fake.answer("info", stdout=json.dumps({
        "status": {"conditions": [
            {"type": "RuntimeReady", "status": True, "reason": "", "message": ""},
            {"type": "NetworkReady", "status": False, "reason": "NetworkPluginNotReady",
             "message": "cni config load failed"}]},
        "runtimeHandlers": [{"name": "runhcs-wcow-process", "features": {}}],
        "config": {"containerd": {"defaultRuntimeName": "runhcs-wcow-process"}},
        "golang": "go1.22.8"}))
    info = crictl.info()
    assert info.runtime_ready and not info.network_ready
    assert "cni config load failed" in info.condition_reasons["NetworkReady"]
    assert info.handler_names == ["runhcs-wcow-process"]
    fake.answer("version", stdout="Version:  0.1.0\nRuntimeName:  containerd\n"
                                  "RuntimeVersion:  v1.7.22\nRuntimeApiVersion:  v1\n")
    v = crictl.version()
    assert (v.runtime_name, v.runtime_version, v.runtime_api_version) == (
        "containerd", "v1.7.22", "v1")
    fake.answer("logs", 0, "hello\r\n", "oops\r\n")
    logs = crictl.logs(CTR_ID, tail=10)
    assert (logs.stdout, logs.stderr) == ("hello\r\n", "oops\r\n")
    assert sub_args(fake.crictl_calls("logs")[0]) == ["--tail", "10", CTR_ID]
    fake.answer("pull", stdout="Image is up to date for sha256:0123abc\n")
    assert crictl.pull("nanoserver:ltsc2025") == "sha256:0123abc"
    fake.answer("pull", 1, "", logrus("pulling image: rpc error: code = NotFound desc = failed "
                                      "to resolve reference \"nope:1\": not found"))
    with pytest.raises(CriStageError) as info:
        crictl.pull("nope:1")
    assert info.value.stage == "pull"


def test_cleanup_removes_this_runs_pods_and_files(crictl, fake):
    started_pod(crictl, fake)
    fake.answer("pods", stdout=json.dumps({"items": [{"id": POD_ID}, {"id": "9" * 64}]}))
    fake.answer("rmp", stdout=f"Removed sandbox {POD_ID}\n")
    fake.answer("rmp", 1, "", logrus("removing the pod sandbox: rpc error: code = Unknown "
                                     "desc = boom"))
    problems = crictl.cleanup()
    assert [p.stage for p in problems] == ["rmp"]
    assert [sub_args(a) for a in fake.crictl_calls("rmp")] == [
        ["--force", POD_ID], ["--force", "9" * 64]]
    assert ["del", "/q", f"C:\\ProgramData\\hpc-e2e\\runs\\{RUN}"] in [a for a, _ in fake.calls]


# --- the error-text helpers ------------------------------------------------------------------
def test_go_unquote_inverts_go_quoting():
    original = 'C:\\hpc "x"\r\n\ttab é \x07'
    assert go_unquote(go_quote(original).replace("\x07", "\\a")) == original
    assert go_unquote("\\xc3\\xa9 \\u00e9 \\U0001F600") == "é é \U0001F600"


def test_crictl_error_text_skips_klog_and_warnings():
    stderr = (klog("RunPodSandbox from runtime service failed")
              + 'time="t" level=warning msg="w"\n' + logrus("run pod sandbox: boom"))
    assert crictl_error_text(stderr) == "run pod sandbox: boom"
    assert crictl_error_text("'crictl.exe' is not recognized as an internal or external "
                             "command,\r\noperable program or batch file.\r\n").startswith(
        "'crictl.exe' is not recognized")


def test_split_grpc_takes_everything_after_the_first_desc():
    code, text = split_grpc("x: rpc error: code = Unknown desc = outer: rpc error: code = "
                            "NotFound desc = inner")
    assert code == "Unknown" and text == "outer: rpc error: code = NotFound desc = inner"
    assert split_grpc("load podSandboxConfig: bad") == (None, "load podSandboxConfig: bad")


def test_images_lists_by_reference_and_checks_the_shape(crictl, fake):
    fake.answer("images", stdout='{"images": [{"id": "sha256:ab", "repoTags": '
                                 '["docker.io/hpc-e2e/probe:ltsc2025"]}]}')
    found = crictl.images("hpc-e2e/probe:ltsc2025")
    assert [i["id"] for i in found] == ["sha256:ab"]
    assert sub_args(fake.crictl_calls("images")[0]) == ["-o", "json", "hpc-e2e/probe:ltsc2025"]
    fake.answer("images", stdout='{"images": []}')
    assert crictl.images("absent:tag") == []
    fake.answer("images", stdout='{"images": []}')
    assert crictl.images("absent:tag") == []
    # containerd ignores the filter and lists everything: the client picks the image
    everything = json.dumps({"images": [
        {"id": "sha256:" + "1" * 64, "repoTags": ["docker.io/library/busybox:latest"],
         "repoDigests": ["docker.io/library/busybox@sha256:" + "d" * 64]},
        {"id": "sha256:" + "2" * 64, "repoTags": ["127.0.0.1:5000/hpc-e2e/pause:1"]}]})
    for ref, want in [("busybox", "1"), ("library/busybox:latest", "1"),
                      ("busybox@sha256:" + "d" * 64, "1"), ("1" * 12, "1"),
                      ("sha256:" + "2" * 64, "2"), ("127.0.0.1:5000/hpc-e2e/pause:1", "2"),
                      ("absent:tag", None), ("busybox:other", None),
                      ("127.0.0.1:5000/hpc-e2e/pause:2", None)]:
        fake.answer("images", stdout=everything)
        found = crictl.images(ref)
        assert [i["id"][7] for i in found] == ([want] if want else []), ref
    fake.answer("images", stdout="NAME TAG\n")  # a table instead of JSON: never an empty list
    with pytest.raises(CrictlOutputError):
        crictl.images()
