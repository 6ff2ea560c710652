"""The hpc-e2e pytest plugin, driven as pytest drives plugins: through ``pytester``.

Each test writes a small suite, runs it in-process (xdist workers are real subprocesses) and
checks what happened: option errors, skip reasons, the pods left on a host after a failing
test, who held which lease when, and how often a host was provisioned.  Inner tests record
what they saw in files under the pytester folder; the outer test reads them.  Simulated
hosts are started by the plugin itself, as in a real ``hpc-e2e run``.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from harness.plugin.leasing import HostSlots, Leaser, LeaseTimeout

# An installed checkout loads the plugin through its entry point; naming it again would
# register it twice (see conftest.py).
PLUGIN = () if entry_points(group="pytest11", name="hpc_e2e") else ("-p", "harness.plugin")
SYSTEM = "NT AUTHORITY\\SYSTEM"


def run(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> pytest.RunResult:
    """Run the inner suite; in a subprocess when it talks to hosts.

    An in-process run forgets the modules it imported when it ends, and cryptography's
    compiled core and requests' cookie jars do not survive a second import in one process.
    """
    # hypothesis' and benchmark's plugins only slow every worker down here
    argv = (*PLUGIN, "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark",
            "--strict-markers", *args)
    if subprocess:
        return pytester.runpytest_subprocess(*argv, timeout=240)
    return pytester.runpytest(*argv)


def sim_bundle(tmp_path: Path) -> Path:
    from harness.sim.bundle import write_sim_bundle

    return write_sim_bundle(tmp_path / "bundle")


def local_inventory(pytester: pytest.Pytester, **max_leases: int) -> Path:
    """Hosts reached through the local transport: enough to lease, never contacted here."""
    text = "".join(f'[hosts.{name}]\ntransport = "local"\n[hosts.{name}.labels]\n'
                   f"max_leases = {n}\n" for name, n in max_leases.items())
    path = pytester.path / "inventory.toml"
    path.write_text(text, encoding="utf-8")
    return path


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """nodeid -> outcome, from ``-rA`` short summary lines."""
    found = {}
    for line in result.outlines:
        for word in ("PASSED", "FAILED", "ERROR", "SKIPPED"):
            if line.startswith(word + " ") and "::" in line:
                nodeid = line.split()[1]
                found[nodeid] = word
    return found


# --- options ----------------------------------------------------------------------------
def test_options_form_one_group(pytester):
    result = run(pytester, "--help")
    text = result.stdout.str()
    assert "hpc-e2e: Windows HostProcess container suite" in text
    for flag in ("--hpc-inventory", "--hpc-host", "--hpc-bundle", "--hpc-profile",
                 "--hpc-keep-on-failure", "--hpc-run-id", "--hpc-sim-hosts", "--hpc-sim-flavor",
                 "--hpc-sim-build", "--hpc-sim-faults", "--hpc-sim-latency", "--hpc-lease-dir",
                 "--hpc-lease-timeout", "--hpc-provision-timeout"):
        assert flag in text, flag


BAD_PROFILE = """
[profile]
name = "broken"
[expect]
"hyperv.whoami" = "x"
[unverified]
"hyperv.whoami" = "also here"
"""


@pytest.mark.parametrize("args, message", [
    (["--hpc-sim-hosts", "0"], "--hpc-sim-hosts: 0 is out of range"),
    (["--hpc-sim-hosts", "two"], "--hpc-sim-hosts: 'two' is not a whole number"),
    (["--hpc-sim-build", "2x"], "--hpc-sim-build: '2x' is not a whole number"),
    (["--hpc-sim-build", "17763"], "--hpc-sim-build: "),  # images.toml has no image for it
    (["--hpc-sim-flavor", "no-such"], "--hpc-sim-flavor: unknown runtime flavor 'no-such'"),
    (["--hpc-host", "sim-3", "--hpc-sim-hosts", "2"],
     "--hpc-host: no simulated host named 'sim-3'"),
    (["--hpc-host", "sim-1,sim-2", "--hpc-host", "sim-9", "--hpc-sim-hosts", "2"],
     "--hpc-host: no simulated host named 'sim-9'"),
    (["--hpc-inventory", "missing.toml"], "--hpc-inventory: missing.toml is not a file"),
    (["--hpc-inventory", "{inventory}"], "--hpc-bundle: required with --hpc-inventory"),
    (["--hpc-inventory", "{inventory}", "--hpc-bundle", "{bundle}", "--hpc-sim-hosts", "2"],
     "--hpc-sim-hosts: applies to simulated hosts only"),
    (["--hpc-inventory", "{inventory}", "--hpc-bundle", "{bundle}", "--hpc-host", "h9"],
     "--hpc-host: inventory.toml: no host named 'h9' (hosts: h1)"),
    (["--hpc-lease-timeout", "0"], "--hpc-lease-timeout: must be more than 0 seconds"),
    (["--hpc-lease-timeout", "soon"], "--hpc-lease-timeout: 'soon' is not a number"),
    (["--hpc-run-id", "not a label!"],
     "--hpc-run-id: 'not a label!' is not usable as a label value"),
    (["--hpc-profile", "no-such-profile"], "no-such-profile.toml: profile file does not exist"),
    (["--hpc-profile", "{bad_profile}"],
     "bad.toml: hyperv.whoami: in both [expect] and [unverified]"),
])
def test_bad_options_are_usage_errors_naming_the_option(pytester, tmp_path, args, message):
    values = {"inventory": str(local_inventory(pytester, h1=1)),
              "bundle": str(sim_bundle(tmp_path)),
              "bad_profile": str(tmp_path / "bad.toml")}
    (tmp_path / "bad.toml").write_text(BAD_PROFILE, encoding="utf-8")
    pytester.makepyfile("def test_nothing(): pass")
    result = run(pytester, *[a.format(**values) for a in args])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


# --- markers and skips --------------------------------------------------------------------
SKIPS = """
import pytest
from harness.plugin.api import ISOLATIONS

