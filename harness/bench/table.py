"""The printed tables of ``hpc-e2e bench`` (rich): one per measurement, then the goals.

Every table's caption repeats the command that produced it, so a figure copied out of a
log still says where it came from.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from harness.bench.figures import BenchFigures
from harness.bench.throughput import CLIENTS


def _x(value: float) -> str:
    return f"{value:.2f}x"


def throughput_table(f: BenchFigures) -> Table:
    r = f.throughput
    assert r is not None
    t = Table(title=f"WinRM command throughput ({r.command!r}, {r.commands} commands x "
                    f"{r.repetitions} repetitions)")
    t.add_column("client")
    t.add_column("commands/s", justify="right")
    t.add_column("HTTP requests/command", justify="right")
    t.add_column("harness ratio", justify="right")
    for name in CLIENTS:
        c = r.clients[name]
        t.add_row(name, f"{c.commands_per_second:.1f}", f"{c.requests_per_command:.2f}",
                  "1.00x" if name == "harness" else _x(r.ratio(name)))
    return t


def upload_table(f: BenchFigures) -> Table:
    r = f.upload
    assert r is not None
    t = Table(title=f"Upload ({r.repetitions} repetition(s) per size and method)")
    for col in ("size", "harness MiB/s", "bare Send MiB/s", "ratio", "harness peak MiB",
                "bare peak MiB", "harness growth MiB", "requests (harness/bare)"):
        t.add_column(col, justify="left" if col == "size" else "right")
    for size in r.sizes_mib:
        h, b = r.figures["harness"][size], r.figures["bare"][size]
        t.add_row(f"{size} MiB", f"{h.mib_per_second:.1f}", f"{b.mib_per_second:.1f}",
                  f"{r.ratio(size):.0%}", f"{h.peak_rss_mib:.1f}", f"{b.peak_rss_mib:.1f}",
                  f"{h.growth_mib:.1f}", f"{h.requests}/{b.requests}")
    return t


def makespan_table(f: BenchFigures) -> Table:
    r = f.makespan
    assert r is not None
    prep = ", ".join(f"{k} {v:.1f}s" for k, v in r.prepare.items())
    t = Table(title=f"Suite makespan, latency {r.latency} ({r.tests} tests"
                    f"{', -k ' + r.keyword if r.keyword else ''}"
                    f"{', pytest ' + ' '.join(r.extra) if r.extra else ''}; "
                    f"scenario work {r.total_work:.1f}s, longest test {r.longest_test:.1f}s, "
                    f"worker setup {r.worker_setup:.2f}s, {r.slots_per_host} slots/host; "
                    f"hosts prepared before the runs: {prep or '-'})")
    for col in ("workers", "hosts", "makespan s", "ideal s", "makespan/ideal",
                "worker setup s", "work growth", "idle/worker s", "tail/worker s",
                f"CPU busy ({r.cores} cores)", "run wall s", "outcomes"):
        t.add_column(col, justify="right")
    for p in r.points:
        ratio = _x(p.ratio)
        if len(p.runs) > 1:
            ratio += " (" + " ".join(f"{x:.2f}" for x in p.ratios) + ")"
        t.add_row(str(p.workers), str(p.hosts), f"{p.makespan:.1f}", f"{p.ideal:.1f}",
                  ratio, f"{p.setup:.2f}", _x(p.work_growth), f"{p.idle:.2f}",
                  f"{p.tail:.2f}", f"{p.cpu_busy:.0%}", f"{p.wall:.1f}",
                  " ".join(f"{k} {v}" for k, v in sorted(p.outcomes.items())))
    return t


def overhead_table(f: BenchFigures) -> Table:
    r = f.overhead
    assert r is not None
    t = Table(title=f"Harness overhead per scenario, zero latency ({r.tests} tests"
                    f"{', -k ' + r.keyword if r.keyword else ''}, 1 worker, 1 host)")
    t.add_column("per scenario")
    t.add_column("ms", justify="right")
    for name, value in (("wall (mean)", r.wall_mean), ("wall (median)", r.wall_median),
                        ("harness + pytest CPU (mean)", r.harness_cpu_mean),
                        ("simulated host CPU (mean)", r.sim_cpu_mean),
                        ("waiting (mean wall - CPU)", r.waiting_mean),
                        ("worker one-time setup (not in the rows above)", r.worker_setup)):
        t.add_row(name, f"{value * 1000:.0f}")
    return t


def goals_table(f: BenchFigures) -> Table:
    t = Table(title="Goals (ratios from this run)")
    for col in ("goal", "figure", "target", "met"):
        t.add_column(col, justify="left" if col == "goal" else "right")
    for g in f.goals():
        t.add_row(g.name, f"{g.figure:.2f}", g.target,
                  "[green]yes[/green]" if g.met else "[red]no[/red]")
    return t


def render(f: BenchFigures, console: Console) -> None:
    for present, build in ((f.throughput, throughput_table), (f.upload, upload_table),
                           (f.makespan, makespan_table), (f.overhead, overhead_table)):
        if present is not None:
            table = build(f)
            table.caption = f"command: {f.command}"
            console.print(table)
    if f.goals():
        table = goals_table(f)
        table.caption = f"command: {f.command}"
        console.print(table)
    for note in f.notes:
        console.print(f"note: {note}", markup=False)
