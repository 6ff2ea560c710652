"""The suite's self-test: every single-rule regression flavor is caught, ``current`` is not.

Each file in ``tests/regression_flavors/`` breaks one rule of today's shim or guest with
Flavor hook overrides only (harness/sim/cri/flavors.py) and names, in ``SCENARIOS``, the
``-k`` expression of the scenarios that check that rule.  For each flavor the scenarios run
against a simulated host of that flavor (the default setup, as ``hpc-e2e run`` starts it)
and at least one must fail, its headline (JUnit's failure message, the run summary's and
Allure's first line) naming the fault: which behaviour, what was observed, a rule reference,
never a bare ``DID NOT RAISE``.  The same scenarios against ``current`` fail nothing.

The table (flavor, caught, by which scenario, headline) is printed with ``-s`` and written
to ``$HPC_E2E_SELFTEST_TABLE`` when set::

    HPC_E2E_SELFTEST_TABLE=selftest.md python3 -m pytest tests/test_regression_self_test.py -s
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLAVORS = sorted((ROOT / "tests" / "regression_flavors").glob("*.py"))
TABLE_ENV = "HPC_E2E_SELFTEST_TABLE"
pytestmark = pytest.mark.slow  # one suite run per flavor (about 8 s each)


def scenarios_of(path: Path) -> str:
    """The flavor file's ``SCENARIOS`` (read without importing it)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "SCENARIOS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} has no SCENARIOS = '<-k expression>'")


def run_suite(tmp: Path, flavor: str, keyword: str) -> dict[str, tuple[str, str]]:
    """``{test: (outcome, headline)}`` of the scenarios matching ``keyword`` on ``flavor``."""
    junit = tmp / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "scenarios"), "-p", "no:cacheprovider",
         "-q", "--hpc-sim-flavor", flavor, "-k", keyword, "--junitxml", str(junit)],
        cwd=tmp, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert junit.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            out[name] = ("failed", (bad.get("message") or "").splitlines()[0]
                         if bad.get("message") else "")
        else:
            out[name] = ("skipped" if case.find("skipped") is not None else "passed", "")
    return out


@pytest.fixture(scope="module")
def table():
    rows: list[tuple[str, str, str, str]] = []
    yield rows
    text = ["| flavor | caught | by | headline |", "|---|---|---|---|"]
    text += [f"| {f} | {c} | {by} | {head.replace('|', '/')} |" for f, c, by, head in rows]
    rendered = "\n".join(text) + "\n"
    print("\n" + rendered)
    if os.environ.get(TABLE_ENV):
        Path(os.environ[TABLE_ENV]).write_text(rendered, encoding="utf-8")


def test_there_are_at_least_twelve_regressions():
    assert len(FLAVORS) >= 12, [f.name for f in FLAVORS]


@pytest.mark.parametrize("path", FLAVORS, ids=[f.stem for f in FLAVORS])
def test_the_regression_is_caught_and_named(tmp_path, path, table):
    results = run_suite(tmp_path, str(path), scenarios_of(path))
    failed = {k: head for k, (outcome, head) in results.items() if outcome == "failed"}
    ran = [k for k, (outcome, _) in results.items() if outcome != "skipped"]
    by = ", ".join(sorted(failed)) or "-"
    first = failed[sorted(failed)[0]] if failed else ""
    table.append((path.stem, "yes" if failed else "no", by, first))
    assert ran, f"{path.name}: SCENARIOS {scenarios_of(path)!r} selects nothing that runs"
    assert failed, f"{path.name}: not caught by {sorted(results)}"
    for test, head in failed.items():
        assert head and "DID NOT RAISE" not in head and "§" in head, (
            f"{path.name}: {test} fails without naming the fault: {head!r}")


def test_current_catches_nothing_in_the_same_scenarios(tmp_path, table):
    keyword = " or ".join(f"({scenarios_of(p)})" for p in FLAVORS)
    results = run_suite(tmp_path, "current", keyword)
    failed = sorted(k for k, (outcome, _) in results.items() if outcome == "failed")
    passed = [k for k, (outcome, _) in results.items() if outcome == "passed"]
    table.append(("current", "no" if not failed else "YES", ", ".join(failed) or "-",
                  f"{len(passed)} scenarios passed"))
    assert not failed
    assert len(passed) >= 40, sorted(results)
