"""argv -> one Windows command line that the program's C runtime splits back into argv.

Windows hands a program one string; the program's C runtime (or CommandLineToArgvW)
splits it.  The rules are those of Microsoft Learn, "Parsing C++ command-line arguments"
(the VS 2008+ CRT):

* arguments are separated by spaces and tabs; a double-quoted region may hold both;
* backslashes are literal unless they precede a ``"``: 2n backslashes + ``"`` give n
  backslashes and a quote that opens/closes a region; 2n+1 give n and a literal ``"``;
* the program name (argv[0]) has its own rule: quotes only delimit, backslashes are
  never special, so it cannot carry a literal ``"`` at all.

We quote an argument only when it needs it, so command lines in logs stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.secrets import redact

# Characters that make an argument need quotes.  Only space and tab split arguments for
# the CRT; newline and vertical tab are quoted too because other splitters (and people
# reading logs) treat them as whitespace, and quoting costs nothing.
_QUOTE_ARG_FOR = frozenset(' \t\n\v"')

# The program name is quoted for more reasons, because cmd.exe reads it first:
# whitespace; cmd's token delimiters , ; = (cmd would cut the name there); and the
# characters cmd gives a meaning to (inside quotes they are plain text).
_QUOTE_PROGRAM_FOR = frozenset(" \t\n\v\f\u00a0,;=&|<>^()")
# A leading @ (echo off) or : (a label) changes how cmd reads the whole command, and
# these words are cmd syntax, not program names, unless quoted.
_CMD_KEYWORDS = frozenset({"if", "for", "rem"})


def _check_nul(arg: str, index: int) -> None:
    if "\0" in arg:
        raise ValueError(f"argv[{index}] contains a NUL character, which no Windows "
                         f"command line can carry: {redact(arg)!r}")


def quote_arg(arg: str) -> str:
    """One argument (not the program name) as the CRT will read it back."""
    if arg and not any(ch in _QUOTE_ARG_FOR for ch in arg):
        return arg
    out = ['"']
    backslashes = 0
    for ch in arg:
        if ch == "\\":
            backslashes += 1
            continue
        if ch == '"':
            # 2n+1 backslashes + quote -> n backslashes and a literal quote
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + ch)  # not before a quote: literal
        backslashes = 0
    # the closing quote must not be escaped by trailing backslashes: double them
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


def quote_program(name: str) -> str:
    """The program name (argv[0]) under its own rule: quotes delimit, nothing escapes."""
    if not name:
        raise ValueError("argv[0] (the program name) is empty; give the program to run")
    _check_nul(name, 0)
    if '"' in name:
        raise ValueError(f'argv[0] (the program name) contains a double quote, which the '
                         f'program-name rule cannot express (quotes only delimit it): {redact(name)!r}')
    if (any(ch in _QUOTE_PROGRAM_FOR or ch.isspace() for ch in name)
            or name[0] in "@:" or name.lower() in _CMD_KEYWORDS):
        return f'"{name}"'
    return name


def join(argv: Sequence[str]) -> str:
    """The command line for ``argv`` (argv[0] is the program)."""
    if isinstance(argv, str):
        raise TypeError("join() takes a sequence of arguments, not a string")
    if not argv:
        raise ValueError("argv is empty; give at least the program to run")
    parts = [quote_program(argv[0])]
    for index, arg in enumerate(argv[1:], start=1):
        _check_nul(arg, index)
        parts.append(quote_arg(arg))
    return " ".join(parts)


def split_command_line(line: str) -> list[str]:
    """Split a Windows command line as CommandLineToArgvW / the MSVCRT startup code do.

    The program name ends at the next quote (if quoted) or blank, with no backslash escapes;
    the other arguments follow the 2n/2n+1 backslash rules and ``""`` inside quotes.
    """
    args: list[str] = []
    n = len(line)
    i = 0
    while i < n and line[i] in " \t":
        i += 1
    if i >= n:
        return args
    if line[i] == '"':
        j = line.find('"', i + 1)
        j = n if j < 0 else j
        args.append(line[i + 1:j])
        i = j + 1
    else:
        j = i
        while j < n and line[j] not in " \t":
            j += 1
        args.append(line[i:j])
        i = j
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        buf: list[str] = []
        quoted = False
        while i < n:
            c = line[i]
            if c == "\\":
                k = i
                while k < n and line[k] == "\\":
                    k += 1
                count = k - i
                if k < n and line[k] == '"':
                    buf.append("\\" * (count // 2))
                    if count % 2:
                        buf.append('"')
                        k += 1
                    i = k
                else:
                    buf.append("\\" * count)
                    i = k
            elif c == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    buf.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            elif c in " \t" and not quoted:
                break
            else:
                buf.append(c)
                i += 1
        args.append("".join(buf))
