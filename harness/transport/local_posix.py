"""Local transport to a POSIX shell: the harness drives tools on the machine it runs on.

Used where real tools run on Linux (the real-CRI lane: crictl and containerd,
docs/internals.md "The host's path rules; the real-CRI lane").  It is :class:`LocalTransport` with
``/bin/sh -c`` as the shell, argvs rendered with POSIX shell quoting (:func:`shlex.join`)
instead of MSVCRT/cmd.exe rules, and the host's path rules and file commands from
:data:`~harness.transport.hostfiles.POSIX`.  Deadlines kill the whole process group, files
are local atomic copies, as in :class:`LocalTransport`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from harness.transport.hostfiles import POSIX
from harness.transport.local import LocalTransport

POSIX_SHELL = ("/bin/sh", "-c")


class PosixLocalTransport(LocalTransport):
    """Commands through the local ``/bin/sh``; files as local copies."""

    NAME = "local-posix"
    host_files = POSIX

    def __init__(self, target, *, shell_argv: Sequence[str] = POSIX_SHELL):
        # The shell receives the line as its one argument, as cmd.exe receives the process
        # line on Windows (LocalTransport's launcher).
        super().__init__(target, launcher=shell_argv)

    @staticmethod
    def process_command_line(command_line: str) -> str:
        """The line as ``sh -c`` takes it: no cmd.exe quoting, no code page switch."""
        return command_line

    @staticmethod
    def command_line(command: str | Sequence[str]) -> str:
        if isinstance(command, str):
            return command
        return shlex.join(str(a) for a in command)
