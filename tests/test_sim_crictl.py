"""The simulated crictl.exe: crictl's command line, config files, output and error shapes.

Each test runs ``crictl.exe`` on a simulated host through ``cmd.exe /c`` (as WinRM/SSH do),
against the simulated containerd's CRI model.  Expectations are crictl's behaviour as
docs/behaviour/ecosystem.md §3 and §7 describe it (checked against the cri-tools sources): logrus'
fatal line and exit code 1 for errors, ``exec -s`` folding the command's exit code into its
error text, flags stopping at the first positional argument, Go's JSON decoding of the
config files, and the version differences between crictl releases.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import time

import pytest

from harness.sim import guest
from harness.sim.bundle import placeholder
from harness.sim.cri.config import default_config
from harness.sim.cri.flavors import Flavor
from harness.sim.cri.runtime import CriRuntime
from harness.sim.hostmodel import HostProfile
from harness.sim.programs import crictl, standard_machine
from harness.sim.programs.crictl import (
    FlagError,
    _flag,
    decode_struct,
    go_duration,
    go_quote,
    parse_endpoint,
    parse_flags,
    parse_go_duration,
)

CRICTL = r"C:\crictl\crictl.exe"
WORK = r"C:\work"
YAML = (b"runtime-endpoint: npipe:////./pipe/containerd-containerd\r\n"
        b"image-endpoint: npipe:////./pipe/containerd-containerd\r\n"
        b"timeout: 30\r\ndebug: false\r\npull-image-on-create: false\r\n")
C = "--config crictl.yaml"
NANOSERVER = "mcr.microsoft.com/windows/nanoserver:ltsc2025"
PROBE = "hpc-e2e/probe:ltsc2025"
PROCESS, HYPERV = "runhcs-wcow-process", "runhcs-wcow-hypervisor"
FATAL = re.compile(r'^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=fatal msg=(".*")$')
KLOG = re.compile(r'^E\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ remote_runtime\.go:\d+\] "(.*?)" '
                  r'err=(".*")')


def fatal_message(stderr: str) -> str:
    """The error text of crictl's last line (logrus quotes it with Go's %q)."""
    last = stderr.rstrip("\n").split("\n")[-1]
    m = FATAL.match(last)
    assert m, f"not a logrus fatal line: {last!r}"
    return ast.literal_eval(m.group(1))


class Host:
    """A simulated host with containerd's CRI model running and crictl installed."""

    def __init__(self, *, crictl_version: str = "1.31.1", flavor: object = None,
                 uvm_boot_seconds: float = 0.0):
        self.machine = m = standard_machine(profile=HostProfile(name="LabHost01"))
        guest.install(m)
        crictl.install(m)
        m.fs.write_bytes(guest.BINDFLT_DLL, b"MZ")
        m.fs.makedirs(WORK)
        m.fs.makedirs(r"C:\crictl")
        m.fs.write_bytes(CRICTL, placeholder("sim:crictl", crictl_version))
        m.fs.write_bytes(WORK + r"\crictl.yaml", YAML)
        cni = r"C:\Program Files\containerd\cni\conf"
        m.fs.makedirs(cni)  # non-HPC pods need a CNI network (docs/behaviour/ecosystem.md §2.5)
        m.fs.write_bytes(cni + r"\0-containerd-nat.conf", json.dumps(
            {"cniVersion": "0.3.0", "name": "nat", "type": "nat",
             "ipam": {"subnet": "172.19.208.0/20"}}).encode())
        cfg = dataclasses.replace(default_config("1.7.22"),
                                  sandbox_image="registry.k8s.io/pause:3.10.2")
        m.cri = CriRuntime(m, cfg, flavor=flavor, uvm_boot_seconds=uvm_boot_seconds,
                           launcher=guest.launch)

    def write(self, name: str, data: object) -> None:
        self.machine.fs.write_bytes(rf"{WORK}\{name}",
                                    data if isinstance(data, bytes) else json.dumps(data).encode())

    def crictl(self, args: str, *, timeout: float = 30) -> tuple[int, str, str]:
        proc = self.machine.spawn(f"{CRICTL} {args}", cwd=WORK)
        proc.write_stdin(b"", eof=True)
        out, err = bytearray(), bytearray()
        end = time.monotonic() + timeout
        while True:
            o, e, done = proc.read_output(1 << 20, 0.2)
            out += o
            err += e
            if done:
                return proc.wait(1), out.decode(), err.decode()
            assert time.monotonic() < end, f"crictl {args} did not finish"

    def ok(self, args: str) -> str:
        code, out, err = self.crictl(args)
        assert code == 0, f"crictl {args} failed ({code}): {err}"
        return out

    def pod(self, handler: str = PROCESS, *, name: str = "p", host_process: bool = True,
            extra: dict | None = None, ctr_cmd: list[str] | None = None,
            log_path: str = "c0.log") -> tuple[str, str]:
        """runp + create + start; returns (pod id, container id)."""
        sc = {"host_process": host_process, "run_as_username": "NT AUTHORITY\\SYSTEM"}
        pod = {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
               "labels": {"run": name}, "windows": {"security_context": sc},
               **(extra or {})}
        ctr = {"metadata": {"name": "c0"}, "image": {"image": PROBE},
               "command": ctr_cmd or ["cmd", "/c", "ping", "-t", "127.0.0.1"],
               "windows": {"security_context": dict(sc)}}
        if log_path:
            ctr["log_path"] = log_path
        self.write(f"{name}.json", pod)
        self.write(f"{name}-c0.json", ctr)
        self.ok(f"{C} pull {PROBE}")
        pod_id = self.ok(f"{C} runp --runtime {handler} {name}.json").strip()
        cid = self.ok(f"{C} create {pod_id} {name}-c0.json {name}.json").strip()
        assert self.ok(f"{C} start {cid}") == cid + "\n"
        return pod_id, cid


