"""Verdicts that stay true (issue 17, item 2): limits class a hang or a lost host as
infrastructure, with the cause in the message, and the next scenario is judged on its own.

Time is scaled down, not waited out: the per-test limit is given to pytest-timeout as a few
seconds (``-o timeout=N``) and a slow restart comes from the sim's latency model
(``restart=360,scale=0.01``: a six-minute restart in 3.6 s against a 3 s limit, the same
ratio as six minutes against the 300 s default).  Every run is a subprocess, so the
SIGALRM timers of the inner run never meet this process's own pytest-timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import harness

REPO = Path(harness.__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="200")

# A scenario that hangs on its host, then one that asks the same host a question: the
# first must be infrastructure naming the call it waited for, the second must pass.
HANG_SUITE = '''
from harness.plugin.targets import CONTROLLER
from harness.sim.faults import HANG, FaultInjector, FaultPlan


class OneHang(FaultInjector):
    """The next command hangs; nothing after it (the failure's diagnostics get answers)."""

    def roll(self, point, applicable_kinds, detail=""):
        if HANG in applicable_kinds and not self.records:
            self.records.append({"kind": HANG, "point": point, "detail": detail})
            return HANG
        return None


def machine(config):
    return config.stash[CONTROLLER].sims[0].machine


def test_a_command_that_never_answers(hpc_host, request):
    machine(request.config).faults = OneHang(FaultPlan(rate=1.0, kinds=(HANG,)))
    hpc_host.transport.run(["hostname"], timeout=3600)


def test_the_next_scenario_on_the_same_host(hpc_host, request):
    machine(request.config).faults = None
    result = hpc_host.transport.run(["hostname"], timeout=60)
    assert result.exit_code == 0, result.transcript()
'''


def junit_cases(path: Path) -> dict[str, dict]:
    """test name -> {"class": failure class property, "text": failure/error text}."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        out[case.get("name")] = {"class": props.get("hpc-e2e.failure-class", ""),
                                 "text": "" if bad is None else (bad.get("message") or "")}
    return out


def test_a_hang_is_infrastructure_and_the_next_scenario_is_judged_on_its_own(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_hang.py").write_text(HANG_SUITE)
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-q",
         "-o", "timeout=3", "--junitxml", str(junit), "--basetemp", str(tmp_path / "tmp"),
         "--rootdir", str(suite)],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    cases = junit_cases(junit)
    hang = cases["test_a_command_that_never_answers"]
    assert hang["class"] == "infrastructure", out
    assert "ScenarioTimeout" in hang["text"] or "cut off by the per-test limit" in out
    assert "cut off by the per-test limit of 3s during the test" in out, out
    assert "to answer 'hostname'" in out, out
    assert cases["test_the_next_scenario_on_the_same_host"] == {"class": "", "text": ""}, out
    assert "1 failed, 1 passed" in out, out


def run_cli(tmp_path: Path, *args: str) -> tuple[dict[str, dict], str]:
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "-k", "test_hpc_starts_in_an_hpc_pod",
         "--summary-json", str(summary), *args],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    assert summary.is_file(), out
    rows = {r["nodeid"]: r for r in json.loads(summary.read_text())["scenarios"]}
    classes = junit_cases(tmp_path / "hpc-e2e-results" / "junit.xml")  # the default folder
    for nodeid, row in rows.items():
        row["category"] = classes[nodeid.split("::")[-1]]["class"]
    return rows, out


def test_a_host_lost_in_the_restart_wait_is_infrastructure_naming_the_step(tmp_path):
    # The feature install's restart never ends within provisioning's own deadline (3 s).
    rows, out = run_cli(tmp_path, "--sim-latency", "restart=3600", "--provision-timeout", "3",
                        "--", "-o", "timeout=2")
    assert len(rows) == 2
    for row in rows.values():
        assert (row["outcome"], row["category"]) == ("error", "infrastructure"), out
        assert row["exception"] == "ProvisioningTimeout", row
        assert row["failure_class"] == "infrastructure", row
        assert "provisioning sim-1 did not finish within its own deadline of 3s" in \
            row["message"], row
    assert "last step: enabling Windows features" in out, out


# The simulated host is stopped for good as soon as provisioning's restart takes it down.
KILLED_SUITE_CONFTEST = '''
import threading

import pytest

from harness.plugin.targets import CONTROLLER, current_run


@pytest.fixture(scope="session", autouse=True)
def _kill_the_host_when_it_restarts(request):
    current_run(request.config)  # starts the simulated host
    # the pool's host (the side host, whose UVMs lack HPC support, is not leased here)
    (sim,) = [s for s in request.config.stash[CONTROLLER].sims
              if s.machine.profile.name == "SIM-1"]

    def on_restart(phase):
        if phase == "down":
            threading.Thread(target=sim.stop, daemon=True).start()

    sim.machine.add_restart_listener(on_restart)
'''
KILLED_SUITE = '''
def test_first(hpc_host):
    assert hpc_host.name


def test_second(hpc_host):
    assert hpc_host.name
'''


def test_a_host_killed_during_the_restart_wait_is_infrastructure(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(KILLED_SUITE_CONFTEST)
    (suite / "test_killed.py").write_text(KILLED_SUITE)
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-q",
         "-o", "timeout=2", "--hpc-provision-timeout", "4", "--junitxml", str(junit),
         "--basetemp", str(tmp_path / "tmp"), "--rootdir", str(suite)],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    cases = junit_cases(junit)
    assert set(cases) == {"test_first", "test_second"}, out
    for case in cases.values():
        assert case["class"] == "infrastructure", out
    assert "provisioning sim-1 did not finish within its own deadline of 4s" in out, out
    assert "last step: enabling Windows features" in out, out
    assert "2 errors" in out, out


def test_a_restart_longer_than_the_per_test_limit_is_no_failure(tmp_path):
    # Six minutes against the 300 s limit, scaled by 0.01: 3.6 s against 3 s.
    rows, out = run_cli(tmp_path, "--sim-latency", "restart=360,scale=0.01",
                        "--", "-o", "timeout=3")
    assert [r["outcome"] for r in rows.values()] == ["passed", "passed"], out
    assert "hpc-e2e: per-test limit 3s; provisioning (features, restarts, deployment) runs " \
        "outside it, with its own deadline of 3600s" in out, out
    env = (tmp_path / "hpc-e2e-results" / "allure-results" / "environment.properties").read_text()
    assert "limits=per-test limit 3s; provisioning" in env
