"""The harness's own cost per scenario: the suite with no latency at all.

One worker, one served sim host without ``--latency``, provisioned before the run (a
:class:`~harness.bench.lab.Lab`).  What is left of a scenario's wall time is the harness and
pytest (the worker's CPU, measured per test), the simulated host (the sim process's CPU over
the run, per test), and waiting (polling intervals, thread hand-offs, loopback I/O).  The
worker's one-time setup (``hpc_host``: connect, provisioning check, facts; image checks) is
given on its own row and left out of the per-scenario figures.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.bench.lab import Lab
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
    worker_setup: float = 0.0

    @property
    def waiting_mean(self) -> float:
        return max(0.0, self.wall_mean - self.harness_cpu_mean - self.sim_cpu_mean)

    def to_dict(self) -> dict:
        return asdict(self) | {"waiting_mean": self.waiting_mean}


def measure(work_dir: Path, *, keyword: str | None = None) -> OverheadResult:
    with Lab(work_dir / "lab", hosts=1, latency=None) as lab:
        lab.prepare()
        run = run_suite(work_dir / "zero-latency", lab, workers=1, hosts=1, keyword=keyword)
    ran = [t for t in run.tests if t.outcome != "skipped"] or run.tests
    n = max(1, len(ran))
    return OverheadResult(
        tests=len(ran),
        wall_mean=statistics.fmean(t.work for t in ran) if ran else 0.0,
        wall_median=statistics.median(t.work for t in ran) if ran else 0.0,
        harness_cpu_mean=statistics.fmean(t.cpu for t in ran) if ran else 0.0,
        sim_cpu_mean=run.sims_cpu / n, makespan=run.makespan, keyword=keyword,
        exit_code=run.exit_code, worker_setup=sum(run.worker_setup().values()))
