"""The run's files in ``--alluredir``: ``environment.properties`` and ``categories.json``.

allure-pytest writes neither (docs/behaviour/protocols.md §3); the reporting plugin writes both
on the controller once, after the xdist workers are done.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from harness.plugin import categories as _categories
from harness.plugin.environment import environment


def _escape_property(text: str, *, key: bool) -> str:
    """java.util.Properties text: ISO-8859-1 with \\uXXXX escapes (Allure reads it so)."""
    out = []
    for i, ch in enumerate(text):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}[ch])
        elif (key and ch in " =:#!") or (not key and i == 0 and ch in " #!"):
            out.append("\\" + ch)
        elif code < 0x20 or code > 0x7E:
            encoded = ch.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(encoded[j:j + 2], 'big'):04x}"
                       for j in range(0, len(encoded), 2))
        else:
            out.append(ch)
    return "".join(out)


def render_properties(values: Mapping[str, str]) -> str:
    return "".join(f"{_escape_property(k, key=True)}={_escape_property(v, key=False)}\n"
                   for k, v in values.items())


def _write_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding=encoding)
    os.replace(tmp, path)


def write_run_files(config) -> list[Path]:
    """``environment.properties`` and ``categories.json`` into ``--alluredir``; the paths."""
    alluredir = getattr(config.option, "allure_report_dir", None)
    if not alluredir:
        return []
    folder = Path(alluredir).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    env_path = folder / "environment.properties"
    _write_atomic(env_path, render_properties(environment(config)), encoding="ascii")
    cat_path = folder / "categories.json"
    _write_atomic(cat_path, json.dumps(_categories.categories(), indent=2) + "\n")
    return [env_path, cat_path]


__all__ = ["render_properties", "write_run_files"]
