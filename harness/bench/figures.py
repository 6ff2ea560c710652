"""Everything one ``hpc-e2e bench`` run measured, the goals judged from it, and its JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from harness.bench.makespan import GOAL_POINT, GOAL_RATIO, MakespanResult
from harness.bench.overhead import OverheadResult
from harness.bench.throughput import ThroughputResult
from harness.bench.upload import UploadResult

THROUGHPUT_GOAL = 3.0  # x pywinrm's Session.run_cmd
UPLOAD_GOAL = 0.70  # of the bare-Send throughput, at the largest size
MEMORY_GOAL = 1.10  # peak at the largest size / peak at the smallest: "independent of size"


@dataclass
class Goal:
    name: str
    figure: float
    target: str
    met: bool

    def to_dict(self) -> dict:
        return {"name": self.name, "figure": self.figure, "target": self.target,
                "met": self.met}


@dataclass
class BenchFigures:
    command: str
    quick: bool
    throughput: ThroughputResult | None = None
    upload: UploadResult | None = None
    makespan: MakespanResult | None = None
    overhead: OverheadResult | None = None
    notes: list[str] = field(default_factory=list)

    def goals(self) -> list[Goal]:
        out = []
        if self.throughput is not None:
            r = self.throughput.ratio("run_cmd")
            out.append(Goal("command throughput vs Session.run_cmd", r,
                            f">= {THROUGHPUT_GOAL:g}x", r >= THROUGHPUT_GOAL))
        if self.upload is not None:
            largest = max(self.upload.sizes_mib)
            r = self.upload.ratio(largest)
            out.append(Goal(f"upload throughput vs bare Send ({largest} MiB)", r,
                            f">= {UPLOAD_GOAL:.0%}", r >= UPLOAD_GOAL))
            m = self.upload.memory_ratio("harness")
            out.append(Goal(f"upload peak memory {largest} MiB / {min(self.upload.sizes_mib)} "
                            "MiB", m, f"<= {MEMORY_GOAL:g}x", m <= MEMORY_GOAL))
        if self.makespan is not None:
            w, h = GOAL_POINT
            p = self.makespan.point(w, h)
            if p is not None:
                out.append(Goal(f"makespan / ideal at {w} workers over {h} hosts", p.ratio,
                                f"<= {GOAL_RATIO:g}x",
                                not math.isnan(p.ratio) and p.ratio <= GOAL_RATIO))
        return out

    def to_dict(self) -> dict:
        return {
            "command": self.command, "quick": self.quick,
            "throughput": self.throughput.to_dict() if self.throughput else None,
            "upload": self.upload.to_dict() if self.upload else None,
            "makespan": self.makespan.to_dict() if self.makespan else None,
            "overhead": self.overhead.to_dict() if self.overhead else None,
            "goals": [g.to_dict() for g in self.goals()],
            "notes": self.notes,
        }

    def write_json(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path
