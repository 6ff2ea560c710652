"""``hpc-e2e bench``: the harness's speed as ratios against baselines measured in one run.

Sections (``--only``): ``throughput`` and ``upload`` against a simulated host served in its
own process (``hpc-e2e sim serve``), ``makespan`` and ``overhead`` through
``hpc-e2e run --inventory`` against served simulated hosts that were provisioned, checked
and given their images before the first run, as the nightly job does
(:mod:`harness.bench.lab`).  Prints one table per section and the goals, writes ``bench.json``
(every figure, and the command that produced them) and ``bench-makespan.png`` into
``--out``.  ``--quick`` keeps every table but measures less (fewer commands and repetitions,
a small slice of the suite, two grid points), so CI can run it in about a minute.

Exit code 0 when every section was measured, whether or not the goals were met: goals are
findings, not test assertions.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from harness.bench import makespan, overhead, throughput, upload
from harness.bench.figures import BenchFigures
from harness.bench.makespan import DEFAULT_HOSTS, DEFAULT_WORKERS
from harness.bench.plot import plot_makespan
from harness.bench.simproc import SimProcess
from harness.bench.table import render
from harness.commands import console
from harness.errors import ConfigError
from harness.hosts import sim_options

SECTIONS = ("throughput", "upload", "makespan", "overhead")
DEFAULT_OUT = Path(".hpc-e2e/bench")
JSON_NAME = "bench.json"
PNG_NAME = "bench-makespan.png"


@dataclass
class BenchOptions:
    quick: bool = False
    out: Path = DEFAULT_OUT
    only: tuple[str, ...] = SECTIONS
    workers: tuple[int, ...] | None = None
    hosts: tuple[int, ...] | None = None
    latency: str | None = None
    keyword: str | None = None
    # What the mode implies (filled by resolve()).
    commands: int = 100
    command_repetitions: int = 5
    sizes_mib: tuple[int, ...] = (1, 10, 100)
    upload_repetitions: int = 3
    goal_repeats: int = 3  # runs of the goal point (workers, hosts), the median counts
    notes: list[str] = field(default_factory=list)

    def resolve(self) -> BenchOptions:
        if self.quick:
            self.commands, self.command_repetitions, self.upload_repetitions = 30, 2, 1
            self.goal_repeats = 1
            self.sizes_mib = (1, 4, 16)  # the same rows, smaller files: CI's minute
            self.workers = self.workers or (1, 2)
            self.hosts = self.hosts or (1,)
            self.latency = self.latency or "realistic,scale=0.01"
            self.keyword = self.keyword if self.keyword is not None else "test_lifecycle"
        else:
            self.workers = self.workers or DEFAULT_WORKERS
            self.hosts = self.hosts or DEFAULT_HOSTS
            # At 0.1 the latency model, not CPU, makes up most of a scenario's time (as on a
            # real host, where nothing is scaled down: there the delays are x10 this) while the
            # grid fits in about 5 minutes; at 0.05 the scenario work grew ~10% from 1 to 4
            # workers on 2 cores (CPU contention), at 0.1 ~5%.
            self.latency = self.latency or "realistic,scale=0.1"
        return self

    def command_line(self) -> str:
        """The command with every effective setting spelled out."""
        parts = ["hpc-e2e", "bench"] + (["--quick"] if self.quick else [])
        if tuple(self.only) != SECTIONS:
            parts += ["--only", ",".join(self.only)]
        if "makespan" in self.only:
            parts += ["--workers", ",".join(map(str, self.workers or ())),
                      "--sim-hosts", ",".join(map(str, self.hosts or ())),
                      "--latency", str(self.latency)]
        if self.keyword and ({"makespan", "overhead"} & set(self.only)):
            parts += ["-k", self.keyword]
        return " ".join(parts)


def _int_list(value: str | None, option: str, *, low: int, high: int) -> tuple[int, ...] | None:
    if value is None:
        return None
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item.isdigit() or not low <= int(item) <= high:
            raise ConfigError(f"{option}: {item!r} is not a whole number from {low} to {high}",
                              hint=f"e.g. {option} 1,2,4")
        out.append(int(item))
    return tuple(sorted(set(out)))


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    only = tuple(SECTIONS)
    if args.only is not None:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in SECTIONS]
        if unknown or not wanted:
            raise ConfigError(f"--only: unknown section {unknown[0] if unknown else '(none)'!r}",
                              hint=f"sections: {','.join(SECTIONS)}")
        only = tuple(s for s in SECTIONS if s in wanted)
    sim_options(latency=args.latency, latency_flag="--latency")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} exists and is not a directory")
    return BenchOptions(quick=args.quick, out=out, only=only,
                        workers=_int_list(args.workers, "--workers", low=1, high=64),
                        hosts=_int_list(args.sim_hosts, "--sim-hosts", low=1, high=16),
                        latency=args.latency, keyword=args.keyword).resolve()


def check_dependencies() -> None:
    """matplotlib and psutil come with the ``bench`` (and ``test``) extra, not the core."""
    missing = [m for m in ("matplotlib", "psutil") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"hpc-e2e bench needs {' and '.join(missing)}, not installed",
                          hint="pip install 'hpc-e2e[bench]' (or -e '.[bench]' in a checkout)")


def execute(o: BenchOptions, *, out=None) -> int:
    check_dependencies()
    con = out or console()
    err = console(stderr=True)

    def progress(message: str) -> None:
        err.print(f"[dim]{message}[/dim]")

    o.out.mkdir(parents=True, exist_ok=True)
    work = o.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    figures = BenchFigures(command=o.command_line(), quick=o.quick, notes=list(o.notes))
    if {"throughput", "upload"} & set(o.only):
        with SimProcess(work / "sim") as sim:
            if "throughput" in o.only:
                progress(f"throughput: {o.commands} commands x {o.command_repetitions} "
                         "repetitions per client")
                figures.throughput = throughput.measure(sim.target(), commands=o.commands,
                                                        repetitions=o.command_repetitions)
            if "upload" in o.only:
                progress(f"upload: {', '.join(f'{s} MiB' for s in o.sizes_mib)}, "
                         f"{o.upload_repetitions} repetition(s)")
                figures.upload = upload.measure(sim.state_dir / "endpoint.json",
                                                work / "upload", sizes_mib=o.sizes_mib,
                                                repetitions=o.upload_repetitions)
    if "makespan" in o.only:
        assert o.latency is not None and o.workers and o.hosts
        figures.makespan = makespan.measure(work / "makespan", latency=o.latency,
                                            workers=o.workers, hosts=o.hosts,
                                            keyword=o.keyword, goal_repeats=o.goal_repeats,
                                            progress=progress)
        for p in figures.makespan.points:
            if p.exit_code != 0:
                figures.notes.append(f"the suite run at {p.workers} worker(s) over {p.hosts} "
                                     f"host(s) exited {p.exit_code} ({p.outcomes}); see "
                                     f"{p.directory}/run.log")
    if "overhead" in o.only:
        progress("overhead: the suite with zero latency, 1 worker, 1 provisioned host")
        figures.overhead = overhead.measure(work / "overhead", keyword=o.keyword)
    json_path = figures.write_json(o.out / JSON_NAME)
    render(figures, con)
    if figures.makespan is not None:
        png = plot_makespan(figures.makespan, o.out / PNG_NAME, command=figures.command)
        con.print(f"plot: {png}", markup=False)
    con.print(f"figures: {json_path}", markup=False)
    return 0


def command(args: argparse.Namespace) -> int:
    """``hpc-e2e bench``."""
    return execute(options_from_args(args))


__all__ = ["DEFAULT_OUT", "JSON_NAME", "PNG_NAME", "SECTIONS", "BenchOptions", "command",
           "execute", "options_from_args"]
