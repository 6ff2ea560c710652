"""crictl's JSON output read into typed objects.

Output of ``inspectp``/``inspect -o json`` is ``{"status": <protojson, camelCase>,
"info": <containerd's verbose info>}`` for one ID and an array of those for several
(docs/behaviour/ecosystem.md §0.7, §3.3); ``pods -o json`` is ``{"items": [...]}`` and ``ps -o
json`` ``{"containers": [...]}`` (§3.2).  protojson writes int64 as strings and crictl
rewrites the status timestamps as RFC 3339 text, with the zero time for "never"; both
are normalised here.  Every object keeps the raw dict, so a scenario can reach a field
not modelled without re-running crictl.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.cri.errors import CrictlOutputError

HOSTPROCESS_ANNOTATION = "microsoft.com/hostprocess-container"

SANDBOX_READY = "SANDBOX_READY"
SANDBOX_NOTREADY = "SANDBOX_NOTREADY"
CONTAINER_CREATED = "CONTAINER_CREATED"
CONTAINER_RUNNING = "CONTAINER_RUNNING"
CONTAINER_EXITED = "CONTAINER_EXITED"
CONTAINER_UNKNOWN = "CONTAINER_UNKNOWN"


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 text (crictl's rewrite) or Unix nanoseconds (protojson int64 as a string).

    The zero time (year 1, what crictl prints for "not started"/"not finished") and the
    Unix epoch (``time.Unix(0, 0)``, in any zone) both mean "never" and give ``None``.
    """
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        nanos = int(value)
        return datetime.fromtimestamp(nanos / 1e9, tz=UTC) if nanos > 0 else None
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        # Python before 3.11 or an unusual fraction: keep up to microseconds.
        m = re.match(r"^(.*?\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", value)
        if not m:
            return None
        frac = (m.group(2) or "")[:6]
        zone = m.group(3) or "Z"
        text = m.group(1) + (f".{frac}" if frac else "") + ("+00:00" if zone == "Z" else zone)
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when.year <= 1 or when.timestamp() == 0:
        return None
    return when


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def load_json(stage: str, result) -> Any:
    """crictl's stdout as JSON, or :class:`CrictlOutputError` naming the stage."""
    text = result.stdout.strip()
    if not text:
        raise CrictlOutputError(stage, "JSON", result)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise CrictlOutputError(stage, "JSON", result) from None


def status_objects(data: Any) -> list[dict]:
    """``inspectp``/``inspect`` output as a list: one object for one ID, an array for more."""
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and all(isinstance(d, dict) for d in data):
        return list(data)
    raise ValueError(f"expected an object or an array of objects, got {type(data).__name__}")


class _ContainerdInfo:
    """What ``inspectp`` and ``inspect`` share: containerd's verbose ``info`` object."""

    info: dict[str, Any]

    @property
    def runtime_spec(self) -> dict[str, Any]:
        """The OCI spec containerd built (``info.runtimeSpec``)."""
        return self.info.get("runtimeSpec") or {}

    @property
    def runtime_spec_annotations(self) -> dict[str, str]:
        return dict(self.runtime_spec.get("annotations") or {})

    @property
    def runtime_options(self) -> dict[str, Any]:
        """The runhcs options of the handler (``SandboxIsolation`` etc.), as containerd shows them."""
        return self.info.get("runtimeOptions") or {}

    @property
    def runtime_type(self) -> str:
        return self.info.get("runtimeType", "") or ""

    @property
    def config(self) -> dict[str, Any]:
        """The CRI config containerd received (Go encoding/json: snake_case)."""
        return self.info.get("config") or {}


@dataclass
class PodStatus(_ContainerdInfo):
    """``crictl inspectp -o json`` for one pod."""

    id: str
    name: str
    namespace: str
    uid: str
    attempt: int
    state: str
    created_at: datetime | None
    ip: str
    additional_ips: list[str]
    runtime_handler: str
    labels: dict[str, str]
    annotations: dict[str, str]
    info: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, obj: dict) -> PodStatus:
        status = obj.get("status") or {}
        meta = status.get("metadata") or {}
        network = status.get("network") or {}
        extra_ips = [a.get("ip", "") if isinstance(a, dict) else str(a)
                     for a in (network.get("additionalIps") or [])]
        info = obj.get("info")
        return cls(
            id=status.get("id", ""), name=meta.get("name", ""),
            namespace=meta.get("namespace", ""), uid=meta.get("uid", ""),
            attempt=_int(meta.get("attempt")), state=status.get("state", ""),
            created_at=parse_time(status.get("createdAt")), ip=network.get("ip", "") or "",
            additional_ips=extra_ips, runtime_handler=status.get("runtimeHandler", "") or "",
            labels=dict(status.get("labels") or {}),
            annotations=dict(status.get("annotations") or {}),
            info=info if isinstance(info, dict) else {}, raw=obj)

    @property
    def ready(self) -> bool:
        return self.state == SANDBOX_READY



