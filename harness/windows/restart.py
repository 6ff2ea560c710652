"""Restarting a host and waiting, bounded, until it answers again on the same transport.

The restart is scheduled by the host itself (``restart_host.ps1``, a few seconds ahead) so
the request's answer arrives before the host goes down.  Then the same transport is polled
with a cheap script (``boot_time.ps1``) and a short per-attempt deadline until it reports a
*later boot time*: an answer with the old boot time only means the host has not gone down
yet, and connection refusals, resets and a lost WinRM shell (the transport re-opens it) are
what a restarting host looks like (docs/behaviour/ecosystem.md §4.5: "A reboot kills the shell: poll
until the host answers again").  Those failures are tolerated only inside this wait.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime

from harness.errors import (AuthenticationError, CommandTimeout, ConfigError, HarnessError,
                            HostKeyError, TransportError)
from harness.transport.base import Transport
from harness.transport.outage import expected_outage
from harness.transport.retry import is_transient, policy_of
from harness.windows.catalog import SCRIPTS, call
from harness.windows.errors import ElevationRequired, RestartTimeout
from harness.windows.facts import parse_time

log = logging.getLogger("harness.windows")

RESTART_DELAY = 2  # seconds between scheduling the restart and the host going down
ATTEMPT_TIMEOUT = 20.0  # one poll, connection included as far as the transport allows
POLL_INTERVAL = 1.0
# shutdown.exe's answer while a restart is pending (ERROR_SHUTDOWN_IS_SCHEDULED)
ALREADY_SCHEDULED = re.compile(r"\b1190\b")

# Failures that will not go away by waiting: credentials, a changed host key, bad config.
_FATAL = (AuthenticationError, HostKeyError, ConfigError, ElevationRequired)


@dataclass(frozen=True)
class RestartResult:
    """A completed restart: the boot times before and after, and how long it took."""

    previous_boot: datetime
    boot_time: datetime
    seconds: float
    attempts: int


def boot_time(transport: Transport, *, timeout: float = ATTEMPT_TIMEOUT,
              repeatable: bool = False) -> datetime:
    """The host's last boot time (UTC).  The restart wait polls it itself, so it is
    repeatable only when asked (the first read, before a restart)."""
    value = call(transport, "boot_time", timeout=timeout, catalog=SCRIPTS,
                 what="read the boot time", repeatable=repeatable)
    return parse_time(value.get("boot_time_utc") if isinstance(value, dict) else None,
                      "its boot time")


def _schedule(transport: Transport, *, delay: int, attempt_timeout: float) -> None:
    """Ask the host to restart, reconciling a lost answer instead of guessing.

    A request whose answer was lost may or may not have scheduled the restart.  Asking again
    tells: shutdown.exe refuses a second restart while one is scheduled (exit 1190, "A system
    shutdown has already been scheduled"), which here means the first request worked; a
    refused or reset connection means the host is already going down.  Only when every
    attempt ends without an answer does the wait below decide (and name the failure).
    """
    host = transport.target.name
    policy = policy_of(transport)
    for attempt in range(1, policy.attempts + 1):
        try:
            call(transport, "restart_host", {"delay_seconds": int(max(1, delay))},
                 timeout=attempt_timeout, catalog=SCRIPTS, what="schedule a restart")
            return
        except _FATAL:
            raise
        except (TransportError, CommandTimeout, HarnessError) as exc:
            if attempt > 1 and ALREADY_SCHEDULED.search(str(exc)):
                log.info("%s: a restart is already scheduled (the earlier request's answer "
                         "was lost)", host)
                return
            if not isinstance(exc, (TransportError, CommandTimeout)) or \
                    (isinstance(exc, TransportError) and not is_transient(exc)):
                raise
            if attempt == policy.attempts:
                log.warning("%s: no answer to the restart request (%s); waiting for the "
                            "host anyway", host, exc)
                return
            pause = policy.delay(attempt)
            log.info("%s: the restart request got no answer (%s); asking again in %.2fs",
                     host, str(exc).splitlines()[0], pause)
            policy.sleep(pause)


def restart_and_wait(transport: Transport, *, timeout: float = 900.0,
                     delay: int = RESTART_DELAY, attempt_timeout: float = ATTEMPT_TIMEOUT,
                     poll_interval: float = POLL_INTERVAL) -> RestartResult:
    """Restart the host behind ``transport`` and return once it is back.

    Raises :class:`RestartTimeout` if no later boot time is seen within ``timeout``
    seconds of scheduling the restart (the last failure is in the message).
    """
    host = transport.target.name
    previous = boot_time(transport, timeout=attempt_timeout, repeatable=True)
    started = time.monotonic()
    deadline = started + timeout
    _schedule(transport, delay=delay, attempt_timeout=attempt_timeout)
    log.info("%s: restart scheduled in %ss; waiting up to %gs for a new boot time", host,
             delay, timeout)
    # Nothing to learn before the host goes down.
    time.sleep(min(max(0.0, float(delay)), max(0.0, deadline - time.monotonic())))
    attempts = 0
    last = "no answer yet"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempts += 1
        try:
            with expected_outage("the host is restarting"):
                now_boot = boot_time(transport,
                                     timeout=max(1.0, min(attempt_timeout, remaining)))
            if now_boot > previous:
                seconds = time.monotonic() - started
                log.info("%s: back after %.1fs (booted %s)", host, seconds,
                         now_boot.isoformat())
                return RestartResult(previous, now_boot, seconds, attempts)
            last = f"the host still reports the boot time {previous.isoformat()}"
        except _FATAL:
            raise
        except (TransportError, CommandTimeout, HarnessError) as exc:
            last = str(exc).splitlines()[0]
            log.debug("%s: restart wait attempt %d: %s", host, attempts, last)
        pause = min(poll_interval, deadline - time.monotonic())
        if pause > 0:
            time.sleep(pause)
    raise RestartTimeout(
        f"{host} did not come back from its restart within {timeout:g}s "
        f"({attempts} attempts; boot time before the restart {previous.isoformat()}); "
        f"last: {last}",
        hint="check the host's console: it may be stuck in updates or waiting at boot; "
             "raise the restart timeout if it is just slow")


__all__ = ["ATTEMPT_TIMEOUT", "RESTART_DELAY", "RestartResult", "boot_time",
           "restart_and_wait"]
