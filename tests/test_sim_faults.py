"""Fault injection in the simulated host (harness/sim/faults.py, issue #6).

Each kind is observed the way a client meets it: through pywinrm's Protocol against a
SimHost with ``rate=1.0`` and only that kind enabled, or through crictl.exe on the host for
the runtime's faults.  What the host did (or did not do) is read from the machine model:
``machine.history`` holds every command line a WinRS Command really spawned.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
import winrm
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError

from harness.sim import guest
from harness.sim.bundle import placeholder
from harness.sim.faults import (
    KINDS,
    TRANSIENT_KINDS,
    FaultInjector,
    FaultPlan,
    winrm_kinds,
)
from harness.sim.host import SimHost
from harness.sim.hostmodel import HostProfile
from harness.sim.machine import Machine
from harness.sim.programs import containerd, crictl, standard_machine

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD = "Administrator", "Sim-Test-Passw0rd!"
SHELL_NOT_FOUND = 2150858843
CTRD = "C:\\ctrd"
WORK = "C:\\work"
C = "--config crictl.yaml"
PROBE = "hpc-e2e/probe:ltsc2025"
PROCESS, HYPERV = "runhcs-wcow-process", "runhcs-wcow-hypervisor"
DIAL_ERROR = ('validate service connection: validate CRI v1 runtime API for endpoint '
              '"npipe:////./pipe/containerd-containerd": rpc error: code = Unavailable desc = '
              'connection error: desc = "transport: Error while dialing: open '
              '//./pipe/containerd-containerd: The system cannot find the file specified."')


# --- the plan ------------------------------------------------------------------------------
def test_parse_defaults_and_fields():
    plan = FaultPlan.parse("rate=0.05,seed=3")
    assert (plan.rate, plan.seed, plan.kinds) == (0.05, 3, TRANSIENT_KINDS)
    plan = FaultPlan.parse(" rate = 1 , kinds = hang+drop-request+hang ")
    assert (plan.rate, plan.seed, plan.kinds) == (1.0, 0, ("hang", "drop-request"))
    assert FaultPlan.parse(str(plan)) == plan
    assert set(TRANSIENT_KINDS) < set(KINDS)


@pytest.mark.parametrize("spec,field", [
    ("seed=3", "rate="), ("rate=2", "rate="), ("rate=-0.1", "rate="), ("rate=nan", "rate="),
    ("rate=lots", "rate="), ("rate=0.1,seed=x", "seed="), ("rate=0.1,kinds=boom", "kinds="),
    ("rate=0.1,kinds=", "kinds="), ("rate=0.1,sede=1", "'sede'"), ("rate", "'rate'"),
    ("rate=0.1,rate=0.2", "'rate'"),
])
def test_parse_errors_name_the_field(spec, field):
    with pytest.raises(ValueError) as err:
        FaultPlan.parse(spec)
    assert field in str(err.value)


def test_same_seed_same_faults_and_other_seed_others():
    points = [("winrm:Receive", winrm_kinds("Receive", True)),
              ("winrm:Create", winrm_kinds("Create", False)),
              ("crictl", ("containerd-crash",))]

    def sequence(seed: int) -> list:
        inj = FaultInjector(FaultPlan(rate=0.3, seed=seed, kinds=KINDS))
        return [inj.roll(*points[i % 3]) for i in range(300)]

    first = sequence(7)
    assert first == sequence(7)
    assert first != sequence(8)
    assert {k for k in first if k} >= {"receive-timeout", "containerd-crash", "http500"}


def test_rate_is_honoured_and_counted(tmp_path):
    inj = FaultInjector(FaultPlan.parse("rate=0.05,seed=11"), tmp_path)
    hits = [inj.roll("winrm:Command", winrm_kinds("Command", True)) for _ in range(1000)]
    n = sum(1 for h in hits if h)
    assert 20 <= n <= 90, n  # binomial(1000, 0.05): mean 50, sd ~6.9
    assert sum(inj.counts().values()) == n
    assert "hang" not in inj.counts()  # not transient: only when named
    lines = [json.loads(x) for x in (tmp_path / "faults.jsonl").read_text().splitlines()]
    assert len(lines) == n
    assert set(lines[0]) == {"time", "kind", "point", "detail"}
    assert lines[0]["point"] == "winrm:Command"


def test_a_kind_that_does_not_apply_is_never_injected():
    inj = FaultInjector(FaultPlan.parse("rate=1,kinds=receive-timeout"))
    assert inj.roll("winrm:Command", winrm_kinds("Command", True)) is None
    assert inj.roll("winrm:Receive", winrm_kinds("Receive", True)) == "receive-timeout"


# --- WinRM faults, through pywinrm ---------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def _host(tmp_path, kinds: str, machine: Machine | None = None) -> SimHost:
    return SimHost(tmp_path / "sim", machine=machine or standard_machine(), https=False,
                   http_port=0, ssh_port=None, password=PASSWORD,
                   faults=FaultPlan.parse(f"rate=1,seed=1,kinds={kinds}"))


def _protocol(host: SimHost, **kw) -> winrm.protocol.Protocol:
    return winrm.protocol.Protocol(host.endpoint["winrm_http_url"], transport="plaintext",
                                   username=USER, password=PASSWORD, **kw)


def _ran(machine: Machine, marker: str) -> bool:
    return any(marker in line for line in machine.history)


def _shell(host: SimHost, p: winrm.protocol.Protocol) -> str:
    host.faults.suspended = True
    try:
        return p.open_shell()
    finally:
        host.faults.suspended = False


def test_drop_request_closes_the_connection_before_anything_happens(tmp_path):
    with _host(tmp_path, "drop-request") as host:
        p = _protocol(host)
        shell = _shell(host, p)
        with pytest.raises(requests.exceptions.ConnectionError):
            p.run_command(shell, "echo", ["marker-dropped-request"])
        assert not _ran(host.machine, "marker-dropped-request")
        assert host.faults.counts() == {"drop-request": 1}
        record = json.loads((host.state_dir / "faults.jsonl").read_text())
        assert record["point"] == "winrm:Command" and shell in record["detail"]


def test_drop_answer_runs_the_command_then_loses_the_answer(tmp_path):
    with _host(tmp_path, "drop-answer") as host:
        p = _protocol(host)
        shell = _shell(host, p)
        with pytest.raises(requests.exceptions.ConnectionError):
            p.run_command(shell, "echo", ["marker-dropped-answer"])
        assert _ran(host.machine, "marker-dropped-answer")


def test_http500_is_the_internal_error_fault_and_nothing_runs(tmp_path):
    with _host(tmp_path, "http500") as host:
        p = _protocol(host)
        shell = _shell(host, p)
        with pytest.raises(WSManFaultError) as err:
            p.run_command(shell, "echo", ["marker-500"])
        assert err.value.code == 500
        assert err.value.wsman_fault_code == 1359
        assert err.value.fault_subcode == "w:InternalError"
        assert err.value.reason == "An internal error occurred. "
        assert not _ran(host.machine, "marker-500")


def test_receive_timeout_keeps_the_output_queued(tmp_path):
    with _host(tmp_path, "receive-timeout") as host:
        p = _protocol(host)
        shell = p.open_shell()
        cmd = p.run_command(shell, "echo", ["queued-output"])
        with pytest.raises(WinRMOperationTimeoutError):
            p._raw_get_command_output(shell, cmd)
        host.faults.suspended = True
        out, _, code = p.get_command_output(shell, cmd)
        assert (out, code) == (b"queued-output\r\n", 0)


def test_shell_not_found_forgets_the_shell(tmp_path):
    with _host(tmp_path, "shell-not-found") as host:
        p = _protocol(host)
        shell = p.open_shell()  # Create names no shell: never faulted
        assert host.winrm.shell_count == 1
        with pytest.raises(WSManFaultError) as err:
            p.run_command(shell, "echo", ["marker-snf"])
        assert err.value.wsman_fault_code == SHELL_NOT_FOUND
        assert shell in err.value.reason
        assert host.winrm.shell_count == 0
        assert not _ran(host.machine, "marker-snf")


def test_hang_accepts_the_command_and_never_answers_until_signalled(tmp_path):
    with _host(tmp_path, "hang") as host:
        p = _protocol(host, operation_timeout_sec=1, read_timeout_sec=3)
        shell = p.open_shell()
        cmd = p.run_command(shell, "echo", ["marker-hang"])
        for _ in range(2):
            with pytest.raises(WinRMOperationTimeoutError):
                p._raw_get_command_output(shell, cmd)
        assert not _ran(host.machine, "marker-hang")
        p.cleanup_command(shell, cmd)  # Signal terminate ends it
        p.close_shell(shell)
        assert host.winrm.shell_count == 0


def test_ntlm_encrypted_connections_see_the_fault_encrypted(tmp_path):
    plan = FaultPlan.parse("rate=1,kinds=shell-not-found")
    with SimHost(tmp_path / "sim", machine=standard_machine(), https=False, ntlm_port=0,
                 ssh_port=None, password=PASSWORD, faults=plan) as host:
        p = winrm.protocol.Protocol(host.endpoint["winrm_ntlm_url"], transport="ntlm",
                                    username=USER, password=PASSWORD,
                                    message_encryption="always")
        shell = p.open_shell()
        with pytest.raises(WSManFaultError) as err:
            p.run_command(shell, "echo", ["x"])
        assert err.value.wsman_fault_code == SHELL_NOT_FOUND


def test_ssh_drop_request_closes_the_connection_before_the_command_runs(tmp_path):
    import paramiko

    plan = FaultPlan.parse("rate=1,kinds=drop-request")
    with SimHost(tmp_path / "sim", machine=standard_machine(), password=PASSWORD,
                 faults=plan) as host:
        host.faults.suspended = True
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect("127.0.0.1", port=host.ssh.port, username=USER, password=PASSWORD,
                       look_for_keys=False, allow_agent=False)
        try:
            host.faults.suspended = False
            with pytest.raises((EOFError, paramiko.SSHException)):
                client.exec_command("echo marker-ssh", timeout=5)
            assert not _ran(host.machine, "marker-ssh")
            assert host.faults.counts() == {"drop-request": 1}
        finally:
            client.close()


# --- the runtime: a host with containerd as a service and crictl ---------------------------
def _runtime_machine(restart_seconds: float = 0.2) -> Machine:
    m = standard_machine(profile=HostProfile(name="LabHost01", build=26100,
                                    restart_seconds=restart_seconds))
    containerd.install(m)
    guest.install(m)
    crictl.install(m)
    m.fs.write_bytes(guest.BINDFLT_DLL, b"MZ")
    m.fs.makedirs(CTRD)
    m.fs.makedirs(WORK)
    m.fs.write_bytes(CTRD + "\\containerd.exe", placeholder("sim:containerd", "1.7.22"))
    m.fs.write_bytes(CTRD + "\\crictl.exe", placeholder("sim:crictl", "1.31.1"))
    p = 'plugins."io.containerd.grpc.v1.cri"'
    m.fs.write_bytes(CTRD + "\\config.toml", (
        f'version = 2\n[{p}]\n  sandbox_image = "registry.k8s.io/pause:3.10.2"\n'
        f'[{p}.containerd]\n  default_runtime_name = "{PROCESS}"\n'
        f'[{p}.containerd.runtimes.{PROCESS}]\n  runtime_type = "io.containerd.runhcs.v1"\n'
        f'[{p}.containerd.runtimes.{HYPERV}]\n  runtime_type = "io.containerd.runhcs.v1"\n'
        f'[{p}.containerd.runtimes.{HYPERV}.options]\n  SandboxIsolation = 1\n').encode())
    m.fs.write_bytes(WORK + "\\crictl.yaml",
                     b"runtime-endpoint: npipe:////./pipe/containerd-containerd\r\n"
                     b"image-endpoint: npipe:////./pipe/containerd-containerd\r\ntimeout: 30\r\n")
    code, _, err = _run(m, f"{CTRD}\\containerd.exe --register-service "
                           f"--config {CTRD}\\config.toml")
    assert code == 0, err
    m.services.start("containerd")
    assert m.services.wait("containerd", "Running", 5).state == "Running"
    return m


def _run(m: Machine, line: str, timeout: float = 20) -> tuple[int, str, str]:
    proc = m.spawn(line, cwd=WORK)
    proc.write_stdin(b"", eof=True)
    out, err = bytearray(), bytearray()
    end = time.monotonic() + timeout
    while True:
        o, e, done = proc.read_output(1 << 20, 0.2)
        out += o
        err += e
        if done:
            return proc.wait(1), out.decode(), err.decode()
        assert time.monotonic() < end, f"{line} did not finish"


def _crictl(m: Machine, args: str) -> tuple[int, str, str]:
    return _run(m, f"{CTRD}\\crictl.exe {C} {args}")


def _ok(m: Machine, args: str) -> str:
    code, out, err = _crictl(m, args)
    assert code == 0, f"crictl {args} failed ({code}): {err}"
    return out


def _pod(m: Machine, handler: str, name: str = "p") -> tuple[str, str]:
    sc = {"host_process": True, "run_as_username": "NT AUTHORITY\\SYSTEM"}
    pod = {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
           "windows": {"security_context": sc}}
    ctr = {"metadata": {"name": "c0"}, "image": {"image": PROBE},
           "command": ["cmd", "/c", "ping", "-t", "127.0.0.1"],
           "windows": {"security_context": dict(sc)}}
    m.fs.write_bytes(f"{WORK}\\{name}.json", json.dumps(pod).encode())
    m.fs.write_bytes(f"{WORK}\\{name}-c0.json", json.dumps(ctr).encode())
    _ok(m, f"pull {PROBE}")
    pod_id = _ok(m, f"runp --runtime {handler} {name}.json").strip()
    cid = _ok(m, f"create {pod_id} {name}-c0.json {name}.json").strip()
    _ok(m, f"start {cid}")
    return pod_id, cid


def _fatal(stderr: str) -> str:
    last = stderr.rstrip("\n").split("\n")[-1]
    return json.loads(last.split(" msg=", 1)[1])


def _wait_running(m: Machine, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while m.cri is None or m.services.query("containerd").state != "Running":
        assert time.monotonic() < end, "containerd did not come back"
        time.sleep(0.02)


def test_containerd_crash_pods_survive_and_the_scm_restarts_it(tmp_path):
    m = _runtime_machine()
    m.faults = FaultInjector(FaultPlan.parse("rate=1,kinds=containerd-crash"))
    m.faults.suspended = True
    pod_id, cid = _pod(m, PROCESS)
    m.faults.suspended = False
    code, _, err = _crictl(m, "pods -q")
    assert code == 1 and _fatal(err) == DIAL_ERROR
    assert m.faults.counts() == {"containerd-crash": 1}
    status = m.services.query("containerd")
    assert status.state != "Running" or m.cri is None or status.pid  # crashed or back
    m.faults.suspended = True
    _wait_running(m)
    assert m.services.query("containerd").exit_code == 0  # running again
    assert _ok(m, "pods -q") == pod_id + "\n"
    assert json.loads(_ok(m, f"inspect {cid}"))["status"]["state"] == "CONTAINER_RUNNING"
    assert _ok(m, f"exec -s {cid} hostname").startswith("LabHost01")


def test_containerd_crash_only_while_the_scm_would_restart_it():
    """Recovery restarts twice (docs/behaviour/ecosystem.md §2.4); the fault stays transient."""
    m = _runtime_machine()
    m.faults = FaultInjector(FaultPlan.parse("rate=1,kinds=containerd-crash"))
    for _ in range(2):
        code, _, err = _crictl(m, "version")
        assert code == 1 and _fatal(err) == DIAL_ERROR
        _wait_running(m)
    assert "RuntimeName:  containerd" in _ok(m, "version")
    assert m.faults.counts() == {"containerd-crash": 2}


def test_a_graceful_stop_leaves_the_shims_running():
    # containerd does not stop pods when its service stops; the next one reconnects to the
    # shims (issue 12, finding 5).  Only a host restart ends them.
    m = _runtime_machine()
    _pod(m, PROCESS)
    before = _ok(m, "ps -a -q")
    assert before
    m.services.stop("containerd")
    m.services.wait("containerd", "Stopped", 5)
    assert m.cri is None and m.cri_state is not None
    m.services.start("containerd")
    _wait_running(m)
    assert _ok(m, "ps -a -q") == before


def test_uvm_boot_failure_fails_hypervisor_pods_only():
    m = _runtime_machine()
    m.faults = FaultInjector(FaultPlan.parse("rate=1,kinds=uvm-boot-failure"))
    _pod(m, PROCESS, "proc")
    m.fs.write_bytes(f"{WORK}\\hv.json", json.dumps(
        {"metadata": {"name": "hv", "namespace": "default", "uid": "uid-hv"},
         "windows": {"security_context": {"host_process": True}}}).encode())
    code, _, err = _crictl(m, f"runp --runtime {HYPERV} hv.json")
    assert code == 1
    message = _fatal(err)
    assert message.startswith("run pod sandbox: rpc error: code = Unknown desc = failed to "
                              "create containerd task: failed to create shim task: "
                              "hcs::System::Start ")
    assert message.endswith("@vm: The operation timed out because a response was not "
                            "received from the virtual machine or container.: unknown")
    assert m.faults.counts() == {"uvm-boot-failure": 1}
    assert len(_ok(m, "pods -q").split()) == 1  # nothing left behind


def test_host_restart_drops_the_request_and_every_pod(tmp_path):
    m = _runtime_machine(restart_seconds=0.3)
    _pod(m, PROCESS)
    with _host(tmp_path, "host-restart", machine=m) as host:
        p = _protocol(host)
        with pytest.raises(requests.exceptions.ConnectionError):
            p.open_shell()
        assert m.wait_restarted(10)
        host.faults.suspended = True
        _wait_running(m)
        assert _ok(m, "pods -q") == ""
        p = _protocol(host)
        shell = p.open_shell()  # the host is back on the same port
        p.close_shell(shell)


# --- option plumbing -------------------------------------------------------------------------
def test_sim_serve_parses_faults_and_latency(monkeypatch, tmp_path, capsys):
    import harness.sim.host as host_mod
    from harness.cli import main
    from harness.errors import EXIT_CONFIG
    from harness.sim.latency import LatencyModel

    seen: dict = {}
    monkeypatch.setattr(host_mod, "serve", lambda state_dir, **kw: seen.update(kw) or 0)
    assert main(["sim", "serve", "--state-dir", str(tmp_path), "--faults",
                 "rate=0.1,seed=4,kinds=http500", "--latency", "realistic,scale=0.05"]) == 0
    assert seen["faults"] == FaultPlan(rate=0.1, seed=4, kinds=("http500",))
    assert isinstance(seen["latency"], LatencyModel)
    for flag, spec, message in (("--faults", "rate=9", "--faults: rate='9' is not a number"),
                                ("--faults", "rate=0.1,kinds=x", "--faults: kinds= names"),
                                ("--latency", "bogus=1", "--latency: ")):
        assert main(["sim", "serve", "--state-dir", str(tmp_path), flag, spec]) == EXIT_CONFIG
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_run_passes_sim_faults_and_latency_to_pytest(monkeypatch, tmp_path, capsys):
    from harness.cli import main
    from harness.commands import run as run_mod
    from harness.errors import EXIT_CONFIG

    calls: list = []
    monkeypatch.setattr(run_mod, "pytest_main", lambda argv, plugins: calls.append(argv) or 0)
    assert main(["run", "--alluredir", str(tmp_path / "ar"), "--sim-faults", "rate=0.2,seed=1",
                 "--sim-latency", "request=0.01"]) == 0
    argv = calls[0]
    assert argv[argv.index("--hpc-sim-faults") + 1] == "rate=0.2,seed=1"
    assert argv[argv.index("--hpc-sim-latency") + 1] == "request=0.01"
    assert main(["run", "--alluredir", str(tmp_path / "ar"), "--sim-faults", "seed=1"]) == \
        EXIT_CONFIG
    assert "--sim-faults: rate= is required" in capsys.readouterr().err
    assert len(calls) == 1


def test_plugin_refuses_a_bad_fault_spec(pytester):
    from importlib.metadata import entry_points

    plugin = () if entry_points(group="pytest11", name="hpc_e2e") else ("-p", "harness.plugin")
    pytester.makepyfile("def test_nothing(): pass")
    for args, message in ((("--hpc-sim-faults", "rate=x"),
                           "--hpc-sim-faults: rate='x' is not a number"),
                          (("--hpc-sim-latency", "bogus=1"), "--hpc-sim-latency: ")):
        result = pytester.runpytest(*plugin, "-p", "no:cacheprovider", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert message in result.stderr.str()
        assert "Traceback" not in result.stderr.str()


def test_the_controller_gives_each_sim_host_the_plan_and_model(tmp_path):
    import dataclasses

    from harness.plugin.options import Settings
    from harness.plugin.profiles import load_profile
    from harness.plugin.targets import Controller
    from harness.sim.latency import LatencyModel

    latency = LatencyModel.parse("request=0.001")
    settings = Settings(inventory=None, host_names=(), bundle=None,
                        profile=load_profile("current"), keep_on_failure=False, run_id=None,
                        sim_hosts=2, sim_flavor="current", sim_build=26100, lease_dir=None,
                        lease_timeout=60.0, sim_faults=FaultPlan.parse("rate=0.5,seed=10"),
                        sim_latency=latency)
    controller = Controller(None, settings)  # type: ignore[arg-type]
    try:
        controller._start_sims(tmp_path)
        plans = [sim.machine.faults.plan for sim in controller.sims]
        # the two pool hosts and the side host whose UVMs lack HPC support (sidehosts.py)
        assert plans == [dataclasses.replace(settings.sim_faults, seed=s) for s in (10, 11, 12)]
        assert all(sim.machine.latency is latency for sim in controller.sims)
    finally:
        controller.stop()
