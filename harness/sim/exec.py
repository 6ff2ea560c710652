"""A stand-in for ``cmd.exe /d /s /c "<line>"`` that runs the line on a simulated machine.

``python -m harness.sim.exec /d /s /c <line>`` builds a fresh :class:`Machine`, runs
``<line>`` as cmd.exe would (``machine.spawn(line, shell=True)``), pipes this process's
stdin, stdout and stderr to the simulated process, and exits with its exit code.  It lets
the local transport, whose job is to hand lines to the local ``cmd.exe``, be tested on a
machine that has none.  State does not persist between runs.
"""

from __future__ import annotations

import os
import sys
import threading

USAGE = "usage: python -m harness.sim.exec /d /s /c <command line>"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # cmd.exe's switches as the local transport passes them; anything else is not understood.
    if len(args) != 4 or [a.lower() for a in args[:3]] != ["/d", "/s", "/c"]:
        sys.stderr.write(f"the simulated cmd.exe stand-in does not understand {args!r}\n"
                         f"{USAGE}\n")
        return 2
    from harness.sim.machine import Machine

    proc = Machine().spawn(args[3], shell=True)

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
