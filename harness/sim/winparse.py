"""How a Windows host reads a command line: the C runtime's argv split and cmd.exe's parser.

This is the simulated host's side.  It is written from the documented rules, separately
from the harness's renderer (:mod:`harness.cmdline`), so that each checks the other; it
must not import it.  Whatever it does not model it refuses with :class:`CmdSyntaxError`,
so the simulated cmd.exe fails loudly instead of guessing.

Sources (facts, by title): Microsoft Learn "Parsing C++ command-line arguments" (argv);
``cmd /?`` (the /c and /s quote rule, switches); Microsoft Learn "Using command redirection
operators" and "cmd"; the widely documented command-line-mode model of cmd's parser
(percent expansion, carets, quotes, operators).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

SYNTAX_ERROR = "The syntax of the command is incorrect."
# A caret as the last character of a line asks for a continuation line; what cmd /c does
# when there is none is not documented, and Wine's cmd.exe silently runs nothing
# (tests/test_wine_oracle.py), so the simulated host refuses instead of guessing.
TRAILING_CARET = ("the simulated cmd.exe does not support a caret (^) at the end of a line "
                  "(cmd would wait for a continuation line)")
_BLANKS = " \t"
# cmd ends the command token at whitespace and at , ; = (its "token delimiters").
_CMD_TOKEN_DELIMITERS = " \t\v\f,;="


class CmdSyntaxError(ValueError):
    """cmd.exe would reject the line, or the simulated cmd.exe does not model a construct."""


# --- the C runtime: one string -> argv ---------------------------------------------------

def split_argv(line: str) -> list[str]:
    """argv as the VS 2008+ C runtime builds it from ``line``.

    The program name ends at the first space or tab outside quotes; quotes in it only
    toggle, backslashes are plain.  Then, per argument: a run of backslashes followed by a
    quote yields half the backslashes, and the quote toggles quoting if the run was even or
    is literal if it was odd; inside quotes ``""`` is one literal quote and quoting goes on.
    As in the CRT, a line that starts with a blank gives an empty program name.
    """
    n = len(line)
    i = 0
    name: list[str] = []
    quoted = False
    while i < n:
        ch = line[i]
        i += 1
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in _BLANKS:
            break
        else:
            name.append(ch)
    argv = ["".join(name)]

    quoted = False
    while True:
        while i < n and line[i] in _BLANKS:
            i += 1
        if i >= n:
            return argv
        arg: list[str] = []
        while i < n:
            run = 0
            while i < n and line[i] == "\\":
                run += 1
                i += 1
            if i < n and line[i] == '"':
                arg.append("\\" * (run // 2))
                if run % 2:
                    arg.append('"')  # odd run: escaped, literal quote
                elif quoted and i + 1 < n and line[i + 1] == '"':
                    arg.append('"')  # "" inside quotes: a quote, still quoted
                    i += 1
                else:
                    quoted = not quoted
                i += 1
                continue
            arg.append("\\" * run)  # backslashes not before a quote are literal
            if i >= n or (not quoted and line[i] in _BLANKS):
                break
            arg.append(line[i])
            i += 1
        argv.append("".join(arg))


# The inverse of split_argv, for the host's own command lines (the SCM appending start
# arguments to a service's image path).  Same documented rules, read the other way: a
# quote inside the argument is written as ``\"`` after doubling the backslashes before
# it; the backslashes before the closing quote are doubled so that they stay literal.
# Only space and tab split arguments; a newline or vertical tab is quoted as well (it
# reads back the same either way, and a quoted one is visible in a log).
_CRT_QUOTE_FOR = re.compile(r'[ \t\n\v"]')
_BACKSLASHES_BEFORE_QUOTE = re.compile(r'(\\*)"')
_TRAILING_BACKSLASHES = re.compile(r"(\\+)\Z")


def crt_quote(arg: str) -> str:
    """``arg`` (not a program name) written so that :func:`split_argv` reads it back."""
    if arg and not _CRT_QUOTE_FOR.search(arg):
        return arg
    body = _BACKSLASHES_BEFORE_QUOTE.sub(lambda m: m.group(1) * 2 + '\\"', arg)
    body = _TRAILING_BACKSLASHES.sub(lambda m: m.group(1) * 2, body)
    return f'"{body}"'


def program_token(line: str, *, style: str = "cmd") -> tuple[str, str]:
    """The program name at the start of ``line`` (quotes removed) and the text after it.

    Quotes delimit the name.  ``style="cmd"`` ends it where cmd.exe does (blanks and
    , ; =); ``style="createprocess"`` only at blanks.  Leading delimiters are skipped.
    ``line`` is a command as cmd hands it on (carets already consumed).  The rest is
    returned verbatim, starting with the delimiter.  CreateProcess's retry of unquoted
    names that contain spaces is not modelled.
    """
    if style not in ("cmd", "createprocess"):
        raise ValueError(f"unknown program_token style {style!r}")
    delimiters = _CMD_TOKEN_DELIMITERS if style == "cmd" else _BLANKS
    i, n = 0, len(line)
    while i < n and line[i] in delimiters:
        i += 1
    name: list[str] = []
    quoted = False
    while i < n and (quoted or line[i] not in delimiters):
        if line[i] == '"':
            quoted = not quoted
        else:
            name.append(line[i])
        i += 1
    return "".join(name), line[i:]


# --- cmd.exe's own command line: switches and the /c quote rule ---------------------------

_SWITCH = re.compile(r"/(?:[AUQDSXY]|[EFV]:(?:ON|OFF)|T:[0-9A-F]{1,2})$", re.IGNORECASE)


def split_cmd_switches(text: str) -> tuple[list[str], str]:
    """Split what follows ``cmd.exe`` into its switches and the command after /c or /k.

    Switches come back upper-cased, ending with ``/C`` or ``/K`` (``/R`` is ``/C``, cmd /?).
    The command text starts right after the switch (``/cdir`` is ``/c dir``).
    """
    i, n = 0, len(text)
    switches: list[str] = []
    while True:
        while i < n and text[i] in _BLANKS:
            i += 1
        if i >= n:
            raise CmdSyntaxError("cmd.exe without /c or /k: the simulated host runs no "
                                 "interactive command prompt")
        if text[i] != "/":
            raise CmdSyntaxError(f"cmd.exe: unexpected text before /c: {text[i:]!r}")
        letter = text[i + 1:i + 2].upper()
        if letter in ("C", "R", "K"):
            switches.append("/K" if letter == "K" else "/C")
            return switches, text[i + 2:]
        j = i
        while j < n and text[j] not in _BLANKS:
            j += 1
        if not _SWITCH.match(text[i:j]):
            raise CmdSyntaxError(f"cmd.exe switch not understood by the simulated host: "
                                 f"{text[i:j]!r}")
        switches.append(text[i:j].upper())
        i = j


def cmd_c_argument(text: str, *, s_switch: bool = False,
                   is_executable: Callable[[str], bool] | None = None) -> str:
    """The command cmd.exe runs for ``cmd [/s] /c <text>`` (``text``: all after the /c).

    cmd /?: quotes are kept only if there is no /s, exactly two quotes, no ``&<>()@^|``
    between them, at least one blank between them, and the text between them names an
    executable file (``is_executable`` answers that; without it, nothing is).  Otherwise,
    if the command starts with a quote, that quote and the last quote of the line are
    removed, and any text after the last quote is kept.
    """
    command = text.lstrip(_BLANKS)
    if not command.startswith('"'):
        return command
    if not s_switch and command.count('"') == 2:
        inner = command[1:command.index('"', 1)]
        if (not any(ch in "&<>()@^|" for ch in inner)
                and any(ch in _BLANKS for ch in inner)
                and is_executable is not None and is_executable(inner)):
            return command
    last = command.rindex('"')
    if last == 0:
        return command[1:]
    return command[1:last] + command[last + 1:]


# --- cmd.exe: percent expansion ----------------------------------------------------------

def expand_vars(line: str, env: Mapping[str, str]) -> str:
    """``%NAME%`` expansion as cmd does it on a command line (not in a batch file).

    Names are compared case-insensitively (the caller puts dynamic variables such as
    ERRORLEVEL or CD into ``env``).  A defined reference is replaced; an undefined one is
    kept, and scanning resumes at its closing ``%``, which may open the next reference.
    ``%%`` is therefore just two percent signs here.  A name ends at ``%`` or at ``:``
    (``:`` followed by ``%`` belongs to the name).  ``%NAME:...%`` substring and
    substitution forms of a *defined* NAME are not modelled: CmdSyntaxError.
    """
    values = {key.upper(): value for key, value in env.items()}
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i] != "%":
            out.append(line[i])
            i += 1
            continue
        j = i + 1
        while j < n and line[j] not in "%:\n":
            j += 1
        if j + 1 < n and line[j] == ":" and line[j + 1] == "%":
            j += 1
        if j >= n or line[j] == "\n":  # never closed: a plain percent sign
            out.append("%")
            i += 1
            continue
        name = line[i + 1:j]
        defined = bool(name) and name.upper() in values
        if line[j] == "%":
            if defined:
                out.append(values[name.upper()])
                i = j + 1
            else:
                out.append("%" + name)
                i = j
        else:  # a name followed by ':' and a modifier
            if defined and "%" in line[j + 1:]:
                raise CmdSyntaxError(f"the simulated cmd.exe does not support %{name}:...% "
                                     f"substring/substitution expansion")
            out.append("%" + name + ":")
            i = j + 1
    return "".join(out)


# --- cmd.exe: the command structure --------------------------------------------------------

@dataclass
class Redirect:
    fd: int      # 0, 1 or 2
    op: str      # '<', '>', '>>' or '>&'
    target: str  # a file name (quotes removed) or, for '>&', a handle digit


@dataclass
class Simple:
    text: str  # carets consumed outside quotes, redirections removed, quotes kept
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Pipeline:
    commands: list[Simple]


@dataclass
class Chain:
    first: Node
    rest: list[tuple[str, Node]]  # ('&' | '&&' | '||', node), evaluated left to right


Node = Simple | Pipeline | Chain

_UNSUPPORTED_START = [
    (re.compile(r"@"), "@ (echo suppression)"),
    (re.compile(r":"), "labels (:)"),
    (re.compile(r"\("), "parentheses (command blocks)"),
    (re.compile(r"(?i)(if|for|rem)(?=[\s,;=(/]|$)"), "the {} statement"),
]


def parse_cmd(line: str) -> Node:
    """The command structure cmd builds from one (already expanded) line.

    ``|`` binds tighter than ``&``, ``&&`` and ``||``, which share one level and apply left
    to right to the status of the last command run (a :class:`Chain`).  Quote state
    toggles on every unescaped ``"``; ``^`` outside quotes escapes the next character and
    disappears.  Not modelled, refused with a message naming it: parentheses (blocks),
    ``@``, labels, ``if``/``for``/``rem``, handles 3-9, ``<&``/``>>&``, and a digit glued
    to a word before ``>`` (cmd's reading of ``word2>x`` is not modelled).  A blank line
    is an empty :class:`Simple`.
    """
    for ch, name in (("\0", "NUL"), ("\n", "line feed"), ("\r", "carriage return")):
        if ch in line:
            raise CmdSyntaxError(f"the simulated cmd.exe does not accept a {name} in a command")
    return _Parser(line).chain()


class _Parser:
    def __init__(self, line: str):
        self.s = line
        self.i = 0

    def _at(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def chain(self) -> Node:
        first = self.pipeline(after=None)
        rest: list[tuple[str, Node]] = []
        while self.i < len(self.s):
            op = self.s[self.i:self.i + 2] if self.s[self.i:self.i + 2] in ("&&", "||") else "&"
            self.i += len(op)
            rest.append((op, self.pipeline(after=op)))
        return Chain(first, rest) if rest else first

    def pipeline(self, after: str | None) -> Node:
        commands = [self.simple(after)]
        while self._at() == "|" and self._at(1) != "|":
            self.i += 1
            commands.append(self.simple("|"))
        return Pipeline(commands) if len(commands) > 1 else commands[0]

    def simple(self, after: str | None) -> Simple:
        self._refuse_unsupported_start()
        text: list[str] = []
        plain: list[bool] = []  # per character of text: neither quoted nor escaped
        redirects: list[Redirect] = []
        quoted = False
        s = self.s
        while self.i < len(s):
            ch = s[self.i]
            if quoted or ch == '"':
                if ch == '"':
                    quoted = not quoted
                text.append(ch)
                plain.append(False)
                self.i += 1
            elif ch == "^":
                if self.i + 1 >= len(s):
                    raise CmdSyntaxError(TRAILING_CARET)
                text.append(s[self.i + 1])
                plain.append(False)
                self.i += 2
            elif ch in "&|":
                break
            elif ch in "()":
                raise CmdSyntaxError("the simulated cmd.exe does not support parentheses "
                                     f"(command blocks): {s!r}")
            elif ch in "<>":
                redirects.append(self._redirect(text, plain))
            else:
                text.append(ch)
                plain.append(True)
                self.i += 1
        body = "".join(text).lstrip(_BLANKS)
        if not body and not redirects:
            if self.i < len(s):
                op = s[self.i:self.i + 2] if s[self.i:self.i + 2] in ("&&", "||") else s[self.i]
                raise CmdSyntaxError(f"{op} was unexpected at this time.")
            if after is not None:
                raise CmdSyntaxError(SYNTAX_ERROR)  # an operator with nothing after it
        return Simple(body, redirects)

    def _refuse_unsupported_start(self) -> None:
        rest = self.s[self.i:].lstrip(_BLANKS)
        for pattern, what in _UNSUPPORTED_START:
            found = pattern.match(rest)
            if found:
                what = what.format(found.group(0).lower())
                raise CmdSyntaxError(f"the simulated cmd.exe does not support {what}: "
                                     f"{self.s!r}")

    def _redirect(self, text: list[str], plain: list[bool]) -> Redirect:
        s = self.s
        fd = None
        if text and plain[-1] and text[-1].isdigit():
            if len(text) > 1 and text[-2] not in _BLANKS:
                raise CmdSyntaxError("the simulated cmd.exe does not model a digit glued to "
                                     f"a word before a redirection: {s!r}")
            fd = int(text.pop())
            plain.pop()
        op = s[self.i]
        self.i += 1
        if op == ">" and self._at() == ">":
            op = ">>"
            self.i += 1
        if self._at() == "&":
            if op != ">":
                raise CmdSyntaxError(f"the simulated cmd.exe does not support {op}&: {s!r}")
            op = ">&"
            self.i += 1
        if fd is None:
            fd = 0 if op == "<" else 1
        if fd > 2:
            raise CmdSyntaxError(f"the simulated cmd.exe does not support handle {fd}: {s!r}")
        target = self._word()
        if not target or (op == ">&" and target not in ("0", "1", "2")):
            raise CmdSyntaxError(SYNTAX_ERROR)
        return Redirect(fd, op, target)

    def _word(self) -> str:
        """A redirection target: blanks skipped, quotes removed, carets consumed."""
        s = self.s
        while self.i < len(s) and s[self.i] in _BLANKS:
            self.i += 1
        word: list[str] = []
        quoted = False
        while self.i < len(s):
            ch = s[self.i]
            if ch == '"':
                quoted = not quoted
            elif quoted:
                word.append(ch)
            elif ch == "^":
                if self.i + 1 >= len(s):
                    raise CmdSyntaxError(TRAILING_CARET)
                self.i += 1
                word.append(s[self.i])
            elif ch in _BLANKS or ch in "&|<>":
                break
            elif ch in "()":
                raise CmdSyntaxError("the simulated cmd.exe does not support parentheses "
                                     f"(command blocks): {s!r}")
            else:
                word.append(ch)
            self.i += 1
        return "".join(word)
