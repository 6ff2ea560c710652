"""A test cut short by Ctrl-C or SIGTERM is reported as interrupted, never as passed.

pytest re-raises KeyboardInterrupt out of the phase it interrupts without making that
phase's report (``_pytest.runner.call_and_report`` passes KeyboardInterrupt in ``reraise``).
What was reported before it — usually a passed set-up — is then all that the terminal,
JUnit, allure-pytest and the run's summary table know of the test, so each of them showed
the interrupted test as "passed 0.00s".

This plugin wraps the test protocol innermost of the wrappers (``trylast``), so it sees the
KeyboardInterrupt before allure-pytest's wrapper closes the test's result.  It makes the
missing phase's report through the ordinary hooks — ``pytest_runtest_makereport`` (where
allure-pytest sets the status) and ``pytest_runtest_logreport`` (the terminal, JUnit, the
summary) — from a :class:`TestInterrupted` error, marks it ``interrupted`` and lets the
KeyboardInterrupt go on, so pytest still tears down and ends with exit code 2.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import pytest
from _pytest.runner import CallInfo

PHASES = ("setup", "call", "teardown")
# A report attribute (xdist carries report attributes to the controller): the summary
# table reads it to show "interrupted" rather than "failed".
MARK = "hpc_e2e_interrupted"


class TestInterrupted(Exception):
    """The phase named in the message was cut short; its outcome is unknown."""

    __test__ = False  # not a test class, despite its name


class InterruptReporter:
    """Remembers which phases of the running test were reported, and reports the one cut."""

    def __init__(self) -> None:
        self.reported: dict[str, dict[str, bool]] = {}  # node id -> {phase: passed}

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reported.setdefault(report.nodeid, {})[report.when] = report.passed

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        self.reported.pop(item.nodeid, None)
        try:
            return (yield)
        except KeyboardInterrupt as exc:
            self.report_cut(item, str(exc) or "Ctrl-C")
            raise
        finally:
            self.reported.pop(item.nodeid, None)

    def report_cut(self, item: pytest.Item, why: str) -> None:
        done = self.reported.get(item.nodeid, {})
        if done.get("setup") is False:  # a failed or skipped set-up: no call phase
            done = done | {"call": False}
        when = next((p for p in PHASES if p not in done), None)
        if when is None:  # every phase was reported: the interrupt came after the test
            return

        def interrupted() -> None:
            raise TestInterrupted(f"interrupted ({why}) during {when}: the run was stopped "
                                  "before this test finished, so its outcome is unknown")

        call = CallInfo.from_call(interrupted, when=when)  # type: ignore[arg-type]
        report = item.ihook.pytest_runtest_makereport(item=item, call=call)
        setattr(report, MARK, True)
        item.ihook.pytest_runtest_logreport(report=report)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(InterruptReporter(), "hpc-e2e-interrupts")


def is_interrupted(report) -> bool:
    """Whether a report (also one replayed from an xdist worker) is an interruption's."""
    return bool(getattr(report, MARK, False))


__all__ = ["MARK", "TestInterrupted", "is_interrupted"]
