"""``crictl.exe`` on the simulated host: crictl's command line, config, output and errors.

The harness drives containerd only through crictl, so this model follows the released
crictl it stands in for — cri-tools' ``cmd/crictl`` on urfave/cli v2, logrus and
``k8s.io/cri-client`` — rather than an idea of it (ecosystem-facts.md §3, §7; the details
below were read from the cri-tools sources at the release tags).  The behaviour depends on
the version in the placeholder file (``hpc-e2e-sim program=sim:crictl version=1.31.1``):

* 1.32+: ``exec`` names the container in its error and takes container filters;
* 1.34+: a pod config without ``metadata.uid`` gets one generated (before: an error).

What it does, as crictl does:

* the command line is parsed with Go's ``flag`` rules (flags stop at the first positional
  argument, ``-x`` and ``--x`` are the same, ``-t 5`` needs a Go duration for the global
  ``--timeout``); an unknown flag prints ``Incorrect Usage: ...`` and the help on stdout
  and fails; an unknown command is ``No help topic for 'x'`` with exit code 3; a command
  given the wrong number of arguments prints its help and **exits 0** (§7);
* ``crictl.yaml`` comes from ``--config``/``CRI_CONFIG_FILE``, else
  ``%USERPROFILE%\\.crictl\\crictl.yaml``, else the executable's folder (§3.1);
* every failure ends as logrus' fatal line on stderr,
  ``time="<RFC3339>" level=fatal msg="<Go-quoted error>"``, exit code 1 (crictl's ``main``
  calls ``logrus.Fatal``; the output is not a terminal over WinRM/SSH, so logrus uses its
  key=value form).  A failed RPC is preceded by the CRI client's klog error line
  (``E0102 15:04:05.000000 ... "RunPodSandbox from runtime service failed" err=...``);
* RPC deadlines: the global timeout (default 2 s; ``0`` means 200 s on Windows), doubled for
  RunPodSandbox, plus the exec timeout for ExecSync (none when that is 0) — §3.1;
* ``exec -s`` prints stdout then stderr on stdout, each followed by ``\\n``; a non-zero exit
  is ``execing command in container synchronously: command '<argv>' exited with N:
  <stderr>`` and exit code 1, stdout discarded (§3.4);
* no containerd (``machine.cri is None``) or a wrong pipe name: the gRPC dial error for the
  named pipe.

It reads pod/container configs like crictl: JSON decoded into the CRI structs with Go's
``encoding/json`` (keys matched case-insensitively, unknown keys such as ``hostProcess``
dropped, type errors reported Go's way).  YAML configs, ``-o yaml``/``go-template``,
streaming ``exec``/``attach``/``port-forward`` and the commands the harness does not use
fail loudly, naming what the simulated crictl does not model.
"""

from __future__ import annotations

import json
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.sim.process import ProcessContext

BEHAVIOUR_KEY = "sim:crictl"
DEFAULT_TIMEOUT = 2.0  # seconds, main.go defaultTimeout
WINDOWS_ZERO_TIMEOUT = 200.0  # main.go defaultTimeoutWindows (getTimeout)
DEFAULT_ENDPOINTS = ("npipe:////./pipe/containerd-containerd", "npipe:////./pipe/cri-dockerd")
KUBERNETES_POD_NAME_LABEL = "io.kubernetes.pod.name"


