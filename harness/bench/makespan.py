"""Suite makespan under the sim's latency model, against the ideal schedule.

The suite runs once per (workers, hosts) point with ``--sim-latency`` (time-scaled so a run
fits in minutes).  The ideal comes from the per-test durations of the 1-worker, 1-host run:
the total work spread evenly over the parallel capacity — workers, but no more than the
hosts' lease slots (``SIM_MAX_LEASES`` pods per simulated host) — and never shorter than the
longest test, which cannot be split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.bench.suite import SuiteRun, run_suite

DEFAULT_WORKERS = (1, 2, 4, 8)
DEFAULT_HOSTS = (1, 2, 4)
GOAL_POINT = (4, 2)  # workers, hosts
GOAL_RATIO = 1.25


def slots_per_host() -> int:
    from harness.plugin.targets import SIM_MAX_LEASES

    return SIM_MAX_LEASES


def ideal_makespan(durations: Sequence[float], workers: int, hosts: int,
                   slots: int) -> float:
    """Total work / min(workers, hosts x slots), bounded below by the longest test."""
    if not durations:
        return 0.0
    if workers < 1 or hosts < 1 or slots < 1:
        raise ValueError("workers, hosts and slots must be at least 1")
    capacity = min(workers, hosts * slots)
    return max(sum(durations) / capacity, max(durations))


def grid(workers: Sequence[int], hosts: Sequence[int]) -> list[tuple[int, int]]:
    """(workers, hosts) points, the 1x1 baseline first; a host no worker can lease is idle,
    so points with more hosts than workers are left out."""
    points = sorted({(w, h) for w in workers for h in hosts if h <= w} | {(1, 1)})
    return points


@dataclass
class MakespanPoint:
    workers: int
    hosts: int
    makespan: float
    ideal: float
    wall: float
    exit_code: int
    outcomes: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.makespan / self.ideal if self.ideal else float("nan")

    def to_dict(self) -> dict:
        return {"workers": self.workers, "hosts": self.hosts, "makespan": self.makespan,
                "ideal": self.ideal, "ratio": self.ratio, "wall": self.wall,
                "exit_code": self.exit_code, "outcomes": self.outcomes}


@dataclass
class MakespanResult:
    latency: str
    keyword: str | None
    slots_per_host: int
    total_work: float  # sum of the 1-worker run's test durations
    longest_test: float
    tests: int
    points: list[MakespanPoint] = field(default_factory=list)

    def point(self, workers: int, hosts: int) -> MakespanPoint | None:
        return next((p for p in self.points if (p.workers, p.hosts) == (workers, hosts)), None)

    def to_dict(self) -> dict:
        return {"latency": self.latency, "keyword": self.keyword,
                "slots_per_host": self.slots_per_host, "total_work": self.total_work,
                "longest_test": self.longest_test, "tests": self.tests,
                "points": [p.to_dict() for p in self.points]}


def measure(work_dir: Path, *, latency: str, workers: Sequence[int] = DEFAULT_WORKERS,
            hosts: Sequence[int] = DEFAULT_HOSTS, keyword: str | None = None,
            progress=None) -> MakespanResult:
    slots = slots_per_host()
    runs: dict[tuple[int, int], SuiteRun] = {}
    for w, h in grid(workers, hosts):
        if progress:
            progress(f"makespan: {w} worker(s) over {h} host(s), latency {latency}")
        runs[(w, h)] = run_suite(work_dir / f"w{w}-h{h}", workers=w, hosts=h,
                                 latency=latency, keyword=keyword)
    base = runs[(1, 1)].durations
    result = MakespanResult(latency, keyword, slots, sum(base), max(base, default=0.0),
                            len(base))
    for (w, h), run in runs.items():
        result.points.append(MakespanPoint(w, h, run.makespan, ideal_makespan(base, w, h, slots),
                                           run.wall, run.exit_code, run.outcomes()))
    return result
