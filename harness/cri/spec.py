"""What the harness asks the runtime for: pod and container configs in crictl's JSON.

crictl loads ``runp``/``create`` files into the CRI Go structs by their json tags, which
are snake_case, and silently drops any key it does not know, camelCase included
(docs/behaviour/ecosystem.md §0.7, §2.1, §7): a ``hostProcess`` key would quietly launch an
ordinary container.  So rendering here emits only snake_case schema keys, and
:func:`check_schema_keys` refuses anything else before it leaves the process.

Everything the harness creates carries the run-id label (:data:`RUN_ID_LABEL`), so a run
can list (``pods``/``ps --label``) and clean up exactly what it made.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from harness.errors import ConfigError

DEFAULT_NAMESPACE = "hpc-e2e"
# A label *name* without a prefix; '.' and '-' are allowed in names (Kubernetes label
# syntax, which kubelet enforces and bare CRI does not: we hold ourselves to it).
RUN_ID_LABEL = "hpc-e2e.run-id"

# Three CRI json tags are not snake_case (docs/behaviour/ecosystem.md §7); every other schema key is.
NON_SNAKE_TAGS = frozenset({"uidMappings", "gidMappings", "CDI_devices"})
# Maps whose keys are user data, not schema: their keys are not checked.
USER_DATA_MAPS = frozenset({"labels", "annotations"})

# metadata.attempt is a uint32 in the CRI (fixtures/cri-schema/*.schema.json); crictl fails
# to load a file with any other number.
_UINT32_MAX = 2**32 - 1

_SNAKE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*\Z")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?\Z")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?\Z")


def new_run_id() -> str:
    """A run id that is a valid label value and a valid folder name: time plus randomness."""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def check_label(key: str, value: str) -> None:
    """Kubernetes label syntax; also keeps ``--label k=v`` filters unambiguous (no ``=``)."""
    if not isinstance(key, str) or not isinstance(value, str):
        raise ConfigError(f"label {key!r}: keys and values must be strings, got {value!r}")
    prefix, _, name = key.rpartition("/")
    if not _LABEL_NAME.match(name) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
        raise ConfigError(
            f"label key {key!r} is not a valid label key",
            hint="use [prefix/]name with a lower-case DNS prefix and a name of at most 63 "
                 "characters of A-Z a-z 0-9 . _ -, starting and ending alphanumeric")
    if value and not _LABEL_NAME.match(value):
        raise ConfigError(
            f"label {key}={value!r}: the value is not a valid label value",
            hint="at most 63 characters of A-Z a-z 0-9 . _ -, starting and ending alphanumeric")


def check_schema_keys(config: Any, path: str = "") -> None:
    """Refuse any key crictl would drop: schema keys must be snake_case json tags."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str) or (not _SNAKE.match(key) and key not in NON_SNAKE_TAGS):
                raise ConfigError(
                    f"CRI config key {where!r} is not a CRI json tag; crictl would drop it "
                    f"silently", hint="CRI config files use snake_case keys such as "
                                      "host_process (docs/behaviour/ecosystem.md §2.1)")
            if key in USER_DATA_MAPS:
                if not isinstance(value, Mapping) or not all(
                        isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                    raise ConfigError(f"{where} must map strings to strings, got {value!r}")
                continue
            check_schema_keys(value, where)
    elif isinstance(config, list):
        for i, item in enumerate(config):
            check_schema_keys(item, f"{path}[{i}]")


def _check_attempt(attempt: Any, what: str) -> None:
    if isinstance(attempt, bool) or not isinstance(attempt, int) \
            or not 0 <= attempt <= _UINT32_MAX:
        raise ConfigError(f"{what}: attempt must be a whole number from 0 to {_UINT32_MAX} "
                          f"(a CRI uint32), not {attempt!r}",
                          hint="crictl cannot load a negative or larger attempt")


_MODELLED = ("metadata", "labels", "annotations")


def _check_extra(extra: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``extra`` adds fields; it may not redo the modelled ones (run-id label, host_process)."""
    extra = dict(extra or {})
    clash = [k for k in _MODELLED if k in extra]
    ctx = (extra.get("windows") or {}).get("security_context") or {}
    clash += [f"windows.security_context.{k}" for k in ("host_process", "run_as_username")
              if k in ctx]
    if clash:
        raise ConfigError(f"{what}: extra= may not set {', '.join(clash)}",
                          hint="use the spec's own fields for these")
    check_schema_keys(extra)
    return extra


def _merge(base: dict, extra: Mapping) -> dict:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _string_map(name: str, value: Mapping[str, str] | None) -> dict[str, str]:
    data = dict(value or {})
    for k, v in data.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ConfigError(f"{name} must map strings to strings; {k!r}: {v!r} is not")
    return data


def _labels(spec_labels: Mapping[str, str], own_run_id: str | None, run_id: str | None,
            what: str) -> dict[str, str]:
    effective = own_run_id or run_id
    if not effective:
        raise ConfigError(f"{what} has no run id",
                          hint="create it through a Crictl client, or pass run_id=")
    if own_run_id and run_id and own_run_id != run_id:
        raise ConfigError(f"{what} belongs to run {own_run_id}, not to run {run_id}")
    labels = dict(spec_labels)
    if labels.get(RUN_ID_LABEL, effective) != effective:
        raise ConfigError(f"{what}: label {RUN_ID_LABEL}={labels[RUN_ID_LABEL]} contradicts "
                          f"the run id {effective}")
    labels[RUN_ID_LABEL] = effective
    for k, v in labels.items():
        check_label(k, v)
    return labels


def _security_context(host_process: bool, run_as_username: str | None) -> dict:
    ctx: dict[str, Any] = {"host_process": bool(host_process)}
    if run_as_username is not None:
        ctx["run_as_username"] = run_as_username
    return {"security_context": ctx}


def render_json(config: Mapping) -> bytes:
    """The file crictl reads: UTF-8 JSON without a BOM (sigs.k8s.io/yaml reads JSON)."""
    check_schema_keys(config)
    return (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass
class PodSpec:
    """A pod sandbox as crictl's ``runp`` file describes it (CRI ``PodSandboxConfig``).

    ``host_process`` is the CRI field that makes containerd mark the sandbox HostProcess
    (docs/behaviour/ecosystem.md §0.3); the runtime handler (isolation) is chosen at ``runp``.
    ``uid`` is fixed at construction so ``runp`` and every ``create`` see the same pod.
    ``extra`` is merged into the rendered config for fields not modelled here; its keys
    are held to the same snake_case rule.
    """

    name: str
    namespace: str = DEFAULT_NAMESPACE
    uid: str | None = None
    attempt: int = 0
    host_process: bool = False
    run_as_username: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    log_directory: str | None = None
    hostname: str | None = None
    run_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not self.namespace:
            raise ConfigError("a pod needs a name and a namespace (crictl refuses it otherwise: "
                              "'name or namespace is not in metadata')")
        if self.uid is None:
            self.uid = str(uuid.uuid4())
        _check_attempt(self.attempt, f"pod {self.name}")
        self.annotations = _string_map("annotations", self.annotations)
        self.labels = _string_map("labels", self.labels)
        for k, v in self.labels.items():
            check_label(k, v)
        self.extra = _check_extra(self.extra, f"pod {self.name}")

    def with_run_id(self, run_id: str) -> PodSpec:
        return replace(self, run_id=self.run_id or run_id)

    def to_cri(self, run_id: str | None = None) -> dict[str, Any]:
        config: dict[str, Any] = {
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid,
                         "attempt": self.attempt},
            "labels": _labels(self.labels, self.run_id, run_id, f"pod {self.name}"),
            "annotations": dict(self.annotations),
            "windows": _security_context(self.host_process, self.run_as_username),
        }
        if self.hostname is not None:
            config["hostname"] = self.hostname
        if self.log_directory is not None:
            config["log_directory"] = self.log_directory
        _merge(config, self.extra)
        check_schema_keys(config)
        return config

    def render(self, run_id: str | None = None) -> bytes:
        return render_json(self.to_cri(run_id))


def _envs(envs: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> list[dict[str, str]]:
    if envs is None:
        return []
    pairs = envs.items() if isinstance(envs, Mapping) else envs
    out = []
    for key, value in pairs:
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError(f"environment entries are strings; {key!r}={value!r} is not")
        out.append({"key": key, "value": value})
    return out


@dataclass(frozen=True)
class HostMount:
    """A host file or folder mounted into a container (CRI ``Mount``): ``host_path`` on the
    host, ``container_path`` inside the container, read-only or not."""

    host_path: str
    container_path: str
    readonly: bool = False

    def to_cri(self) -> dict[str, Any]:
        for what in ("host_path", "container_path"):
            value = getattr(self, what)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"mount {self.host_path!r} -> {self.container_path!r}: "
                                  f"{what} must be a non-empty path")
        return {"container_path": self.container_path, "host_path": self.host_path,
                "readonly": bool(self.readonly)}


@dataclass
class ContainerSpec:
    """A container as crictl's ``create`` file describes it (CRI ``ContainerConfig``).

    ``host_process`` must equal the pod's or containerd refuses CreateContainer
    (docs/behaviour/ecosystem.md §2.2); the harness does not hide that, scenarios test it.
    """

    name: str
    image: str
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    envs: Mapping[str, str] | list[tuple[str, str]] | None = None
    host_process: bool = False
    run_as_username: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    log_path: str | None = None
    attempt: int = 0
    run_id: str | None = None
    mounts: list[HostMount] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("a container needs a name")
        if self.mounts is not None:
            if not all(isinstance(m, HostMount) for m in self.mounts):
                raise ConfigError(f"container {self.name}: mounts is a list of HostMount")
            self.mounts = list(self.mounts)
            for m in self.mounts:
                m.to_cri()
        if not self.image:
            raise ConfigError(f"container {self.name} needs an image")
        _check_attempt(self.attempt, f"container {self.name}")
        for what in ("command", "args"):
            value = getattr(self, what)
            if value is not None:
                if isinstance(value, str) or not all(isinstance(a, str) for a in value):
                    raise ConfigError(f"container {self.name}: {what} is a list of strings")
                setattr(self, what, list(value))
        self.annotations = _string_map("annotations", self.annotations)
        self.labels = _string_map("labels", self.labels)
        for k, v in self.labels.items():
            check_label(k, v)
        _envs(self.envs)
        self.extra = _check_extra(self.extra, f"container {self.name}")

    def with_run_id(self, run_id: str) -> ContainerSpec:
        return replace(self, run_id=self.run_id or run_id)

    def to_cri(self, run_id: str | None = None) -> dict[str, Any]:
        config: dict[str, Any] = {
            "metadata": {"name": self.name, "attempt": self.attempt},
            "image": {"image": self.image},
            "labels": _labels(self.labels, self.run_id, run_id, f"container {self.name}"),
            "annotations": dict(self.annotations),
            "windows": _security_context(self.host_process, self.run_as_username),
        }
        if self.command is not None:
            config["command"] = list(self.command)
        if self.args is not None:
            config["args"] = list(self.args)
        if self.working_dir is not None:
            config["working_dir"] = self.working_dir
        envs = _envs(self.envs)
        if envs:
            config["envs"] = envs
        if self.log_path is not None:
            config["log_path"] = self.log_path
        if self.mounts:
            config["mounts"] = [m.to_cri() for m in self.mounts]
        _merge(config, self.extra)
        check_schema_keys(config)
        return config

    def render(self, run_id: str | None = None) -> bytes:
        return render_json(self.to_cri(run_id))
