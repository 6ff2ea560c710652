"""WindowsHost against the simulated host, over real WinRM (and SSH where it matters).

Each test starts a sim host with the profile it needs, so facts, feature states, restarts
and services are checked against what that machine model holds, not against constants.
"""

from __future__ import annotations

import hashlib
import json
import time
from urllib.parse import urlparse

import pytest

from harness.config.secrets import Secret
from harness.config.target import SSHOptions, Target, WinRMOptions
from harness.errors import HarnessError
from harness.sim.host import SimHost
from harness.sim.hostmodel import HostProfile
from harness.transport.ssh import SSHTransport
from harness.transport.winrm import WinRMTransport
from harness.windows import (
    ElevationRequired,
    FeatureInstallError,
    RestartTimeout,
    ServiceError,
    ServiceNotFound,
    ServiceStartError,
    ServiceStateTimeout,
    WindowsHost,
    WindowsHostError,
)

TEST_SERVICE = "sim:test-service"
SVC_DIR = r"C:\hpc-e2e-test\svc"
SVC_EXE = SVC_DIR + r"\testsvc.exe"


# --- plumbing ----------------------------------------------------------------------------------
def winrm_target(sim: SimHost) -> Target:
    ep = json.loads(sim.endpoint_file.read_text())
    return Target(name="sim-winrm", address="127.0.0.1", port=urlparse(ep["winrm_url"]).port,
                  transport="winrm", user=ep["user"],
                  password=Secret.from_file(ep["password_file"]),
                  winrm=WinRMOptions(scheme="https", auth="ntlm", ca_bundle=ep["ca_bundle"]))


def ssh_target(sim: SimHost) -> Target:
    ep = json.loads(sim.endpoint_file.read_text())
    return Target(name="sim-ssh", address=ep["ssh_host"], port=ep["ssh_port"], transport="ssh",
                  user=ep["user"], password=Secret.from_file(ep["password_file"]),
                  ssh=SSHOptions(auth="password", known_hosts=ep["ssh_known_hosts"]))


@pytest.fixture
def make_host(tmp_path):
    """make_host(profile, transport="winrm") -> (SimHost, WindowsHost); all torn down after."""
    opened: list = []

    def make(profile: HostProfile, transport: str = "winrm", **host_kwargs):
        sim = SimHost(tmp_path / f"sim{len(opened)}", profile=profile).start()
        opened.append(sim)
        t = (WinRMTransport(winrm_target(sim)) if transport == "winrm"
             else SSHTransport(ssh_target(sim)))
        opened.append(t)
        host_kwargs.setdefault("restart_delay", 1)
        host_kwargs.setdefault("restart_poll", 0.2)
        host_kwargs.setdefault("restart_attempt_timeout", 5.0)
        return sim, WindowsHost(t, **host_kwargs)

    yield make
    for thing in reversed(opened):
        (thing.close if hasattr(thing, "close") else thing.stop)()


def test_service_program(ctx) -> int:
    """The sim behaviour of testsvc.exe: a service whose argument says how it behaves."""
    control = ctx.extra.get("service")
    if control is None:
        ctx.stderr.line("testsvc.exe: not started by the service control manager")
        return 1
    args = ctx.argv[1:]
    if "--crash" in args:  # dies before reporting Running
        ctx.sleep(0.05)
        return 3
    if "--fail" in args:  # reports a service-specific error, as Go's svc package does
        control.stopped(42, service_specific=True)
        return 0
    ctx.sleep(0.05)
    control.running()
    while not control.wait_stop(0.05):
        ctx.check_cancelled()
    return 0


test_service_program.__test__ = False  # a sim program, not a test


def install_test_service_binary(sim: SimHost, host: WindowsHost) -> None:
    sim.machine.register_behaviour(TEST_SERVICE, test_service_program)
    host.files.mkdir(SVC_DIR)
    host.files.write_bytes(SVC_EXE, b"MZ\r\nhpc-e2e-sim program=" + TEST_SERVICE.encode()
                           + b" version=1.0\r\n")


