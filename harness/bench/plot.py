"""The PNG of ``hpc-e2e bench``: suite makespan against workers, one line per host count,
with the ideal dashed beside it.  matplotlib's Agg backend: no display needed."""

from __future__ import annotations

from pathlib import Path

from harness.bench.makespan import MakespanResult


def plot_makespan(result: MakespanResult, path: Path, *, command: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    hosts = sorted({p.hosts for p in result.points})
    for i, h in enumerate(hosts):
        pts = sorted((p for p in result.points if p.hosts == h), key=lambda p: p.workers)
        color = f"C{i}"
        xs = [p.workers for p in pts]
        ax.plot(xs, [p.makespan for p in pts], "o-", color=color,
                label=f"{h} host{'s' if h > 1 else ''}: measured")
        ax.plot(xs, [p.ideal for p in pts], "x--", color=color, alpha=0.6,
                label=f"{h} host{'s' if h > 1 else ''}: ideal")
    workers = sorted({p.workers for p in result.points})
    ax.set_xscale("log", base=2)
    ax.set_xticks(workers, [str(w) for w in workers])
    ax.set_xlabel("pytest-xdist workers")
    ax.set_ylabel("suite makespan (s)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Suite makespan, sim latency {result.latency}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if command:
        fig.text(0.01, 0.01, command, fontsize=7, alpha=0.7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
