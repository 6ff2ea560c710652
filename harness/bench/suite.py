"""Run the scenario suite the way a user does (``hpc-e2e run``), timed by :mod:`.timing`.

Each run is a separate ``python -m harness run`` process with its own simulated hosts
(started by the plugin in the controller), Allure results, JUnit XML and summary, all under
one folder per run; its console output goes to ``run.log`` there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import HarnessError


@dataclass
class TestTiming:
    nodeid: str
    duration: float  # setup + call + teardown, seconds
    start: float  # epoch seconds
    stop: float
    cpu: float  # the worker's CPU seconds for this test
    outcome: str
    worker: str = ""


@dataclass
class SuiteRun:
    workers: int
    hosts: int
    latency: str | None
    keyword: str | None
    exit_code: int
    wall: float  # the whole `hpc-e2e run` process
    makespan: float  # first test's start to last test's end
    controller_cpu: float  # the sims' (and xdist's) CPU while the tests ran
    workers_cpu: dict[str, float]
    tests: list[TestTiming] = field(default_factory=list)
    directory: str = ""

    @property
    def durations(self) -> list[float]:
        return [t.duration for t in self.tests]

    def outcomes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tests:
            out[t.outcome] = out.get(t.outcome, 0) + 1
        return out

    def to_dict(self, *, tests: bool = False) -> dict:
        d = asdict(self)
        if not tests:
            d.pop("tests")
        d["outcomes"] = self.outcomes()
        return d


def run_suite(directory: Path, *, workers: int, hosts: int, latency: str | None,
              keyword: str | None = None, timeout: float = 3600) -> SuiteRun:
    directory.mkdir(parents=True, exist_ok=True)
    timing = directory / "timing.json"
    timing.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "harness", "run", "-n", str(workers),
            "--sim-hosts", str(hosts),
            "--alluredir", str(directory / "allure-results"),
            "--junitxml", str(directory / "junit.xml"),
            "--summary-json", str(directory / "summary.json")]
    if latency:
        argv += ["--sim-latency", latency]
    if keyword:
        argv += ["-k", keyword]
    argv += ["--", "-p", "harness.bench.timing", "--bench-timing", str(timing),
             "--basetemp", str(directory / "tmp")]
    t0 = time.perf_counter()
    with open(directory / "run.log", "wb") as log:
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout, cwd=directory,
                              check=False)  # a failing suite still has timings
    wall = time.perf_counter() - t0
    try:
        data = json.loads(timing.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = (directory / "run.log").read_text(errors="replace").strip().splitlines()
        raise HarnessError(f"bench: the suite run in {directory} (exit {proc.returncode}) "
                           f"wrote no timing: {tail[-1] if tail else '(no output)'}",
                           hint=f"see {directory / 'run.log'}") from None
    tests = [TestTiming(**t) for t in data["tests"]]
    return SuiteRun(workers=workers, hosts=hosts, latency=latency, keyword=keyword,
                    exit_code=proc.returncode, wall=wall, makespan=data["makespan"],
                    controller_cpu=data["controller_cpu_during_tests"],
                    workers_cpu=data["workers_cpu"], tests=tests, directory=str(directory))