# --- small Go-isms --------------------------------------------------------------------------
def go_quote(text: str) -> str:
    """``strconv.Quote`` / ``%q``: printable runes kept, the rest escaped Go's way."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ch == " " or (code >= 0x20 and code != 0x7F and
                           unicodedata.category(ch)[0] in "LMNPS"):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def go_duration(seconds: float) -> str:
    """``time.Duration.String`` (``2s``, ``1m30s``, ``1.5s``, ``0s``, ``500ms``)."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim_fraction(ns / size) + unit
    h, rest = divmod(ns, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    s = _trim_fraction(rest / 1e9)
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"


def _trim_fraction(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                   "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """``time.ParseDuration``; ValueError for anything Go refuses (``30`` has no unit)."""
    s = text
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(text)
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise ValueError(text)
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def parse_go_bool(text: str) -> bool:
    """``strconv.ParseBool``."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(text)


def rfc3339_nano(ns: int) -> str:
    """``time.Unix(0, ns).Format(time.RFC3339Nano)`` with the host in UTC."""
    if ns is None:
        return "0001-01-01T00:00:00Z"
    secs, frac = divmod(int(ns), 1_000_000_000)
    stamp = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return stamp + (f".{fraction}" if fraction else "") + "Z"


ZERO_TIME = "0001-01-01T00:00:00Z"  # time.Time{}.Format(time.RFC3339Nano)


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration``."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def human_size(size: float) -> str:
    """go-units ``HumanSizeWithPrecision(size, 3)`` (decimal units)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g}{units[i]}"


def version_tuple(text: str) -> tuple[int, ...]:
    nums = re.findall(r"\d+", text)
    return tuple(int(n) for n in nums[:3]) or (0,)


# --- exits -------------------------------------------------------------------------------
class CrictlError(Exception):
    """An error crictl's ``main`` turns into ``logrus.Fatal`` (exit code 1)."""


class ExitCoder(Exception):
    """urfave ``cli.Exit(message, code)``: the message on stderr, then that exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class _Done(Exception):
    """The command finished early with this exit code (help shown, version printed)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class Unmodelled(Exception):
    """A form of crictl the simulated host does not model (fails loudly, exit 1)."""


class GoPanic(Exception):
    """crictl would crash with a Go panic (exit code 2)."""


class RpcError(CrictlError):
    """A gRPC error as the client renders it: ``rpc error: code = X desc = Y``."""

    def __init__(self, code: str, desc: str):
        super().__init__(f"rpc error: code = {code} desc = {desc}")
        self.code = code
        self.desc = desc


def _wrap(prefix: str, exc: CrictlError) -> CrictlError:
    """``fmt.Errorf("<prefix>: %w", err)`` keeping the class (RpcError stays detectable)."""
    new = CrictlError(f"{prefix}: {exc}")
    new.__cause__ = exc
    return new


# --- Go flag parsing with urfave/cli's conventions ---------------------------------------
@dataclass(frozen=True)
class Flag:
    names: tuple[str, ...]
    kind: str  # bool | string | duration | int | int64 | strings
    default: Any = None
    env: str | None = None

    @property
    def name(self) -> str:
        return self.names[0]


def _flag(*names: str, kind: str = "bool", default: Any = None, env: str | None = None
          ) -> Flag:
    if default is None:
        default = {"bool": False, "string": "", "duration": 0.0, "int": 0, "int64": 0,
                   "strings": ()}[kind]
    return Flag(names, kind, default, env)


HELP_FLAG = _flag("help", "h")


class FlagError(Exception):
    """What Go's FlagSet.Parse returns (urfave prints Incorrect Usage, crictl fails)."""


@dataclass
class Parsed:
    values: dict[str, Any]
    set: set[str]
    args: list[str]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def _convert(flag: Flag, value: str) -> Any:
    if flag.kind == "string":
        return value
    if flag.kind == "duration":
        return parse_go_duration(value)
    if flag.kind in ("int", "int64"):
        # strconv.ParseInt(s, 0, 64): 0x/0o/0b prefixes, a leading 0 is octal.
        if value != value.strip() or not value:
            raise ValueError(value)
        if re.fullmatch(r"[+-]?0[0-7_]+", value):
            return int(value.replace("_", ""), 8)
        number = int(value, 0)
        if not -2**63 <= number < 2**63:
            raise ValueError(value)
        return number
    raise AssertionError(flag.kind)


def parse_flags(args: Sequence[str], flags: Sequence[Flag], *, short_options: bool,
                env: Mapping[str, str] | None = None) -> Parsed:
    """Go ``flag.FlagSet.Parse`` plus urfave's short-option splitting and env defaults."""
    by_name = {n: f for f in flags for n in f.names}
    values: dict[str, Any] = {f.name: f.default for f in flags}
    is_set: set[str] = set()
    for f in flags:  # urfave: an EnvVars value sets the flag (and IsSet is true)
        if f.env and env is not None and f.env in env:
            try:
                values[f.name] = _convert(f, env[f.env]) if f.kind != "bool" else \
                    parse_go_bool(env[f.env])
                is_set.add(f.name)
            except ValueError:
                pass
    rest = list(args)
    i = 0
    while i < len(rest):
        s = rest[i]
        if len(s) < 2 or s[0] != "-":
            break
        minuses = 1
        if s[1] == "-":
            minuses = 2
            if len(s) == 2:
                i += 1
                break
        name = s[minuses:]
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {s}")
        value: str | None = None
        eq = name.find("=", 1)
        if eq > 0:
            name, value = name[:eq], name[eq + 1:]
        f = by_name.get(name)
        if f is None:
            if short_options and minuses == 1 and len(s) > 2 and \
                    all(c in by_name for c in s[1:]):
                rest[i:i + 1] = ["-" + c for c in s[1:]]
                continue
            raise FlagError(f"flag provided but not defined: -{name}")
        i += 1
        if f.kind == "bool":
            if value is None:
                converted: Any = True
            else:
                try:
                    converted = parse_go_bool(value)
                except ValueError:
                    raise FlagError(f"invalid boolean value {go_quote(value)} for -{name}: "
                                    "parse error") from None
        else:
            if value is None:
                if i >= len(rest):
                    raise FlagError(f"flag needs an argument: -{name}")
                value = rest[i]
                i += 1
            try:
                converted = _convert(f, value) if f.kind != "strings" else value
            except ValueError:
                raise FlagError(f"invalid value {go_quote(value)} for flag -{name}: "
                                "parse error") from None
        if f.kind == "strings":  # urfave StringSlice: repeatable, comma-separated
            previous = list(values[f.name]) if f.name in is_set else []
            values[f.name] = tuple(previous + [v.strip() for v in converted.split(",")])
        else:
            values[f.name] = converted
        is_set.add(f.name)
    return Parsed(values, is_set, rest[i:])


# --- the CRI config structs (cri-api v0.31 json tags, api.pb.go) -------------------------
_SCHEMA_TEXT = """
CDIDevice: name string
Capability: add_capabilities []string; drop_capabilities []string;
    add_ambient_capabilities []string
ContainerConfig: metadata *ContainerMetadata; image *ImageSpec; command []string; args
    []string; working_dir string; envs []*KeyValue; mounts []*Mount; devices []*Device;
    labels map[string]string; annotations map[string]string; log_path string; stdin bool;
    stdin_once bool; tty bool; linux *LinuxContainerConfig; windows
    *WindowsContainerConfig; CDI_devices []*CDIDevice
ContainerMetadata: name string; attempt uint32
DNSConfig: servers []string; searches []string; options []string
Device: container_path string; host_path string; permissions string
HugepageLimit: page_size string; limit uint64
IDMapping: host_id uint32; container_id uint32; length uint32
ImageSpec: image string; annotations map[string]string; user_specified_image string;
    runtime_handler string
Int64Value: value int64
KeyValue: key string; value string
LinuxContainerConfig: resources *LinuxContainerResources; security_context
    *LinuxContainerSecurityContext
LinuxContainerResources: cpu_period int64; cpu_quota int64; cpu_shares int64;
    memory_limit_in_bytes int64; oom_score_adj int64; cpuset_cpus string; cpuset_mems
    string; hugepage_limits []*HugepageLimit; unified map[string]string;
    memory_swap_limit_in_bytes int64
LinuxContainerSecurityContext: capabilities *Capability; privileged bool;
    namespace_options *NamespaceOption; selinux_options *SELinuxOption; run_as_user
    *Int64Value; run_as_group *Int64Value; run_as_username string; readonly_rootfs bool;
    supplemental_groups []int64; supplemental_groups_policy SupplementalGroupsPolicy;
    no_new_privs bool; masked_paths []string; readonly_paths []string; seccomp
    *SecurityProfile; apparmor *SecurityProfile; apparmor_profile string;
    seccomp_profile_path string
LinuxPodSandboxConfig: cgroup_parent string; security_context
    *LinuxSandboxSecurityContext; sysctls map[string]string; overhead
    *LinuxContainerResources; resources *LinuxContainerResources
LinuxSandboxSecurityContext: namespace_options *NamespaceOption; selinux_options
    *SELinuxOption; run_as_user *Int64Value; run_as_group *Int64Value; readonly_rootfs
    bool; supplemental_groups []int64; supplemental_groups_policy
    SupplementalGroupsPolicy; privileged bool; seccomp *SecurityProfile; apparmor
    *SecurityProfile; seccomp_profile_path string
Mount: container_path string; host_path string; readonly bool; selinux_relabel bool;
    propagation MountPropagation; uidMappings []*IDMapping; gidMappings []*IDMapping;
    recursive_read_only bool; image *ImageSpec
NamespaceOption: network NamespaceMode; pid NamespaceMode; ipc NamespaceMode; target_id
    string; userns_options *UserNamespace
PodSandboxConfig: metadata *PodSandboxMetadata; hostname string; log_directory string;
    dns_config *DNSConfig; port_mappings []*PortMapping; labels map[string]string;
    annotations map[string]string; linux *LinuxPodSandboxConfig; windows
    *WindowsPodSandboxConfig
PodSandboxMetadata: name string; uid string; namespace string; attempt uint32
PortMapping: protocol Protocol; container_port int32; host_port int32; host_ip string
SELinuxOption: user string; role string; type string; level string
SecurityProfile: profile_type SecurityProfile_ProfileType; localhost_ref string
UserNamespace: mode NamespaceMode; uids []*IDMapping; gids []*IDMapping
WindowsContainerConfig: resources *WindowsContainerResources; security_context
    *WindowsContainerSecurityContext
WindowsContainerResources: cpu_shares int64; cpu_count int64; cpu_maximum int64;
    memory_limit_in_bytes int64; rootfs_size_in_bytes int64
WindowsContainerSecurityContext: run_as_username string; credential_spec string;
    host_process bool
WindowsNamespaceOption: network NamespaceMode
WindowsPodSandboxConfig: security_context *WindowsSandboxSecurityContext
WindowsSandboxSecurityContext: run_as_username string; credential_spec string;
    host_process bool; namespace_options *WindowsNamespaceOption
"""
_ENUMS = {"MountPropagation", "NamespaceMode", "Protocol", "SecurityProfile_ProfileType",
          "SupplementalGroupsPolicy"}
_INT_RANGES = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1),
               "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1)}


def _load_schema(text: str) -> dict[str, tuple[tuple[str, str], ...]]:
    records: list[str] = []
    for line in text.strip().splitlines():
        if line.startswith(" ") and records:
            records[-1] += " " + line.strip()
        else:
            records.append(line.strip())
    schema = {}
    for rec in records:
        name, body = rec.split(":", 1)
        schema[name] = tuple(tuple(part.split()) for part in body.split(";"))  # type: ignore
    return schema  # type: ignore[return-value]


SCHEMA = _load_schema(_SCHEMA_TEXT)


class _Num:
    """A JSON number literal, kept as text so Go's integer rules can be applied."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class _TypeErrors:
    def __init__(self) -> None:
        self.first: str | None = None

    def add(self, value: Any, gotype: str, struct: str, path: list[str]) -> None:
        if self.first is None:
            self.first = (f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
                          f"{struct}.{'.'.join(path)} of type {gotype}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _Num):
        return "number " + value.text if value.text else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "value"


def _go_type_name(gotype: str) -> str:
    base = gotype.lstrip("[]*")
    if base in SCHEMA or base in _ENUMS:
        return gotype.replace(base, "v1." + base)
    return gotype


def decode_struct(value: Any, message: str) -> dict:
    """``encoding/json`` into the CRI struct ``message``: the canonical (json-tag) dict.

    Keys match the struct's tags exactly or case-insensitively; unknown keys are dropped;
    ``null`` leaves a field unset.  Raises CrictlError with Go's first type error.
    """
    errors = _TypeErrors()
    if not isinstance(value, dict):
        raise CrictlError(f"json: cannot unmarshal {_json_kind(value)} into Go value of "
                          f"type v1.{message}")
    out = _decode_object(value, message, [], errors)
    if errors.first is not None:
        raise CrictlError(errors.first)
    return out


def _decode_object(obj: dict, message: str, path: list[str], errors: _TypeErrors) -> dict:
    fields = SCHEMA[message]
    out: dict[str, Any] = {}
    for key, value in obj.items():
        match = next((f for f in fields if f[0] == key), None) or \
            next((f for f in fields if f[0].casefold() == key.casefold()), None)
        if match is None:
            continue  # encoding/json ignores unknown keys
        name, gotype = match
        if value is None:
            out.pop(name, None)
            continue
        decoded = _decode_value(value, gotype, message, path + [name], errors,
                                out.get(name))
        if decoded is not _SKIP:
            out[name] = decoded
    return out


_SKIP = object()


def _decode_value(value: Any, gotype: str, struct: str, path: list[str],
                  errors: _TypeErrors, existing: Any = None) -> Any:
    if gotype.startswith("[]"):
        if not isinstance(value, list):
            errors.add(value, _go_type_name(gotype), struct, path)
            return _SKIP
        items = []
        for item in value:
            if item is None:
                items.append(None if gotype.startswith("[]*") else _zero(gotype[2:]))
                continue
            decoded = _decode_value(item, gotype[2:], struct, path, errors)
            items.append(_zero(gotype[2:]) if decoded is _SKIP else decoded)
        return items
    if gotype.startswith("map[string]"):
        if not isinstance(value, dict):
            errors.add(value, gotype, struct, path)
            return _SKIP
        out = {}
        for k, v in value.items():
            if v is None:
                out[k] = ""
                continue
            decoded = _decode_value(v, gotype[len("map[string]"):], struct, path + [k],
                                    errors)
            if decoded is not _SKIP:
                out[k] = decoded
        return out
    gotype = gotype.removeprefix("*")
    if gotype in SCHEMA:
        if not isinstance(value, dict):
            errors.add(value, "v1." + gotype, struct, path)
            return _SKIP
        merged = _decode_object(value, gotype, path, errors)
        if isinstance(existing, dict):
            merged = {**existing, **merged}
        return merged
    if gotype == "string":
        if not isinstance(value, str):
            errors.add(value, "string", struct, path)
            return _SKIP
        return value
    if gotype == "bool":
        if not isinstance(value, bool):
            errors.add(value, "bool", struct, path)
            return _SKIP
        return value
    kind = "int32" if gotype in _ENUMS else gotype
    if kind in _INT_RANGES:
        if not isinstance(value, _Num):
            errors.add(value, _go_type_name(gotype), struct, path)
            return _SKIP
        lo, hi = _INT_RANGES[kind]
        if not re.fullmatch(r"-?\d+", value.text) or not lo <= int(value.text) <= hi:
            errors.add(value, _go_type_name(gotype), struct, path)
            return _SKIP
        return int(value.text)
    raise AssertionError(f"no decoder for Go type {gotype}")


def _zero(gotype: str) -> Any:
    if gotype == "string":
        return ""
    if gotype == "bool":
        return False
    if gotype in _INT_RANGES or gotype in _ENUMS:
        return 0
    return {}


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


# --- output --------------------------------------------------------------------------------
def _needs_quoting(text: str) -> bool:
    return any(not (c.isascii() and (c.isalnum() or c in "-._/@^+")) for c in text)


def _utc_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                 "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json_indent(value: Any) -> str:
    """``json.Marshal`` of Go maps (keys sorted, HTML escaped) then ``json.Indent`` by two."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return re.sub("[<>&\u2028\u2029]", lambda m: _HTML_ESCAPES[m.group(0)], text)


def protojson_indent(value: Any) -> str:
    """protojson with ``Indent: "  "``: message field order kept, map keys sorted."""
    return json.dumps(_sort_maps(value), indent=2, ensure_ascii=False)


_MAP_FIELDS = {"labels", "annotations"}


def _sort_maps(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        items = sorted(value.items()) if key in _MAP_FIELDS else value.items()
        return {k: _sort_maps(v, k) for k, v in items}
    if isinstance(value, list):
        return [_sort_maps(v) for v in value]
    return value


def table(rows: list[list[str]]) -> str:
    """``text/tabwriter`` with minwidth 20, padding 3 (crictl's newDefaultTableDisplay)."""
    if not rows:
        return ""
    cols = max(len(r) for r in rows)
    widths = [0] * cols
    for r in rows:
        for j, cell in enumerate(r[:-1]):
            widths[j] = max(widths[j], len(cell) + 3, 20)
    out = []
    for r in rows:
        cells = [cell.ljust(widths[j]) for j, cell in enumerate(r[:-1])]
        out.append("".join(cells) + (r[-1] if r else ""))
    return "\n".join(out) + "\n"


# --- the program state ---------------------------------------------------------------------
@dataclass
class _Conf:
    runtime_endpoint: str = ""
    image_endpoint: str = ""
    timeout: int = 0
    debug: bool = False
    pull_image_on_create: bool = False
    disable_pull_on_run: bool = False


_CONF_KEYS = {"runtime-endpoint", "image-endpoint", "timeout", "debug", "pull-image-on-create",
              "disable-pull-on-run"}


@dataclass
class Crictl:
    """One crictl invocation: its context, version and global settings."""

    ctx: ProcessContext
    version: str
    runtime_endpoint: str = ""
    runtime_endpoint_set: bool = False
    image_endpoint: str = ""
    image_endpoint_set: bool = False
    timeout: float = DEFAULT_TIMEOUT
    debug: bool = False
    pull_image_on_create: bool = False
    disable_pull_on_run: bool = False
    pid: int = field(default_factory=lambda: 1000 + int(time.time() * 1000) % 8000)

    @property
    def v(self) -> tuple[int, ...]:
        return version_tuple(self.version)

    # --- output -------------------------------------------------------------------------
    def out(self, text: str) -> None:
        """``fmt.Print*`` to stdout (Go writes ``\\n``, not ``\\r\\n``)."""
        self.ctx.stdout.write(text)

    def println(self, text: str = "") -> None:
        self.out(text + "\n")

    def logrus(self, level: str, msg: str) -> None:
        shown = go_quote(msg) if _needs_quoting(msg) else msg
        self.ctx.stderr.write(f'time="{_utc_rfc3339()}" level={level} msg={shown}\n')

    def debugf(self, msg: str) -> None:
        if self.debug:
            self.logrus("debug", msg)

    def klog_error(self, msg: str, err: str, kv: Sequence[tuple[str, Any]] = ()) -> None:
        """k8s.io/cri-client's ``logErr``: a klog error line (remote_runtime.go)."""
        now = datetime.now(UTC)
        head = f"E{now:%m%d} {now:%H:%M:%S}.{now.microsecond:06d} {self.pid:>7} " \
               f"{_KLOG_SITE.get(msg, 'remote_runtime.go:1')}]"
        parts = [go_quote(msg), f"err={go_quote(err)}"]
        for key, value in kv:
            if isinstance(value, (list, tuple)):
                parts.append(f"{key}=[{' '.join(map(str, value))}]")
            else:
                parts.append(f"{key}={go_quote(str(value))}")
        self.ctx.stderr.write(head + " " + " ".join(parts) + "\n")


# Where k8s.io/cri-client v0.31 logs each failed RPC (remote_runtime.go / remote_image.go).
_KLOG_SITE = {
    "Version from runtime service failed": "remote_runtime.go:177",
    "RunPodSandbox from runtime service failed": "remote_runtime.go:208",
    "StopPodSandbox from runtime service failed": "remote_runtime.go:237",
    "RemovePodSandbox from runtime service failed": "remote_runtime.go:256",
    "ListPodSandbox with filter from runtime service failed": "remote_runtime.go:309",
    "CreateContainer in sandbox from runtime service failed": "remote_runtime.go:334",
    "StartContainer from runtime service failed": "remote_runtime.go:358",
    "StopContainer from runtime service failed": "remote_runtime.go:381",
    "RemoveContainer from runtime service failed": "remote_runtime.go:400",
    "ListContainers with filter from runtime service failed": "remote_runtime.go:422",
    "ContainerStatus from runtime service failed": "remote_runtime.go:447",
    "ExecSync cmd from runtime service failed": "remote_runtime.go:511",
    "Status from runtime service failed": "remote_runtime.go:648",
    "ListImages with filter from image service failed": "remote_image.go:142",
    "Get ImageStatus from image service failed": "remote_image.go:163",
    "PullImage from image service failed": "remote_image.go:194",
}


# --- connecting --------------------------------------------------------------------------
class Client:
    """A connected CRI client (runtime or image service) with its per-RPC timeout."""

    def __init__(self, app: Crictl, runtime: Any, timeout: float):
        self.app = app
        self.rt = runtime
        self.timeout = timeout

    def call(self, fn: Callable[[], Any], *, deadline: float | None,
             klog: str | None = None, kv: Sequence[tuple[str, Any]] = ()) -> Any:
        """Run one RPC against the CRI model with a client-side deadline (seconds)."""
        from harness.sim.cri.runtime import CriError

        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["result"] = fn()
            except CriError as exc:
                box["error"] = RpcError(str(exc.code), exc.message)
            except BaseException as exc:  # noqa: BLE001 - a model bug, re-raised below
                box["bug"] = exc

        worker = threading.Thread(target=run, daemon=True, name="sim-crictl-rpc")
        worker.start()
        end = None if deadline is None else time.monotonic() + deadline
        while worker.is_alive():
            self.app.ctx.check_cancelled()
            wait = 0.05 if end is None else max(0.0, min(0.05, end - time.monotonic()))
            worker.join(wait)
            if end is not None and time.monotonic() >= end and worker.is_alive():
                box["error"] = RpcError("DeadlineExceeded", "context deadline exceeded")
                break
        if "bug" in box:
            raise box["bug"]
        if "error" in box:
            err: RpcError = box["error"]
            if klog:
                self.app.klog_error(klog, str(err), kv)
            raise err
        return box.get("result")


def parse_endpoint(endpoint: str) -> tuple[str, str]:
    """cri-client ``parseEndpoint`` (util_windows.go): ``(protocol, address)``."""
    text = endpoint.replace("\\", "/")
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", text)
    if m is None:
        raise CrictlError(f"Using {go_quote(endpoint)} as endpoint is deprecated, please "
                          "consider using full url format")
    scheme, rest = m.group(1).lower(), m.group(2)
    host, path = "", rest
    if rest.startswith("//"):
        after = rest[2:]
        slash = after.find("/")
        host, path = (after, "") if slash < 0 else (after[:slash], after[slash:])
    if scheme == "tcp":
        return "tcp", host
    if scheme == "npipe":
        if path.startswith("//./pipe"):
            return "npipe", path
        return "npipe", f"//{host or '.'}{path}"
    raise CrictlError(f"protocol {go_quote(scheme)} not supported")


def _pipe_key(address: str) -> str:
    return address.replace("/", "\\").lower()


def connect(app: Crictl, endpoint: str, timeout: float, service: str) -> Client:
    """``NewRemoteRuntimeService`` / ``NewRemoteImageService`` including the validation RPC."""
    protocol, address = parse_endpoint(endpoint)
    api = "runtime" if service == "runtime" else "image"
    prefix = f"validate service connection: validate CRI v1 {api} API for endpoint " \
             f"{go_quote(endpoint)}: "
    if protocol == "tcp":
        dial = (f"dial tcp {address}: connectex: No connection could be made because the "
                "target machine actively refused it.")
        raise CrictlError(prefix + str(_unavailable(dial)))
    rt = app.ctx.machine.cri
    if rt is None or _pipe_key(address) != _pipe_key(getattr(rt, "address", "")):
        dial = f"open {address}: The system cannot find the file specified."
        raise CrictlError(prefix + str(_unavailable(dial)))
    client = Client(app, rt, timeout)
    probe = rt.version if service == "runtime" else rt.list_images
    try:
        client.call(probe, deadline=timeout)
    except RpcError as exc:
        raise CrictlError(prefix + str(exc)) from None
    return client


def _unavailable(dial_error: str) -> RpcError:
    desc = "transport: Error while dialing: " + dial_error
    return RpcError("Unavailable", "connection error: desc = " + go_quote(desc))


def runtime_client(app: Crictl, timeout: float = 0) -> Client:
    """crictl ``getRuntimeService``."""
    if app.runtime_endpoint_set and app.runtime_endpoint == "":
        raise CrictlError("--runtime-endpoint is not set")
    app.debugf("get runtime connection")
    t = timeout or app.timeout
    if not app.runtime_endpoint_set:
        return _default_endpoints(app, t, "runtime")
    return connect(app, app.runtime_endpoint, t, "runtime")


def image_client(app: Crictl) -> Client:
    """crictl ``getImageService``."""
    if app.image_endpoint == "":
        if app.runtime_endpoint_set and app.runtime_endpoint == "":
            raise CrictlError("--image-endpoint is not set")
        app.image_endpoint = app.runtime_endpoint
        app.image_endpoint_set = app.runtime_endpoint_set
    app.debugf("get image connection")
    if not app.image_endpoint_set:
        return _default_endpoints(app, app.timeout, "image")
    return connect(app, app.image_endpoint, app.timeout, "image")


def _default_endpoints(app: Crictl, timeout: float, service: str) -> Client:
    app.logrus("warning", f"{service} connect using default endpoints: "
                          f"[{' '.join(DEFAULT_ENDPOINTS)}]. As the default settings are now "
                          "deprecated, you should set the endpoint instead.")
    last: CrictlError | None = None
    for endpoint in DEFAULT_ENDPOINTS:
        try:
            return connect(app, endpoint, timeout, service)
        except CrictlError as exc:
            app.logrus("error", str(exc))
            last = exc
    assert last is not None
    raise last


# --- config files ---------------------------------------------------------------------------
def _stat_error(path: str, winerror: int) -> str:
    text = ("The system cannot find the file specified." if winerror == 2
            else "The system cannot find the path specified.")
    return f"CreateFile {path}: {text}"


def _missing(fs: Any, path: str, cwd: str) -> int | None:
    """None if ``path`` exists, else the Win32 code os.Stat would fail with."""
    try:
        full = fs.resolve(path, cwd)
    except (OSError, ValueError):
        return 3
    if fs.exists(full):
        return None
    parent, _ = fs.split(full)
    return 2 if fs.is_dir(parent) else 3


def read_crictl_yaml(text: str) -> _Conf:
    """``common.ReadConfig``: a flat YAML mapping of the six known options."""
    conf = _Conf()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip() or line.strip() == "---":
            continue
        m = re.match(r"^([A-Za-z0-9_-]+)\s*:(?:\s+(.*))?$", line)
        if m is None or line[0].isspace():
            raise Unmodelled(f"this crictl.yaml line (only flat 'key: value' lines are "
                             f"modelled): {raw!r}")
        key, value = m.group(1), (m.group(2) or "").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key not in _CONF_KEYS:
            raise CrictlError(f"Config option '{key}' is not valid")
        attr = key.replace("-", "_")
        if key == "timeout":
            if not re.fullmatch(r"[+-]?\d+", value):
                raise CrictlError(f"parsing config option '{key}': strconv.Atoi: parsing "
                                  f"{go_quote(value)}: invalid syntax")
            setattr(conf, attr, int(value))
        elif key in ("runtime-endpoint", "image-endpoint"):
            setattr(conf, attr, value)
        else:
            try:
                setattr(conf, attr, parse_go_bool(value))
            except ValueError:
                raise CrictlError(f"parsing config option '{key}': strconv.ParseBool: "
                                  f"parsing {go_quote(value)}: invalid syntax") from None
    return conf


def load_server_config(app: Crictl, config_path: str) -> _Conf:
    """``common.GetServerConfigFromFile``: the file, else crictl.yaml beside the exe."""
    fs, cwd = app.ctx.machine.fs, app.ctx.cwd
    path = config_path
    code = _missing(fs, path, cwd)
    if code is not None:
        exe = app.ctx.extra.get("image") or ""
        path = fs.join(fs.split(exe)[0], "crictl.yaml") if exe else "crictl.yaml"
        code = _missing(fs, path, cwd)
        if code is not None:
            raise CrictlError("load config file: " + _stat_error(path, code))
    try:
        data = fs.read_bytes(path, cwd)
    except OSError as exc:
        raise CrictlError(f"load config file: open {path}: {exc.strerror}") from None
    try:
        return read_crictl_yaml(data.decode("utf-8", "replace").lstrip("\ufeff"))
    except CrictlError as exc:
        raise CrictlError(f"load config file: {exc}") from None


def read_json_config(app: Crictl, path: str, message: str) -> dict:
    """``openFile`` + ``YAMLOrJSONDecoder`` into a CRI struct (util.go)."""
    fs = app.ctx.machine.fs
    try:
        data = fs.read_bytes(path, app.ctx.cwd)
    except (OSError, ValueError) as exc:
        if getattr(exc, "winerror", None) in (2, 3):
            raise CrictlError(f"config at {path} not found") from None
        raise CrictlError(f"open {path}: {getattr(exc, 'strerror', None) or exc}") from None
    text = _decode_text(data)
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if not text[start:].startswith("{"):
        raise Unmodelled(f"the config file {path}: YAML configs are not modelled (the "
                         "simulated crictl reads JSON ones)")
    try:
        value, _ = json.JSONDecoder(parse_float=_Num, parse_int=_Num).raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise CrictlError(f"json: offset {len(text[:exc.pos].encode())}: {exc.msg}") from None
    return _strip_none(decode_struct(value, message))


def _decode_text(data: bytes) -> str:
    # A BOM (PowerShell's UTF-8 or UTF-16 output) sends real crictl down its YAML path,
    # which accepts it; JSON is YAML, so the result is the same as decoding the JSON.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8", "replace").lstrip("\ufeff")


def load_pod_config(app: Crictl, path: str) -> dict:
    config = read_json_config(app, path, "PodSandboxConfig")
    meta = config.get("metadata")
    if meta is None:
        raise CrictlError("metadata is not set")
    if app.v >= (1, 34):
        if not meta.get("uid"):
            meta["uid"] = str(uuid.uuid4())
        if not meta.get("name") or not meta.get("namespace"):
            raise CrictlError(f"name or namespace is not in metadata "
                              f"{go_quote(_pod_meta_text(meta))}")
    elif not meta.get("name") or not meta.get("namespace") or not meta.get("uid"):
        raise CrictlError(f"name, namespace or uid is not in metadata "
                          f"{go_quote(_pod_meta_text(meta))}")
    return config


def load_container_config(app: Crictl, path: str) -> dict:
    config = read_json_config(app, path, "ContainerConfig")
    meta = config.get("metadata")
    if meta is None:
        raise CrictlError("metadata is not set")
    if not meta.get("name"):
        raise CrictlError(f"name is not in metadata "
                          f"{go_quote(_ctr_meta_text(meta))}")
    return config


def _pod_meta_text(meta: Mapping[str, Any]) -> str:
    """gogo-protobuf's String() of PodSandboxMetadata (what ``%q`` prints)."""
    return (f"&PodSandboxMetadata{{Name:{meta.get('name', '')},Uid:{meta.get('uid', '')},"
            f"Namespace:{meta.get('namespace', '')},Attempt:{meta.get('attempt', 0)},}}")


def _ctr_meta_text(meta: Mapping[str, Any]) -> str:
    return f"&ContainerMetadata{{Name:{meta.get('name', '')},Attempt:{meta.get('attempt', 0)},}}"


# --- commands ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    args_usage: str = ""
    aliases: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()
    short_options: bool = False
    action: Callable[[Crictl, Parsed], int | None] | None = None
    subcommands: tuple[str, ...] = ()  # names only: their actions are not modelled


GLOBAL_FLAGS = (
    _flag("config", "c", kind="string", env="CRI_CONFIG_FILE"),
    _flag("runtime-endpoint", "r", kind="string", env="CONTAINER_RUNTIME_ENDPOINT"),
    _flag("image-endpoint", "i", kind="string", env="IMAGE_SERVICE_ENDPOINT"),
    _flag("timeout", "t", kind="duration", default=DEFAULT_TIMEOUT),
    _flag("debug", "D"),
    _flag("enable-tracing"),
    _flag("tracing-sampling-rate-per-million", kind="int", default=-1),
    _flag("tracing-endpoint", kind="string", default="127.0.0.1:4317"),
    HELP_FLAG,
    _flag("version", "v"),
)


def _show_help(app: Crictl, cmd: Command | None) -> None:
    """urfave's help, abbreviated (the option list is not reproduced)."""
    if cmd is None:
        app.out("NAME:\n   crictl - client for CRI\n\nUSAGE:\n   crictl [global options] "
                f"command [command options]\n\nVERSION:\n   v{app.version}\n\n"
                "COMMANDS:\n   (the simulated crictl does not reproduce the command list)\n")
        return
    usage = f"crictl {cmd.name} [command options]" + (f" {cmd.args_usage}"
                                                       if cmd.args_usage else "")
    app.out(f"NAME:\n   crictl {cmd.name} - {cmd.usage}\n\nUSAGE:\n   {usage}\n\n"
            "OPTIONS:\n   (the simulated crictl does not reproduce the option list)\n")


def _help_exit(app: Crictl, cmd: Command | None) -> int:
    _show_help(app, cmd)
    return 0


def _rpc_wrap(prefix: str, exc: CrictlError) -> CrictlError:
    return _wrap(prefix, exc)


# version / info ---------------------------------------------------------------------------
def cmd_version(app: Crictl, p: Parsed) -> int | None:
    if p.args:
        return _help_exit(app, COMMANDS["version"])
    client = runtime_client(app)
    try:
        v = client.call(client.rt.version, deadline=client.timeout,
                        klog="Version from runtime service failed")
    except RpcError as exc:
        raise _wrap("getting the runtime version", exc) from None
    app.println(f"Version:  {v.get('version', '')}")
    app.println(f"RuntimeName:  {v.get('runtimeName', '')}")
    app.println(f"RuntimeVersion:  {v.get('runtimeVersion', '')}")
    app.println(f"RuntimeApiVersion:  {v.get('runtimeApiVersion', '')}")
    return None


def _output_status_data(app: Crictl, statuses: list[dict], fmt: str) -> None:
    """``outputStatusData``: one object, or an array for several; keys sorted (Go maps)."""
    if not statuses:
        return
    result = statuses[0] if len(statuses) == 1 else statuses
    if fmt == "json":
        app.println(go_json_indent(result))
    elif fmt in ("yaml", "go-template"):
        raise Unmodelled(f"-o {fmt} (use -o json)")
    else:
        raise CrictlError(f"unsupported format: {go_quote(fmt)}")


def cmd_info(app: Crictl, p: Parsed) -> int | None:
    if p.args:
        return _help_exit(app, COMMANDS["info"])
    client = runtime_client(app)
    try:
        st = client.call(client.rt.status, deadline=client.timeout,
                         klog="Status from runtime service failed")
    except RpcError as exc:
        raise _wrap("getting status of runtime", exc) from None
    data: dict[str, Any] = {"status": st.get("status", {})}
    if not p["quiet"]:
        for key, value in (st.get("info") or {}).items():
            data[key] = value if isinstance(value, dict) else str(value).strip('"')
    if st.get("runtimeHandlers") is not None:
        data["runtimeHandlers"] = st["runtimeHandlers"]
    _output_status_data(app, [data], p["output"])
    return None


# images ----------------------------------------------------------------------------------------
def cmd_pull(app: Crictl, p: Parsed) -> int | None:
    name = p.args[0] if p.args else ""
    if name == "":
        raise CrictlError("image name cannot be empty")
    if len(p.args) > 1:
        return _help_exit(app, COMMANDS["pull"])
    client = image_client(app)
    if p.set & {"pod-config", "annotation", "creds", "auth", "username", "pull-timeout"}:
        raise Unmodelled("crictl pull with --pod-config/--annotation/--creds/--auth/"
                         "--username/--pull-timeout (the simulated registry needs none)")
    ref = _pull(client, name)
    app.println(f"Image is up to date for {ref}")
    return None


def _pull(client: Client, name: str) -> str:
    try:
        return client.call(lambda: client.rt.pull_image(name), deadline=None,
                           klog="PullImage from image service failed", kv=[("image", name)])
    except RpcError as exc:
        raise _wrap("pulling image", exc) from None


def cmd_images(app: Crictl, p: Parsed) -> int | None:
    if len(p.args) > 1:
        return _help_exit(app, COMMANDS["images"])
    if p["filter"]:
        raise Unmodelled("crictl images --filter")
    client = image_client(app)
    try:
        images = client.call(client.rt.list_images, deadline=client.timeout,
                             klog="ListImages with filter from image service failed")
    except RpcError as exc:
        raise _wrap("listing images", exc) from None
    if p.args:
        from harness.sim.cri.images import InvalidReference, normalize_ref
        try:
            wanted = normalize_ref(p.args[0])
        except InvalidReference:
            wanted = p.args[0]
        images = [i for i in images if wanted in i.get("repoTags", ())
                  or i.get("id") == p.args[0]]
    images = sorted(images, key=_image_sort_key)
    if p["output"] == "json":
        app.println(protojson_indent({"images": images}))
        return None
    if p["output"] == "yaml":
        raise Unmodelled("-o yaml (use -o json)")
    if p["quiet"]:
        for img in images:
            app.println(img["id"])
        return None
    if p["verbose"]:
        for img in images:
            app.println(f"ID: {img['id']}")
            for tag in img.get("repoTags", ()):
                app.println(f"RepoTags: {tag}")
            for digest in img.get("repoDigests", ()):
                app.println(f"RepoDigests: {digest}")
            if int(img.get("size") or 0):
                app.println(f"Size: {img['size']}")
            if img.get("username"):
                app.println(f"Username: {img['username']}")
            if img.get("pinned"):
                app.println("Pinned: true")
            app.println()
        return None
    header = ["IMAGE", "TAG"] + (["DIGEST"] if p["digests"] else []) + ["IMAGE ID", "SIZE"] + \
        (["PINNED"] if p["pinned"] else [])
    rows = [header]
    for img in images:
        image_id = img["id"] if p["no-trunc"] else img["id"].removeprefix("sha256:")[:13]
        digest = (img.get("repoDigests") or [""])[0].rpartition("@")[2]
        digest = digest if p["no-trunc"] else digest.removeprefix("sha256:")[:13]
        for tag in img.get("repoTags") or ["<none>:<none>"]:
            repo, _, t = tag.rpartition(":")
            row = [repo, t] + ([digest] if p["digests"] else []) + \
                [image_id, human_size(float(img.get("size") or 0))]
            if p["pinned"]:
                row.append("true" if img.get("pinned") else "false")
            rows.append(row)
    app.out(table(rows))
    return None


def _image_sort_key(img: Mapping[str, Any]) -> tuple:
    tags, digests = img.get("repoTags") or [], img.get("repoDigests") or []
    return (tags[0] if tags else "\uffff", digests[0] if digests else "", img.get("id", ""))


# pods ---------------------------------------------------------------------------------------
def cmd_runp(app: Crictl, p: Parsed) -> int | None:
    if len(p.args) != 1 or not p.args[0]:
        return _help_exit(app, COMMANDS["runp"])
    client = runtime_client(app, p["cancel-timeout"])
    try:
        config = load_pod_config(app, p.args[0])
    except CrictlError as exc:
        raise _wrap("load podSandboxConfig", exc) from None
    handler = p["runtime"]
    try:
        pod_id = client.call(lambda: client.rt.run_pod_sandbox(config, handler),
                             deadline=2 * client.timeout,
                             klog="RunPodSandbox from runtime service failed")
    except RpcError as exc:
        raise _wrap("run pod sandbox", exc) from None
    app.println(pod_id)
    return None


def cmd_stopp(app: Crictl, p: Parsed) -> int | None:
    if not p.args:
        return _help_exit(app, COMMANDS["stopp"])
    client = runtime_client(app)
    for pod_id in p.args:
        try:
            _stop_pod(app, client, pod_id)
        except CrictlError as exc:
            raise _wrap(f"stopping the pod sandbox {go_quote(pod_id)}", exc) from None
    return None


def _stop_pod(app: Crictl, client: Client, pod_id: str) -> None:
    if not pod_id:
        raise CrictlError("ID cannot be empty")
    client.call(lambda: client.rt.stop_pod_sandbox(pod_id), deadline=client.timeout,
                klog="StopPodSandbox from runtime service failed",
                kv=[("podSandboxID", pod_id)])
    app.println(f"Stopped sandbox {pod_id}")


def cmd_rmp(app: Crictl, p: Parsed) -> int | None:
    client = runtime_client(app)
    ids = list(p.args)
    if p["all"]:
        ids = [s["id"] for s in _list_pods_rpc(client, None)]
    if not ids:
        if p["all"]:
            app.logrus("info", "No pods to remove")
            return None
        return _help_exit(app, COMMANDS["rmp"])
    errors: list[str] = []
    for pod_id in ids:
        try:
            try:
                status = client.call(lambda pod_id=pod_id: client.rt.pod_sandbox_status(pod_id),
                                     deadline=client.timeout)
            except RpcError as exc:
                raise _wrap(f"getting sandbox status of pod {go_quote(pod_id)}", exc) from None
            if (status.get("status") or {}).get("state") == "SANDBOX_READY":
                if not p["force"]:
                    raise CrictlError(f"pod sandbox {go_quote(pod_id)} is running, please "
                                      "stop it first")
                try:
                    _stop_pod(app, client, pod_id)
                except CrictlError as exc:
                    raise _wrap(f"stopping the pod sandbox {go_quote(pod_id)} failed",
                                exc) from None
            try:
                client.call(lambda pod_id=pod_id: client.rt.remove_pod_sandbox(pod_id),
                            deadline=client.timeout,
                            klog="RemovePodSandbox from runtime service failed",
                            kv=[("podSandboxID", pod_id)])
            except RpcError as exc:
                raise _wrap(f"removing the pod sandbox {go_quote(pod_id)}", exc) from None
            app.println(f"Removed sandbox {pod_id}")
        except CrictlError as exc:
            errors.append(str(exc))
    _raise_aggregate(errors)
    return None


def _raise_aggregate(errors: list[str]) -> None:
    """k8s ``utilerrors.Aggregate``: one error as itself, several as ``[a, b]``."""
    if len(errors) == 1:
        raise CrictlError(errors[0])
    if errors:
        raise CrictlError("[" + ", ".join(errors) + "]")


def _list_pods_rpc(client: Client, flt: Mapping[str, Any] | None) -> list[dict]:
    try:
        return client.call(lambda: client.rt.list_pod_sandboxes(flt), deadline=client.timeout,
                           klog="ListPodSandbox with filter from runtime service failed",
                           kv=[("filter", "&PodSandboxFilter{}" if flt else "nil")])
    except RpcError as exc:
        raise _wrap("call list sandboxes RPC", exc) from None


def _go_log_fatal(app: Crictl, text: str) -> None:
    """Go's ``log.Fatalf``: a dated line on stderr, exit code 1."""
    app.ctx.stderr.write(f"{datetime.now(UTC):%Y/%m/%d %H:%M:%S} {text}\n")
    raise _Done(1)


def _labels(values: Sequence[str]) -> dict[str, str]:
    labels = {}
    for s in values:
        pair = s.split("=")
        if len(pair) != 2:
            raise CrictlError(f"incorrectly specified label: {s}")
        labels[pair[0]] = pair[1]
    return labels


def _regex_match(pattern: str, text: str) -> bool:
    if not pattern:
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _select(items: list[dict], latest: bool, last: int) -> list[dict]:
    items = sorted(items, key=lambda i: int(i.get("createdAt") or 0), reverse=True)
    n = len(items)
    if latest:
        n = 1
    if last > 0:
        n = last
    return items[:min(n, len(items))]


def list_pods(app: Crictl, client: Client, p: Parsed) -> list[dict]:
    """crictl ``ListPodSandboxes``: RPC filter, then name/namespace regex and ordering."""
    flt: dict[str, Any] = {}
    if p.values.get("id"):
        flt["id"] = p["id"]
    state = p.values.get("state", "")
    if state:
        wanted = {"ready": "SANDBOX_READY", "notready": "SANDBOX_NOTREADY"}.get(state.lower())
        if wanted is None:
            _go_log_fatal(app, "--state should be ready or notready")
        flt["state"] = {"state": wanted}
    labels = _labels(p.values.get("label", ()))
    if labels:
        flt["label_selector"] = labels
    pods = _list_pods_rpc(client, flt)
    pods = [s for s in pods
            if _regex_match(p.values.get("name", ""), (s.get("metadata") or {}).get("name", ""))
            and _regex_match(p.values.get("namespace", ""),
                             (s.get("metadata") or {}).get("namespace", ""))]
    return _select(pods, p.values.get("latest", False), p.values.get("last", 0))


def cmd_pods(app: Crictl, p: Parsed) -> int | None:
    client = runtime_client(app)
    _labels(p["label"])  # parseLabelStringSlice's error is returned as it is
    try:
        pods = list_pods(app, client, p)
    except CrictlError as exc:
        raise _wrap("listing pod sandboxes", _wrap("list pod sandboxes", exc)) from None
    fmt = p["output"]
    if fmt == "json":
        app.println(protojson_indent({"items": pods}))
        return None
    if fmt == "yaml":
        raise Unmodelled("-o yaml (use -o json)")
    if fmt != "table":
        raise CrictlError(f"listing pod sandboxes: unsupported output format {go_quote(fmt)}")
    if p["verbose"]:
        raise Unmodelled("crictl pods --verbose (use -o json)")
    rows = [] if p["quiet"] else [["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE",
                                   "ATTEMPT", "RUNTIME"]]
    now = time.time()
    for s in pods:
        if p["quiet"]:
            app.println(s["id"])
            continue
        meta = s.get("metadata") or {}
        rows.append([s["id"] if p["no-trunc"] else s["id"][:13],
                     human_duration(now - int(s.get("createdAt") or 0) / 1e9) + " ago",
                     {"SANDBOX_READY": "Ready"}.get(s.get("state"), "NotReady"),
                     meta.get("name", ""), meta.get("namespace", ""),
                     str(meta.get("attempt", 0)), s.get("runtimeHandler") or "(default)"])
    app.out(table(rows))
    return None


def cmd_inspectp(app: Crictl, p: Parsed) -> int | None:
    client = runtime_client(app)
    ids = list(p.args)
    if not ids:
        _labels(p["label"])
        try:
            ids = [s["id"] for s in list_pods(app, client, p)]
        except CrictlError as exc:
            raise _wrap("listing pod sandboxes", exc) from None
    if not ids:
        app.logrus("error", "No IDs provided or nothing found per filter")
        return _help_exit(app, COMMANDS["inspectp"])
    fmt = p["output"] or "json"
    statuses = []
    for pod_id in ids:
        try:
            r = client.call(lambda pod_id=pod_id: client.rt.pod_sandbox_status(pod_id),
                            deadline=client.timeout)
        except RpcError as exc:
            raise _wrap("get the status of pod sandboxes",
                        _wrap("get pod sandbox status", exc)) from None
        status = dict(r.get("status") or {})
        status["createdAt"] = rfc3339_nano(int(status.get("createdAt") or 0))
        if fmt == "table":
            raise Unmodelled("crictl inspectp -o table (use -o json)")
        data: dict[str, Any] = {"status": status}
        if not p["quiet"] and r.get("info") is not None:
            data["info"] = r["info"]
        statuses.append(data)
    _output_status_data(app, statuses, fmt)
    return None


# containers -------------------------------------------------------------------------------
def cmd_create(app: Crictl, p: Parsed) -> int | None:
    if len(p.args) != 3:
        return _help_exit(app, COMMANDS["create"])
    if p["no-pull"] and p["with-pull"]:
        raise CrictlError("confict: no-pull and with-pull are both set")
    with_pull = (not p["no-pull"] and app.pull_image_on_create) or p["with-pull"]
    if p.set & {"creds", "auth", "username", "pull-timeout"}:
        raise Unmodelled("crictl create with --creds/--auth/--username/--pull-timeout")
    images = image_client(app) if with_pull else None
    client = runtime_client(app, p["cancel-timeout"])
    pod_id, ctr_path, pod_path = p.args
    try:
        config = load_container_config(app, ctr_path)
        pod_config = load_pod_config(app, pod_path) if pod_path else None
        if "image" not in config:
            raise GoPanic("runtime error: invalid memory address or nil pointer dereference")
        image = config["image"].get("image", "")
        if not config["image"].get("user_specified_image"):
            config["image"]["user_specified_image"] = image
        if with_pull:
            assert images is not None
            app.logrus("info", f"Pulling container image: {image}")
            try:
                images.call(lambda: images.rt.pull_image(image), deadline=None,
                            klog="PullImage from image service failed", kv=[("image", image)])
            except RpcError as exc:
                raise exc from None
        cid = client.call(lambda: client.rt.create_container(pod_id, config, pod_config),
                          deadline=client.timeout,
                          klog="CreateContainer in sandbox from runtime service failed",
                          kv=[("podSandboxID", pod_id)])
    except GoPanic:
        raise
    except CrictlError as exc:
        raise _wrap("creating container", exc) from None
    app.println(cid)
    return None


def cmd_start(app: Crictl, p: Parsed) -> int | None:
    if not p.args:
        raise CrictlError("ID cannot be empty")
    client = runtime_client(app)
    for cid in p.args:
        try:
            if not cid:
                raise CrictlError("ID cannot be empty")
            client.call(lambda cid=cid: client.rt.start_container(cid), deadline=client.timeout,
                        klog="StartContainer from runtime service failed",
                        kv=[("containerID", cid)])
        except CrictlError as exc:
            raise _wrap(f"starting the container {go_quote(cid)}", exc) from None
        app.println(cid)
    return None


def cmd_stop(app: Crictl, p: Parsed) -> int | None:
    if not p.args:
        raise CrictlError("ID cannot be empty")
    client = runtime_client(app)
    for cid in p.args:
        try:
            _stop_container(app, client, cid, p["timeout"])
        except CrictlError as exc:
            raise _wrap(f"stopping the container {go_quote(cid)}", exc) from None
    return None


def _stop_container(app: Crictl, client: Client, cid: str, timeout: int) -> None:
    if not cid:
        raise CrictlError("ID cannot be empty")
    client.call(lambda: client.rt.stop_container(cid, timeout),
                deadline=client.timeout + max(0, timeout),
                klog="StopContainer from runtime service failed", kv=[("containerID", cid)])
    app.println(cid)


def _container_status(client: Client, cid: str) -> dict:
    return client.call(lambda: client.rt.container_status(cid), deadline=client.timeout,
                       klog="ContainerStatus from runtime service failed",
                       kv=[("containerID", cid)])


def cmd_rm(app: Crictl, p: Parsed) -> int | None:
    client = runtime_client(app)
    ids = list(p.args)
    if p["all"]:
        ids = [c["id"] for c in _list_containers_rpc(client, None)]
    if not ids:
        if p["all"]:
            app.logrus("info", "No containers to remove")
            return None
        return _help_exit(app, COMMANDS["rm"])
    errored = False
    for cid in ids:
        try:
            status = _container_status(client, cid)
        except RpcError as exc:
            app.logrus("error", str(exc))
            errored = True
            continue
        if (status.get("status") or {}).get("state") == "CONTAINER_RUNNING":
            if not p["force"]:
                app.logrus("error", f"container {go_quote(cid)} is running, please stop it "
                                    "first")
                errored = True
                continue
            try:
                _stop_container(app, client, cid, 0)
            except CrictlError as exc:
                app.logrus("error", f"stopping the container {go_quote(cid)} failed: {exc}")
                errored = True
                continue
        try:
            client.call(lambda cid=cid: client.rt.remove_container(cid), deadline=client.timeout,
                        klog="RemoveContainer from runtime service failed",
                        kv=[("containerID", cid)])
        except RpcError as exc:
            app.logrus("error", f"removing container {go_quote(cid)} failed: {exc}")
            errored = True
            continue
        app.println(cid)
    if errored:
        raise CrictlError("unable to remove container(s)")
    return None


def _list_containers_rpc(client: Client, flt: Mapping[str, Any] | None) -> list[dict]:
    try:
        return client.call(lambda: client.rt.list_containers(flt), deadline=client.timeout,
                           klog="ListContainers with filter from runtime service failed",
                           kv=[("filter", "&ContainerFilter{}" if flt else "nil")])
    except RpcError as exc:
        raise _wrap("call list containers RPC", exc) from None


_CONTAINER_STATES = {"created": "CONTAINER_CREATED", "running": "CONTAINER_RUNNING",
                     "exited": "CONTAINER_EXITED", "unknown": "CONTAINER_UNKNOWN"}


def list_containers(app: Crictl, client: Client, p: Parsed, *, all_states: bool) -> list[dict]:
    """crictl ``ListContainers``: default state RUNNING unless ``-a``/``--state``."""
    flt: dict[str, Any] = {}
    if p.values.get("id"):
        flt["id"] = p["id"]
    if p.values.get("pod"):
        flt["pod_sandbox_id"] = p["pod"]
    state = p.values.get("state", "")
    if not all_states and not state:
        flt["state"] = {"state": "CONTAINER_RUNNING"}
    if state:
        wanted = _CONTAINER_STATES.get(state.lower())
        if wanted is None:
            _go_log_fatal(app, "--state should be one of created, running, exited or unknown")
        flt["state"] = {"state": wanted}
    latest, last = p.values.get("latest", False), p.values.get("last", 0)
    if latest or last > 0:
        flt.pop("state", None)
    labels = _labels(p.values.get("label", ()))
    if labels:
        flt["label_selector"] = labels
    ctrs = _list_containers_rpc(client, flt)
    ctrs = [c for c in ctrs
            if _regex_match(p.values.get("name", ""), (c.get("metadata") or {}).get("name", ""))]
    return _select(ctrs, latest, last)


def cmd_ps(app: Crictl, p: Parsed) -> int | None:
    if p.args:
        return _help_exit(app, COMMANDS["ps"])
    client = runtime_client(app)
    images = image_client(app)
    try:
        ctrs = list_containers(app, client, p, all_states=p["all"])
    except CrictlError as exc:
        raise _wrap("listing containers", _wrap("list containers", exc)) from None
    fmt = p["output"]
    if fmt == "json":
        app.println(protojson_indent({"containers": ctrs}))
        return None
    if fmt == "yaml":
        raise Unmodelled("-o yaml (use -o json)")
    if fmt != "table":
        raise CrictlError(f"listing containers: unsupported output format {go_quote(fmt)}")
    if p["verbose"] or p["resolve-image-path"]:
        raise Unmodelled("crictl ps --verbose/--resolve-image-path (use -o json)")
    rows = [] if p["quiet"] else [["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME",
                                   "ATTEMPT", "POD ID", "POD"]]
    now = time.time()
    for c in ctrs:
        if p["image"] and not _same_image(images, p["image"], c["image"]["image"]):
            continue
        if p["quiet"]:
            app.println(c["id"])
            continue
        meta = c.get("metadata") or {}
        image = c["image"]["image"]
        if not p["no-trunc"] and re.fullmatch(r"sha256:[0-9a-f]{64}", image):
            image = image[len("sha256:"):][:13]
        rows.append([c["id"] if p["no-trunc"] else c["id"][:13], image,
                     human_duration(now - int(c.get("createdAt") or 0) / 1e9) + " ago",
                     c.get("state", "").removeprefix("CONTAINER_").title(),
                     meta.get("name", ""), str(meta.get("attempt", 0)),
                     c["podSandboxId"] if p["no-trunc"] else c["podSandboxId"][:13],
                     (c.get("labels") or {}).get(KUBERNETES_POD_NAME_LABEL, "unknown")])
    app.out(table(rows))
    return None


def _same_image(images: Client, wanted: str, actual: str) -> bool:
    a = images.call(lambda: images.rt.image_status(wanted), deadline=images.timeout)
    b = images.call(lambda: images.rt.image_status(actual), deadline=images.timeout)
    return bool(a and b and a["image"]["id"] == b["image"]["id"])


def cmd_inspect(app: Crictl, p: Parsed) -> int | None:
    client = runtime_client(app)
    ids = list(p.args)
    if not ids:
        _labels(p["label"])
        if p["image"]:
            raise Unmodelled("crictl inspect --image")
        try:
            ids = [c["id"] for c in list_containers(app, client, p, all_states=False)]
        except CrictlError as exc:
            raise _wrap("listing containers", exc) from None
    if not ids:
        app.logrus("error", "No IDs provided or nothing found per filter")
        return _help_exit(app, COMMANDS["inspect"])
    fmt = p["output"] or "json"
    statuses = []
    for cid in ids:
        try:
            r = _container_status(client, cid)
        except RpcError as exc:
            raise _wrap("get the status of containers",
                        _wrap("get container status", exc)) from None
        status = dict(r.get("status") or {})
        state = status.get("state", "")
        status["createdAt"] = rfc3339_nano(int(status.get("createdAt") or 0))
        status["startedAt"] = ZERO_TIME if state == "CONTAINER_CREATED" else \
            rfc3339_nano(int(status.get("startedAt") or 0))
        finished = int(status.get("finishedAt") or 0)
        status["finishedAt"] = rfc3339_nano(finished) if state == "CONTAINER_EXITED" or (
            state == "CONTAINER_UNKNOWN" and finished > 0) else ZERO_TIME
        if fmt == "table":
            raise Unmodelled("crictl inspect -o table (use -o json)")
        data: dict[str, Any] = {"status": status}
        if not p["quiet"] and r.get("info") is not None:
            data["info"] = r["info"]
        statuses.append(data)
    _output_status_data(app, statuses, fmt)
    return None


def cmd_logs(app: Crictl, p: Parsed) -> int | None:
    cid = p.args[0] if p.args else ""
    if cid == "":
        raise CrictlError("ID cannot be empty")
    if len(p.args) > 1:
        return _help_exit(app, COMMANDS["logs"])
    unmodelled = p.set & {"follow", "previous", "reopen", "limit-bytes", "since", "timestamps"}
    if unmodelled:
        raise Unmodelled("crictl logs --" + " --".join(sorted(unmodelled)))
    client = runtime_client(app)
    r = client.call(lambda: client.rt.container_status(cid), deadline=client.timeout,
                    klog="ContainerStatus from runtime service failed",
                    kv=[("containerID", cid)])
    if not (r.get("status") or {}).get("logPath"):
        raise CrictlError("the container has not set log path")
    data = client.call(lambda: client.rt.container_log(cid), deadline=client.timeout)
    tail = p["tail"]
    if tail >= 0:
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[len(lines) - tail:]) if tail else b""
    app.ctx.stdout.write(data)
    return None


# exec -------------------------------------------------------------------------------------------
def cmd_exec(app: Crictl, p: Parsed) -> int | None:
    new = app.v >= (1, 32)
    if len(p.args) < (1 if new else 2):
        return _help_exit(app, COMMANDS["exec"])
    client = runtime_client(app)
    ids, argv = [p.args[0]], p.args[1:]
    show_ids = False
    if new:
        if p["ignore-errors"] and not p["quiet"]:
            app.logrus("warning", "The `--ignore-errors` option has been set all errors "
                                  "returned by the command will be ignored.")
        if p.set & {"name", "pod", "image", "state", "label", "latest", "last"}:
            if p["image"]:
                raise Unmodelled("crictl exec --image")
            argv = list(p.args)
            show_ids = not p["quiet"] and not p["parallel"]
            try:
                ids = [c["id"] for c in list_containers(app, client, p, all_states=False)]
            except CrictlError as exc:
                raise _wrap("listing containers", exc) from None
            if not ids:
                app.logrus("error", "No containers found per filter flags")
                return _help_exit(app, COMMANDS["exec"])
        elif len(p.args) < 2:
            return _help_exit(app, COMMANDS["exec"])
    if not p["sync"]:
        raise Unmodelled("crictl exec without -s (streaming exec); use exec -s")
    errors: list[str] = []
    for cid in ids:
        if show_ids:
            app.println(cid + ":")
        try:
            _exec_sync(app, client, cid, argv, p["timeout"])
        except CrictlError as exc:
            where = f"container {cid} synchronously" if new else "container synchronously"
            errors.append(f"execing command in {where}: {exc}")
    if new and p["ignore-errors"]:
        return None
    _raise_aggregate(errors)
    return None


def _exec_sync(app: Crictl, client: Client, cid: str, argv: list[str], timeout: int) -> None:
    """crictl ``ExecSync`` over cri-client's ``execSyncV1``."""
    joined = " ".join(argv)
    timed_out = CrictlError(f"command timed out: {go_quote(joined)} timed out after "
                            f"{go_duration(timeout)}")
    try:
        result = client.call(lambda: client.rt.exec_sync(cid, list(argv), timeout),
                             deadline=None if timeout == 0 else client.timeout + timeout,
                             klog="ExecSync cmd from runtime service failed",
                             kv=[("containerID", cid), ("cmd", argv)])
    except RpcError as exc:
        if exc.code == "DeadlineExceeded":
            raise timed_out from None
        raise
    if getattr(result, "timed_out", False):
        raise timed_out
    if result.exit_code != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        raise CrictlError(f"command '{joined}' exited with {result.exit_code}: {stderr}")
    app.ctx.stdout.write(result.stdout + b"\n" + result.stderr + b"\n")


# --- the command table --------------------------------------------------------------------------
_LIST_POD_FLAGS = (
    _flag("name", kind="string"), _flag("namespace", kind="string"),
    _flag("state", "s", kind="string"), _flag("label", kind="strings"),
    _flag("latest", "l"), _flag("last", "n", kind="int"))
_LIST_CTR_FLAGS = (
    _flag("name", kind="string"), _flag("pod", "p", kind="string"),
    _flag("image", kind="string"), _flag("state", "s", kind="string"),
    _flag("label", kind="strings"), _flag("latest", "l"), _flag("last", "n", kind="int"))
_PULL_FLAGS = (
    _flag("creds", kind="string"), _flag("auth", kind="string"),
    _flag("username", kind="string"), _flag("cancel-timeout", "T", kind="duration"),
    _flag("pull-timeout", "pt", kind="duration"))
_EXEC_FLAGS_OLD = (
    _flag("sync", "s"), _flag("timeout", kind="int64"), _flag("tty", "t"),
    _flag("interactive", "i"), _flag("transport", "r", kind="string", default="spdy"))
_EXEC_FLAGS_NEW = _EXEC_FLAGS_OLD + (
    _flag("name", kind="string"), _flag("pod", "p", kind="string"),
    _flag("image", kind="string"), _flag("state", kind="string"),
    _flag("label", kind="strings"), _flag("latest", "l"), _flag("last", "n", kind="int"),
    _flag("quiet", "q"), _flag("ignore-errors", "e"), _flag("parallel", "x"),
    _flag("tls-sni", "tls-server-name", kind="string", default="localhost"),
    _flag("tls-ca", kind="string"), _flag("tls-cert", kind="string"),
    _flag("tls-key", kind="string"))

COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("version", "Display runtime version information", action=cmd_version),
    Command("info", "Display information of the container runtime", short_options=True,
            flags=(_flag("output", "o", kind="string", default="json"), _flag("quiet", "q"),
                   _flag("template", kind="string")), action=cmd_info),
    Command("pull", "Pull an image from a registry", "NAME[:TAG|@DIGEST]", short_options=True,
            flags=(_flag("creds", kind="string"), _flag("auth", kind="string"),
                   _flag("username", "u", kind="string"), _flag("pod-config", kind="string"),
                   _flag("annotation", "a", kind="strings"),
                   _flag("pull-timeout", "pt", kind="duration")),
            action=cmd_pull, subcommands=("jsonschema", "js")),
    Command("images", "List images", "[REPOSITORY[:TAG]]", aliases=("image", "img"),
            short_options=True,
            flags=(_flag("verbose", "v"), _flag("quiet", "q"), _flag("filter", "f",
                                                                      kind="strings"),
                   _flag("output", "o", kind="string"), _flag("digests"), _flag("no-trunc"),
                   _flag("pinned")), action=cmd_images),
    Command("runp", "Run a new pod", "pod-config.[json|yaml]",
            flags=(_flag("runtime", "r", kind="string"),
                   _flag("cancel-timeout", "T", kind="duration")),
            action=cmd_runp, subcommands=("jsonschema", "js")),
    Command("stopp", "Stop one or more running pods", "POD-ID [POD-ID...]", action=cmd_stopp),
    Command("rmp", "Remove one or more pods", "POD-ID [POD-ID...]", short_options=True,
            flags=(_flag("force", "f"), _flag("all", "a")), action=cmd_rmp),
    Command("inspectp", "Display the status of one or more pods", "POD-ID [POD-ID...]",
            short_options=True,
            flags=(_flag("output", "o", kind="string"), _flag("quiet", "q"),
                   _flag("template", kind="string")) + _LIST_POD_FLAGS, action=cmd_inspectp),
    Command("pods", "List pods", short_options=True,
            flags=(_flag("id", kind="string"), _flag("verbose", "v"), _flag("quiet", "q"),
                   _flag("output", "o", kind="string", default="table"), _flag("no-trunc"))
            + _LIST_POD_FLAGS, action=cmd_pods),
    Command("create", "Create a new container",
            "POD container-config.[json|yaml] pod-config.[json|yaml]",
            flags=(_flag("no-pull"), _flag("with-pull")) + _PULL_FLAGS, action=cmd_create,
            subcommands=("jsonschema", "js")),
    Command("start", "Start one or more created containers", "CONTAINER-ID [CONTAINER-ID...]",
            action=cmd_start),
    Command("stop", "Stop one or more running containers", "CONTAINER-ID [CONTAINER-ID...]",
            short_options=True, flags=(_flag("timeout", "t", kind="int64"),), action=cmd_stop),
    Command("rm", "Remove one or more containers", "CONTAINER-ID [CONTAINER-ID...]",
            short_options=True,
            flags=(_flag("force", "f"), _flag("keep-logs", "k"), _flag("all", "a")),
            action=cmd_rm),
    Command("inspect", "Display the status of one or more containers",
            "CONTAINER-ID [CONTAINER-ID...]",
            flags=(_flag("output", "o", kind="string"), _flag("quiet", "q"),
                   _flag("template", kind="string")) + _LIST_CTR_FLAGS, action=cmd_inspect),
    Command("ps", "List containers", short_options=True,
            flags=(_flag("verbose", "v"), _flag("id", kind="string"), _flag("quiet", "q"),
                   _flag("output", "o", kind="string", default="table"), _flag("all", "a"),
                   _flag("no-trunc"), _flag("resolve-image-path", "r")) + _LIST_CTR_FLAGS,
            action=cmd_ps),
    Command("logs", "Fetch the logs of a container", "CONTAINER-ID", short_options=True,
            flags=(_flag("follow", "f"), _flag("previous", "p"), _flag("reopen", "r"),
                   _flag("tail", kind="int64", default=-1),
                   _flag("limit-bytes", kind="int64", default=-1),
                   _flag("since", kind="string"), _flag("timestamps", "t")),
            action=cmd_logs),
    Command("exec", "Run a command in a running container", "CONTAINER-ID COMMAND [ARG...]",
            short_options=True, flags=_EXEC_FLAGS_OLD, action=cmd_exec),
    # crictl commands the harness does not use: known, so they fail as "not modelled".
    *(Command(name, "") for name in (
        "attach", "checkpoint", "completion", "config", "events", "imagefsinfo", "inspecti",
        "metricdescs", "metricsp", "port-forward", "rmi", "run", "runtime-config", "stats",
        "statsp", "update", "update-runtime-config")),
)}


