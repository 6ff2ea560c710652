"""``shared_hpc``: read-only checks share one standard HPC per worker and isolation.

The inner suite records which pod each test saw and lists the run's pods with crictl; the
outer test checks reuse, retirement after a failure, refusal inside the test (not its
setup), and that nothing is left once the worker's session ends.
"""

from __future__ import annotations

import json

from tests.test_plugin import outcomes, run

SHARED = """
import json
from pathlib import Path

import pytest

SEEN = Path("seen.jsonl")

def record(name, hpc):
    with SEEN.open("a") as f:
        f.write(json.dumps({"test": name, "pod": hpc.pod.id, "ctr": hpc.id}) + "\\n")

@pytest.mark.parametrize("isolation", ["process"])
def test_1_reads(shared_hpc, isolation):
    assert shared_hpc.exec(["whoami"]).stdout.strip() == "nt authority\\\\system"
    record("1", shared_hpc)

@pytest.mark.parametrize("isolation", ["process"])
def test_2_reads_the_same_pod(shared_hpc, isolation):
    assert shared_hpc.exec(["cmd", "/c", "cd"]).exit_code == 0
    record("2", shared_hpc)

@pytest.mark.parametrize("isolation", ["process"])
def test_3_fails_and_retires_it(shared_hpc, isolation):
    record("3", shared_hpc)
    assert False, "fails on purpose"

@pytest.mark.parametrize("isolation", ["process"])
def test_4_gets_a_fresh_pod(shared_hpc, isolation):
    record("4", shared_hpc)

@pytest.mark.parametrize("isolation", ["hyperv"])
def test_5_other_isolation_other_pod(shared_hpc, isolation):
    record("5", shared_hpc)

@pytest.mark.parametrize("isolation", ["process"])
def test_6_not_using_it_starts_nothing(shared_hpc, isolation, hpc_host):
    Path("pods-before-end.json").write_text(json.dumps(
        sorted(p.id for p in hpc_host.crictl.pods())))
"""


def test_read_only_checks_share_one_pod_and_a_failure_retires_it(pytester):
    pytester.makepyfile(test_shared=SHARED)
    result = run(pytester, "-rA", subprocess=True)
    got = outcomes(result)
    assert sorted(got.values()) == ["FAILED", "PASSED", "PASSED", "PASSED", "PASSED", "PASSED"]
    assert got["test_shared.py::test_3_fails_and_retires_it[process]"] == "FAILED"
    seen = {r["test"]: r for r in map(json.loads, (pytester.path / "seen.jsonl").read_text()
                                      .splitlines())}
    assert seen["1"]["pod"] == seen["2"]["pod"] == seen["3"]["pod"]
    assert seen["1"]["ctr"] == seen["2"]["ctr"]
    assert seen["4"]["pod"] != seen["3"]["pod"], "a failed test must retire the shared pod"
    assert seen["5"]["pod"] not in {seen["1"]["pod"], seen["4"]["pod"]}
    live = set(json.loads((pytester.path / "pods-before-end.json").read_text()))
    # the retired pod is gone; the live shared pods of both isolations are still there
    assert seen["3"]["pod"] not in live
    assert {seen["4"]["pod"], seen["5"]["pod"]} <= live
    # removed at the worker's session end, so the end-of-run sweep finds nothing
    out = result.stdout.str()
    assert "swept" not in out and "clean-up failed" not in out


REFUSED = """
import pytest

@pytest.mark.parametrize("isolation", ["hyperv"])
def test_needs_the_standard_hpc(shared_hpc, isolation):
    shared_hpc.exec(["whoami"])
"""


def test_a_refused_standard_hpc_fails_the_test_not_its_setup(pytester):
    pytester.makepyfile(test_refused=REFUSED)
    result = run(pytester, "-rA", "--hpc-sim-flavor", "no-capability", subprocess=True)
    result.assert_outcomes(failed=1)  # a failure of the test, not an error in setup
    assert "HostProcessContainerSupported" in result.stdout.str() or \
        "hostprocess" in result.stdout.str().lower()
