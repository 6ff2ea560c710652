"""The harness's own cost per scenario: the suite with no latency at all.

One worker, one host, no ``--sim-latency``: what is left of a scenario's wall time is the
harness and pytest (the worker's CPU, measured per test), the simulated host (the
controller's CPU while the tests ran, which is where the plugin runs the sims), and waiting
(polling intervals, thread hand-offs, loopback I/O).  The first test also provisions the
host, so the median is given beside the mean.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.bench.suite import run_suite


@dataclass
class OverheadResult:
    tests: int
    wall_mean: float
    wall_median: float
    harness_cpu_mean: float
    sim_cpu_mean: float
    makespan: float
    keyword: str | None
    exit_code: int

    @property
    def waiting_mean(self) -> float:
        return max(0.0, self.wall_mean - self.harness_cpu_mean - self.sim_cpu_mean)

    def to_dict(self) -> dict:
        return asdict(self) | {"waiting_mean": self.waiting_mean}


def measure(work_dir: Path, *, keyword: str | None = None) -> OverheadResult:
    run = run_suite(work_dir / "zero-latency", workers=1, hosts=1, latency=None,
                    keyword=keyword)
    ran = [t for t in run.tests if t.outcome != "skipped"] or run.tests
    n = max(1, len(ran))
    return OverheadResult(
        tests=len(ran),
        wall_mean=statistics.fmean(t.duration for t in ran) if ran else 0.0,
        wall_median=statistics.median(t.duration for t in ran) if ran else 0.0,
        harness_cpu_mean=statistics.fmean(t.cpu for t in ran) if ran else 0.0,
        sim_cpu_mean=run.controller_cpu / n, makespan=run.makespan, keyword=keyword,
        exit_code=run.exit_code)