def _command(app: Crictl, name: str) -> Command | None:
    for cmd in COMMANDS.values():
        if name == cmd.name or name in cmd.aliases:
            if cmd.name == "exec" and app.v >= (1, 32):
                return Command(cmd.name, cmd.usage, "[CONTAINER-ID] COMMAND [ARG...]",
                               flags=_EXEC_FLAGS_NEW, short_options=True, action=cmd_exec)
            return cmd
    return None


# --- main -------------------------------------------------------------------------------------
def _version_of(ctx: ProcessContext) -> str | None:
    from harness.sim.programs.containerd import image_words

    version = image_words(ctx).get("version")
    return version.lstrip("v") if version else None


def crictl_program(ctx: ProcessContext) -> int:
    """``crictl.exe``: one invocation (see the module docstring)."""
    version = _version_of(ctx)
    if version is None:
        ctx.stderr.line(f"the simulated host cannot tell the version of "
                        f"{ctx.extra.get('image')} (its placeholder has no version=)")
        return 1
    app = Crictl(ctx, version)
    try:
        return _main(app) or 0
    except _Done as done:
        return done.code
    except ExitCoder as exc:
        ctx.stderr.write(f"{exc}\n")
        return exc.code
    except Unmodelled as exc:
        ctx.stderr.write(f"the simulated crictl does not model {exc}\n")
        return 1
    except GoPanic as exc:
        ctx.stderr.write(f"panic: {exc}\n[signal 0xc0000005 code=0x0 addr=0x0 pc=0x0]\n\n"
                         "goroutine 1 [running]:\nmain.CreateContainer(...)\n")
        return 2
    except CrictlError as exc:
        app.logrus("fatal", str(exc))
        return 1


