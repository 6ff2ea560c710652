"""``hpc-e2e clean``: remove what earlier runs left on the hosts, and nothing else.

The cleanup itself (by the run-id label, never touching a pod without it) is
:mod:`harness.cri.cleanup`, shared with the plugin's end-of-run sweep; this verb parses the
options, picks the hosts and prints what was done.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta

from rich.markup import escape
from rich.table import Table

from harness.commands import console
from harness.cri.cleanup import RUN_FOLDER, HostClean, clean_host
from harness.errors import ConfigError
from harness.hosts import per_host, select_hosts
from harness.runtime.layout import runtime_layout

MAX_AGE = timedelta(days=100 * 365)  # older than any host's clock can make a pod look
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``1d``, ``1h30m``... (units s, m, h, d, w)."""
    value = str(text).strip().lower()
    pos, seconds = 0, 0.0
    for m in _PART.finditer(value):
        if m.start() != pos:
            break
        seconds += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not value or pos != len(value):
        raise ConfigError(f"--older-than: {text!r} is not a duration",
                          hint="a number and a unit, e.g. 30m, 2h, 1d, 1h30m "
                               "(units: s, m, h, d, w)")
    if seconds > MAX_AGE.total_seconds():
        raise ConfigError(f"--older-than: {text!r} is more than {MAX_AGE.days} days",
                          hint="nothing on a host is that old; give a shorter duration")
    return timedelta(seconds=seconds)


def render(results: list[HostClean], console, *, dry_run: bool) -> None:
    rows = [(r.host, p) for r in results for p in r.pods]
    if rows:
        table = Table(title="pods" + (" (dry run)" if dry_run else ""), title_justify="left")
        for col in ("host", "pod", "name", "run id", "created", "containers", "action"):
            table.add_column(col, justify="right" if col == "containers" else "left")
        for host, p in rows:
            action = p.action + (f": {p.error}" if p.error else "")
            table.add_row(escape(host), p.pod_id[:13], escape(f"{p.namespace}/{p.name}"),
                          escape(p.run_id),
                          p.created_at.strftime("%Y-%m-%d %H:%M:%S") if p.created_at else "?",
                          str(p.containers), escape(action))
        console.print(table)
    for r in results:
        for f in r.folders:
            console.print(escape(f"{r.host}: {f['action']} {f['path']}"
                                 + (f": {f['error']}" if f["error"] else "")))
        if r.error is not None:
            console.print(f"[bold red]{escape(f'{r.host}: {r.error}')}[/]")
    verb = "would remove" if dry_run else "removed"
    pods = [p for _, p in rows if p.action in ("removed", "would remove")]
    folders = sum(1 for r in results for f in r.folders if f["action"] != "failed")
    kept = sum(r.kept for r in results)
    console.print(f"{verb} {len(pods)} pod(s) with {sum(p.containers for p in pods)} "
                  f"container(s) and {folders} run folder(s) on {len(results)} host(s)"
                  + (f"; kept {kept} labelled pod(s) outside the selection" if kept else ""))


def command(args: argparse.Namespace) -> int:
    """``hpc-e2e clean``."""
    older = parse_duration(args.older_than) if args.older_than is not None else None
    if args.run_id is not None and not RUN_FOLDER.match(args.run_id):
        raise ConfigError(f"--run-id: {args.run_id!r} is not a run id",
                          hint="run ids are label values: letters, digits, '.', '_', '-'")
    layout = runtime_layout(args.bundle)
    with select_hosts(inventory=args.inventory, hosts=args.host,
                      sim_state_dir=args.sim_state_dir, start_sim=False) as selection:
        now = datetime.now(UTC)
        results = per_host(selection.targets, lambda t: clean_host(
            t, layout, run_id=args.run_id, older_than=older, dry_run=args.dry_run, now=now))
        notes = selection.notes
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "notes": notes,
                          "hosts": [r.to_dict() for r in results]}, indent=2))
    else:
        for note in notes:
            print(f"nothing to clean: {note}")
        if results:
            render(results, console(), dry_run=args.dry_run)
    failed = [r for r in results if r.failed]
    for r in failed:
        if r.error is not None:
            print(f"error: {r.host}: {r.error}", file=sys.stderr)
    if not failed:
        return 0
    first = next((r.error for r in failed if r.error is not None), None)
    return first.exit_code if first is not None else 70


__all__ = ["command", "parse_duration", "render"]
