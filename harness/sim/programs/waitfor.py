"""``waitfor.exe``: wait for (or send) a named signal on one computer.

The suite keeps containers alive with ``waitfor /t <seconds> <signal>`` because it behaves
the same on the host (process-isolated HPC) and in a utility VM without network, where
``ping -t`` to anything but loopback fails.  Modelled from Windows' documentation of the
tool (``waitfor /?``, the Windows Commands reference):

* ``waitfor [/t N] <signal>`` waits up to N seconds (1-99999; without ``/t`` for ever).
  A signal ends the wait with ``SUCCESS: Signal received.`` and exit 0; the timeout with
  ``ERROR: Timed out waiting for '<signal>'.`` and exit 1.
* ``waitfor /si <signal>`` sends the signal to the waiters of this computer:
  ``SUCCESS: Signal sent.``, exit 0.
* Signal names are case-insensitive, at most 225 characters of ``a-z A-Z 0-9`` and
  characters 128-255; only one waiter per signal per computer.

The "computer" is the one the process runs on: the host for the host's processes and a
process-isolated HPC (a job object on the host), the UVM for an HPC in a utility VM, the
container itself for a normal container.  What the real tool prints for a bad signal name,
a second waiter or a timeout out of range is not documented: those fail loudly here with a
message saying the simulated host does not model them (see ASSUMPTIONS.md).  ``/s``,
``/u``, ``/p`` (other computers) are not modelled either.
"""

from __future__ import annotations

import re
import threading
import time

from harness.sim.machine import ProcessContext

MAX_TIMEOUT = 99999
MAX_SIGNAL_LEN = 225
_SIGNAL = re.compile(r"^[A-Za-z0-9\x80-\xff]+$")

_lock = threading.Lock()


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()


def _computer(system: object) -> object:
    """The object that stands for the computer ``system`` (ctx.machine) runs on."""
    kind = getattr(system, "kind", None)  # a guest.ContainerView; a Machine has none
    if kind == "job":
        return system.machine  # type: ignore[attr-defined]
    if kind == "uvm":
        return system.guest  # type: ignore[attr-defined]
    if kind is not None:
        return system.container  # type: ignore[attr-defined]
    return system


def _waiters(system: object) -> dict[str, _Waiter]:
    """Signal name (casefolded) → its waiter, kept with the computer object."""
    computer = _computer(system)
    return computer.__dict__.setdefault("_hpc_e2e_waitfor", {})


def _not_modelled(ctx: ProcessContext, what: str) -> int:
    ctx.stderr.line(f"the simulated host does not model waitfor {what} "
                    f"(command line: {ctx.command_line})")
    return 1


def waitfor_program(ctx: ProcessContext) -> int:
    args = ctx.argv[1:]
    timeout: int | None = None
    send = False
    signal: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        low = arg.lower()
        if low in ("/t", "-t") and i + 1 < len(args):
            if not args[i + 1].isdigit() or not 1 <= int(args[i + 1]) <= MAX_TIMEOUT:
                return _not_modelled(ctx, f"with timeout {args[i + 1]!r} (valid: 1-"
                                          f"{MAX_TIMEOUT})")
            timeout = int(args[i + 1])
            i += 2
            continue
        if low in ("/si", "-si"):
            send = True
        elif low.startswith(("/", "-")) and len(arg) > 1:
            return _not_modelled(ctx, f"option {arg}")
        elif signal is None:
            signal = arg
        else:
            return _not_modelled(ctx, f"with a second signal name {arg!r}")
        i += 1
    if signal is None:
        return _not_modelled(ctx, "without a signal name (its usage text)")
    if send and timeout is not None:
        return _not_modelled(ctx, "/si together with /t")
    if len(signal) > MAX_SIGNAL_LEN or not _SIGNAL.match(signal):
        return _not_modelled(ctx, f"signal name {signal!r}: waitfor /? allows at most "
                                  f"{MAX_SIGNAL_LEN} characters of a-z, A-Z, 0-9 and 128-255")
    key = signal.casefold()
    with _lock:
        waiters = _waiters(ctx.machine)
        waiter = waiters.get(key)
        if send:
            if waiter is not None:
                waiter.event.set()
        elif waiter is not None:
            return _not_modelled(ctx, f"a second waiter for signal {signal!r} on one "
                                      "computer (waitfor allows only one)")
        else:
            waiter = waiters[key] = _Waiter()
    if send:
        ctx.stdout.line("SUCCESS: Signal sent.")
        return 0
    try:
        received = _wait(ctx, waiter, timeout)
    finally:
        with _lock:
            if waiters.get(key) is waiter:
                del waiters[key]
    if received:
        ctx.stdout.line("SUCCESS: Signal received.")
        return 0
    ctx.stderr.line(f"ERROR: Timed out waiting for '{signal}'.")
    return 1


def _wait(ctx: ProcessContext, waiter: _Waiter, timeout: int | None) -> bool:
    """True when the signal came, False on timeout; termination ends it at once."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        ctx.check_cancelled()  # raises Terminated when the process is ended
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return waiter.event.is_set()
        if waiter.event.wait(0.2 if remaining is None else min(0.2, remaining)):
            return True
