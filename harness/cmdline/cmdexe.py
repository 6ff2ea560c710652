"""Make a command line survive ``cmd.exe /c`` so the program receives what we rendered.

WinRS and Windows OpenSSH both run our line as ``cmd.exe /c <line>`` (docs/internals.md,
"Remote command contract"), so cmd reads it before the program does.  What cmd does,
in order (cmd /?; Microsoft Learn "cmd"; the percent and caret behaviour is the
well-known command-line-mode model of cmd's parser):

1. ``/c`` quote rule: if the text after ``/c`` starts with ``"`` (and the narrow "exactly
   two quotes around an executable name" case does not apply), cmd removes that first
   quote and the *last* quote of the line.
2. ``%NAME%`` is replaced when NAME is defined (env or dynamic: CD, DATE, ERRORLEVEL...)
   and left as is when not.  Carets and quotes do not stop this.  When a reference is
   not replaced, scanning resumes at its closing ``%``, which may open the next one.
   ``%%`` means nothing special here (only in batch files).
3. Outside a quoted region ``^`` escapes the next character and is removed;
   ``& | < > ( )`` are syntax.  Every unescaped ``"`` toggles the quoted region: cmd does
   not know the C runtime's ``\\"``.  An escaped quote ``^"`` is plain text and does not
   toggle.  ``!`` is special only with delayed expansion, off unless ``/v:on`` or the
   ``DelayedExpansion`` registry value asks for it; the harness never does.
4. The program (found by the first token, quotes delimiting it) receives the rest as text.

What :func:`escape` emits:

* The program token keeps its real quotes (cmd must see them to find a program whose path
  has spaces).  In it, a metacharacter outside quotes gets a ``^``.
* After the program token every ``"`` becomes ``^"`` and every metacharacter gets a ``^``,
  so cmd never enters a quoted region there: nothing is left that cmd could misread, and
  the program still gets exactly the same text (cmd removes the carets).
* ``%`` cannot be caret-escaped (step 2 runs before carets mean anything).  A ``%``
  followed somewhere by another ``%`` gets a character inserted right after it, so that
  any name cmd could read from it starts with that character: after the program token
  the inserted character is ``^`` (step 3 removes it; it also serves as the escape of
  the next character), inside the program token it is ``""`` (an empty quoted pair, which
  the program-name rule ignores, whereas a ``^`` inside quotes would stay).  This is
  safe as long as no environment variable name starts with ``^`` or ``"`` — none does in
  practice.  The last ``%`` of a line needs nothing: no reference can close after it.
* If the result starts with ``"``, it is wrapped in one more pair of quotes, which the
  ``/c`` rule removes again (with or without ``/s``; the wrapped line has at least three
  quotes, so the "exactly two quotes" exception cannot apply).
* A line feed, carriage return or NUL cannot pass through cmd at all, and an unquoted
  program token that cmd reads as syntax (``@``, ``:label``, ``if``, ``for``, ``rem``)
  cannot be run as a program: ValueError.
"""

from __future__ import annotations

import re

from harness.secrets import redact

# cmd's metacharacters outside quotes (step 3); '"' is added after the program token.
_META = frozenset("&|<>^()")
_META_AND_QUOTE = _META | {'"'}

_UNPASSABLE = {"\0": "NUL (U+0000)", "\n": "line feed (U+000A)",
               "\r": "carriage return (U+000D)"}

# A command starting like this is cmd syntax (echo-off @, a :label, IF/FOR/REM), not a
# program; quoting the program name is the only way to run a program named so.
_CMD_SYNTAX_START = re.compile(r"[@:]|(?:if|for|rem)(?=[\s,;=(/]|$)", re.IGNORECASE)

# Microsoft Learn, "Command prompt (Cmd.exe) command-line string limitation".
MAX_COMMAND_LINE = 8191


def _program_token_end(line: str) -> int:
    """Index just past the program token: leading blanks, then up to an unquoted blank."""
    i, n = 0, len(line)
    while i < n and line[i] in " \t":
        i += 1
    quoted = False
    while i < n and (quoted or line[i] not in " \t"):
        if line[i] == '"':
            quoted = not quoted
        i += 1
    return i


def escape(line: str) -> str:
    """``line`` escaped so that ``cmd.exe /c <result>`` runs it with exactly this text.

    The program receives ``line`` unchanged, except that a ``%`` in the program token may
    come with an extra ``""`` (see the module docstring), which the program-name rule of
    the C runtime ignores.
    """
    for ch, name in _UNPASSABLE.items():
        if ch in line:
            raise ValueError(f"a {name} cannot be passed through cmd.exe /c; "
                             f"send such data on stdin or in a file instead: {redact(line)!r}")
    last_percent = line.rfind("%")
    token_end = _program_token_end(line)
    if _CMD_SYNTAX_START.match(line.lstrip(" \t")):
        raise ValueError(f"cmd.exe would read the start of this line as its own syntax "
                         f"(@, :label, if, for, rem); quote the program name: {redact(line)!r}")
    out: list[str] = []

    quoted = False  # the program token: cmd and the program-name rule agree on quotes
    for i in range(token_end):
        ch = line[i]
        if ch == '"':
            quoted = not quoted
            out.append(ch)
        elif ch == "%" and i < last_percent:
            out.append('%""')
        elif not quoted and ch in _META:
            out.append("^" + ch)
        else:
            out.append(ch)

    caret_next = False  # the arguments: no quoted region for cmd at all
    for i in range(token_end, len(line)):
        ch = line[i]
        out.append("^" + ch if caret_next or ch in _META_AND_QUOTE else ch)
        caret_next = ch == "%" and i < last_percent

    result = "".join(out)
    if result.lstrip(" \t").startswith('"'):
        result = f'"{result}"'
    return result
