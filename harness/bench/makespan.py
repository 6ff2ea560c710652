"""Suite makespan under the sim's latency model, against the ideal schedule.

The hosts are a :class:`~harness.bench.lab.Lab`: one ``hpc-e2e sim serve`` process per host
with ``--latency`` (time-scaled so a run fits in minutes), provisioned, checked and given
its images once, before any run, as the nightly job prepares its hosts.  The suite then runs
once per (workers, hosts) point against the first ``hosts`` of them, the 1x1 baseline first.

What a run's time is made of is split per test (:mod:`.timing`): the worker's one-time setup
(``hpc_host``: connect, provisioning check, facts; and the first look at each image) and the
scenario work (everything else).  The ideal comes from the baseline: one worker's setup —
each worker pays it once, all at the same time — plus the scenario work spread evenly over
the parallel capacity (workers, but no more than the hosts' lease slots, ``SIM_MAX_LEASES``
pods per simulated host), never shorter than the longest test, which cannot be split.

Beside the ratio each point says where the difference went: the scenario work's growth
over the baseline (contention: every process shares the machine's cores), the workers'
idle time (before their first test, between tests, and after their last while others still
ran: the scheduling tail), and how busy the cores were.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.bench.lab import Lab
from harness.bench.suite import SuiteRun, run_suite
from harness.hosts import SIM_MAX_LEASES

DEFAULT_WORKERS = (1, 2, 4, 8)
DEFAULT_HOSTS = (1, 2, 4)
GOAL_POINT = (4, 2)  # workers, hosts
GOAL_RATIO = 1.25


def slots_per_host() -> int:
    return SIM_MAX_LEASES


def ideal_makespan(durations: Sequence[float], workers: int, hosts: int,
                   slots: int, *, setup: float = 0.0) -> float:
    """``setup`` + total work / min(workers, hosts x slots), the work part bounded below by
    the longest test."""
    if not durations:
        return 0.0
    if workers < 1 or hosts < 1 or slots < 1:
        raise ValueError("workers, hosts and slots must be at least 1")
    capacity = min(workers, hosts * slots)
    return setup + max(sum(durations) / capacity, max(durations))


def grid(workers: Sequence[int], hosts: Sequence[int]) -> list[tuple[int, int]]:
    """(workers, hosts) points, the 1x1 baseline first; a host no worker can lease is idle,
    so points with more hosts than workers are left out."""
    points = sorted({(w, h) for w in workers for h in hosts if h <= w} | {(1, 1)})
    return points


def idle_per_worker(run: SuiteRun) -> dict[str, float]:
    """Worker -> seconds within the makespan it ran no test (waiting to start, between tests,
    after its last test while others still ran)."""
    if not run.tests:
        return {}
    begin = min(t.start for t in run.tests)
    end = max(t.stop for t in run.tests)
    busy: dict[str, float] = {}
    for t in run.tests:
        busy[t.worker or "main"] = busy.get(t.worker or "main", 0.0) + (t.stop - t.start)
    return {w: max(0.0, (end - begin) - b) for w, b in busy.items()}


def tail_per_worker(run: SuiteRun) -> dict[str, float]:
    """Worker -> seconds between its last test's end and the run's last test's end."""
    if not run.tests:
        return {}
    end = max(t.stop for t in run.tests)
    last: dict[str, float] = {}
    for t in run.tests:
        w = t.worker or "main"
        last[w] = max(last.get(w, 0.0), t.stop)
    return {w: end - s for w, s in last.items()}


@dataclass
class MakespanPoint:
    workers: int
    hosts: int
    makespan: float  # median over the runs of this point
    ideal: float
    wall: float
    exit_code: int  # the first non-zero exit code of the runs, else 0
    outcomes: dict[str, int]
    runs: list[float] = field(default_factory=list)  # every run's makespan
    setup: float = 0.0  # mean one-time setup per worker (hpc_host + image checks)
    setup_max: float = 0.0
    work: float = 0.0  # sum of the scenario work (tests without the one-time setup)
    work_growth: float = 1.0  # work / the baseline's work
    idle: float = 0.0  # mean per worker: within the makespan, no test running
    tail: float = 0.0  # mean per worker: after its last test, others still running
    cpu_busy: float = 0.0  # (tests' worker CPU + sims' CPU + controller CPU) / makespan / cores
    directory: str = ""

    @property
    def ratio(self) -> float:
        return self.makespan / self.ideal if self.ideal else float("nan")

    @property
    def ratios(self) -> list[float]:
        return [m / self.ideal for m in self.runs] if self.ideal else []

    def to_dict(self) -> dict:
        return {"workers": self.workers, "hosts": self.hosts, "makespan": self.makespan,
                "ideal": self.ideal, "ratio": self.ratio, "wall": self.wall,
                "exit_code": self.exit_code, "outcomes": self.outcomes,
                "runs": self.runs, "ratios": self.ratios, "worker_setup_mean": self.setup,
                "worker_setup_max": self.setup_max, "scenario_work": self.work,
                "work_growth": self.work_growth, "idle_per_worker_mean": self.idle,
                "tail_per_worker_mean": self.tail, "cpu_busy": self.cpu_busy,
                "directory": self.directory}


