"""What the CRI layer tells a report, as a protocol: the report is a layer above.

A crictl batch (:mod:`harness.cri.batch`) is one remote call that runs several crictl steps
on the host.  The transport's own report shows that one call; a reader wants each crictl
step as if it had been a call of its own.  So the CRI client is *given* a
:class:`CriReporter` (the test plugin passes its reporting transport, harness/plugin/host.py)
and tells it what the host did; by default nothing is told (:data:`NO_REPORTER`).  The CRI
layer never looks for hooks on the objects it is handed.

Calls made one at a time need nothing from here: each goes through the transport, which the
report already wraps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol, runtime_checkable


class ReportedStep(NamedTuple):
    """One crictl step a batch ran (or did not run) on the host."""

    command_line: str
    transcript: str  # command, exit code, output and times, as a single call's transcript
    exit_code: int | None  # None: not run, an earlier step of its group failed


@runtime_checkable
class CriReporter(Protocol):
    """Where a batch's steps go in the report."""

    def report_group(self, title: str) -> AbstractContextManager[None]:
        """Around one remote call that runs several crictl steps (``title`` names them):
        the call's own report and :meth:`report_substeps` go inside it."""
        ...

    def report_substeps(self, entries: Sequence[ReportedStep]) -> None:
        """One report entry per step the remote call ran on the host; makes no remote call."""
        ...


class NoReporter:
    """Tells nobody anything (a client outside a test run: doctor, clean, bench)."""

    @contextlib.contextmanager
    def report_group(self, title: str) -> Iterator[None]:
        yield

    def report_substeps(self, entries: Sequence[ReportedStep]) -> None:
        return None


NO_REPORTER: CriReporter = NoReporter()

__all__ = ["NO_REPORTER", "CriReporter", "NoReporter", "ReportedStep"]
