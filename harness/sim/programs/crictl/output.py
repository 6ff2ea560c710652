"""How crictl prints results: Go-map JSON, protojson and tabwriter tables.

The harness parses crictl's stdout, so the encoders that shape it (key order, HTML escaping,
column widths) are kept together, apart from the commands that choose what to print.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.sim.programs.crictl.errors import CrictlError, Unmodelled
from harness.sim.programs.crictl.goformat import go_quote
from harness.sim.programs.crictl.invocation import CrictlInvocation

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


def _output_status_data(app: CrictlInvocation, statuses: list[dict], fmt: str) -> None:
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
