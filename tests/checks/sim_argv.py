"""An argv printer on the simulated host: what its CreateProcess and cmd.exe make of a line.

The simulated twin of ``tests/wine/argv.c``: any file whose content names the behaviour
``test:argv`` prints, as JSON, the argv the simulated C runtime built for it.
"""

from __future__ import annotations

import json

from harness.sim.machine import Machine
from harness.sim.programs import standard_machine

PRINTER_KEY = "test:argv"


def printer_machine() -> Machine:
    machine = standard_machine()

    def argv_printer(ctx) -> int:
        ctx.stdout.write(json.dumps(ctx.argv))
        return 0

    machine.register_behaviour(PRINTER_KEY, argv_printer)
    return machine


def install_printer(machine: Machine, program: str) -> None:
    parent = program.rsplit("\\", 1)[0]
    machine.fs.makedirs(parent)
    machine.fs.write_bytes(program, b"MZ\r\nhpc-e2e-sim program=" + PRINTER_KEY.encode() + b"\r\n")


def run_on_sim(machine: Machine, process_line: str) -> tuple[int, list[str] | None, str]:
    """CreateProcess ``process_line``: (exit code, printed argv or None, other output)."""
    proc = machine.spawn(process_line, shell=False)
    out, err = bytearray(), bytearray()
    while True:
        o, e, done = proc.read_output(65536, 5.0)
        out += o
        err += e
        if done:
            break
    text = out.decode("utf-8")
    argv = None
    if text.startswith("["):
        end = text.index("]", text.rindex('"') if '"' in text else 0) + 1
        argv, text = json.loads(text[:end]), text[end:]
    return proc.exit_code, argv, text + err.decode("utf-8", "replace")