# --- facts -------------------------------------------------------------------------------------
PROFILES = [
    HostProfile(name="LTSC2022-FULL", build=20348, ubr=2700, features={
        "Hyper-V": "Installed", "Containers": "Installed"}, free_disk_gb=40.0),
    HostProfile(name="ltsc2025-bare", build=26100, edition="ServerStandard",
                hyperv_capable=False, elevated=False, ps_version="5.1.26100.2161"),
    HostProfile(name="a-rather-long-hostname", build=26100, ubr=4061,
                features={"Hyper-V": "InstallPending", "Containers": "Available"}),
]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_facts_report_what_the_host_is(make_host, profile):
    sim, host = make_host(profile)
    facts = host.facts()
    assert facts.computer_name == profile.name.upper()[:15]
    assert (facts.build, facts.ubr) == (profile.build, profile.revision)
    assert facts.os_version == f"10.0.{profile.build}.{profile.revision}"
    year = {20348: "2022", 26100: "2025"}[profile.build]
    assert facts.caption.startswith(f"Microsoft Windows Server {year} ")
    assert facts.ltsc == f"ltsc{year}"
    assert facts.edition == profile.edition
    assert dict(facts.features) == dict(profile.features)
    assert facts.restart_pending == ("InstallPending" in profile.features.values())
    assert facts.elevated is profile.elevated
    assert facts.hyperv_capable is profile.hyperv_capable
    # A running hypervisor hides the processor's extensions (and only then).
    hv = profile.features.get("Hyper-V") == "Installed"
    assert facts.hypervisor_present is hv
    assert facts.virtualization_firmware_enabled is (profile.hyperv_capable and not hv)
    assert facts.ps_version == profile.powershell_version
    assert facts.free_disk_gb == pytest.approx(profile.free_disk_gb, abs=0.01)
    assert facts.user.lower() == f"{profile.name.upper()[:15]}\\administrator".lower()
    assert abs(facts.boot_time.timestamp() - sim.machine.facts.boot_time) < 0.01
    assert abs(facts.clock_skew) < 2.0
    assert sim.winrm.request_count(action="Command") >= 1


def test_facts_over_ssh_match_winrm(make_host):
    sim, host = make_host(HostProfile(name="TWOWAYS", build=20348), transport="ssh")
    facts = host.facts()
    assert (facts.computer_name, facts.build) == ("TWOWAYS", 20348)
    with WinRMTransport(winrm_target(sim)) as t:
        other = WindowsHost(t).facts()
    assert (other.features, other.boot_time, other.caption) == \
        (facts.features, facts.boot_time, facts.caption)


# --- features and restarts -------------------------------------------------------------------
def test_enabling_features_restarts_and_survives_on_the_same_transport(make_host):
    sim, host = make_host(HostProfile(name="FRESH", build=26100, restart_seconds=1.0))
    before = host.facts()
    assert dict(before.features) == {"Hyper-V": "Available", "Containers": "Available"}

    change = host.enable_features(["Containers", "Hyper-V"], timeout=60)

    assert change.windows_requested_restart and change.exit_code == "SuccessRestartRequired"
    assert change.restarted is not None and not change.restart_needed
    assert dict(change.before) == {"Containers": "Available", "Hyper-V": "Available"}
    assert dict(change.after) == {"Containers": "Installed", "Hyper-V": "Installed"}
    assert change.installed and set(change.changed) == {"Containers", "Hyper-V"}
    assert change.restarted.boot_time > before.boot_time
    assert sim.machine.facts.boot_count == 2  # exactly one restart
    # The same transport object keeps working after the host came back.
    after = host.facts()
    assert after.feature_installed("hyper-v") and after.feature_installed("Containers")
    assert after.hypervisor_present and not after.virtualization_firmware_enabled
    assert after.boot_time == change.restarted.boot_time
    assert host.transport.run("hostname", check=True).stdout.strip() == "FRESH"


