"""Time limits of a scenario and of provisioning, each with the cause in its message.

The per-test limit is pytest-timeout's ``timeout`` (300 s in pyproject.toml); this module
takes its timer over through pytest-timeout's own hooks (``pytest_timeout_set_timer`` /
``pytest_timeout_cancel_timer``, firstresult, pytest-timeout >= 2.1) so that:

* a scenario cut off by the limit raises :class:`ScenarioTimeout`, classed infrastructure
  (harness/plugin/categories.py), naming the limit, the phase and the remote call that was
  in flight, instead of pytest-timeout's ``Failed`` (which reads as an assertion, a runtime
  regression);
* provisioning (connect, features, restarts, deployment), which happens in the setup of the
  first scenario a worker runs, runs *outside* that limit: :func:`outside_scenario_limit`
  pauses the scenario's timer and arms provisioning's own deadline
  (``--hpc-provision-timeout``), whose expiry raises :class:`ProvisioningTimeout` naming the
  last step provisioning reported (a restart wait, say).  A Windows feature install whose
  restart takes longer than the per-test limit is then no failure at all.

Both exceptions are pytest outcomes (``OutcomeException``, a ``BaseException``, like
``pytest.fail``'s): they are raised from a signal handler into whatever the scenario was
doing, and must not be swallowed by the harness's ``except Exception`` / ``except
HarnessError`` retry and poll loops (the restart wait tolerates every ``HarnessError`` while
it polls); and pytest caches an outcome raised by a session fixture as it caches an error
(a bare ``BaseException`` would break its setup state for the next scenario).

Only the ``signal`` method in the main thread is taken over; pytest-timeout keeps
``thread`` (and a timer in another thread, and every timer on Windows, which has no
SIGALRM: there provisioning is not paused and has no deadline of its own), and its
``Failed`` message is still recognised by the classification.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from _pytest.outcomes import OutcomeException  # pytest.fail's base; TEST_OUTCOME

from harness.plugin.options import SETTINGS
from harness.secrets import redact

log = logging.getLogger("harness.plugin")

DEFAULT_PROVISION_TIMEOUT = 3600.0  # features + restarts + deployment of a real host
# pytest-timeout's message (pytest_timeout.PYTEST_FAILURE_MESSAGE): "Timeout (>300.0s) from
# pytest-timeout."; recognised when pytest-timeout's own timer fired (its thread method).
PYTEST_TIMEOUT_MESSAGE = "from pytest-timeout"


class LimitExpired(OutcomeException):
    """A time limit of the harness expired; the message says which and what was running."""

    def __init__(self, message: str):
        super().__init__(redact(message))
        self.message = message

    def __str__(self) -> str:
        return self.msg or ""

    __repr__ = __str__


class ScenarioTimeout(LimitExpired):
    """A scenario outlived the per-test limit (infrastructure: the host did not answer)."""


class ProvisioningTimeout(LimitExpired):
    """Provisioning outlived its own deadline (infrastructure)."""


class _InFlight:
    """The remote call the process is waiting for (set by the reporting transport)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[int, tuple[str, str, float]] = {}

    @contextlib.contextmanager
    def call(self, host: str, title: str) -> Iterator[None]:
        key = threading.get_ident()
        with self._lock:
            previous = self._calls.get(key)
            self._calls[key] = (host, title, time.monotonic())
        try:
            yield
        finally:
            with self._lock:
                if previous is None:
                    self._calls.pop(key, None)
                else:
                    self._calls[key] = previous

    def describe(self) -> str:
        with self._lock:
            calls = list(self._calls.values())
        if not calls:
            return "no remote call was recorded in flight"
        host, title, started = max(calls, key=lambda c: c[2])
        return (f"waiting {time.monotonic() - started:.1f}s for {host} to answer "
                f"'{title}'")


IN_FLIGHT = _InFlight()


class _Steps:
    """The last progress line of each host's provisioning (for the deadline's message)."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def note(self, host: str, message: str) -> None:
        """``provision_host``'s ``progress``: logged as before, and kept."""
        self._last[host] = str(message).splitlines()[0] if message else ""
        log.info("%s: %s", host, message)

    def last(self, host: str) -> str:
        return self._last.get(host, "")

    def forget(self, host: str) -> None:
        self._last.pop(host, None)


STEPS = _Steps()


class _Timer:
    """One SIGALRM timer at a time: the current scenario's, paused by provisioning's."""

    def __init__(self) -> None:
        self.item = None
        self.limit = 0.0
        self.deadline: float | None = None  # monotonic, while armed
        self.paused_remaining: float | None = None

    def arm(self, seconds: float, handler) -> None:
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))

    @staticmethod
    def disarm() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


TIMER = _Timer()


def _phase(item) -> str:
    when = getattr(item, "_hpc_e2e_phase", None)
    return when or "the test"


def _scenario_expired(signum, frame) -> None:
    item, limit = TIMER.item, TIMER.limit
    TIMER.deadline = None
    name = getattr(item, "nodeid", "the scenario")
    raise ScenarioTimeout(f"{name} was cut off by the per-test limit of {limit:g}s during "
                          f"{_phase(item)}: {IN_FLIGHT.describe()}")


