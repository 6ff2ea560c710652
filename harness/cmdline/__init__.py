"""Windows command lines, rendered by the harness.

* :func:`join` / :func:`quote_arg` — argv to one command line for the C runtime, and
  :func:`split_command_line` back (a registered service's command line) (:mod:`.msvcrt`);
* :func:`escape` — that line made safe for ``cmd.exe /c`` (:mod:`.cmdexe`);
* :func:`cmd_command_line` — both, which is what ``Transport.run(argv)`` sends;
* :func:`ps_quote` — PowerShell single-quoted literals (:mod:`.powershell`).

The simulated host parses lines with its own, independent implementation
(:mod:`harness.sim.winparse`), and the tests check each against the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.cmdline.cmdexe import MAX_COMMAND_LINE, escape
from harness.cmdline.msvcrt import join, quote_arg, quote_program, split_command_line
from harness.cmdline.powershell import ps_quote
from harness.secrets import redact


def cmd_command_line(argv: Sequence[str]) -> str:
    """The text to put after ``cmd.exe /c`` so the program runs with exactly ``argv``.

    Raises ValueError for what no command line can carry (NUL, a line break, a quote in
    the program name, more than cmd's 8191 characters).
    """
    line = escape(join(argv))
    if len(line) > MAX_COMMAND_LINE:
        raise ValueError(f"the command line is {len(line)} characters; cmd.exe accepts at "
                         f"most {MAX_COMMAND_LINE}. Pass bulky data on stdin or in a file: "
                         f"{redact(line)[:200]}...")
    return line


__all__ = ["MAX_COMMAND_LINE", "cmd_command_line", "escape", "join", "ps_quote",
           "quote_arg", "quote_program", "split_command_line"]
