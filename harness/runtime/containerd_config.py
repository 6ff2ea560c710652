"""containerd's ``config.toml`` and crictl's ``crictl.yaml`` as the harness deploys them.

Both files are rendered deterministically (same inputs → same bytes), so their SHA-256 tells
whether a host already has them and a second deployment changes nothing.

What the config must say, and why:

* ``version`` always: a file without it is read as version 1 and containerd 1.7 then ignores
  the CRI section entirely (docs/behaviour/ecosystem.md §7 "Pitfalls").  Version 2 for containerd 1.x
  (plugin ``io.containerd.grpc.v1.cri``), version 3 for 2.x (plugins
  ``io.containerd.cri.v1.runtime`` / ``io.containerd.cri.v1.images``) (§2.3;
  docs/behaviour/runtime.md §4.3).
* Both handlers, ``runhcs-wcow-process`` and ``runhcs-wcow-hypervisor``, with the default
  name among them: a version 2 file *replaces* 1.7's built-in handlers (§7 "Pitfalls").
* ``microsoft.com/*`` in pod **and** container annotation allowlists of **both** handlers,
  or ``hostprocess-inherit-user`` and ``hostprocess-rootfs-location`` are silently dropped
  (docs/behaviour/runtime.md §4.3, §8.2).  The built-in lists are kept beside it.
* runhcs options by their Go field names (``SandboxIsolation``, ``SandboxPlatform``), read
  only with ``runtime_type = "io.containerd.runhcs.v1"`` (§7 "Pitfalls", §2.3);
  ``SandboxIsolation = 1`` (HYPERVISOR) only on the hypervisor handler.
* The sandbox (pause) image chosen for the host build (:mod:`.sandbox_image`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from harness.runtime.layout import RuntimeLayout

PROCESS_HANDLER = "runhcs-wcow-process"
HYPERVISOR_HANDLER = "runhcs-wcow-hypervisor"
HANDLERS = (PROCESS_HANDLER, HYPERVISOR_HANDLER)
# The suite's isolation names (the ``isolation`` marker) -> the handler a pod asks for.
HANDLER_FOR_ISOLATION = {"process": PROCESS_HANDLER, "hyperv": HYPERVISOR_HANDLER}
RUNTIME_TYPE = "io.containerd.runhcs.v1"
HPC_ANNOTATIONS = "microsoft.com/*"
SANDBOX_PLATFORM = "windows/amd64"
# crictl's per-RPC timeout; a hypervisor pod boots a UVM first, and RunPodSandbox gets 2x
# this (docs/behaviour/ecosystem.md §0.6, §3.1).
CRICTL_TIMEOUT_SECONDS = 300

# Plugin table names by config version (docs/behaviour/ecosystem.md §2.3, docs/behaviour/runtime.md §4.3).
_V2_CRI = "io.containerd.grpc.v1.cri"
_V3_RUNTIME = "io.containerd.cri.v1.runtime"
_V3_IMAGES = "io.containerd.cri.v1.images"


@dataclass(frozen=True)
class ContainerdConfig:
    version: int  # 2 or 3
    layout: RuntimeLayout
    sandbox_image: str
    # The containerd release the file is for (``2.0.4``): 2.0 knows only ``cni.bin_dir``.
    # None means 2.1 or later for a version 3 file.
    containerd_version: str | None = None

    def document(self) -> dict[str, Any]:
        """The config as nested dicts (what :func:`dumps` writes and ``tomllib`` reads back)."""
        if self.version not in (2, 3):
            raise ValueError(f"containerd config version must be 2 or 3, not {self.version}")
        lay = self.layout
        handlers = {name: _handler(name) for name in HANDLERS}
        cri_containerd = {"default_runtime_name": PROCESS_HANDLER, "runtimes": handlers}
        doc: dict[str, Any] = {
            "version": self.version,
            "root": lay.root,
            "state": lay.state,
            "grpc": {"address": lay.pipe},
        }
        if self.version == 2:
            doc["plugins"] = {_V2_CRI: {
                "sandbox_image": self.sandbox_image,
                "containerd": cri_containerd,
                "cni": {"bin_dir": lay.cni_bin_dir, "conf_dir": lay.cni_conf_dir},
            }}
        else:
            doc["plugins"] = {
                _V3_IMAGES: {"pinned_images": {"sandbox": self.sandbox_image}},
                _V3_RUNTIME: {
                    "containerd": cri_containerd,
                    "cni": {**self._cni_bin(), "conf_dir": lay.cni_conf_dir},
                },
            }
        return doc

    def _cni_bin(self) -> dict[str, Any]:
        """containerd 2.0's CNI table has only ``bin_dir``; 2.1 added ``bin_dirs`` and deprecated
        ``bin_dir`` (``internal/cri/config/config.go`` CniConfig toml tags at v2.0.x / v2.1.0;
        fixtures/containerd-config-keys.json).  A key a release does not know is dropped with
        a warning, and containerd falls back to its default CNI folder."""
        if self.containerd_version is not None and \
                _release(self.containerd_version) < (2, 1):
            return {"bin_dir": self.layout.cni_bin_dir}
        return {"bin_dirs": [self.layout.cni_bin_dir]}

    def render(self) -> str:
        header = ("# Written by hpc-e2e; changes are overwritten on the next deployment.\n"
                  f"# containerd config version {self.version}; sandbox image "
                  f"{self.sandbox_image}\n")
        # containerd 2.x writes single-quoted keys, 1.x double-quoted: follow each.
        return header + dumps(self.document(), key_quote="'" if self.version == 3 else '"')

    @property
    def sha256(self) -> str:
        return sha256_text(self.render())


def _release(version: str) -> tuple[int, int]:
    m = re.match(r"v?(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"containerd version {version!r} is not <major>.<minor>[.<patch>]")
    return int(m.group(1)), int(m.group(2))


def _handler(name: str) -> dict[str, Any]:
    # Built-in allowlists (docs/behaviour/ecosystem.md §2.3) plus microsoft.com/* on both handlers.
    hypervisor = name == HYPERVISOR_HANDLER
    options: dict[str, Any] = {"SandboxPlatform": SANDBOX_PLATFORM}
    if hypervisor:
        options["SandboxIsolation"] = 1
        options["ScaleCpuLimitsToSandbox"] = True
    options["ScrubLogs"] = True
    return {
        "runtime_type": RUNTIME_TYPE,
        "pod_annotations": [HPC_ANNOTATIONS] + (["io.microsoft.virtualmachine.*"] if hypervisor else []),
        "container_annotations": [HPC_ANNOTATIONS, "io.microsoft.container.*"],
        "options": options,
    }


def render_crictl_yaml(layout: RuntimeLayout, timeout: int = CRICTL_TIMEOUT_SECONDS) -> str:
    """crictl.yaml (docs/behaviour/ecosystem.md §3.1) with a timeout long enough for a UVM to boot."""
    return (
        "# Written by hpc-e2e; pass it to crictl with --config.\n"
        f"runtime-endpoint: {layout.endpoint}\n"
        f"image-endpoint: {layout.endpoint}\n"
        f"timeout: {int(timeout)}\n"
        "debug: false\n"
        "pull-image-on-create: false\n"
    )


def sha256_text(text: str) -> str:
    """Hash of a text file as deployed: UTF-8, CRLF line endings (what Windows tools expect)."""
    return hashlib.sha256(to_wire(text)).hexdigest()


def to_wire(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


# --- a small TOML writer --------------------------------------------------------------------
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch: "$" would accept a trailing newline


def dumps(doc: dict[str, Any], *, key_quote: str = '"') -> str:
    """TOML for nested dicts of str/int/bool/list[str|int]: scalars first, then sub-tables.

    Windows paths are written as literal strings ('C:\\x'), so no backslash is doubled.
    """
    if key_quote not in ("'", '"'):
        raise ValueError("key_quote must be ' or \"")
    out: list[str] = []
    _emit_table(doc, [], out, key_quote)
    return "\n".join(out).strip("\n") + "\n"


def _emit_table(table: dict[str, Any], path: list[str], out: list[str], q: str) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict)]
    if path and (scalars or not tables):
        out.append("")
        out.append("[" + ".".join(_key(p, q) for p in path) + "]")
    for key, value in scalars:
        out.append(f"{_key(key, q)} = {_value(value)}")
    for key, value in tables:
        _emit_table(value, path + [key], out, q)


def _key(key: str, q: str) -> str:
    if _BARE_KEY.fullmatch(key):
        return key
    if q == "'" and _literal_ok(key):
        return f"'{key}'"
    return _basic_string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _literal_ok(value):
            return f"'{value}'"
        return _basic_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def _literal_ok(text: str) -> bool:
    return "'" not in text and not any(ord(c) < 0x20 or c == "\x7f" for c in text)


def _basic_string(text: str) -> str:
    out = []
    for c in text:
        if c in ('"', "\\"):
            out.append("\\" + c)
        elif ord(c) < 0x20 or c == "\x7f":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c, f"\\u{ord(c):04x}"))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


__all__ = [
    "CRICTL_TIMEOUT_SECONDS",
    "HANDLERS",
    "HPC_ANNOTATIONS",
    "HANDLER_FOR_ISOLATION",
    "HYPERVISOR_HANDLER",
    "PROCESS_HANDLER",
    "ContainerdConfig",
    "dumps",
    "render_crictl_yaml",
    "sha256_text",
    "to_wire",
]
