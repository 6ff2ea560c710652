"""Calls made while the host is expected not to answer, such as the polls of a restart's wait.

A restart is waited for by polling until the host answers with a new boot time; until then
every poll fails with a connection refused, reset or timed out, which is exactly what a
restarting host looks like (docs/behaviour/ecosystem.md §4.5).  The code that waits says so
with :func:`expected_outage`; whoever records remote calls (the report's transcripts) asks
:func:`outage_reason` and shows such a failure as a wait, not as an error with a hint about
firewalls.  The failure itself still reaches the caller unchanged: only its presentation
depends on this.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_REASON: ContextVar[str | None] = ContextVar("hpc_e2e_expected_outage", default=None)


@contextlib.contextmanager
def expected_outage(reason: str) -> Iterator[None]:
    """Within this block the host is expected not to answer, because ``reason``."""
    token = _REASON.set(reason)
    try:
        yield
    finally:
        _REASON.reset(token)


def outage_reason() -> str | None:
    """Why the host is expected not to answer now, or None when it should answer."""
    return _REASON.get()


__all__ = ["expected_outage", "outage_reason"]