def _in_main_thread() -> bool:
    """Whether this thread can take a SIGALRM timer: the main thread, on a system that has
    SIGALRM (not Windows, where pytest-timeout's thread method and its own timer stay)."""
    return hasattr(signal, "SIGALRM") and \
        threading.current_thread() is threading.main_thread()


class LimitsPlugin:
    """pytest-timeout's timer hooks (registered only when pytest-timeout is loaded)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_timeout_set_timer(self, item, settings):
        if settings.method != "signal" or not _in_main_thread():
            return None  # pytest-timeout's own timer
        TIMER.item, TIMER.limit = item, float(settings.timeout)
        TIMER.deadline = time.monotonic() + TIMER.limit
        TIMER.paused_remaining = None
        TIMER.arm(TIMER.limit, _scenario_expired)
        item.cancel_timeout = self._cancel
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_timeout_cancel_timer(self, item):
        cancel = getattr(item, "cancel_timeout", None)
        if cancel is not None and cancel == self._cancel:
            self._cancel()
            return True
        return None

    @staticmethod
    def _cancel() -> None:
        TIMER.disarm()
        TIMER.item = None
        TIMER.deadline = None
        TIMER.paused_remaining = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item):
        item._hpc_e2e_phase = "setup"
        return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item):
        item._hpc_e2e_phase = "the test"
        return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item, nextitem):
        item._hpc_e2e_phase = "teardown"
        return (yield)


@contextlib.contextmanager
def outside_scenario_limit(host: str, deadline: float | None) -> Iterator[None]:
    """Pause the current scenario's limit; run the body under provisioning's ``deadline``
    (seconds; None: no deadline of its own); resume the scenario's limit afterwards with
    the time it had left."""
    main = _in_main_thread()
    remaining = None
    if main and TIMER.deadline is not None:
        remaining = max(0.001, TIMER.deadline - time.monotonic())
        TIMER.disarm()
        TIMER.deadline = None
    STEPS.forget(host)
    started = time.monotonic()

    def expired(signum, frame) -> None:
        last = STEPS.last(host) or "none reported"
        raise ProvisioningTimeout(
            f"provisioning {host} did not finish within its own deadline of {deadline:g}s "
            f"(--hpc-provision-timeout; it runs outside the per-test limit): "
            f"{IN_FLIGHT.describe()}; last step: {last}")

    try:
        if main and deadline is not None:
            TIMER.arm(deadline, expired)
        yield
    finally:
        if main:
            TIMER.disarm()
        log.info("%s: provisioning took %.1fs, outside the per-test limit", host,
                 time.monotonic() - started)
        if main and remaining is not None and TIMER.item is not None:
            TIMER.deadline = time.monotonic() + remaining
            TIMER.arm(remaining, _scenario_expired)


def is_pytest_timeout(exc: BaseException) -> bool:
    """pytest-timeout's own ``Failed`` (its thread method, or a timer it kept)."""
    return isinstance(exc, pytest.fail.Exception) and \
        str(exc).startswith("Timeout") and PYTEST_TIMEOUT_MESSAGE in str(exc)


def describe_limits(config, provision_timeout: float) -> str:
    """One line for the report: the per-test limit and provisioning's own deadline."""
    try:
        per_test = config.getoption("timeout", None) or config.getini("timeout")
        per_test = float(per_test) if per_test not in (None, "") else 0.0
    except (ValueError, TypeError):  # pytest-timeout not loaded
        per_test = 0.0
    limit = f"per-test limit {per_test:g}s" if per_test > 0 else "no per-test limit"
    return (f"{limit}; provisioning (features, restarts, deployment) runs outside it, "
            f"with its own deadline of {provision_timeout:g}s (--hpc-provision-timeout)")


def pytest_report_header(config) -> str | None:
    settings = config.stash.get(SETTINGS, None)
    # Only in a run of the suite (`hpc-e2e run` names its run; a direct pytest run of the
    # scenarios names an inventory or a run id): the plugin is loaded into every pytest run
    # of the environment and says nothing in other projects' runs.
    if settings is None or (settings.run_id is None and settings.inventory is None):
        return None
    return f"hpc-e2e: {describe_limits(config, settings.provision_timeout)}"


def register(config) -> None:
    """Take pytest-timeout's timer over when pytest-timeout is loaded (idempotent)."""
    manager = config.pluginmanager
    if manager.hasplugin("timeout") and not manager.has_plugin("hpc-e2e-limits"):
        manager.register(LimitsPlugin(), "hpc-e2e-limits")


def pytest_configure(config) -> None:
    register(config)


__all__ = ["DEFAULT_PROVISION_TIMEOUT", "IN_FLIGHT", "LimitExpired", "LimitsPlugin",
           "ProvisioningTimeout", "STEPS", "ScenarioTimeout", "describe_limits",
           "is_pytest_timeout",
           "outside_scenario_limit", "register"]
