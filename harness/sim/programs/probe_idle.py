"""``probe-idle.exe``: the model of ``hpc_images/probe-idle.c``, the probe image's idle program.

``probe-idle.exe SECONDS [LABEL]`` sleeps SECONDS (1-4294967) and exits 0; terminating the
process (the container is stopped) ends it at once.  ``/?`` prints the usage line and exits
0; anything else prints it and exits 2.  Exactly what the C source does.
"""

from __future__ import annotations

from harness.sim.machine import ProcessContext

USAGE = "usage: probe-idle.exe SECONDS [LABEL]   (sleeps, then exits 0)"
SOURCE = "probe-idle.c"


def probe_idle_program(ctx: ProcessContext) -> int:
    args = ctx.argv[1:]
    text = args[0] if args else ""
    if not text.isdigit() or not 1 <= int(text) <= 4294967:
        ctx.stdout.line(USAGE)
        return 0 if text == "/?" else 2
    ctx.sleep(int(text))  # Terminated when the container is stopped
    return 0