@pytest.fixture
def host() -> Host:
    return Host()


# --- versions and the runtime --------------------------------------------------------------
def test_version_flag_comes_from_the_placeholder():
    assert Host().crictl("--version") == (0, "crictl version v1.31.1\n", "")
    assert Host(crictl_version="1.34.0").crictl("-v")[1] == "crictl version v1.34.0\n"


def test_version_and_info(host):
    out = host.ok(f"{C} version")
    assert out == ("Version:  0.1.0\nRuntimeName:  containerd\nRuntimeVersion:  v1.7.22\n"
                   "RuntimeApiVersion:  v1\n")
    info = json.loads(host.ok(f"{C} info"))
    assert [c["type"] for c in info["status"]["conditions"]] == ["RuntimeReady",
                                                                  "NetworkReady"]
    assert "config" in info and list(info) == sorted(info)  # Go map keys come sorted
    assert set(json.loads(host.ok(f"{C} info -q"))) == {"status"}


def test_pull_and_images(host):
    out = host.ok(f"{C} pull {NANOSERVER}")
    assert re.fullmatch(r"Image is up to date for sha256:[0-9a-f]{64}\n", out)
    image_id = out.split()[-1]
    assert host.ok(f"{C} images -q") == image_id + "\n"
    listed = json.loads(host.ok(f"{C} images -o json"))["images"]
    assert [i["repoTags"] for i in listed] == [[NANOSERVER]]
    table = host.ok(f"{C} images").splitlines()
    assert table[0].split() == ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"]
    assert table[1].split()[:3] == ["mcr.microsoft.com/windows/nanoserver", "ltsc2025",
                                    image_id[7:20]]
    code, _, err = host.crictl(f"{C} pull example.com/none:1")
    assert code == 1
    assert fatal_message(err).startswith("pulling image: rpc error: code = NotFound desc = ")


