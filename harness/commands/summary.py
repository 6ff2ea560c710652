"""The end-of-run table of ``hpc-e2e run``: one row per scenario, gathered from pytest's reports.

A pytest plugin object passed to ``pytest.main(plugins=[...])``: it lives in the controller
only (xdist does not ship such objects to workers), which is enough because xdist replays
every worker's reports through the controller's ``pytest_runtest_logreport``.  So the table
reads only what a report carries across processes: node id, phase, outcome, duration and
the crash line of a failure.

A test cut short by Ctrl-C or SIGTERM is ``interrupted`` (harness/plugin/interrupts.py
reports the phase that was cut), never ``passed``; the failure class is the harness's own
(runtime regression, infrastructure, harness error: harness/plugin/categories.py, the JUnit
property ``hpc-e2e.failure-class``), beside the exception's class name.

The isolation mode comes from the parametrization id (``[process]``, ``[hyperv]``, possibly
joined with other ids by ``-``), which is how the scenarios parametrize (docs/internals.md
"The suite").  The failure class is the exception's class name from the crash line, so a
runtime regression (``AssertionError``) reads differently from a harness or host problem.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from harness.plugin.interrupts import is_interrupted
from harness.secrets import redact

ISOLATIONS = ("process", "hyperv")
# Worst first: the row shows the worst phase's outcome.
_RANK = {"error": 0, "failed": 1, "interrupted": 2, "xpassed": 3, "xfailed": 4, "skipped": 5,
         "passed": 6}
ORDER = ("passed", "failed", "error", "interrupted", "skipped", "xfailed", "xpassed")
# Rows the table shows unless all rows are asked for: what needs a reader's attention.
ATTENTION = ("failed", "error", "interrupted", "xpassed")
STYLE = {"passed": "green", "failed": "bold red", "error": "bold red", "interrupted": "magenta",
         "skipped": "yellow", "xfailed": "yellow", "xpassed": "red"}
WIDE = 120  # columns from which the summary is a table rather than a list
CLASS_PROPERTY = "hpc-e2e.failure-class"  # set by harness/plugin/reporting.py


@dataclass
class ScenarioResult:
    nodeid: str
    scenario: str
    isolation: str
    outcome: str = "passed"
    duration: float = 0.0
    failure_class: str = ""  # the harness's class: runtime regression, infrastructure, ...
    exception: str = ""  # the exception's class name
    message: str = ""
    phases: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"nodeid": self.nodeid, "scenario": self.scenario, "isolation": self.isolation,
                "outcome": self.outcome, "duration": round(self.duration, 3),
                "failure_class": self.failure_class, "exception": self.exception,
                "message": self.message}


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """``(scenario, isolation)``: the node id without ``scenarios/`` and the isolation id."""
    path, sep, params = nodeid.partition("[")
    for prefix in ("scenarios/", "scenarios\\"):
        path = path.removeprefix(prefix)
    if not sep:
        return path, ""
    ids = params.removesuffix("]").split("-")
    isolation = next((i for i in ids if i in ISOLATIONS), "")
    rest = [i for i in ids if i != isolation] if isolation else ids
    return (f"{path}[{'-'.join(rest)}]" if rest else path), isolation


def crash_line(report) -> tuple[str, str]:
    """``(exception class, first line of its message)`` of a failed report, or of a skip."""
    longrepr = report.longrepr
    if longrepr is None:
        return "", ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        reason = redact(str(longrepr[2]))
        return "", reason.removeprefix("Skipped: ").splitlines()[0] if reason else ""
    crash = getattr(longrepr, "reprcrash", None)
    # Redacted here: the message reaches the table, --summary-json and CI job pages.
    text = redact(crash.message if crash is not None else str(longrepr))
    first = text.strip().splitlines()[0] if text.strip() else ""
    cls, sep, rest = first.partition(": ")
    if sep and cls and " " not in cls:
        return cls.rsplit(".", 1)[-1], rest.strip()
    if first and " " not in first and first[:1].isupper():  # "AssertionError" alone
        return first.rsplit(".", 1)[-1], ""
    return "", first


class SummaryCollector:
    """pytest hooks that gather one :class:`ScenarioResult` per test (and collection errors)."""

    def __init__(self) -> None:
        self.results: dict[str, ScenarioResult] = {}
        self.started = time.monotonic()
        self.finished: float | None = None
        self.exitstatus: int | None = None
        self.interrupted = False

    # --- hooks ------------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report) -> None:
        scenario, isolation = split_nodeid(report.nodeid)
        row = self.results.setdefault(report.nodeid,
                                      ScenarioResult(report.nodeid, scenario, isolation))
        row.duration += float(getattr(report, "duration", 0.0) or 0.0)
        outcome = _phase_outcome(report)
        row.phases[report.when] = outcome
        if _RANK[outcome] < _RANK[row.outcome]:  # the worst phase speaks for the scenario
            row.outcome = outcome
            cls, message = crash_line(report)
            if outcome == "xfailed":  # the reason it is expected matters more than the crash
                cls, message = "", str(getattr(report, "wasxfail", "") or message)
            row.exception, row.message = cls, message
        harness_class = dict(getattr(report, "user_properties", ()) or ()).get(CLASS_PROPERTY)
        if harness_class and not row.failure_class:
            row.failure_class = str(harness_class)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            scenario, isolation = split_nodeid(report.nodeid or "(collection)")
            cls, message = crash_line(report)
            self.results[report.nodeid] = ScenarioResult(
                report.nodeid, scenario, isolation, outcome="error", exception=cls,
                message=message or "collection failed", phases={"collect": "error"})

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        # pytest ends a run that had collection errors, or hit -x/--maxfail, with its own
        # Session.Interrupted (a KeyboardInterrupt): that is not a user's interrupt.
        if not isinstance(excinfo.value, pytest.Session.Interrupted):
            self.interrupted = True

    def pytest_sessionfinish(self, session, exitstatus) -> None:
        self.finished = time.monotonic()
        self.exitstatus = int(exitstatus)

    # --- reading ----------------------------------------------------------------------------
    @property
    def rows(self) -> list[ScenarioResult]:
        return list(self.results.values())

    def totals(self) -> dict[str, int]:
        """Every outcome's count, zeros included (a CI script reads a key without guessing)."""
        counts = Counter(r.outcome for r in self.results.values())
        return {outcome: counts[outcome] for outcome in ORDER}

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def totals_line(self) -> str:
        counts = self.totals()
        parts = [f"{counts[o]} {'errors' if o == 'error' and counts[o] > 1 else o}"
                 for o in ORDER if counts[o]]
        if not parts:
            parts = ["no scenarios ran"]
        line = f"{', '.join(parts)} in {self.elapsed:.1f}s"
        return f"run interrupted: {line}" if self.interrupted else line

    def to_dict(self) -> dict:
        return {"totals": self.totals(), "elapsed": round(self.elapsed, 3),
                "exit_code": self.exitstatus, "interrupted": self.interrupted,
                "scenarios": [r.to_dict() for r in self.rows]}

    def render(self, console, *, title: str = "hpc-e2e scenarios", all_rows: bool = False
               ) -> None:
        """The rows that need attention (every row with ``all_rows``) and the totals line:
        a table on a wide terminal, a list on a narrow one (a five-column table folds every
        cell mid-word at 80 columns)."""
        rows = [r for r in self.rows if all_rows or r.outcome in ATTENTION]
        if not all_rows and rows:
            title = f"{title}: failures"
        if rows and console.width >= WIDE:
            console.print(self._table(rows, title))
        elif rows:
            self._list(console, rows, title)
        console.print(self.totals_line())

    @staticmethod
    def _failure(row: ScenarioResult) -> str:
        if row.outcome == "interrupted":
            return row.message
        text = ": ".join(x for x in (row.exception, row.message) if x)
        return f"({row.failure_class}) {text}" if row.failure_class else text

    def _table(self, rows: list[ScenarioResult], title: str):
        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("scenario", overflow="fold", ratio=3)
        table.add_column("isolation", no_wrap=True)
        table.add_column("outcome", no_wrap=True)
        table.add_column("duration", justify="right", no_wrap=True)
        table.add_column("failure", overflow="fold", ratio=2)
        for row in rows:  # node ids and messages hold [brackets]: not rich markup
            table.add_row(escape(row.scenario), row.isolation or "-",
                          f"[{STYLE[row.outcome]}]{row.outcome}[/]", f"{row.duration:.2f}s",
                          escape(_clip(self._failure(row), 160)))
        return table

    def _list(self, console, rows: list[ScenarioResult], title: str) -> None:
        """One block per row: outcome and scenario; isolation, duration and class; the
        message, indented under the scenario."""
        console.print(Text(title, style="italic"))
        for row in rows:
            head = Text(f"{row.outcome.upper():<8}", style=STYLE[row.outcome])
            head.append(row.scenario)
            console.print(head, overflow="fold")
            facts = [row.isolation or "-", f"{row.duration:.2f}s"]
            if row.failure_class and row.outcome != "interrupted":
                facts.append(row.failure_class)
            message = row.message if row.outcome == "interrupted" else \
                ": ".join(x for x in (row.exception, row.message) if x)
            body = Text(", ".join(facts), style="dim")
            if message:
                body.append("\n" + _clip(message, 400), style="default")
            console.print(Padding(body, (0, 0, 0, 8)))


def _phase_outcome(report) -> str:
    if is_interrupted(report):
        return "interrupted"
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return "xfailed"
        if report.passed:
            return "xpassed"
    if report.passed:
        return "passed"
    if report.skipped:
        return "skipped"
    return "failed" if report.when == "call" else "error"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


__all__ = ["ISOLATIONS", "ScenarioResult", "SummaryCollector", "crash_line", "split_nodeid"]
