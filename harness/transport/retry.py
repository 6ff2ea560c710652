"""Bounded, jittered retries for operations that are safe to repeat — and only for those.

A host that drops a connection, loses a shell or restarts containerd has not answered the
question the harness asked; asking again is right when the operation is *repeatable* (a
read, an upload to a temporary name, a removal that "not found" completes).  It is wrong
for anything else: a command that may have started must be reconciled by looking at the
host (``harness.cri.crictl`` does that for runp/create/start), never blindly repeated.
And a failure that carries the host's answer (an exit code, a WS-Man quota fault, a gRPC
status other than Unavailable) is never retried: the answer would only be repeated, or a
regression retried away.

Which errors are *transient* is decided where they are made: a transport marks the
:class:`~harness.errors.TransportError` it raises with :func:`mark_transient` when the
underlying failure was a connection reset/refusal, a shell the host forgot, a busy or
internal-error fault.  :func:`is_transient` reads that mark.

Delays use "full jitter": attempt *n* waits a uniform random time in ``[0, min(max_delay,
base_delay * 2**n))``, so clients that failed together do not come back together, and no
wait exceeds ``max_delay``.  Every retry is logged at INFO with what failed and the attempt
number.  When the attempts are used up the *last error* is raised unchanged (its type is
what :mod:`harness.plugin.categories` classifies: a transport error stays infrastructure),
with a note saying how many attempts were made.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

log = logging.getLogger("harness.transport.retry")

T = TypeVar("T")

# Defaults for a real host (the inventory's ``[hosts.X.retry]`` table overrides them).
ATTEMPTS = 6
BASE_DELAY = 0.5
MAX_DELAY = 10.0
# How long crictl may find containerd unreachable (gRPC Unavailable) before the harness
# gives up: the service control manager restarts a crashed containerd within seconds.
RUNTIME_WAIT = 60.0

# Even while waiting for containerd, never more than this many times ``attempts``.
RUNTIME_ATTEMPTS_FACTOR = 10

_TRANSIENT_ATTR = "transient"


def mark_transient(exc: BaseException, transient: bool = True) -> BaseException:
    """Say whether asking again may get an answer (set by the layer that made the error)."""
    setattr(exc, _TRANSIENT_ATTR, bool(transient))
    return exc


def is_transient(exc: BaseException) -> bool:
    """True for an error marked transient; everything else (answers, deadlines) is final."""
    return bool(getattr(exc, _TRANSIENT_ATTR, False))


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a repeatable operation gets and how long it waits between them.

    ``runtime_wait`` extends the attempts for one kind of failure only: containerd not
    reachable (a crash the SCM repairs); attempts then continue, with the same jittered
    delays, until that many seconds have passed since the first attempt.
    """

    attempts: int = ATTEMPTS
    base_delay: float = BASE_DELAY
    max_delay: float = MAX_DELAY
    runtime_wait: float = RUNTIME_WAIT
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.runtime_wait < 0:
            raise ValueError("delays must not be negative")

    @classmethod
    def from_settings(cls, settings) -> RetryPolicy:
        """From a :class:`~harness.config.target.RetrySettings` (or None: the defaults)."""
        if settings is None:
            return cls()
        return cls(attempts=settings.attempts, base_delay=settings.base_delay,
                   max_delay=settings.max_delay, runtime_wait=settings.runtime_wait)

    def delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (1 = the first repeat): full jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, retry - 1))
        return self.rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0

    def attempts_for(self, what: str) -> Attempts:
        """Fresh bookkeeping for one operation (:class:`Attempts`), starting now."""
        return Attempts(self, what)

    def call(self, fn: Callable[[], T], *, what: str, host: str = "",
             classify: Callable[[BaseException], str | None] | None = None,
             on_retry: Callable[[int, BaseException], None] | None = None) -> T:
        """Run ``fn`` until it returns, a final error is raised, or the attempts are used up.

        ``classify(exc)`` says whether ``exc`` may be retried: ``"transient"``,
        ``"runtime"`` (containerd unreachable: also bounded by ``runtime_wait``) or None
        (final, raised at once).  The default retries exactly what :func:`is_transient`
        accepts.  ``on_retry(attempt, exc)`` runs before each pause (reconciliation hooks).
        """
        classify = classify or _default_classify
        attempts = self.attempts_for(what)
        while True:
            try:
                return fn()
            except Exception as exc:
                kind = classify(exc)
                if kind is None:
                    raise
                pause = attempts.failed(exc, kind)
                if pause is None:
                    raise
                log.info("%s%s failed on attempt %d/%d (%s); retrying in %.2fs",
                         f"{host}: " if host else "", what, attempts.failures, self.attempts,
                         _first_line(exc), pause)
                if on_retry is not None:
                    on_retry(attempts.failures, exc)
                self.sleep(pause)


