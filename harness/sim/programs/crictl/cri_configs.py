"""The pod and container config files that ``runp`` and ``create`` read.

crictl validates a config's metadata after decoding it (and the rules changed in 1.34); this
module holds that file-to-struct step so the commands only see a checked config.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from harness.sim.programs.crictl.errors import CrictlError, Unmodelled
from harness.sim.programs.crictl.goformat import go_quote
from harness.sim.programs.crictl.gojson import _Num, _strip_none, decode_struct
from harness.sim.programs.crictl.invocation import CrictlInvocation


def read_json_config(app: CrictlInvocation, path: str, message: str) -> dict:
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


def load_pod_config(app: CrictlInvocation, path: str) -> dict:
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


def load_container_config(app: CrictlInvocation, path: str) -> dict:
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
