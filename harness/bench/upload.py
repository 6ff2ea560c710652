"""Upload throughput and peak memory: ``WinRMTransport.put`` against bare Send requests.

Each transfer runs in its own process (:mod:`.upload_child`) against a sim served in yet
another process, so ``ru_maxrss`` is the uploader's peak alone.  Sizes are MiB of random
bytes (incompressible, as a binary would be).  Methods alternate per repetition; the figures
are the medians.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import HarnessError

MIB = 1 << 20
METHODS = ("harness", "bare")
REMOTE_DIR = "C:\\Users\\Public"


@dataclass
class UploadFigure:
    method: str
    size_mib: int
    mib_per_second: float  # median
    peak_rss_mib: float  # median of the uploading process's peak resident set
    growth_mib: float  # peak minus the resident set just before the transfer
    requests: int
    chunk: int
    runs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class UploadResult:
    sizes_mib: list[int]
    repetitions: int
    figures: dict[str, dict[int, UploadFigure]]  # method -> size -> figure

    def ratio(self, size: int) -> float:
        """Harness throughput as a fraction of the bare-Send throughput."""
        return (self.figures["harness"][size].mib_per_second
                / self.figures["bare"][size].mib_per_second)

    def memory_ratio(self, method: str = "harness") -> float:
        """Peak memory at the largest size over the peak at the smallest."""
        sizes = sorted(self.sizes_mib)
        f = self.figures[method]
        return f[sizes[-1]].peak_rss_mib / f[sizes[0]].peak_rss_mib

    def to_dict(self) -> dict:
        return {"sizes_mib": self.sizes_mib, "repetitions": self.repetitions,
                "figures": {m: {str(s): f.to_dict() for s, f in by.items()}
                            for m, by in self.figures.items()},
                "throughput_ratio": {str(s): self.ratio(s) for s in self.sizes_mib},
                "peak_memory_ratio_largest_vs_smallest": {
                    m: self.memory_ratio(m) for m in self.figures}}


def make_file(path: Path, size_mib: int) -> Path:
    if not path.exists() or path.stat().st_size != size_mib * MIB:
        with open(path, "wb") as f:
            f.writelines(os.urandom(MIB) for _ in range(size_mib))
    return path


def run_child(method: str, endpoint_file: Path, local: Path, remote: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "harness.bench.upload_child", method,
                           str(endpoint_file), str(local), remote],
                          capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise HarnessError(f"bench upload ({method}, {local.name}) failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(endpoint_file: Path, work_dir: Path, *, sizes_mib=(1, 10, 100),
            repetitions: int = 1) -> UploadResult:
    work_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[int, list[dict]]] = {m: {s: [] for s in sizes_mib} for m in METHODS}
    for size in sizes_mib:
        local = make_file(work_dir / f"upload-{size}MiB.bin", size)
        for rep in range(repetitions):
            order = METHODS if rep % 2 == 0 else METHODS[::-1]
            for method in order:
                remote = f"{REMOTE_DIR}\\bench-{method}-{size}.bin"
                runs[method][size].append(run_child(method, endpoint_file, local, remote))
        local.unlink()
    figures: dict[str, dict[int, UploadFigure]] = {}
    for method, by_size in runs.items():
        figures[method] = {}
        for size, rs in by_size.items():
            figures[method][size] = UploadFigure(
                method=method, size_mib=size,
                mib_per_second=statistics.median(r["bytes"] / MIB / r["seconds"] for r in rs),
                peak_rss_mib=statistics.median(r["peak_rss_kib"] / 1024 for r in rs),
                growth_mib=statistics.median(max(0, r["peak_rss_kib"] - r["rss_before_kib"])
                                             / 1024 for r in rs),
                requests=rs[0]["requests"], chunk=rs[0]["chunk"], runs=rs)
    return UploadResult(list(sizes_mib), repetitions, figures)
