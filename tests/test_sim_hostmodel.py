"""The sim's host model: profiles and facts, the restart model, the service control manager,
placeholder behaviours, and SimHost refusing connections while its machine restarts."""

from __future__ import annotations

import json
import socket
import time

import pytest

from harness.sim.host import SimHost
from harness.sim.hostmodel import HostFacts, HostProfile
from harness.sim.machine import Machine
from harness.sim.programs import standard_machine
from harness.sim.services import ServiceError, ServiceManager


# --- profiles and facts ----------------------------------------------------------------------
def test_profile_defaults_and_derived_values():
    p = HostProfile()
    assert (p.name, p.build, p.edition) == ("SIMHOST", 26100, "ServerDatacenter")
    assert p.os_version == f"10.0.26100.{p.revision}"
    assert p.caption == "Microsoft Windows Server 2025 Datacenter"
    assert p.powershell_version.startswith("5.1.26100.")
    assert HostProfile(build=20348, edition="ServerStandard").caption == \
        "Microsoft Windows Server 2022 Standard"
    assert HostProfile.from_os_version("x", "10.0.20348.2340").revision == 2340
    with pytest.raises(ValueError, match="not one of"):
        HostProfile(features={"Hyper-V": "Enabled"})
    with pytest.raises(ValueError):
        HostProfile.from_os_version("x", "2022")


def test_facts_track_features_case_insensitively_and_complete_them_at_boot():
    facts = HostFacts(HostProfile(features={"Hyper-V": "Available", "Containers": "Installed"}))
    assert facts.feature_state("hyper-v") == "Available"
    assert facts.feature_state("Nope") is None
    assert not facts.hypervisor_present
    facts.set_feature("HYPER-V", "InstallPending")
    assert facts.features() == {"Hyper-V": "InstallPending", "Containers": "Installed"}
    assert facts.pending_restart()
    boot = facts.boot_time
    assert facts.boot() == ["Hyper-V"]
    assert facts.feature_state("Hyper-V") == "Installed" and facts.hypervisor_present
    assert facts.boot_time > boot and facts.boot_count == 2
    incapable = HostFacts(HostProfile(hyperv_capable=False))
    incapable.set_feature("Hyper-V", "InstallPending")
    incapable.boot()
    assert not incapable.hypervisor_present


def test_machine_takes_its_identity_from_the_profile():
    m = standard_machine(profile=HostProfile(name="Build-Agent-0042-long", build=20348, ubr=9))
    assert (m.name, m.computer_name, m.os_version) == ("Build-Agent-0042-long",
                                                        "BUILD-AGENT-004", "10.0.20348.9")
    assert m.facts.profile is m.profile and m.cri is None
    legacy = standard_machine("OLD", os_version="10.0.17763.1")
    assert (legacy.profile.build, legacy.profile.revision, legacy.name) == (17763, 1, "OLD")
    assert standard_machine().os_version == "10.0.20348.2340"  # unchanged default
    with pytest.raises(ValueError, match="disagree"):
        standard_machine("OTHER", profile=HostProfile(name="X"))


# --- behaviours ---------------------------------------------------------------------------------
def _run(machine: Machine, line: str) -> tuple[int, bytes, bytes]:
    proc = machine.spawn(line)
    proc.write_stdin(b"", eof=True)
    out, err = bytearray(), bytearray()
    while True:
        o, e, done = proc.read_output(1 << 16, 5.0)
        out += o
        err += e
        if done:
            return proc.exit_code, bytes(out), bytes(err)


def test_a_behaviour_runs_for_any_placeholder_naming_it():
    m = standard_machine()

    def versioned(ctx):
        head = ctx.machine.fs.read_bytes(ctx.extra["image"]).decode()
        ctx.stdout.line(head.split("version=")[1].split()[0])
        return 0

    m.register_behaviour("sim:tool", versioned)
    m.fs.makedirs(r"C:\Program Files\tool")
    m.fs.write_bytes(r"C:\Program Files\tool\tool.exe",
                     b"MZ\r\nhpc-e2e-sim program=sim:tool version=1.7.22\r\n")
    code, out, _ = _run(m, r'"C:\Program Files\tool\tool.exe"')
    assert (code, out) == (0, b"1.7.22\r\n")
    m.fs.write_bytes(r"C:\Program Files\tool\other.exe",
                     b"MZ\r\nhpc-e2e-sim program=sim:unknown version=1\r\n")
    code, _, err = _run(m, r'"C:\Program Files\tool\other.exe"')
    assert code == 1 and b"no model of program" in err
    with pytest.raises(ValueError):
        m.register_behaviour("two words", versioned)


# --- services -------------------------------------------------------------------------------------
def service_program(ctx):
    control = ctx.extra["service"]
    if "--exit" in ctx.argv:
        return 7
    if "--silent" in ctx.argv:  # never reports running
        while True:
            ctx.sleep(0.05)
    control.running()
    while not control.wait_stop(0.05):
        ctx.check_cancelled()
    return 0


@pytest.fixture
def scm_machine():
    m = standard_machine(profile=HostProfile(name="SCM", restart_seconds=0.1))
    m.register_behaviour("sim:svc", service_program)
    m.fs.makedirs(r"C:\svc")
    m.fs.write_bytes(r"C:\svc\svc.exe", b"MZ\r\nhpc-e2e-sim program=sim:svc\r\n")
    return m


