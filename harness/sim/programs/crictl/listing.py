"""The client-side filtering crictl applies to pod and container lists (labels, regex, latest).

``pods``/``inspectp`` and ``ps``/``inspect``/``exec`` share these rules, including the
``log.Fatalf`` exit on a bad ``--state``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from harness.sim.programs.crictl.errors import CrictlError, _Done
from harness.sim.programs.crictl.invocation import CrictlInvocation


def _go_log_fatal(app: CrictlInvocation, text: str) -> None:
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