# --- HostProcess pods in both isolations -----------------------------------------------------
@pytest.mark.parametrize("handler", [PROCESS, HYPERV])
def test_hpc_pod_lifecycle(host, handler):
    pod_id, cid = host.pod(handler)
    assert host.ok(f"{C} exec -s {cid} whoami") == "nt authority\\system\r\n\n\n"
    hostname = host.ok(f"{C} exec -s {cid} hostname").split("\r\n")[0]
    ipconfig = host.ok(f"{C} exec -s {cid} ipconfig")
    if handler == PROCESS:
        assert hostname == "LabHost01"
        assert guest.host_adapters(host.machine)[0].ipv4 in ipconfig
    else:
        assert hostname != "LabHost01"
        assert ipconfig == "\r\nWindows IP Configuration\r\n\r\n\n\n"
    status = json.loads(host.ok(f"{C} inspectp -o json {pod_id}"))
    assert status["status"]["network"]["ip"] == ""
    assert status["status"]["state"] == "SANDBOX_READY"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z",
                        status["status"]["createdAt"])
    spec = status["info"]["runtimeSpec"]
    assert spec["annotations"]["microsoft.com/hostprocess-container"] == "true"
    ctr = json.loads(host.ok(f"{C} inspect {cid}"))
    assert ctr["status"]["state"] == "CONTAINER_RUNNING"
    assert ctr["status"]["finishedAt"] == "0001-01-01T00:00:00Z"
    assert host.ok(f"{C} ps -q") == cid + "\n"
    pods = json.loads(host.ok(f"{C} pods -o json --label run=p"))["items"]
    assert [p["id"] for p in pods] == [pod_id]
    assert json.loads(host.ok(f"{C} pods -o json --label run=other"))["items"] == []
    assert host.ok(f"{C} stop -t 0 {cid}") == cid + "\n"
    assert json.loads(host.ok(f"{C} inspect {cid}"))["status"]["state"] == "CONTAINER_EXITED"
    assert host.ok(f"{C} ps -q") == ""
    assert host.ok(f"{C} ps -a -q") == cid + "\n"
    assert host.ok(f"{C} rm {cid}") == cid + "\n"
    assert host.ok(f"{C} stopp {pod_id}") == f"Stopped sandbox {pod_id}\n"
    assert host.ok(f"{C} rmp {pod_id}") == f"Removed sandbox {pod_id}\n"
    assert host.ok(f"{C} pods -q") == ""


def test_exec_nonzero_exit_folds_into_the_error(host):
    _, cid = host.pod()
    code, out, err = host.crictl(f'{C} exec -s {cid} cmd /c "echo visible & echo oops 1>&2 '
                                 f'& exit 3"')
    assert (code, out) == (1, "")  # stdout is discarded
    assert fatal_message(err) == ("execing command in container synchronously: command "
                                  "'cmd /c echo visible & echo oops 1>&2 & exit 3' exited "
                                  "with 3: oops  \r\n")
    assert "level=fatal" in err.splitlines()[-1] and "\\r\\n" in err  # Go-quoted


def test_exec_error_names_the_container_from_1_32():
    host = Host(crictl_version="1.32.0")
    _, cid = host.pod()
    code, _, err = host.crictl(f"{C} exec -s {cid} cmd /c exit 2")
    assert code == 1
    # 1.32-1.35: a k8s aggregate, printed plain by urfave/cli (seen with real crictl 1.34)
    assert err.endswith(f"execing command in container {cid} synchronously: "
                        "command 'cmd /c exit 2' exited with 2: \n")
    assert "level=" not in err.splitlines()[-1]
    pod_id = json.loads(host.ok(f"{C} inspect {cid}"))["info"]["sandboxID"]
    out = host.ok(f"{C} exec -s --pod {pod_id} cmd /c echo hi")  # 1.32+: filters select
    assert out == f"{cid}:\nhi\r\n\n\n"


def test_exec_timeout(host):
    _, cid = host.pod()
    code, _, err = host.crictl(f"{C} exec -s --timeout 1 {cid} ping -t 127.0.0.1")
    assert code == 1
    lines = err.strip().split("\n")
    klog = KLOG.match(lines[0])
    assert klog and klog.group(1) == "ExecSync cmd from runtime service failed"
    assert "DeadlineExceeded" in klog.group(2)
    assert fatal_message(err) == ('execing command in container synchronously: command timed '
                                  'out: "ping -t 127.0.0.1" timed out after 1s')