def test_scm_lifecycle(scm_machine):
    scm: ServiceManager = scm_machine.services
    st = scm.create("one", r"C:\svc\svc.exe --run", display_name="One")
    assert (st.state, st.start_type, st.exit_code) == ("Stopped", "Manual", 1077)
    assert scm.start("one").state in ("StartPending", "Running")
    st = scm.wait("one", "Running", 5)
    assert st.state == "Running" and st.pid > 0
    launch = scm_machine.launches[-1]
    assert (launch.image, launch.command_line, launch.account) == (
        r"C:\svc\svc.exe", r"C:\svc\svc.exe --run", r"NT AUTHORITY\SYSTEM")
    with pytest.raises(ServiceError) as e:
        scm.start("one")
    assert e.value.code == 1056
    scm.stop("one")
    st = scm.wait("one", "Stopped", 5)
    assert (st.state, st.exit_code, st.process_exit_code, st.pid) == ("Stopped", 0, 0, 0)
    with pytest.raises(ServiceError) as e:
        scm.stop("one")
    assert e.value.code == 1062
    scm.delete("one")
    assert not scm.exists("one")
    with pytest.raises(ServiceError) as e:
        scm.query("one")
    assert e.value.code == 1060 and "does not exist" in str(e.value)


def test_scm_failures_carry_windows_codes(scm_machine):
    scm = scm_machine.services
    scm.create("dup", r"C:\svc\svc.exe")
    with pytest.raises(ServiceError) as e:
        scm.create("DUP", r"C:\svc\svc.exe")
    assert e.value.code == 1073
    with pytest.raises(ServiceError) as e:
        scm.create("other", r"C:\svc\svc.exe", display_name="dup")
    assert e.value.code == 1078
    scm.create("gone", r"C:\nothing\here.exe")
    with pytest.raises(ServiceError) as e:
        scm.start("gone")
    assert e.value.code == 2
    scm.create("off", r"C:\svc\svc.exe", start_type="Disabled")
    with pytest.raises(ServiceError) as e:
        scm.start("off")
    assert e.value.code == 1058
    scm.create("dies", r"C:\svc\svc.exe --exit")
    scm.start("dies")
    st = scm.wait("dies", "Running", 5)
    assert (st.state, st.exit_code, st.process_exit_code) == ("Stopped", 1067, 7)


def test_scm_times_out_a_service_that_never_reports(scm_machine):
    scm = scm_machine.services
    scm.start_timeout = 0.3
    scm.create("mute", r"C:\svc\svc.exe --silent")
    scm.start("mute")
    st = scm.wait("mute", "Running", 5)
    assert (st.state, st.exit_code) == ("Stopped", 1053)


def test_deleting_a_running_service_waits_for_it_to_stop(scm_machine):
    scm = scm_machine.services
    scm.create("busy", r"C:\svc\svc.exe")
    scm.start("busy")
    scm.wait("busy", "Running", 5)
    scm.delete("busy")
    assert scm.query("busy").delete_pending
    with pytest.raises(ServiceError) as e:
        scm.delete("busy")
    assert e.value.code == 1072
    scm.stop("busy")
    deadline = time.monotonic() + 5
    while scm.exists("busy") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not scm.exists("busy")


# --- the restart model ------------------------------------------------------------------------------
def test_machine_restart_completes_features_and_starts_auto_services(scm_machine):
    m = scm_machine
    phases: list[str] = []
    m.add_restart_listener(phases.append)
    m.services.create("auto", r"C:\svc\svc.exe", start_type="Automatic")
    m.services.create("manual", r"C:\svc\svc.exe")
    m.services.start("manual")
    m.services.wait("manual", "Running", 5)
    m.facts.set_feature("Containers", "InstallPending")
    boot = m.facts.boot_time
    assert m.request_restart(delay=0.05)
    assert not m.request_restart(delay=0.05)  # one at a time
    assert m.wait_restarted(5)
    assert phases == ["down", "up"]
    assert m.facts.feature_state("Containers") == "Installed"
    assert m.facts.boot_time > boot and not m.restarting
    assert m.services.wait("auto", "Running", 5).state == "Running"
    assert m.services.query("manual").state == "Stopped"


def _connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_simhost_refuses_connections_while_restarting_then_returns_on_the_same_ports(tmp_path):
    profile = HostProfile(name="REBOOTER", restart_seconds=0.6)
    with SimHost(tmp_path / "sim", profile=profile) as sim:
        endpoint = json.loads(sim.endpoint_file.read_text())
        https_port, ssh_port = sim.winrm.port, sim.ssh.port
        assert _connect(https_port) and _connect(ssh_port)
        sim.machine.request_restart(delay=0.0)
        deadline = time.monotonic() + 0.5  # well inside the 0.6 s of downtime
        while (_connect(https_port) or _connect(ssh_port)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sim.machine.restarting
        assert not _connect(https_port) and not _connect(ssh_port)
        assert sim.machine.wait_restarted(5)
        assert (sim.winrm.port, sim.ssh.port) == (https_port, ssh_port)
        assert _connect(https_port) and _connect(ssh_port)
        assert json.loads(sim.endpoint_file.read_text()) == endpoint
