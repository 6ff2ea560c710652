"""Why a scenario failed: runtime regression, infrastructure, or harness error.

A red result is only useful if the reader knows whom to call.  Allure alone separates
"failed" (an ``AssertionError``) from "broken" (anything else, docs/behaviour/protocols.md §3),
which is close but not the question: a runtime that refuses a HostProcess pod raises
:class:`~harness.cri.errors.CriStageError`, which Allure calls broken, yet it is exactly the
regression the suite exists to catch.  So every failure is classified here, the class is
written into the failure's trace as one marker line (``hpc-e2e failure class: <class>``),
and ``categories.json`` matches that line with ``traceRegex``.  The regexes are written to
mean the same in both Allure tools: Allure 2 (Java) matches the *whole* trace
(``String.matches``), Allure 3 (JavaScript ``RegExp.test``) searches it and rejects inline
flags such as ``(?s)`` as an invalid group; so each regex is anchored (``^...$``) and spans
lines with a class of "space or not space" (:data:`_ANY`) instead of ``(?s)`` and ``.``.

The rules, in order (the first that applies wins):

* A test the run's Ctrl-C or SIGTERM cut short (harness/plugin/interrupts.py) ->
  interrupted: its outcome is unknown, so it is neither passed nor any failure's class.
* A limit that expired (harness/plugin/limits.py: the per-test limit, provisioning's own
  deadline; or pytest-timeout's own ``Failed``) -> infrastructure, with the limit and what
  was in flight in the message: the host did not answer in time, whatever was asked.
* An error raised because a repeatable operation ran out of attempts (transient failures
  only, harness/transport/retry.py ``is_exhausted``) -> infrastructure, whatever its type:
  the host never gave an answer; it must neither pass nor read as a regression.
* ``AssertionError`` / ``pytest.fail``: a product check did not hold -> runtime regression.
* ``CriStageError``: the runtime refused a stage the scenario did not expect it to refuse
  (an expected refusal is caught by ``pytest.raises`` and never reaches us) -> runtime
  regression; except when crictl never got an answer (gRPC ``Unavailable`` /
  ``DeadlineExceeded``: containerd is down or too slow), the stage is ``pull`` (a
  registry or network problem) or RunPodSandbox failed because the host could not start
  the utility VM (``hcs::System::Start <id>@vm``) -> infrastructure.
* ``TransportError`` (incl. authentication, host keys), ``CommandTimeout``,
  ``CriExecTimeout`` (a deadline, not an answer), ``RemoteCommandError`` and the Windows
  layer's host errors, ``TransferError``, the plugin's ``LeaseTimeout`` -> infrastructure:
  the host, the way to it, or the host pool failed.
* ``ConfigError``, ``CrictlOutputError`` (crictl printed its help: a wrong command line)
  and every other exception -> harness error, unless it was raised ``from`` an
  infrastructure error or a runtime regression (then that class: a pod the runtime would
  not remove after the test is the runtime's failure, a lost connection the host's).

A runtime regression on a host whose boot time moved during the test is infrastructure as
well: the pods went with the restart (harness/plugin/reporting.py asks
``HpcHost.restarted()`` only in that case).

Other layers can add their own exception types with :func:`register` (the leasing code's
timeout, say), which is checked before the rules above.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from harness.cri.errors import CriExecTimeout, CriStageError, CriUnavailable, CrictlOutputError
from harness.errors import (CommandTimeout, ConfigError, RemoteCommandError, TransferError,
                            TransportError)
from harness.plugin.interrupts import TestInterrupted
from harness.plugin.leasing import LeaseTimeout
from harness.plugin.limits import LimitExpired, is_pytest_timeout
from harness.transport.retry import is_exhausted
from harness.windows.errors import WindowsHostError

RUNTIME_REGRESSION = "runtime regression"
INFRASTRUCTURE = "infrastructure"
HARNESS_ERROR = "harness error"
INTERRUPTED = "interrupted"  # the run was stopped mid-test (harness/plugin/interrupts.py)
SKIPPED = "skipped: prerequisites"
FAILURE_CLASSES = (RUNTIME_REGRESSION, INFRASTRUCTURE, HARNESS_ERROR, INTERRUPTED)

# The line written into a failure's trace (and JUnit text) that categories.json matches.
MARKER = "hpc-e2e failure class: "

# gRPC codes with which crictl reports that it got no answer from the runtime.
_NO_ANSWER_CODES = frozenset({"Unavailable", "DeadlineExceeded"})

# The host could not start a pod's utility VM (HCS's VM start failed or timed out): the
# hypervisor, not an HPC rule; every HPC rule of the shim is checked before the UVM boots
# (docs/behaviour/runtime.md §8.4: refusals surface at runp before the sandbox task).
_UVM_START = re.compile(r"hcs::System::Start \S+@vm\b|failed to (?:create|start) (?:the )?UVM",
                        re.IGNORECASE)

_registered: list[tuple[type[BaseException], str]] = []


def register(exc_type: type[BaseException], failure_class: str) -> None:
    """Classify ``exc_type`` (and subclasses) as ``failure_class`` before the built-in rules."""
    if failure_class not in FAILURE_CLASSES:
        raise ValueError(f"unknown failure class {failure_class!r}; use one of {FAILURE_CLASSES}")
    _registered.insert(0, (exc_type, failure_class))


def marker_line(failure_class: str) -> str:
    return MARKER + failure_class


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the chain of exceptions it was explicitly raised ``from``."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__


def _direct(exc: BaseException) -> str | None:
    """The class the rules give ``exc`` by its own type; None when no rule names it."""
    for exc_type, failure_class in _registered:
        if isinstance(exc, exc_type):
            return failure_class
    if isinstance(exc, TestInterrupted):
        return INTERRUPTED
    if is_exhausted(exc):
        return INFRASTRUCTURE
    if isinstance(exc, LimitExpired) or is_pytest_timeout(exc):
        return INFRASTRUCTURE  # a limit cut it off: the host did not answer in time
    if isinstance(exc, (AssertionError, pytest.fail.Exception)):
        return RUNTIME_REGRESSION
    if isinstance(exc, CriStageError):
        if exc.grpc_code in _NO_ANSWER_CODES or exc.stage == "pull":
            return INFRASTRUCTURE
        if exc.stage == "runp" and _UVM_START.search(exc.runtime_message or ""):
            return INFRASTRUCTURE
        return RUNTIME_REGRESSION
    if isinstance(exc, (TransportError, CommandTimeout, CriExecTimeout, CriUnavailable,
                        RemoteCommandError, TransferError)):
        return INFRASTRUCTURE
    # LeaseTimeout: the host pool is busy, or a lease is held by a stuck worker
    if isinstance(exc, (WindowsHostError, LeaseTimeout)):
        return INFRASTRUCTURE
    if isinstance(exc, (ConfigError, CrictlOutputError)):
        return HARNESS_ERROR
    return None


def classify(excinfo) -> str:
    """The failure class of an exception (or a pytest ``ExceptionInfo``).

    A skip is not a failure; it is answered with :data:`SKIPPED` so callers need no
    special case.
    """
    exc = getattr(excinfo, "value", excinfo)
    if isinstance(exc, pytest.skip.Exception):
        return SKIPPED
    if not isinstance(exc, BaseException):
        return HARNESS_ERROR
    direct = _direct(exc)
    if direct is not None:
        return direct
    for cause in list(_causes(exc))[1:]:
        found = _direct(cause)
        if found in (INFRASTRUCTURE, RUNTIME_REGRESSION):
            return found
    return HARNESS_ERROR


# Any text, newlines included, in Java and JavaScript alike (no inline flags: see above).
_ANY = r"[\s\S]*"


def _trace_regex(failure_class: str) -> str:
    """The marker line anywhere in the trace: a whole-string match and a search agree."""
    escaped = "".join("\\" + c if c in r"\.^$|?*+()[]{}" else c for c in marker_line(failure_class))
    return f"^{_ANY}{escaped}{_ANY}$"


def categories() -> list[dict]:
    """The content of ``categories.json`` (Allure docs: name, matchedStatuses, *Regex)."""
    found = ["failed", "broken"]
    return [
        {"name": RUNTIME_REGRESSION, "matchedStatuses": found,
         "traceRegex": _trace_regex(RUNTIME_REGRESSION),
         "description": "the runtime did something the scenario's reference says it must not"},
        {"name": INFRASTRUCTURE, "matchedStatuses": found,
         "traceRegex": _trace_regex(INFRASTRUCTURE),
         "description": "the host, the connection to it, or a deadline failed"},
        {"name": HARNESS_ERROR, "matchedStatuses": found,
         "traceRegex": _trace_regex(HARNESS_ERROR),
         "description": "the harness itself or its configuration is wrong"},
        {"name": INTERRUPTED, "matchedStatuses": found,
         "traceRegex": _trace_regex(INTERRUPTED),
         "description": "the run was stopped (Ctrl-C, SIGTERM) before this test finished"},
        # An xfail is reported as skipped with a message starting "XFAIL": not a prerequisite.
        {"name": SKIPPED, "matchedStatuses": ["skipped"], "messageRegex": f"^(?!XFAIL){_ANY}$",
         "description": "the host cannot run this case (build, capability, image)"},
    ]


__all__ = ["FAILURE_CLASSES", "HARNESS_ERROR", "INFRASTRUCTURE", "INTERRUPTED", "MARKER", "RUNTIME_REGRESSION",
           "SKIPPED", "categories", "classify", "marker_line", "register"]