@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_parametrized(hpc_host, isolation):
    pass

def test_fixture_parameters(hpc_host, isolation):
    pass

@pytest.mark.min_build(26100)
def test_min_build(hpc_host):
    pass

@pytest.mark.requires("hyper-v", "containers")
def test_requires_what_provisioning_installed(hpc_host):
    pass

@pytest.mark.requires("gpu")
def test_requires_a_missing_capability(hpc_host):
    pass

@pytest.mark.min_build("26100")
def test_malformed_marker(hpc_host):
    pass
"""


def test_markers_skip_with_reasons_naming_the_host(pytester):
    pytester.makepyfile(test_skips=SKIPS)
    result = run(pytester, "--hpc-sim-build", "20348", "-rA", subprocess=True)
    got = outcomes(result)
    assert got == {
        "test_skips.py::test_parametrized[process]": "PASSED",
        "test_skips.py::test_fixture_parameters[process]": "PASSED",
        "test_skips.py::test_requires_what_provisioning_installed": "PASSED",
        "test_skips.py::test_malformed_marker": "ERROR",
    }, result.stdout.str()
    out = result.stdout.str()
    no_uvm = "host sim-1 build 20348 has no HPC-in-UVM support (needs 26100)"
    assert out.count(no_uvm) == 2  # both hyperv cases
    assert "host sim-1 build 20348 is older than 26100 (min_build)" in out
    assert "host sim-1 build 20348 lacks capability gpu" in out
    assert "ConfigError: test_skips.py::test_malformed_marker: @pytest.mark.min_build('26100',): " \
           "give one build number" in out
    result.assert_outcomes(passed=3, skipped=4, errors=1)


# --- pods are removed after the test, kept on request ---------------------------------------
PODS = f"""
import json
from pathlib import Path

SYSTEM = {SYSTEM!r}

def test_a_creates_pods_and_fails(pods):
    pod = pods.run("process", run_as_username=SYSTEM)
    pods.start_long_running(pod, run_as_username=SYSTEM)
    hv = pods.run("hyperv")
    hv.container()
    Path("created.json").write_text(json.dumps([pod.id, hv.id]))
    assert False, "this test fails on purpose"

def test_b_leaks_a_pod_behind_the_factorys_back(hpc_host):
    from harness.cri import PodSpec
    hpc_host.crictl.runp(PodSpec("leaked", host_process=True),
                         runtime_handler="runhcs-wcow-process")

def test_c_what_is_left(hpc_host):
    left = sorted(p.id for p in hpc_host.crictl.pods() if p.name != "leaked")
    Path("left.json").write_text(json.dumps(left))
"""


@pytest.mark.parametrize("keep", [False, True], ids=["removed", "kept"])
def test_pods_of_a_failing_test_are_removed_unless_kept(pytester, keep):
    pytester.makepyfile(test_pods=PODS)
    result = run(pytester, "-rA", *(["--hpc-keep-on-failure"] if keep else []), subprocess=True)
    result.assert_outcomes(passed=2, failed=1)
    created = json.loads((pytester.path / "created.json").read_text())
    left = json.loads((pytester.path / "left.json").read_text())
    out = result.stdout.str()
    if keep:
        assert sorted(created) == left
        assert f"kept for inspection on sim-1 (--hpc-keep-on-failure): pods " \
               f"{', '.join(sorted(created))}" in out
    else:
        assert left == []
        assert "kept for inspection" not in out
    # the pod created behind the factory's back is swept at the end of the run, by run id
    assert "swept 1 leftover pod(s) of run" in out
    assert "clean-up failed" not in out


# --- leases -------------------------------------------------------------------------------
LEASES = """
import json, os, time
import pytest

