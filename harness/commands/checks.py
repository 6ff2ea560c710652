"""What ``hpc-e2e doctor`` reports per host: rows of checks with a status and a hint.

Shared by the readiness checks (:mod:`.doctor`) and the checks of the simulated host's
guesses (:mod:`.assumptions`), which doctor runs instead with ``--assumptions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "not checked"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    hint: str = ""

    def to_dict(self) -> dict:
        return {"check": self.name, "status": self.status, "detail": self.detail,
                "hint": self.hint}


@dataclass
class HostReport:
    host: str
    target: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not any(c.status == FAIL for c in self.checks)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def add(self, name: str, status: str, detail: str, hint: str = "") -> Check:
        c = Check(name, status, detail, hint if status != OK else "")
        self.checks.append(c)
        return c

    def skip(self, names, reason: str) -> None:
        done = {c.name for c in self.checks}
        for name in names:
            if name not in done:
                self.add(name, SKIP, f"not checked: {reason}")

    def to_dict(self) -> dict:
        return {"host": self.host, "target": self.target, "ready": self.ready,
                "checks": [c.to_dict() for c in self.checks]}


__all__ = ["FAIL", "OK", "SKIP", "WARN", "Check", "HostReport"]
