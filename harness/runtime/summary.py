"""What a deployment or a provisioning run did, for people (a table) and machines (JSON).

Both renderings come from the same ``to_dict()``, so ``--json`` never says something the
table does not.  "Changed" means the host was altered; a second run against the same host
and bundle must report ``changed = false`` with an empty change list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from harness.runtime.versions import ReportedVersion


@dataclass(frozen=True)
class Change:
    item: str  # e.g. "containerd.exe", "config.toml", "service containerd"
    action: str  # uploaded | downloaded | written | registered | re-registered | started | ...
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"item": self.item, "action": self.action, "detail": self.detail}


@dataclass
class DeploySummary:
    host: str
    bundle: str
    bundle_digest: str
    config_version: int
    sandbox_image: str
    paths: dict[str, str]
    changes: list[Change] = field(default_factory=list)
    versions: list[ReportedVersion] = field(default_factory=list)
    service_state: str = ""
    runtime_ready: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "bundle": self.bundle,
            "bundle_digest": self.bundle_digest,
            "changed": self.changed,
            "changes": [c.to_dict() for c in self.changes],
            "containerd_config_version": self.config_version,
            "sandbox_image": self.sandbox_image,
            "service_state": self.service_state,
            "runtime_ready": self.runtime_ready,
            "versions": {v.artifact: v.to_dict() for v in self.versions},
            "paths": dict(self.paths),
            "notes": list(self.notes),
        }


@dataclass
class ProvisionSummary:
    host: str
    os: str
    build: int
    features: dict[str, str]  # name -> state after provisioning
    hyperv_capable: bool
    restarted: bool
    deploy: DeploySummary
    changes: list[Change] = field(default_factory=list)  # host-level (features, restart)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes) or self.deploy.changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "os": self.os,
            "build": self.build,
            "hyperv_capable": self.hyperv_capable,
            "features": dict(self.features),
            "restarted": self.restarted,
            "changed": self.changed,
            "changes": [c.to_dict() for c in self.changes] +
                       [c.to_dict() for c in self.deploy.changes],
            "runtime": self.deploy.to_dict(),
            "notes": list(self.notes) + list(self.deploy.notes),
        }


def render_provision(summaries: list[ProvisionSummary], console) -> None:
    """Print one table per host on a rich ``Console``."""
    for s in summaries:
        data = s.to_dict()
        rt = data["runtime"]
        table = Table(title=f"{s.host}: {'changed' if s.changed else 'no change'}",
                      show_header=False, title_justify="left")
        table.add_column("what", style="bold")
        table.add_column("value")
        table.add_row("os", f"{s.os} (build {s.build})")
        table.add_row("features", ", ".join(f"{k}={v}" for k, v in sorted(s.features.items())))
        table.add_row("hyper-v capable", "yes" if s.hyperv_capable else "no")
        table.add_row("restarted", "yes" if s.restarted else "no")
        table.add_row("bundle", f"{rt['bundle']} ({rt['bundle_digest'][:12]})")
        table.add_row("config", f"version {rt['containerd_config_version']}, "
                                f"sandbox image {rt['sandbox_image']}")
        table.add_row("containerd", f"service {rt['service_state']}, runtime "
                                    f"{'ready' if rt['runtime_ready'] else 'NOT ready'}")
        table.add_row("containerd log", rt["paths"].get("log", ""))
        for name, v in rt["versions"].items():
            mark = "" if v["matches"] else f"  (manifest says {v['declared']})"
            table.add_row(f"version {name}", f"{v['reported'] or 'not reported'}{mark}")
        changes = data["changes"]
        table.add_row("changes", "\n".join(
            f"{c['action']} {c['item']}" + (f" ({c['detail']})" if c["detail"] else "")
            for c in changes) or "none")
        for note in data["notes"]:
            table.add_row("note", note)
        console.print(table)


__all__ = ["Change", "DeploySummary", "ProvisionSummary", "render_provision"]