@pytest.mark.parametrize("n", range(4))
def test_hold(hpc_lease, n):
    start = time.time()
    # Hold the slot until another test holds one too (or a while has passed), so that
    # concurrent leases are seen however slowly the workers start.
    holders = hpc_lease.holder_file.parent
    while len(list(holders.glob("*.holder"))) < 2 and time.time() < start + 1.5:
        time.sleep(0.05)
    time.sleep(0.2)
    line = {"host": hpc_lease.host, "slot": hpc_lease.slot, "start": start, "end": time.time(),
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "master")}
    with open("leases.jsonl", "a") as f:
        f.write(json.dumps(line) + "\\n")
"""

LEASE_WAIT = """
import os, time
import pytest

@pytest.mark.parametrize("n", range(2))
def test_hold(hpc_lease, n):
    deadline = time.time() + 20
    while not os.path.exists("gave-up") and time.time() < deadline:
        time.sleep(0.05)
"""

LEASE_WAIT_CONFTEST = """
def pytest_runtest_logreport(report):
    if report.when == "setup" and report.failed:
        open("gave-up", "w").close()
"""


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_workers_never_exceed_a_hosts_max_leases(pytester, tmp_path):
    pytest.importorskip("xdist")
    inventory = local_inventory(pytester, h1=2)
    pytester.makepyfile(test_leases=LEASES)
    result = run(pytester, "-n", "3", "--hpc-inventory", str(inventory),
                 "--hpc-bundle", str(sim_bundle(tmp_path)))
    result.assert_outcomes(passed=4)
    held = [json.loads(line) for line in
            (pytester.path / "leases.jsonl").read_text().splitlines()]
    assert {h["host"] for h in held} == {"h1"}
    # 3 workers, 2 slots: two tests at once, never three
    assert max_overlap([(h["start"], h["end"]) for h in held]) == 2
    for slot in (0, 1):  # a slot is never held twice at once
        assert max_overlap([(h["start"], h["end"]) for h in held if h["slot"] == slot]) == 1
    assert len({h["worker"] for h in held}) >= 2


def test_a_lease_wait_is_bounded_with_a_clear_error(pytester, tmp_path):
    pytest.importorskip("xdist")
    inventory = local_inventory(pytester, h1=1)
    pytester.makeconftest(LEASE_WAIT_CONFTEST)
    pytester.makepyfile(test_leases=LEASE_WAIT)
    result = run(pytester, "-n", "2", "--hpc-inventory", str(inventory),
                 "--hpc-bundle", str(sim_bundle(tmp_path)), "--hpc-lease-timeout", "0.5")
    result.assert_outcomes(passed=1, errors=1)
    out = result.stdout.str()
    assert "no free lease within 0.5s on h1 (1 lease(s); slot 0: gw" in out
    assert "raise --hpc-lease-timeout" in out


def test_leaser_spreads_over_hosts_and_names_holders(tmp_path):
    hosts = [HostSlots("a", 1), HostSlots("b", 1)]
    first = Leaser(tmp_path, timeout=0.3, holder="gw0").acquire(hosts, start=1)
    second = Leaser(tmp_path, timeout=0.3, holder="gw1").acquire(hosts, start=1)
    assert (first.host, second.host) == ("b", "a")
    with pytest.raises(LeaseTimeout, match=r"gw2: no free lease within 0.3s on b .*gw0"):
        Leaser(tmp_path, timeout=0.3, holder="gw2", poll_interval=0.05).acquire(hosts, start=1)
    first.release()
    assert Leaser(tmp_path, timeout=0.3, holder="gw2").acquire(hosts).host == "b"


# --- provisioning once per host, the same outcome with and without xdist ----------------------
PROVISIONED = f"""
import json, os
import pytest
from harness.plugin.api import ISOLATIONS

SYSTEM = {SYSTEM!r}

@pytest.mark.parametrize("n", range(2))
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_whoami(pods, hpc_host, isolation, n):
    pod = pods.run(isolation)
    ctr = pods.start_long_running(pod, run_as_username=SYSTEM)
    assert ctr.exec(["whoami"]).stdout.strip() == "nt authority\\\\system"
    line = {{"worker": os.environ.get("PYTEST_XDIST_WORKER", "master"), "host": hpc_host.name,
            "here": hpc_host.provisioned.here, "restarted": hpc_host.provision_summary["restarted"]}}
    with open("provisioned.jsonl", "a") as f:
        f.write(json.dumps(line) + "\\n")

def test_shell_builtin_fails_on_purpose(pods):
    pod = pods.run("process")
    ctr = pods.start_long_running(pod, run_as_username=SYSTEM)
    assert ctr.exec(["cmd", "/c", "exit", "3"]).exit_code == 0