def test_enabling_without_restart_leaves_features_pending_until_one(make_host):
    sim, host = make_host(HostProfile(name="LATER", build=20348))
    change = host.enable_features("Containers", restart=False)
    assert change.restart_needed and change.restarted is None
    assert dict(change.after) == {"Containers": "InstallPending"}
    assert host.facts().restart_pending
    again = host.enable_features(["Containers"], restart=False)  # nothing new to install
    assert again.exit_code == "NoChangeNeeded" and again.restart_needed
    result = host.restart(timeout=30)
    assert result.boot_time > result.previous_boot
    assert host.facts().feature_state("Containers") == "Installed"
    done = host.enable_features(["Containers"])
    assert done.exit_code == "NoChangeNeeded" and done.restarted is None
    assert sim.machine.facts.boot_count == 2


def test_restart_over_ssh_reconnects(make_host):
    _, host = make_host(HostProfile(name="SSHBOOT", restart_seconds=0.5), transport="ssh")
    first = host.boot_time()
    result = host.restart(timeout=30)
    assert result.previous_boot == first and result.boot_time > first
    assert host.transport.run("hostname", check=True).stdout.strip() == "SSHBOOT"


def test_hyperv_without_virtualization_extensions_fails_clearly(make_host):
    sim, host = make_host(HostProfile(name="NOVIRT", hyperv_capable=False))
    with pytest.raises(FeatureInstallError) as info:
        host.enable_features(["Containers", "Hyper-V"], timeout=30)
    text = str(info.value)
    assert text.startswith("sim-winrm: Windows refused to enable Containers, Hyper-V")
    assert "prerequisite check for the Hyper-V feature failed" in text
    assert "virtualization capabilities" in text
    assert "ExposeVirtualizationExtensions" in text  # the hint says how to fix it
    # Nothing changed and nothing restarted: Install-WindowsFeature checks first.
    assert sim.machine.facts.features() == {"Hyper-V": "Available", "Containers": "Available"}
    assert sim.machine.facts.boot_count == 1
    # Containers alone is fine on such a host.
    assert host.enable_features(["Containers"], timeout=30).installed


def test_an_unknown_feature_is_named(make_host):
    _, host = make_host(HostProfile(name="ODD"))
    with pytest.raises(FeatureInstallError, match="no Windows feature named 'Hyper-V-Nope'"):
        host.enable_features(["Hyper-V-Nope"], restart=False)


def test_a_non_elevated_user_gets_a_clear_error(make_host):
    sim, host = make_host(HostProfile(name="LIMITED", elevated=False))
    assert host.facts().elevated is False  # reading works without elevation
    with pytest.raises(ElevationRequired, match="requires elevation") as info:
        host.enable_features(["Containers"])
    assert "LocalAccountTokenFilterPolicy" in str(info.value)
    with pytest.raises(ElevationRequired):
        host.restart(timeout=10)
    with pytest.raises(ElevationRequired, match="Access is denied"):
        host.services.register("svc", r"C:\x.exe")
    assert host.services.query("svc") is None
    assert sim.machine.facts.features()["Containers"] == "Available"
    assert sim.machine.facts.boot_count == 1


def test_restart_wait_gives_up_at_its_bound(make_host):
    sim, host = make_host(HostProfile(name="SLOWBOOT", restart_seconds=120.0),
                          restart_attempt_timeout=2.0)
    started = time.monotonic()
    with pytest.raises(RestartTimeout) as info:
        host.restart(timeout=4)
    elapsed = time.monotonic() - started
    assert 4 <= elapsed < 12, elapsed
    text = str(info.value)
    assert text.startswith("sim-winrm did not come back")
    assert "did not come back from its restart within 4s" in text
    assert "cannot connect" in text or "connection" in text.lower()
    assert sim.machine.restarting  # it really is still down