def test_unknown_container_is_a_rpc_error(host):
    code, _, err = host.crictl(f"{C} start 0123456789ab")
    assert code == 1
    assert fatal_message(err).startswith('starting the container "0123456789ab": rpc error: '
                                         "code = NotFound desc = ")
    assert KLOG.match(err.split("\n")[0]).group(1) == \
        "StartContainer from runtime service failed"


def test_logs_needs_a_log_path(host):
    _pod_id, cid = host.pod(extra={"log_directory": "C:\\logs"})
    deadline = time.monotonic() + 5
    while "Reply" not in host.ok(f"{C} logs {cid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host.ok(f"{C} logs --tail 1 {cid}").startswith("Reply from ::1") or \
        host.ok(f"{C} logs --tail 1 {cid}").startswith("Reply from 127.0.0.1")
    _, other = host.pod(name="q", log_path="")  # no log_path: containerd sets none
    code, _, err = host.crictl(f"{C} logs {other}")
    assert code == 1 and fatal_message(err) == "the container has not set log path"


# --- the pre-fix runtime and a flavor without the wrap ----------------------------------------
class NoWrap(Flavor):
    name = "no-wrap"

    def isolated_job_process(self, task_annotations, process, *, init):
        return process


def test_without_the_wrap_builtins_fail_with_file_not_found():
    host = Host(flavor=NoWrap())
    _, cid = host.pod(HYPERV, ctr_cmd=["ping", "-t", "127.0.0.1"])  # ping is in the UVM
    assert host.ok(f"{C} exec -s {cid} whoami") == "nt authority\\system\r\n\n\n"
    code, _, err = host.crictl(f"{C} exec -s {cid} echo hello")
    assert code == 1
    msg = fatal_message(err)
    assert msg.startswith("execing command in container synchronously: rpc error: code = "
                          "Unknown desc = failed to exec in container: failed to start exec")
    assert msg.endswith(f"hcs::System::CreateProcess {cid}: The system cannot find the file "
                        "specified.: unknown")


def test_pre_fix_flavor_runs_hypervisor_hpc_on_the_host():
    host = Host(flavor="pre-fix")
    _, cid = host.pod(HYPERV)
    assert host.ok(f"{C} exec -s {cid} hostname") == "LabHost01\r\n\n\n"


# --- crictl's command line -----------------------------------------------------------------
def test_flags_after_the_config_file_are_not_parsed(host):
    """§7: ``runp pod.json -r handler`` prints the help and exits 0, creating nothing."""
    host.write("p.json", {"metadata": {"name": "p", "namespace": "n", "uid": "u"}})
    code, out, err = host.crictl(f"{C} runp p.json -r {HYPERV}")
    assert (code, err) == (0, "")
    assert out.startswith("NAME:\n   crictl runp - Run a new pod\n")
    assert host.ok(f"{C} pods -q") == ""


def test_unknown_command_and_flag(host):
    assert host.crictl(f"{C} frobnicate") == (3, "", "No help topic for 'frobnicate'\n")
    code, out, err = host.crictl(f"{C} runp --bogus p.json")
    assert code == 1
    assert out.startswith("Incorrect Usage: flag provided but not defined: -bogus\n\n")
    assert fatal_message(err) == "flag provided but not defined: -bogus"
    code, _, err = host.crictl("--timeout 30 version")  # a Go duration needs a unit
    assert code == 1 and fatal_message(err) == 'invalid value "30" for flag -timeout: parse error'
    code, _, err = host.crictl(f"{C} exec -t {'x'}")  # exec -t is --tty, not a timeout
    assert code == 0  # too few arguments: help
    code, _, err = host.crictl(f"{C} attach abc")
    assert code == 1 and "does not model `crictl attach`" in err


def test_short_options_combine_where_crictl_allows_it(host):
    _pod_id, cid = host.pod()
    host.ok(f"{C} stop {cid}")
    assert host.ok(f"{C} ps -aq") == cid + "\n"
    code, _, err = host.crictl(f"{C} version -aq")
    assert code == 1 and fatal_message(err) == "flag provided but not defined: -aq"
    host.ok(f"{C} rmp -fa")
    assert host.ok(f"{C} pods -q") == ""


def test_exec_without_sync_is_not_modelled(host):
    _, cid = host.pod()
    code, _, err = host.crictl(f"{C} exec {cid} whoami")
    assert code == 1 and "streaming exec" in err


# --- connecting ------------------------------------------------------------------------------
def test_no_containerd_is_a_dial_error(host):
    host.machine.cri = None
    code, _, err = host.crictl(f"{C} pods")
    assert code == 1
    assert fatal_message(err) == (
        'validate service connection: validate CRI v1 runtime API for endpoint '
        '"npipe:////./pipe/containerd-containerd": rpc error: code = Unavailable desc = '
        'connection error: desc = "transport: Error while dialing: open '
        '//./pipe/containerd-containerd: The system cannot find the file specified."')


def test_wrong_pipe_and_default_endpoints(host):
    code, _, err = host.crictl("-r npipe:////./pipe/other version")
    assert code == 1 and "open //./pipe/other: The system cannot find" in fatal_message(err)
    # No config and no flag: crictl warns and tries its default endpoints in order.
    host.machine.fs.remove(WORK + r"\crictl.yaml")
    code, out, err = host.crictl("version")
    assert code == 0 and "RuntimeName:  containerd" in out
    assert "level=warning msg=\"runtime connect using default endpoints" in err
    code, _, err = host.crictl("-r unix:///run/containerd.sock version")
    assert code == 1 and fatal_message(err) == 'protocol "unix" not supported'


def test_runp_deadline_is_twice_the_timeout():
    host = Host(uvm_boot_seconds=0.6)
    host.write("p.json", {"metadata": {"name": "p", "namespace": "n", "uid": "u"},
                          "windows": {"security_context": {"host_process": True}}})
    code, _, err = host.crictl(f"{C} --timeout 200ms runp -r {HYPERV} p.json")
    assert code == 1
    assert fatal_message(err) == ("run pod sandbox: rpc error: code = DeadlineExceeded desc = "
                                  "context deadline exceeded")
    assert KLOG.match(err.split("\n")[0]).group(1) == "RunPodSandbox from runtime service failed"
    # The timed-out call finished in the background and holds the name: use another.
    host.write("q.json", {"metadata": {"name": "q", "namespace": "n", "uid": "u"},
                          "windows": {"security_context": {"host_process": True}}})
    pod_id = host.ok(f"{C} --timeout 400ms runp -r {HYPERV} q.json")  # 2 x 0.4 s > 0.6 s
    assert re.fullmatch(r"[0-9a-f]{64}\n", pod_id)


# --- crictl.yaml ---------------------------------------------------------------------------
def test_config_file_rules(host):
    code, _, err = host.crictl("--config missing.yaml version")
    assert code == 1
    assert fatal_message(err) == ("load config file: CreateFile C:\\crictl\\crictl.yaml: The "
                                  "system cannot find the file specified.")
    # The executable's folder is searched when the given file does not exist.
    host.machine.fs.write_bytes(r"C:\crictl\crictl.yaml", YAML)
    assert "RuntimeName" in host.ok("--config missing.yaml version")
    host.write("bad.yaml", b"runtime-endpoint: npipe:////./pipe/containerd-containerd\n"
                           b"timeout: 30s\n")
    code, _, err = host.crictl("--config bad.yaml version")
    assert code == 1 and fatal_message(err) == ("load config file: parsing config option "
                                                "'timeout': strconv.Atoi: parsing \"30s\": "
                                                "invalid syntax")
    host.write("odd.yaml", b"runtime-endpoint: npipe:////./pipe/containerd-containerd\n"
                           b"runtimeEndpoint: x\n")
    code, _, err = host.crictl("--config odd.yaml version")
    assert fatal_message(err) == "load config file: Config option 'runtimeEndpoint' is not valid"


# --- pod and container config files ----------------------------------------------------------
def test_pod_metadata_rules_depend_on_the_version():
    old, new = Host(), Host(crictl_version="1.34.0")
    for h in (old, new):
        h.write("p.json", {"metadata": {"name": "p", "namespace": "n"}})
    code, _, err = old.crictl(f"{C} runp p.json")
    assert code == 1 and fatal_message(err) == (
        'load podSandboxConfig: name, namespace or uid is not in metadata '
        '"&PodSandboxMetadata{Name:p,Uid:,Namespace:n,Attempt:0,}"')
    pod_id = new.ok(f"{C} runp p.json").strip()  # 1.34+ generates the uid
    uid = json.loads(new.ok(f"{C} inspectp {pod_id}"))["status"]["metadata"]["uid"]
    assert re.fullmatch(r"[0-9a-f-]{36}", uid)
    new.write("q.json", {"metadata": {"name": "q"}})
    code, _, err = new.crictl(f"{C} runp q.json")
    assert fatal_message(err).startswith("load podSandboxConfig: name or namespace is not in "
                                         "metadata")
    code, _, err = old.crictl(f"{C} runp nothere.json")
    assert fatal_message(err) == "load podSandboxConfig: config at nothere.json not found"


def test_config_keys_decode_like_go(host):
    """§2.1/§7: snake_case tags matched case-insensitively; camelCase silently dropped."""
    host.write("camel.json", {"metadata": {"name": "c", "namespace": "n", "uid": "u"},
                              "windows": {"securityContext": {"hostProcess": True}}})
    host.write("upper.json", {"metadata": {"name": "u", "namespace": "n", "uid": "u"},
                              "Windows": {"Security_Context": {"Host_Process": True}}})
    for name, expected in (("camel", "false"), ("upper", "true")):
        pod_id = host.ok(f"{C} runp {name}.json").strip()
        spec = json.loads(host.ok(f"{C} inspectp {pod_id}"))["info"]["runtimeSpec"]
        assert spec["annotations"]["microsoft.com/hostprocess-container"] == expected
    host.write("typed.json", {"metadata": {"name": "t", "namespace": "n", "uid": "u"},
                              "windows": {"security_context": {"host_process": "true"}}})
    code, _, err = host.crictl(f"{C} runp typed.json")
    assert code == 1 and fatal_message(err) == (
        "load podSandboxConfig: json: cannot unmarshal string into Go struct field "
        "WindowsSandboxSecurityContext.windows.security_context.host_process of type bool")
    # PowerShell writes a BOM; crictl still reads the file.
    host.write("bom.json", b"\xef\xbb\xbf" + json.dumps(
        {"metadata": {"name": "b", "namespace": "n", "uid": "u"}}).encode())
    assert re.fullmatch(r"[0-9a-f]{64}\n", host.ok(f"{C} runp bom.json"))


def test_create_without_image_panics_like_crictl(host):
    pod_id, _ = host.pod()
    host.write("noimage.json", {"metadata": {"name": "x"}})
    code, _, err = host.crictl(f"{C} create {pod_id} noimage.json p.json")
    assert code == 2 and err.startswith("panic: runtime error: invalid memory address")


# --- Go semantics, unit level -------------------------------------------------------------
def test_go_flag_parsing():
    flags = [_flag("sync", "s"), _flag("timeout", kind="int64"), _flag("tty", "t"),
             _flag("label", kind="strings"), _flag("help", "h")]
    p = parse_flags(["-s", "--timeout=5", "--label", "a=b,c=d", "--label=e=f", "id", "-t"],
                    flags, short_options=True)
    assert (p["sync"], p["timeout"], p["label"], p.args) == \
        (True, 5, ("a=b", "c=d", "e=f"), ["id", "-t"])
    assert parse_flags(["-st", "x"], flags, short_options=True)["tty"] is True
    with pytest.raises(FlagError, match="flag provided but not defined: -st"):
        parse_flags(["-st"], flags, short_options=False)
    with pytest.raises(FlagError, match="flag needs an argument: -timeout"):
        parse_flags(["--timeout"], flags, short_options=True)
    with pytest.raises(FlagError, match='invalid boolean value "yes" for -sync: parse error'):
        parse_flags(["--sync=yes"], flags, short_options=True)
    assert parse_flags(["--", "-s"], flags, short_options=True).args == ["-s"]


def test_go_durations_and_quoting():
    assert [go_duration(s) for s in (0, 1, 90, 3600, 1.5, 0.2)] == \
        ["0s", "1s", "1m30s", "1h0m0s", "1.5s", "200ms"]
    assert [parse_go_duration(s) for s in ("300s", "1m30s", "1.5h", "0", "250ms")] == \
        [300, 90, 5400, 0, 0.25]
    for bad in ("30", "", "s", "1x"):
        with pytest.raises(ValueError):
            parse_go_duration(bad)
    assert go_quote('a "b" C:\\x\r\n\x01é') == '"a \\"b\\" C:\\\\x\\r\\n\\x01é"'


def test_endpoints():
    assert parse_endpoint("npipe:////./pipe/containerd-containerd") == \
        ("npipe", "//./pipe/containerd-containerd")
    assert parse_endpoint("npipe://./pipe/x") == ("npipe", "//./pipe/x")
    assert parse_endpoint("tcp://127.0.0.1:1234") == ("tcp", "127.0.0.1:1234")
    with pytest.raises(crictl.CrictlError, match="deprecated"):
        parse_endpoint(r"\\.\pipe\containerd-containerd")


def test_decode_struct_types():
    from harness.sim.programs.crictl import _Num

    got = decode_struct({"metadata": {"name": "c", "attempt": _Num("2")}, "ENVS": [
        {"key": "A", "value": "1"}], "unknown": 1, "labels": {"k": "v"}}, "ContainerConfig")
    assert got == {"metadata": {"name": "c", "attempt": 2}, "envs": [{"key": "A", "value": "1"}],
                   "labels": {"k": "v"}}
    with pytest.raises(crictl.CrictlError) as info:
        decode_struct({"port_mappings": [{"protocol": "TCP"}]}, "PodSandboxConfig")
    assert str(info.value) == ("json: cannot unmarshal string into Go struct field "
                               "PortMapping.port_mappings.protocol of type v1.Protocol")
    with pytest.raises(crictl.CrictlError, match="number 1.5 into Go struct field "
                                                 "ContainerMetadata.metadata.attempt"):
        decode_struct({"metadata": {"attempt": _Num("1.5")}}, "ContainerConfig")


@pytest.mark.parametrize("version,plain", [("1.31.1", True), ("1.34.0", True),
                                           ("1.36.0", False)])
def test_errors_of_commands_on_several_objects_print_as_the_release_does(version, plain):
    """rmp (from 1.31) and rm/exec (from 1.32) return a k8s aggregate up to 1.35, which
    urfave/cli v2 prints plain (handleMultiError); 1.36 joins with errors.Join and logs it;
    1.31 rm logs each error and ends with a fatal summary (cri-tools v1.31.1
    cmd/crictl/sandbox.go and container.go; tests/realcri holds the sim to real 1.34)."""
    host = Host(crictl_version=version)
    code, _, err = host.crictl(f"{C} rmp 0123456789ab")
    assert code == 1
    last = err.rstrip("\n").split("\n")[-1]
    assert ("level=fatal" not in last) == plain, err
    assert 'getting sandbox status of pod "0123456789ab": rpc error: code = NotFound' in \
        (last if plain else fatal_message(err))
    code, _, err = host.crictl(f"{C} rm 0123456789ab")
    assert code == 1
    if version == "1.31.1":
        assert fatal_message(err) == "unable to remove container(s)"
    else:
        text = err.rstrip("\n").split("\n")[-1] if plain else fatal_message(err)
        assert text.startswith('getting container status "0123456789ab": rpc error: code = '
                               "NotFound desc = ")


def test_crictl_1_37_logs_its_final_error_at_level_error():
    """cri-tools v1.37.0 cmd/crictl/main.go: ``logrus.Error(err); os.Exit(1)`` (the real
    binary prints ``level=error``: tests/realcri)."""
    code, _, err = Host(crictl_version="1.37.0").crictl(f"{C} start 0123456789ab")
    assert code == 1
    last = err.rstrip("\n").split("\n")[-1]
    assert " level=error msg=" in last and 'starting the container \\"0123456789ab\\"' in last
    code, _, err = Host(crictl_version="1.36.0").crictl(f"{C} start 0123456789ab")
    assert fatal_message(err).startswith('starting the container "0123456789ab"')
