"""Run the scenario suite the way the nightly job does, timed by :mod:`.timing`.

Each run is a separate ``python -m harness run --inventory ... --host ...`` process against
hosts of a :class:`~harness.bench.lab.Lab` that were provisioned before it (never by it),
with its own Allure results, JUnit XML and summary under one folder per run; its console
output goes to ``run.log`` there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.bench.lab import Lab
from harness.errors import HarnessError


@dataclass
class TestTiming:
    __test__ = False  # a record, not a pytest test class
    nodeid: str
    duration: float  # setup + call + teardown, seconds
    start: float  # epoch seconds
    stop: float
    cpu: float  # the worker's CPU seconds for this test
    outcome: str
    worker: str = ""
    setup: float = 0.0  # the setup phase (lease wait, fixtures, hpc_host when first)
    host_setup: float = 0.0  # hpc_host: connect, provisioning check, facts (once a worker)
    image_check: float = 0.0  # hpc_host.ensure_image's first look at each image
    shared_start: float = 0.0  # starting the worker's shared HPC of an isolation

    @property
    def worker_setup(self) -> float:
        """What this test spent on its worker's one-time setup rather than on its scenario."""
        return self.host_setup + self.image_check + self.shared_start

    @property
    def work(self) -> float:
        return max(0.0, self.duration - self.worker_setup)


@dataclass
class SuiteRun:
    workers: int
    hosts: int
    latency: str | None
    keyword: str | None
    exit_code: int
    wall: float  # the whole `hpc-e2e run` process
    makespan: float  # first test's start to last test's end
    controller_cpu: float  # xdist's controller (relaying, scheduling) while the tests ran
    sims_cpu: float  # the served sim processes used by this run, over the whole run
    workers_cpu: dict[str, float]
    tests: list[TestTiming] = field(default_factory=list)
    directory: str = ""
    extra: list[str] = field(default_factory=list)  # pytest options beyond the defaults

    @property
    def durations(self) -> list[float]:
        return [t.duration for t in self.tests]

    @property
    def work(self) -> list[float]:
        """Each test's duration without its worker's one-time setup."""
        return [t.work for t in self.tests]

    def worker_setup(self, part: str = "worker_setup") -> dict[str, float]:
        """Worker -> its one-time setup, seconds: all of it, or one ``part`` (``host_setup``,
        ``image_check``, ``shared_start``)."""
        out: dict[str, float] = {}
        for t in self.tests:
            out[t.worker or "main"] = out.get(t.worker or "main", 0.0) + getattr(t, part)
        return out

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


def run_suite(directory: Path, lab: Lab, *, workers: int, hosts: int,
              keyword: str | None = None, extra: list[str] | None = None,
              timeout: float = 3600) -> SuiteRun:
    """``hpc-e2e run`` with ``workers`` xdist workers on the first ``hosts`` hosts of ``lab``
    (prepared already); ``extra`` goes to pytest (e.g. ``--dist worksteal``)."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    timing = directory / "timing.json"
    timing.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "harness", "run", *lab.run_argv(hosts),
            "--alluredir", str(directory / "allure-results"),
            "--junitxml", str(directory / "junit.xml"),
            "--summary-json", str(directory / "summary.json"),
            "-n", str(workers)]  # -n 1 too: the baseline runs through xdist like the others
    if keyword:
        argv += ["-k", keyword]
    argv += ["--", "-p", "harness.bench.timing", "--hpc-bench-timing", str(timing),
             "--basetemp", str(directory / "tmp"), *(extra or [])]
    sims_before = lab.cpu_seconds(hosts)
    t0 = time.perf_counter()
    with open(directory / "run.log", "wb") as log:
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout, cwd=directory,
                              check=False)  # a failing suite still has timings
    wall = time.perf_counter() - t0
    sims_cpu = lab.cpu_seconds(hosts) - sims_before
    try:
        data = json.loads(timing.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = (directory / "run.log").read_text(errors="replace").strip().splitlines()
        raise HarnessError(f"bench: the suite run in {directory} (exit {proc.returncode}) "
                           f"wrote no timing: {tail[-1] if tail else '(no output)'}",
                           hint=f"see {directory / 'run.log'}") from None
    tests = [TestTiming(**t) for t in data["tests"]]
    return SuiteRun(workers=workers, hosts=hosts, latency=lab.latency, keyword=keyword,
                    exit_code=proc.returncode, wall=wall, makespan=data["makespan"],
                    controller_cpu=data["controller_cpu_during_tests"], sims_cpu=sims_cpu,
                    workers_cpu=data["workers_cpu"], tests=tests, directory=str(directory),
                    extra=list(extra or []))