@dataclass
class MakespanResult:
    latency: str
    keyword: str | None
    slots_per_host: int
    total_work: float  # the baseline's scenario work (one-time setup excluded)
    longest_test: float  # the baseline's longest scenario work
    tests: int
    points: list[MakespanPoint] = field(default_factory=list)
    worker_setup: float = 0.0  # the baseline's one-time setup (its one worker)
    prepare: dict[str, float] = field(default_factory=dict)  # the lab: provision, doctor...
    cores: int = 1
    extra: list[str] = field(default_factory=list)

    def point(self, workers: int, hosts: int) -> MakespanPoint | None:
        return next((p for p in self.points if (p.workers, p.hosts) == (workers, hosts)), None)

    def to_dict(self) -> dict:
        return {"latency": self.latency, "keyword": self.keyword,
                "slots_per_host": self.slots_per_host, "total_work": self.total_work,
                "longest_test": self.longest_test, "tests": self.tests,
                "worker_setup": self.worker_setup, "lab_prepare_seconds": self.prepare,
                "cores": self.cores, "pytest_extra": self.extra,
                "points": [p.to_dict() for p in self.points]}


def summarize(w: int, h: int, runs: list[SuiteRun], base: SuiteRun, *, slots: int,
              cores: int) -> MakespanPoint:
    """One grid point from its runs (the median run by makespan gives the breakdown)."""
    setup = statistics.fmean(base.worker_setup().values()) if base.tests else 0.0
    ideal = ideal_makespan(base.work, w, h, slots, setup=setup)
    ordered = sorted(runs, key=lambda r: r.makespan)
    mid = ordered[(len(ordered) - 1) // 2]
    setups = list(mid.worker_setup().values()) or [0.0]
    idle = list(idle_per_worker(mid).values()) or [0.0]
    tail = list(tail_per_worker(mid).values()) or [0.0]
    base_work = sum(base.work)
    cpu = sum(t.cpu for t in mid.tests) + mid.sims_cpu + mid.controller_cpu
    outcomes = mid.outcomes()
    return MakespanPoint(
        w, h, statistics.median(r.makespan for r in runs), ideal,
        statistics.median(r.wall for r in runs),
        next((r.exit_code for r in runs if r.exit_code != 0), 0), outcomes,
        runs=[r.makespan for r in runs], setup=statistics.fmean(setups),
        setup_max=max(setups), work=sum(mid.work),
        work_growth=sum(mid.work) / base_work if base_work else float("nan"),
        idle=statistics.fmean(idle), tail=statistics.fmean(tail),
        cpu_busy=cpu / mid.makespan / cores if mid.makespan else 0.0,
        directory=mid.directory)


def measure(work_dir: Path, *, latency: str, workers: Sequence[int] = DEFAULT_WORKERS,
            hosts: Sequence[int] = DEFAULT_HOSTS, keyword: str | None = None,
            goal_repeats: int = 1, extra: Sequence[str] = (),
            progress: Callable[[str], None] | None = None) -> MakespanResult:
    """Prepare a lab of ``max(hosts)`` hosts, run the grid (the goal point ``goal_repeats``
    times), and compare each point with the ideal from the 1x1 baseline."""
    slots = slots_per_host()
    cores = os.cpu_count() or 1
    points = grid(workers, hosts)
    say = progress or (lambda message: None)
    runs: dict[tuple[int, int], list[SuiteRun]] = {}
    with Lab(work_dir / "lab", hosts=max(h for _, h in points), latency=latency) as lab:
        say(f"makespan: {len(lab.names)} simulated host(s) served, latency {latency}; "
            "provision, doctor, images")
        lab.prepare()
        for w, h in points:
            repeats = goal_repeats if (w, h) == GOAL_POINT else 1
            for i in range(repeats):
                say(f"makespan: {w} worker(s) over {h} host(s)"
                    + (f", run {i + 1} of {repeats}" if repeats > 1 else ""))
                name = f"w{w}-h{h}" + (f"-{i + 1}" if repeats > 1 else "")
                runs.setdefault((w, h), []).append(
                    run_suite(work_dir / name, lab, workers=w, hosts=h, keyword=keyword,
                              extra=list(extra)))
        prepare = dict(lab.prepare_seconds)
    base = runs[(1, 1)][0]
    work = base.work
    result = MakespanResult(latency, keyword, slots, sum(work), max(work, default=0.0),
                            len(work), prepare=prepare, cores=cores, extra=list(extra),
                            worker_setup=sum(base.worker_setup().values()))
    for (w, h), rs in runs.items():
        result.points.append(summarize(w, h, rs, base, slots=slots, cores=cores))
    return result
