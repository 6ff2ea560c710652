"""SIGTERM ends a run the way Ctrl-C does: through KeyboardInterrupt, so teardown runs.

pytest turns SIGINT into KeyboardInterrupt (Python's default handler) and, on it, still
tears down the fixtures and calls ``pytest_sessionfinish``, where the controller sweeps the
run's pods (:mod:`.sweep`).  SIGTERM — what ``kill PID``, a CI runner cancelling a job or a
container stop sends — has no handler in Python or pytest: the process ends at once and
whatever its tests had created stays on the hosts.  This plugin gives SIGTERM the same
path as SIGINT, in the controller and in each xdist worker (a SIGTERM to the process group
reaches both; execnet itself ends a worker with SIGKILL, never SIGTERM, so this does not
slow its shutdown).

Only the first SIGTERM interrupts; later ones are ignored with a log line, so a sender that
repeats its SIGTERM does not cut the clean-up short (SIGKILL still ends the process; then
``hpc-e2e clean`` is what removes the run's pods).  A handler someone else installed is
left alone.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import logging
import signal
import threading

import pytest

log = logging.getLogger("harness.plugin")


class TermAsInterrupt:
    """The SIGTERM handler: the first signal raises KeyboardInterrupt, later ones are noted."""

    def __init__(self) -> None:
        self.received = 0

    def __call__(self, signum: int, frame: object) -> None:
        self.received += 1
        if self.received == 1:
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")
        log.warning("hpc-e2e: %s again while cleaning up; ignored (SIGKILL ends the run, "
                    "then `hpc-e2e clean` removes its pods)", signal.Signals(signum).name)


def install(config: pytest.Config) -> TermAsInterrupt | None:
    """Install the handler for this pytest run (undone at unconfigure); None when the
    process already handles SIGTERM, or when not on the main thread (signal handlers can
    only be set there, e.g. a pytester run in a thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None
    handler = TermAsInterrupt()
    signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    config.add_cleanup(restore)
    return handler


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    install(config)


__all__ = ["TermAsInterrupt", "install"]
