"""A ``config.toml``, walked against the keys a containerd release line knows.

containerd does not refuse a key it does not know: 1.7 drops it silently and 2.x drops it
with a warning (docs/behaviour/ecosystem.md §7), so a misspelt or misplaced key only shows up as a
default quietly taking its place on the host.  ``fixtures/containerd-config-keys.json``
holds, per line (1.7, 2.0, ...), the tables and keys containerd's toml struct tags define
for the CRI plugins and the top level, and the runhcs option names (the Go field names
containerd decodes an ``options`` table into); its ``$comment`` cites the sources.

:func:`config_problems` returns every unknown table/key and every value of the wrong
TOML type (a wrong type does stop containerd).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from . import FIXTURES

KEYS_FIXTURE = FIXTURES / "containerd-config-keys.json"


@cache
def containerd_keys() -> dict:
    return json.loads(KEYS_FIXTURE.read_text(encoding="utf-8"))


def release_lines() -> list[str]:
    return list(containerd_keys()["lines"])


def line_of(containerd_version: str) -> str:
    """``1.7.22`` -> ``1.7``; a line missing from the fixture is an error that says so."""
    m = re.match(r"v?(\d+)\.(\d+)", containerd_version)
    line = f"{m.group(1)}.{m.group(2)}" if m else containerd_version
    if line not in containerd_keys()["lines"]:
        raise KeyError(f"{KEYS_FIXTURE.name} has no key list for containerd {line}; read it "
                       f"from that release's toml struct tags and add it")
    return line


def _type_ok(kind: str, value: Any) -> bool:
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    def strings(v):
        return isinstance(v, list) and all(isinstance(x, str) for x in v)

    return {
        "string": lambda v: isinstance(v, str),
        "int": is_int,
        "bool": lambda v: isinstance(v, bool),
        "float": lambda v: is_int(v) or isinstance(v, float),
        "duration": lambda v: isinstance(v, str) or is_int(v),
        "[]string": strings,
        "map[string]string": lambda v: isinstance(v, dict)
        and all(isinstance(x, str) for x in v.values()),
        "map[string][]string": lambda v: isinstance(v, dict) and all(map(strings, v.values())),
        "map[string]any": lambda v: isinstance(v, dict),
        "any": lambda v: True,
    }[kind](value)


def _walk(value: Any, node: Any, path: str, problems: list[str], options: dict) -> None:
    if isinstance(node, dict):
        if not isinstance(value, dict):
            problems.append(f"{path}: must be a table, not {type(value).__name__}")
            return
        for key, sub in value.items():
            where = f"{path}.{_quote(key)}" if path else _quote(key)
            if key in node:
                child = node[key]
            elif "*" in node:
                child = node["*"]
            else:
                problems.append(f"{where}: unknown key")
                continue
            if child == "runtime_options":
                _options(value.get("runtime_type"), sub, where, problems, options)
            else:
                _walk(sub, child, where, problems, options)
        return
    if not _type_ok(node, value):
        problems.append(f"{path}: {value!r} is not of type {node}")


def _options(runtime_type: Any, value: Any, path: str, problems: list[str],
             options: dict) -> None:
    known = options.get(runtime_type) if isinstance(runtime_type, str) else None
    if known is None:
        problems.append(f"{path}: no option list for runtime_type {runtime_type!r} (containerd "
                        "decodes options by the runtime type; set runtime_type)")
        return
    _walk(value, known, path, problems, options)


def _quote(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f"'{key}'"


def config_problems(doc: dict, containerd_version: str) -> list[str]:
    """Every unknown table/key or mistyped value of ``doc`` for ``containerd_version``."""
    spec = containerd_keys()["lines"][line_of(containerd_version)]
    problems = []
    if doc.get("version") != spec["config_version"]:
        problems.append(f"version: containerd {containerd_version} is configured with version "
                        f"{spec['config_version']}, not {doc.get('version')!r}")
    _walk(doc, spec["keys"], "", problems, containerd_keys()["runtime_options"])
    return problems


__all__ = ["config_problems", "containerd_keys", "line_of", "release_lines"]