# --- services ------------------------------------------------------------------------------------
def test_service_register_start_stop_query_delete(make_host):
    sim, host = make_host(HostProfile(name="SVCHOST"))
    install_test_service_binary(sim, host)
    svcs = host.services
    assert svcs.query("hpc-test") is None

    info = svcs.register("hpc-test", SVC_EXE, display_name="HPC test service",
                         description="sim test service")
    assert (info.state, info.start_type, info.binary_path) == ("Stopped", "Manual", SVC_EXE)
    assert sim.machine.services.query("hpc-test").display_name == "HPC test service"

    running = svcs.start("hpc-test", timeout=10)
    assert running.running and running.pid > 0
    assert sim.machine.services.query("hpc-test").state == "Running"
    launch = [x for x in sim.machine.launches if x.image.lower() == SVC_EXE.lower()][-1]
    assert launch.account == r"NT AUTHORITY\SYSTEM" and launch.parent is None
    assert svcs.start("hpc-test").running  # already running: nothing to do

    stopped = svcs.stop("hpc-test", timeout=10)
    assert stopped.stopped and stopped.exit_code == 0
    assert svcs.stop("hpc-test").stopped  # idempotent

    again = svcs.restart("hpc-test", timeout=10)
    assert again.running and again.pid != running.pid
    assert svcs.set_start_type("hpc-test", "automatic").start_type == "Automatic"

    assert svcs.delete("hpc-test") is True
    assert svcs.query("hpc-test") is None and not sim.machine.services.exists("hpc-test")
    assert svcs.delete("hpc-test") is False


def test_a_service_that_dies_reports_state_and_exit_code(make_host):
    sim, host = make_host(HostProfile(name="CRASHY"))
    install_test_service_binary(sim, host)
    host.services.register("crashy", f"{SVC_EXE} --crash")
    with pytest.raises(ServiceStartError) as info:
        host.services.start("crashy", timeout=10)
    text = str(info.value)
    assert "state Stopped" in text and "Win32 exit code 1067" in text
    assert "The process terminated unexpectedly." in text
    assert info.value.info.exit_code == 1067

    host.services.register("failing", f"{SVC_EXE} --fail")
    with pytest.raises(ServiceStartError, match="service-specific exit code 42") as info:
        host.services.start("failing", timeout=10)
    assert info.value.info.exit_code == 1066


def test_a_service_whose_binary_is_missing_says_so(make_host):
    _, host = make_host(HostProfile(name="NOBIN"))
    host.services.register("ghost", r"C:\nowhere\ghost.exe")
    with pytest.raises(ServiceStartError, match="cannot find the file specified"):
        host.services.start("ghost", timeout=5)


def test_service_errors_are_specific(make_host):
    sim, host = make_host(HostProfile(name="ERRS"))
    install_test_service_binary(sim, host)
    with pytest.raises(ServiceNotFound, match="no service named 'absent'"):
        host.services.start("absent")
    host.services.register("dup", SVC_EXE)
    with pytest.raises(ServiceError, match="already exists"):
        host.services.register("dup", SVC_EXE)
    assert host.services.register("dup", f"{SVC_EXE} --x", replace=True).binary_path.endswith(
        "--x")
    host.services.set_start_type("dup", "Disabled")
    with pytest.raises(ServiceStartError, match="disabled"):
        host.services.start("dup")
    with pytest.raises(ValueError):
        host.services.register("bad/name", SVC_EXE)
    with pytest.raises(ValueError):
        host.services.query("contain*")
    with pytest.raises(ServiceStateTimeout):
        host.services.wait("dup", "Running", timeout=0.5, poll=0.1)


def test_auto_start_services_run_after_a_restart(make_host):
    sim, host = make_host(HostProfile(name="AUTOSTART", restart_seconds=0.3))
    install_test_service_binary(sim, host)
    host.services.register("auto", SVC_EXE, start_type="Automatic")
    host.services.register("manual", SVC_EXE, start_type="Manual", display_name="manual one")
    host.services.start("manual", timeout=10)
    host.restart(timeout=30)
    assert host.services.wait("auto", "Running", timeout=10).running
    assert host.services.get("manual").stopped  # a restart ends what was running


