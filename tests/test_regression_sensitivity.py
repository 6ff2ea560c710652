"""The suite catches regressions: run it against sim runtimes that lack HPC-in-UVM support.

Issue "scenario suite" §6: against the ``pre-fix`` flavor (hcsshim before PR #2531) the suite
must fail exactly the scenarios that depend on HPC-in-UVM support, and against
``no-capability`` (a UVM that does not advertise HostProcess support,
docs/behaviour/runtime.md §2.7) exactly those that need the capability; against ``current``
nothing fails.  "Depends on HPC-in-UVM support" is every ``hyperv`` case except those marked
``independent_of_uvm_support`` (decided by containerd or pod-level rules before an HPC runs
in a UVM); that set is collected from the suite itself, not written down here.  Each failure
must name the behaviour that broke (the scenarios' conftest adds that note).
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def suite(tmp_path: Path, *args: str, name: str) -> subprocess.CompletedProcess:
    out = tmp_path / name
    out.mkdir()
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "scenarios"), "-p", "no:cacheprovider",
         "-q", "--junitxml", str(out / "junit.xml"), *args],
        cwd=out, capture_output=True, text=True, timeout=900)


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """``{test id: (outcome, failure text)}`` from a JUnit XML file."""
    result = {}
    for case in ET.parse(junit).iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            result[test_id] = ("failed", (failure.get("message") or "") + (failure.text or ""))
        elif case.find("skipped") is not None:
            result[test_id] = ("skipped", "")
        else:
            result[test_id] = ("passed", "")
    return result


@pytest.fixture(scope="module")
def expected_to_break(tmp_path_factory) -> set[str]:
    """hyperv cases not marked independent of UVM support, as the suite itself declares."""
    tmp = tmp_path_factory.mktemp("collect")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "scenarios"), "-p", "no:cacheprovider",
         "--collect-only", "-q", "-m", "not independent_of_uvm_support", "-k", "hyperv"],
        cwd=tmp, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = set()
    for line in done.stdout.splitlines():
        if "::" in line and "[" in line:
            path, _, name = line.partition("::")
            ids.add(f"scenarios.{Path(path).stem}::{name}")
    assert len(ids) >= 20, f"too few hyperv scenarios collected: {sorted(ids)}"
    return ids


@pytest.fixture(scope="module")
def current(tmp_path_factory) -> dict[str, tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("current")
    done = suite(tmp, "-n", "2", name="run")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return outcomes(tmp / "run" / "junit.xml")


def test_nothing_fails_on_the_current_runtime(current):
    failed = {k for k, (outcome, _) in current.items() if outcome == "failed"}
    assert not failed
    assert sum(1 for outcome, _ in current.values() if outcome == "passed") >= 60


@pytest.mark.parametrize("flavor", ["pre-fix", "no-capability"])
def test_runtimes_without_hpc_in_uvm_fail_exactly_the_uvm_scenarios(
        tmp_path, flavor, current, expected_to_break):
    done = suite(tmp_path, "-n", "2", "--hpc-sim-flavor", flavor, name=flavor)
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-4000:]
    results = outcomes(tmp_path / flavor / "junit.xml")
    failed = {k for k, (outcome, _) in results.items() if outcome == "failed"}
    # Skipped on the current runtime (prerequisites the sim does not have) stay skipped.
    runnable = {k for k in expected_to_break if current.get(k, ("",))[0] == "passed"}
    if flavor == "no-capability":
        # The capability refusal runs on a host whose UVM lacks the capability anyway
        # (harness/plugin/sidehosts.py): the no-capability runtime is exactly what it checks.
        runnable -= {k for k in runnable if "uvm_without_capability" in k}
    assert failed == runnable, (
        f"{flavor}: unexpected failures {sorted(failed - runnable)}; "
        f"regressions not caught {sorted(runnable - failed)}")
    for test_id in sorted(failed):
        text = results[test_id][1]
        assert "behaviour under test [hyperv]" in text, f"{test_id} does not name its behaviour"
