"""Observations: expectations a profile records instead of asserting, never a silent pass.

Each one becomes an Allure step with its value, a log line, a JUnit property and an entry in
the test item's stash (:data:`OBSERVATIONS`).  The running item is known through
:data:`current_item`, which the reporting plugin sets around each test.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import allure
import pytest

from harness.secrets import redact

log = logging.getLogger("harness.plugin.reporting")

OBSERVATIONS = pytest.StashKey[list]()
# The test item running in this thread (set by the reporting plugin's runtest protocol).
current_item: contextvars.ContextVar[Any] = contextvars.ContextVar("hpc_e2e_item", default=None)


def observation(key: str, actual: Any, why: str, *, request=None, item=None) -> None:
    """Record an expectation the profile does not assert: never a silent pass.

    An Allure step "observation: <key>" with the actual value and why it is not asserted,
    a log line, and (when the test is known: ``item``, ``request`` or the running item) a
    JUnit property ``observation:<key>`` plus an entry in ``item.stash[OBSERVATIONS]``.
    """
    shown = actual if isinstance(actual, str) else repr(actual)
    text = redact(f"{key}\nactual: {shown}\nnot asserted because: {why}\n")
    log.debug("observation %s = %s (%s)", key, redact(shown), redact(why))
    try:
        with allure.step(redact(f"observation: {key}")):
            allure.attach(text, name=redact(f"observation: {key}"),
                          attachment_type=allure.attachment_type.TEXT)
    except Exception as exc:  # noqa: BLE001 - a report problem must not fail the scenario
        log.warning("could not attach observation %s: %s", key, exc)
    if item is None:
        item = getattr(request, "node", None) if request is not None else current_item.get()
    if item is not None:
        item.user_properties.append((f"observation:{key}", redact(shown)))
        item.stash.setdefault(OBSERVATIONS, []).append(
            {"key": key, "actual": redact(shown), "why": redact(why)})


__all__ = ["OBSERVATIONS", "current_item", "observation"]
