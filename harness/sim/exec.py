"""A stand-in for ``CreateProcess``: runs one whole process command line on a simulated machine.

``python -m harness.sim.exec "<process command line>"`` builds a fresh standard machine
(:func:`harness.sim.programs.standard_machine`) and starts the line as ``CreateProcess``
would (``machine.spawn(line, shell=False)``): the program is the line's first token, so
``cmd.exe /d /s /c ...`` runs the simulated cmd.exe, which applies its own switch and ``/c``
quote rules (:mod:`harness.sim.winparse`) to the whole line.  This process's stdin, stdout
and stderr are piped to the simulated process, and its exit code is this one's.  It lets
the local transport, whose job is to hand lines to the local ``cmd.exe``, be tested on a
machine that has none, with every character of the line it builds read by the simulated
host.  State does not persist between runs.
"""

from __future__ import annotations

import os
import sys
import threading

from harness.sim.process import ProgramNotFoundError
from harness.sim.programs import standard_machine

USAGE = "usage: python -m harness.sim.exec <process command line, one argument>"
OEM_CODEPAGE = 437


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write(f"the simulated CreateProcess stand-in does not understand {args!r}\n"
                         f"{USAGE}\n")
        return 2
    try:
        # A console program started by a process of the runner: its console begins in the
        # system's OEM code page (437 on an en-US Windows), not UTF-8 as a WinRS shell asked
        # for with WINRS_CODEPAGE (ASSUMPTIONS.md, "Command lines").
        proc = standard_machine().spawn(args[0], shell=False, codepage=OEM_CODEPAGE)
    except ProgramNotFoundError as exc:  # CreateProcess fails; no process, no exit code
        sys.stderr.write(f"CreateProcess failed: {exc}\n")
        return 2

    def feed() -> None:
        stdin = sys.stdin.buffer
        try:
            while data := stdin.read1(65536):
                proc.write_stdin(data)
        except (OSError, ValueError):
            pass
        finally:
            proc.write_stdin(b"", eof=True)

    threading.Thread(target=feed, daemon=True, name="exec-stdin").start()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    while True:
        o, e, done = proc.read_output(65536, 0.5)
        if o:
            out.write(o)
            out.flush()
        if e:
            err.write(e)
            err.flush()
        if done:
            break
    code = proc.exit_code if proc.exit_code is not None else 1
    # Windows exit codes are 32-bit; a POSIX parent sees the low 8 bits only.
    return code if os.name == "nt" else code & 0xFF


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: the stdin thread may sit in a read, and interpreter shutdown would then
    # abort on the stdin buffer's lock.
    os._exit(status)