@dataclass
class Attempts:
    """How one operation has fared under a :class:`RetryPolicy`, and whether it may go on.

    :meth:`RetryPolicy.call` counts with it, and so does a caller that must do more than
    call again between attempts: runp/create/start look at the host before running a step
    again (harness/cri/launch.py).  Two kinds of setback are counted apart: a *failure*
    (the way to the host, or containerd unreachable: the policy's attempts, stretched by
    ``runtime_wait`` for the latter) and a *wait* (the runtime says an earlier attempt of
    ours is still at work: bounded by the caller's budget in seconds, and by
    ``RUNTIME_ATTEMPTS_FACTOR`` times the attempts).
    """

    policy: RetryPolicy
    what: str
    failures: int = 0
    waits: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def failed(self, exc: BaseException, kind: str) -> float | None:
        """Count a failure of ``kind`` (``"transient"``/``"runtime"``): the pause before the
        next attempt, or None when the attempts are used up (``exc`` is then noted as
        exhausted: raise it)."""
        self.failures += 1
        policy = self.policy
        more = self.failures < policy.attempts or (
            kind == "runtime" and self.failures < RUNTIME_ATTEMPTS_FACTOR * policy.attempts
            and self.elapsed < policy.runtime_wait)
        if not more:
            note_attempts(exc, self.failures, self.what)
            return None
        return policy.delay(self.failures)

    def waited(self, exc: BaseException, budget: float) -> float | None:
        """Count a wait for an earlier attempt: the pause before looking again, or None once
        ``budget`` seconds have passed or too many waits were made (``exc`` noted)."""
        self.waits += 1
        if self.elapsed > budget or self.waits >= RUNTIME_ATTEMPTS_FACTOR * self.policy.attempts:
            note_attempts(exc, self.failures + self.waits, self.what)
            return None
        return self.policy.delay(max(1, self.failures))


def _default_classify(exc: BaseException) -> str | None:
    return "transient" if is_transient(exc) else None


def note_attempts(exc: BaseException, attempts: int, what: str) -> None:
    """Record on ``exc`` that ``what`` was given up after ``attempts`` attempts.

    Such an error is *exhausted*: the host never gave an answer the harness could use, so
    it is an infrastructure failure whatever its type (:func:`is_exhausted`).
    """
    exc.attempts = attempts
    exc.exhausted = True
    if attempts > 1 and hasattr(exc, "add_note"):
        exc.add_note(f"hpc-e2e: {what} gave up after {attempts} attempts "
                     "(each failed with a transient error)")


def is_exhausted(exc: BaseException) -> bool:
    """True for an error raised because a repeatable operation ran out of attempts."""
    return bool(getattr(exc, "exhausted", False))


def policy_of(transport) -> RetryPolicy:
    """The policy for ``transport``'s host: its own, else its Target's settings, else defaults.

    Works for duck-typed transports (tests' fakes) that have neither.
    """
    own = getattr(transport, "retry_policy", None)
    if isinstance(own, RetryPolicy):
        return own
    target = getattr(transport, "target", None)
    return RetryPolicy.from_settings(getattr(target, "retry", None))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:199] + "…"


__all__ = ["ATTEMPTS", "BASE_DELAY", "MAX_DELAY", "RUNTIME_WAIT", "Attempts", "RetryPolicy",
           "is_exhausted", "is_transient", "mark_transient", "note_attempts", "policy_of"]