"""


def provision_records(pytester) -> list[dict]:
    path = pytester.path / "provisioned.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    path.unlink()
    return records


@pytest.mark.slow  # two runs with sim hosts, one of them over four xdist workers
def test_provisioning_runs_once_per_host_and_xdist_changes_no_outcome(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_prov=PROVISIONED)
    serial = run(pytester, "-rA", subprocess=True)
    serial_records = provision_records(pytester)
    parallel = run(pytester, "-rA", "-n", "4", "--hpc-sim-hosts", "2", subprocess=True)
    parallel_records = provision_records(pytester)

    assert outcomes(serial) == outcomes(parallel)
    serial.assert_outcomes(passed=4, failed=1)
    assert {r["host"] for r in serial_records} == {"sim-1"}
    assert {r["worker"] for r in serial_records if r["here"]} == {"master"}
    # four workers over two hosts: each host provisioned by exactly one worker
    by_host: dict[str, list[dict]] = {}
    for r in parallel_records:
        by_host.setdefault(r["host"], []).append(r)
    assert set(by_host) == {"sim-1", "sim-2"}
    for host, records in by_host.items():
        provisioners = {r["worker"] for r in records if r["here"]}
        assert len(provisioners) == 1, (host, records)
        assert all(r["restarted"] for r in records)  # the features needed a restart
    assert len({r["worker"] for r in parallel_records}) > 1
    for path in pytester.path.glob("runpytest-*/hpc-e2e/provisioned-sim-1.json"):
        record = json.loads(path.read_text())  # one bundle, one summary
        assert len(record) == 1 and "summary" in next(iter(record.values()))


# --- expectation profiles -----------------------------------------------------------------
PROFILE = """
[profile]
name = "mine"
extends = "base.toml"
description = "a test profile"
[expect]
"hyperv.user" = 'nt authority\\system'
[unverified]
"process.exit" = "nobody ran it, test §1"
"""

BASE_PROFILE = """
[profile]
name = "base"
[expect]
process.exit = 0
[unverified]
"hyperv.user" = "overridden by mine"
hyperv.rootfs = "[guest, unverified] §1.4"
"""

EXPECTATIONS = """
import pytest
from harness.errors import HarnessError
from harness.plugin.api import UNVERIFIED

def test_values(expect):
    assert expect.profile.name == "mine"
    assert expect.value("hyperv.user") == "nt authority\\\\system"
    assert expect.value("process.exit") is UNVERIFIED
    assert expect.value("hyperv.rootfs") is UNVERIFIED

def test_check_passes(expect):
    expect.check("hyperv.user", "NT AUTHORITY\\\\SYSTEM", normalize=str.lower)

def test_check_fails(expect):
    expect.check("hyperv.user", "nt authority\\\\local service")

def test_unverified_is_observed(expect, request):
    expect.check("process.exit", 3)
    names = [name for name, _ in request.node.user_properties]
    assert any("observation" in n and n.endswith("process.exit") for n in names), names

def test_unknown_key_is_an_error(expect):
    with pytest.raises(HarnessError, match="profile 'mine' has no expectation for 'hyperv.usr'"):
        expect.check("hyperv.usr", "x")
    with pytest.raises(HarnessError, match="no expectation"):
        expect.value("nope")
"""


def test_profile_asserts_expected_and_observes_unverified(pytester):
    (pytester.path / "base.toml").write_text(BASE_PROFILE, encoding="utf-8")
    (pytester.path / "mine.toml").write_text(PROFILE, encoding="utf-8")
    pytester.makepyfile(test_expect=EXPECTATIONS)
    result = run(pytester, "--hpc-profile", str(pytester.path / "mine.toml"), "-rA")
    result.assert_outcomes(passed=4, failed=1)
    assert outcomes(result)["test_expect.py::test_check_fails"] == "FAILED"
    result.stdout.fnmatch_lines([
        ("*AssertionError: behaviour 'hyperv.user': expected 'nt authority\\\\system', got "
         "'nt authority\\\\local service' [[]profile 'mine', mine.toml[]]*")])


def test_default_profile_loads():
    from harness.plugin.profiles import load_profile

    profile = load_profile("current")
    assert profile.name == "current"
    assert not set(profile.expect) & set(profile.unverified)


def test_every_plugin_module_opts_out_of_assert_rewriting():
    """``hpc-e2e run`` imports plugin modules before pytest starts; without the marker pytest
    warns on a clean install that it cannot rewrite them (issue 13)."""
    from pathlib import Path

    import harness.plugin

    folder = Path(harness.plugin.__file__).parent
    missing = [p.name for p in folder.glob("*.py") if "PYTEST_DONT_REWRITE" not in p.read_text()]
    assert not missing, missing