# --- files -------------------------------------------------------------------------------------
def test_files(make_host):
    sim, host = make_host(HostProfile(name="FILES"))
    files = host.files
    base = r"C:\hpc-e2e-test\files"
    assert files.mkdir(base + r"\sub") is True
    assert files.mkdir(base + r"\sub") is False
    files.write_text(base + r"\a.txt", "line 1\nline 2\n", newline="\r\n")
    assert sim.machine.fs.read_bytes(base + r"\a.txt") == b"line 1\r\nline 2\r\n"
    files.write_bytes(base + r"\sub\b.bin", bytes(range(256)))
    assert files.read_text(base + r"\a.txt") == "line 1\r\nline 2\r\n"

    paths = [base + r"\a.txt", base + r"\sub\b.bin", base + r"\sub", base + r"\missing"]
    sim.winrm.reset_counters()
    hashes = files.sha256s(paths)
    assert sim.winrm.request_count(action="Command") == 1  # one round trip for all of them
    assert hashes == {paths[0]: hashlib.sha256(b"line 1\r\nline 2\r\n").hexdigest(),
                      paths[1]: hashlib.sha256(bytes(range(256))).hexdigest(),
                      paths[2]: None, paths[3]: None}
    info = files.info(paths)
    assert [(i.exists, i.type, i.size) for i in info] == [
        (True, "file", 16), (True, "file", 256), (True, "directory", None),
        (False, None, None)]
    assert files.exists(base) and not files.exists(base + r"\missing")

    with pytest.raises(WindowsHostError, match="The directory is not empty"):
        files.remove(base + r"\sub")
    assert files.remove(base + r"\a.txt") is True
    assert files.remove(base + r"\a.txt") is False
    assert files.remove(base, recurse=True) is True
    assert not sim.machine.fs.exists(base)
    with pytest.raises(HarnessError):
        files.read_text(base + r"\a.txt")
    sim.machine.fs.write_bytes(r"C:\hpc-e2e-test\plain", b"x")
    with pytest.raises(WindowsHostError, match="already exists"):
        files.mkdir(r"C:\hpc-e2e-test\plain")


# --- a restart request whose answer or request was lost -------------------------------------
@pytest.mark.parametrize("lost", ["answer", "request"])
def test_a_lost_restart_request_is_reconciled_not_guessed(make_host, monkeypatch, lost):
    """Answer lost: the repeat is refused with 1190 (already scheduled) and the host restarts
    once.  Request lost: nothing was scheduled, so the repeat schedules it.  Before this was
    reconciled, a lost *request* left the wait polling for a restart that never came."""
    from harness.errors import TransportError
    from harness.transport.retry import mark_transient
    from harness.windows import restart as restart_mod

    sim, host = make_host(HostProfile(name="LOSSY", restart_seconds=0.5))
    real_call = restart_mod.call
    calls = []

    def lossy_call(transport, name, *args, **kw):
        if name == "restart_host":
            calls.append(name)
            if len(calls) == 1:
                if lost == "answer":
                    real_call(transport, name, *args, **kw)
                raise mark_transient(TransportError("sim-winrm: connection reset (test)"))
        return real_call(transport, name, *args, **kw)

    monkeypatch.setattr(restart_mod, "call", lossy_call)
    before = sim.machine.facts.boot_count
    result = host.restart(timeout=30)
    assert len(calls) == 2, calls  # asked again once, then reconciled
    assert result.boot_time > result.previous_boot
    assert sim.machine.wait_restarted(10)
    assert sim.machine.facts.boot_count == before + 1  # exactly one restart either way


def test_powershell_warnings_reach_the_caller_as_text(make_host):
    # powershell.exe with a redirected stderr and no -OutputFormat Text writes its warning
    # and error records as CLIXML (issue 12, finding 4); the bootstrap asks for text.
    from harness.windows.catalog import SCRIPTS
    from harness.transport.powershell import run_script

    _, host = make_host(HostProfile(name="WARNS", build=20348))
    res = run_script(host.transport, "enable_features", {"names": ["Containers"]},
                     catalog=SCRIPTS, timeout=60)
    assert res.value["restart_needed"] == "Yes"
    output = res.command.stdout + res.command.stderr
    assert "#< CLIXML" not in output and "<Objs" not in output
    assert "WARNING: You must restart this server to finish the installation process." in output