@dataclass
class ContainerStatus(_ContainerdInfo):
    """``crictl inspect -o json`` for one container."""

    id: str
    name: str
    attempt: int
    state: str
    exit_code: int
    reason: str
    message: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    image: str
    image_ref: str
    log_path: str
    labels: dict[str, str]
    annotations: dict[str, str]
    mounts: list[dict[str, Any]]
    info: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, obj: dict) -> ContainerStatus:
        status = obj.get("status") or {}
        meta = status.get("metadata") or {}
        image = status.get("image") or {}
        info = obj.get("info")
        return cls(
            id=status.get("id", ""), name=meta.get("name", ""), attempt=_int(meta.get("attempt")),
            state=status.get("state", ""), exit_code=_int(status.get("exitCode")),
            reason=status.get("reason", "") or "", message=status.get("message", "") or "",
            created_at=parse_time(status.get("createdAt")),
            started_at=parse_time(status.get("startedAt")),
            finished_at=parse_time(status.get("finishedAt")),
            image=image.get("image", "") if isinstance(image, dict) else str(image),
            image_ref=status.get("imageRef", "") or "", log_path=status.get("logPath", "") or "",
            labels=dict(status.get("labels") or {}),
            annotations=dict(status.get("annotations") or {}),
            mounts=list(status.get("mounts") or []),
            info=info if isinstance(info, dict) else {}, raw=obj)

    @property
    def running(self) -> bool:
        return self.state == CONTAINER_RUNNING

    @property
    def exited(self) -> bool:
        return self.state == CONTAINER_EXITED

    @property
    def sandbox_id(self) -> str:
        return self.info.get("sandboxID", "") or ""

    @property
    def pid(self) -> int:
        return _int(self.info.get("pid"))

    @property
    def process(self) -> dict[str, Any]:
        """The OCI process containerd asked for (args / commandLine, user, cwd, env)."""
        return self.runtime_spec.get("process") or {}


@dataclass
class PodSummary:
    """One entry of ``crictl pods -o json``."""

    id: str
    name: str
    namespace: str
    uid: str
    attempt: int
    state: str
    created_at: datetime | None
    runtime_handler: str
    labels: dict[str, str]
    annotations: dict[str, str]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, obj: dict) -> PodSummary:
        meta = obj.get("metadata") or {}
        return cls(id=obj.get("id", ""), name=meta.get("name", ""),
                   namespace=meta.get("namespace", ""), uid=meta.get("uid", ""),
                   attempt=_int(meta.get("attempt")), state=obj.get("state", ""),
                   created_at=parse_time(obj.get("createdAt")),
                   runtime_handler=obj.get("runtimeHandler", "") or "",
                   labels=dict(obj.get("labels") or {}),
                   annotations=dict(obj.get("annotations") or {}), raw=obj)


@dataclass
class ContainerSummary:
    """One entry of ``crictl ps -o json``."""

    id: str
    pod_id: str
    name: str
    attempt: int
    state: str
    image: str
    image_ref: str
    created_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, obj: dict) -> ContainerSummary:
        meta = obj.get("metadata") or {}
        image = obj.get("image") or {}
        return cls(id=obj.get("id", ""), pod_id=obj.get("podSandboxId", ""),
                   name=meta.get("name", ""), attempt=_int(meta.get("attempt")),
                   state=obj.get("state", ""),
                   image=image.get("image", "") if isinstance(image, dict) else str(image),
                   image_ref=obj.get("imageRef", "") or "",
                   created_at=parse_time(obj.get("createdAt")),
                   labels=dict(obj.get("labels") or {}),
                   annotations=dict(obj.get("annotations") or {}), raw=obj)


@dataclass
class RuntimeInfo:
    """``crictl info -o json``: the runtime's conditions plus containerd's config dump."""

    conditions: dict[str, bool]
    condition_reasons: dict[str, str]
    runtime_handlers: list[dict[str, Any]]
    config: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, obj: dict) -> RuntimeInfo:
        conds = (obj.get("status") or {}).get("conditions") or []
        handlers = obj.get("runtimeHandlers") or []
        config = obj.get("config")
        return cls(
            conditions={c.get("type", ""): bool(c.get("status")) for c in conds},
            condition_reasons={c.get("type", ""): " ".join(
                x for x in (c.get("reason") or "", c.get("message") or "") if x) for c in conds},
            runtime_handlers=[h for h in handlers if isinstance(h, dict)],
            config=config if isinstance(config, dict) else {}, raw=obj)

    @property
    def runtime_ready(self) -> bool:
        return self.conditions.get("RuntimeReady", False)

    @property
    def network_ready(self) -> bool:
        return self.conditions.get("NetworkReady", False)

    @property
    def handler_names(self) -> list[str]:
        return [h.get("name", "") for h in self.runtime_handlers]


@dataclass
class RuntimeVersion:
    """``crictl version``: ``Key:  value`` lines (crictl has no JSON form for it)."""

    version: str
    runtime_name: str
    runtime_version: str
    runtime_api_version: str
    raw: dict[str, str] = field(repr=False)

    @classmethod
    def from_text(cls, text: str) -> RuntimeVersion:
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        return cls(version=fields.get("Version", ""), runtime_name=fields.get("RuntimeName", ""),
                   runtime_version=fields.get("RuntimeVersion", ""),
                   runtime_api_version=fields.get("RuntimeApiVersion", ""), raw=fields)
