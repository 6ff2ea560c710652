"""Sim-only diagnostic programs, installed in ``C:\\hpc-e2e-sim\\bin`` (not on ``PATH``).

They are *not* Windows programs and no real host has them: they exist so that tests of the
transports can make the simulated host produce large output, read stdin, hang, or exit
with a chosen code, without relying on the behaviour of a modelled Windows program.  Call
them by full path, e.g. ``C:\\hpc-e2e-sim\\bin\\simgen.exe 10485760``.

``simcat.exe``
    Copy standard input to standard output until EOF; exit 0.
``simgen.exe <bytes> [stdout|stderr]``
    Write ``<bytes>`` bytes (a decimal count, optionally suffixed ``K``/``M``/``G`` for
    binary multiples) of :func:`pattern` to stdout (default) or stderr; exit 0.
``simsleep.exe <seconds|forever>``
    Sleep (fractions allowed), then exit 0; terminating the process ends it at once.
``simexit.exe <code>``
    Exit with ``<code>`` (decimal, or ``0x`` hexadecimal; negative values wrap to 32 bits).

Bad arguments print a usage line on stderr and exit 2.
"""

from __future__ import annotations

import re

from harness.sim.machine import ProcessContext

CHUNK = 64 * 1024
_PERIOD = 251  # a prime, so the pattern never lines up with power-of-two chunk sizes
_CYCLE = bytes(range(_PERIOD))


def pattern(size: int, offset: int = 0) -> bytes:
    """``size`` bytes of simgen's output starting at ``offset``: byte i is ``i % 251``."""
    start = offset % _PERIOD
    reps = (start + size) // _PERIOD + 1
    return (_CYCLE * reps)[start:start + size]


def _usage(ctx: ProcessContext, text: str) -> int:
    ctx.stderr.line(f"usage: {text}")
    return 2


def simcat(ctx: ProcessContext) -> int:
    if len(ctx.argv) > 1:
        return _usage(ctx, "simcat.exe   (copies stdin to stdout)")
    while True:
        data = ctx.stdin.read(CHUNK)
        if not data:
            return 0
        ctx.stdout.write(data)


_SIZE = re.compile(r"^(\d+)([KMG]?)$", re.IGNORECASE)


def simgen(ctx: ProcessContext) -> int:
    args = ctx.argv[1:]
    m = _SIZE.match(args[0]) if args else None
    stream = args[1].lower() if len(args) > 1 else "stdout"
    if m is None or len(args) > 2 or stream not in ("stdout", "stderr"):
        return _usage(ctx, "simgen.exe <bytes>[K|M|G] [stdout|stderr]")
    size = int(m.group(1)) * 1024 ** " KMG".index((m.group(2) or " ").upper())
    out = ctx.stdout if stream == "stdout" else ctx.stderr
    block = pattern(CHUNK - CHUNK % _PERIOD)  # a whole number of periods: reusable
    sent = 0
    while sent < size:
        n = min(len(block), size - sent)
        out.write(block[:n])
        sent += n
    return 0


def simsleep(ctx: ProcessContext) -> int:
    args = ctx.argv[1:]
    if len(args) != 1:
        return _usage(ctx, "simsleep.exe <seconds|forever>")
    if args[0].lower() == "forever":
        while True:
            ctx.sleep(3600)
    try:
        seconds = float(args[0])
    except ValueError:
        return _usage(ctx, "simsleep.exe <seconds|forever>")
    if not seconds >= 0:
        return _usage(ctx, "simsleep.exe <seconds|forever>")
    ctx.sleep(seconds)
    return 0


def simexit(ctx: ProcessContext) -> int:
    args = ctx.argv[1:]
    try:
        if len(args) != 1:
            raise ValueError
        code = int(args[0], 0)
    except ValueError:
        return _usage(ctx, "simexit.exe <code>")
    return code & 0xFFFFFFFF


PROGRAMS = {"simcat.exe": simcat, "simgen.exe": simgen, "simsleep.exe": simsleep,
            "simexit.exe": simexit}
