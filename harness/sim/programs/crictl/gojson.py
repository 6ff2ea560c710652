"""Go's ``encoding/json`` decoding into the CRI structs, with Go's matching and type errors.

Configs the harness writes must be read as crictl reads them (case-insensitive keys, unknown
keys such as ``hostProcess`` dropped, Go's first type error), or the sim would accept configs
the real crictl rejects.
"""

from __future__ import annotations

import re
from typing import Any

from harness.sim.programs.crictl.errors import CrictlError
from harness.sim.programs.crictl.schema import _ENUMS, _INT_RANGES, SCHEMA


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
