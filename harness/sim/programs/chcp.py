"""``chcp.com``: show or set the console's active code page.

``chcp`` prints ``Active code page: N``; ``chcp N`` switches the console the process shares
with its parent (the calling cmd.exe, and every program it starts afterwards) to code page N
and prints the same line (Windows Commands reference, "chcp").  The sim knows the code pages
it can encode (437, 850, 1252, 65001); another number is ``Invalid code page`` (exit 1),
anything else is refused as not modelled.
"""

from __future__ import annotations

from harness.sim.machine import ProcessContext

KNOWN = (437, 850, 1252, 65001)


def chcp_program(ctx: ProcessContext) -> int:
    args = ctx.argv[1:]
    console = ctx.console
    current = console.codepage if console else ctx.codepage
    if not args:
        ctx.stdout.line(f"Active code page: {current}")
        return 0
    if len(args) != 1 or not args[0].isdigit():
        ctx.stderr.line(f"the simulated host does not model chcp {' '.join(args)}")
        return 1
    wanted = int(args[0])
    if wanted not in KNOWN or console is None:
        ctx.stderr.line("Invalid code page")
        return 1
    console.codepage = wanted
    ctx.codepage = wanted
    ctx.stdout.line(f"Active code page: {wanted}")
    return 0