def _main(app: Crictl) -> int | None:
    ctx = app.ctx
    try:
        root = parse_flags(ctx.argv[1:], GLOBAL_FLAGS, short_options=False, env=ctx.env)
    except FlagError as exc:
        app.out(f"Incorrect Usage: {exc}\n\n")
        _show_help(app, None)
        raise CrictlError(str(exc)) from None
    if root["help"]:
        return _help_exit(app, None)
    if root["version"]:
        app.println(f"crictl version v{app.version}")
        return 0
    _before(app, root)
    if not root.args:
        return _help_exit(app, None)
    name, rest = root.args[0], root.args[1:]
    if name in ("help", "h"):
        if rest:
            cmd = _command(app, rest[0])
            if cmd is None:
                raise ExitCoder(f"No help topic for '{rest[0]}'", 3)
            return _help_exit(app, cmd)
        return _help_exit(app, None)
    cmd = _command(app, name)
    if cmd is None:
        raise ExitCoder(f"No help topic for '{name}'", 3)
    if cmd.action is None:
        raise Unmodelled(f"`crictl {cmd.name}`")
    try:
        parsed = parse_flags(rest, cmd.flags + (HELP_FLAG,), short_options=cmd.short_options,
                             env=ctx.env)
    except FlagError as exc:
        app.out(f"Incorrect Usage: {exc}\n\n")
        _show_help(app, cmd)
        raise CrictlError(str(exc)) from None
    if parsed["help"]:
        return _help_exit(app, cmd)
    if parsed.args and parsed.args[0] in cmd.subcommands:
        raise Unmodelled(f"`crictl {cmd.name} {parsed.args[0]}` (the CRI JSON schema)")
    return cmd.action(app, parsed)


