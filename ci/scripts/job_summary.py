"""A short Markdown summary of ``hpc-e2e run --summary-json`` files for a CI job page.

GitHub shows Markdown appended to ``$GITHUB_STEP_SUMMARY``; Azure Pipelines shows a file
handed to ``##vso[task.uploadsummary]``.  One file gives one group's totals and the
scenarios that did not pass; several (``NAME=PATH``, the merge job) give one row per host
group, then the failures of all of them, so a fleet of runners reads as one run.

The summary step must never fail a job (the run step already said whether the suite
passed): a missing or unreadable file becomes a line saying so, and the exit code is 0
unless the command line itself is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
NOT_PASSED = ("error", "failed", "xpassed")  # worst first; skips are counted, not listed
MAX_ROWS = 50
MAX_MESSAGE = 200


def md(text: object) -> str:
    """Text safe inside a Markdown table cell (no pipes, newlines or HTML)."""
    value = " ".join(str(text).split())
    value = value.replace("\\", "\\\\").replace("|", "\\|")
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value if len(value) <= MAX_MESSAGE else value[:MAX_MESSAGE - 1] + "…"


def load(path: Path) -> tuple[dict | None, str]:
    """``(summary, problem)``: the parsed file, or why there is none."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return None, f"no {path}: the suite did not run (see the job log)"
    except (OSError, ValueError) as exc:
        return None, f"cannot read {path}: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        return None, f"{path} is not an `hpc-e2e run --summary-json` file"
    return data, ""


def totals(data: dict) -> Counter:
    counts = Counter({k: int(v) for k, v in (data.get("totals") or {}).items()})
    if not counts:
        counts = Counter(str(s.get("outcome", "")) for s in data["scenarios"])
    return counts


def totals_line(data: dict) -> str:
    counts = totals(data)
    parts = [f"{counts[o]} {o}" for o in OUTCOMES if counts[o]] or ["no scenarios ran"]
    return f"{', '.join(parts)} in {float(data.get('elapsed') or 0):.0f}s"


def verdict(data: dict | None) -> str:
    if data is None:
        return ":grey_question: no result"
    counts = totals(data)
    bad = any(counts[o] for o in NOT_PASSED) or data.get("exit_code") not in (0, None)
    return ":x: failed" if bad else ":white_check_mark: passed"


def failures(named: list[tuple[str, dict]]) -> list[str]:
    """Table rows of every scenario that did not pass, worst first, at most MAX_ROWS."""
    rows = []
    for name, data in named:
        for s in data["scenarios"]:
            outcome = str(s.get("outcome", ""))
            if outcome in NOT_PASSED:
                failure = ": ".join(x for x in (s.get("failure_class"), s.get("message")) if x)
                rows.append((NOT_PASSED.index(outcome), name, s, outcome, failure))
    rows.sort(key=lambda r: (r[0], r[1], str(r[2].get("nodeid", ""))))
    lines = [f"| {md(name)} | {md(s.get('scenario', s.get('nodeid', '?')))} | "
             f"{md(s.get('isolation') or '-')} | {outcome} | {md(failure)} |"
             for _, name, s, outcome, failure in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"| | … and {len(rows) - MAX_ROWS} more (see the Allure report) | | | |")
    return lines


def render(named: list[tuple[str, Path]], *, title: str) -> str:
    loaded = [(name, *load(path)) for name, path in named]
    out = [f"### {md(title)}", ""]
    if len(loaded) == 1:
        name, data, problem = loaded[0]
        if data is None:
            return "\n".join(out + [problem, ""])
        out.append(f"{verdict(data)}: {totals_line(data)}; run id `{md(data.get('run_id', '?'))}`")
    else:
        out += ["| host group | result | scenarios | run id |", "| --- | --- | --- | --- |"]
        for name, data, problem in loaded:
            if data is None:
                out.append(f"| {md(name)} | {verdict(None)} | {md(problem)} | |")
            else:
                out.append(f"| {md(name)} | {verdict(data)} | {md(totals_line(data))} | "
                           f"`{md(data.get('run_id', '?'))}` |")
    rows = failures([(name, data) for name, data, _ in loaded if data is not None])
    if rows:
        out += ["", "| host group | scenario | isolation | outcome | failure |",
                "| --- | --- | --- | --- | --- |", *rows]
    out.append("")
    return "\n".join(out)


def _named(item: str) -> tuple[str, Path]:
    """``NAME=PATH``, or a bare path named after its folder."""
    name, sep, path = item.partition("=")
    if sep and name and "/" not in name and "\\" not in name:
        return name, Path(path)
    return Path(item).resolve().parent.name, Path(item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summaries", nargs="+", metavar="[NAME=]SUMMARY.json",
                        help="summary files; NAME labels the host group (default: the "
                             "file's folder)")
    parser.add_argument("--title", default="hpc-e2e", help="heading of the summary")
    parser.add_argument("--append", type=Path, metavar="FILE",
                        help="append to FILE (e.g. $GITHUB_STEP_SUMMARY) instead of printing")
    args = parser.parse_args(argv)
    text = render([_named(s) for s in args.summaries], title=args.title)
    if args.append is not None:
        with open(args.append, "a", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