def _before(app: Crictl, root: Parsed) -> None:
    """crictl's ``app.Before``: the config file, then flags over it (main.go)."""
    ctx = app.ctx
    config_path = root["config"] or (ctx.env.get("USERPROFILE", "") + r"\.crictl\crictl.yaml")
    conf: _Conf | None
    try:
        conf = load_server_config(app, config_path)
    except CrictlError:
        if "config" in root.set:
            raise
        conf = None

    def timeout_flag() -> float:
        t = root["timeout"]
        return t if t > 0 else WINDOWS_ZERO_TIMEOUT  # getTimeout

    if conf is None:
        app.runtime_endpoint = root["runtime-endpoint"]
        app.runtime_endpoint_set = "runtime-endpoint" in root.set
        app.image_endpoint = root["image-endpoint"]
        app.image_endpoint_set = "image-endpoint" in root.set
        app.timeout = timeout_flag() if "timeout" in root.set else root["timeout"]
        app.debug = root["debug"]
        return
    if "runtime-endpoint" in root.set:
        app.runtime_endpoint, app.runtime_endpoint_set = root["runtime-endpoint"], True
    elif conf.runtime_endpoint:
        app.runtime_endpoint, app.runtime_endpoint_set = conf.runtime_endpoint, True
    if "image-endpoint" in root.set:
        app.image_endpoint, app.image_endpoint_set = root["image-endpoint"], True
    elif conf.image_endpoint:
        app.image_endpoint, app.image_endpoint_set = conf.image_endpoint, True
    if "timeout" in root.set:
        app.timeout = timeout_flag()
    elif conf.timeout > 0:
        app.timeout = float(conf.timeout)
    else:
        app.timeout = root["timeout"]
    app.debug = root["debug"] if "debug" in root.set else conf.debug
    app.pull_image_on_create = conf.pull_image_on_create
    app.disable_pull_on_run = conf.disable_pull_on_run


def install(machine: Any) -> None:
    """Register ``sim:crictl`` on ``machine`` (placeholders name it; harness/sim/bundle.py)."""
    machine.register_behaviour(BEHAVIOUR_KEY, crictl_program)


__all__ = [
    "BEHAVIOUR_KEY",
    "COMMANDS",
    "GLOBAL_FLAGS",
    "CrictlError",
    "Flag",
    "FlagError",
    "crictl_program",
    "decode_struct",
    "go_duration",
    "go_quote",
    "install",
    "parse_endpoint",
    "parse_flags",
    "parse_go_duration",
    "read_crictl_yaml",
]
