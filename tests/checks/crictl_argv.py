"""A crictl argv, parsed the way crictl itself would parse it, against ``fixtures/crictl-flags.json``.

crictl is a urfave/cli v2 program, and urfave/cli v2 hands each flag set to Go's ``flag``
package (cri-tools ``vendor/github.com/urfave/cli/v2/parse.go``): flags stop at the first
argument that does not start with ``-`` (or at ``--``), ``-x`` and ``--x`` are the same,
a non-bool flag takes ``=value`` or the next argument, a bool flag only ``=value``; an
unknown flag or a value that does not parse ends the run with an error.  Global flags
come before the command, the command's flags after it and before its arguments.  A flag
*after* a positional argument is not parsed at all: crictl takes it as an argument, and a
wrong argument count makes it print its help and exit 0 having done nothing
(docs/behaviour/ecosystem.md §7) - so both are reported here.

:func:`parse_crictl_argv` raises :class:`ArgvProblem` naming every problem found.
"""

from __future__ import annotations

import json
import ntpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from . import FIXTURES

FLAGS_FIXTURE = FIXTURES / "crictl-flags.json"

# Go strconv.ParseBool
_GO_BOOL = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
# Go time.ParseDuration: "0" or a sequence of decimal numbers each with a unit
_GO_DURATION = re.compile(
    r"^[-+]?(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$")
# Go strconv.ParseInt(s, 0, ...): decimal, 0x hex, 0b binary, 0o/0 octal, '_' between digits
_DIGITS = r"(?:0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO]?(?:_?[0-7])+|[1-9](?:_?\d)*|0)"
_GO_INT = re.compile(rf"^[-+]?{_DIGITS}$")
_GO_UINT = re.compile(rf"^{_DIGITS}$")
_GO_FLOAT = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:inf|infinity|nan)$",
                       re.IGNORECASE)


class ArgvProblem(AssertionError):
    """crictl would not do what the argv means; the message names each problem."""

    def __init__(self, argv: Sequence[str], version: str, problems: list[str]):
        self.argv = list(argv)
        self.version = version
        self.problems = problems
        super().__init__(f"crictl {version} would not run {self.argv!r} as meant:\n  "
                         + "\n  ".join(problems))


@dataclass
class ParsedArgv:
    version: str
    program: str
    global_flags: list[tuple[str, object]] = field(default_factory=list)
    command: str = ""  # canonical name; "runp jsonschema" for a sub-command
    flags: list[tuple[str, object]] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)  # IDs, files
    command_line: list[str] = field(default_factory=list)  # exec: the command run in the container

    def flag(self, name: str) -> object | None:
        """The last value given for ``name`` (Go's flag package: the last one wins)."""
        values = [v for n, v in self.flags if n == name]
        return values[-1] if values else None


@cache
def crictl_flags() -> dict:
    return json.loads(FLAGS_FIXTURE.read_text(encoding="utf-8"))


def crictl_versions() -> list[str]:
    return sorted(crictl_flags()["versions"], key=lambda v: tuple(int(p) for p in v.split(".")))


def _table(flags: list[dict]) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for f in flags:
        for name in [f["name"], *f["aliases"]]:
            table[name] = f
    return table


def _value_problem(flag: dict, value: str) -> str | None:
    kind = flag["type"]
    ok = {
        "bool": lambda v: v in _GO_BOOL,
        "duration": lambda v: bool(_GO_DURATION.match(v)),
        "int": lambda v: bool(_GO_INT.match(v)),
        "int64": lambda v: bool(_GO_INT.match(v)),
        "uint": lambda v: bool(_GO_UINT.match(v)),
        "uint64": lambda v: bool(_GO_UINT.match(v)),
        "float64": lambda v: bool(_GO_FLOAT.match(v)),
        "string": lambda v: True,
        "string_slice": lambda v: True,
    }.get(kind)
    if ok is None:
        return f"-{flag['name']}: the fixture names an unknown flag type {kind!r}"
    if not ok(value):
        hint = {"duration": " (a Go duration needs a unit, e.g. 300s)",
                "int": " (whole number)", "int64": " (whole number of seconds)"}.get(kind, "")
        return f'invalid value "{value}" for flag -{flag["name"]} ({kind}){hint}'
    return None


class _Stop(Exception):
    def __init__(self, problem: str):
        self.problem = problem


def _parse_flags(args: list[str], flags: list[dict], short_options: bool, where: str
                 ) -> tuple[list[tuple[str, object]], list[str], bool]:
    """Go ``FlagSet.Parse`` (plus urfave's short-option splitting); (flags, rest, saw '--')."""
    table = _table(flags)
    parsed: list[tuple[str, object]] = []
    pending = list(args)
    while pending:
        s = pending[0]
        if len(s) < 2 or s[0] != "-":
            break
        dashes = 2 if s[1] == "-" else 1
        if s == "--":
            pending.pop(0)
            return parsed, pending, True
        name = s[dashes:]
        if not name or name[0] in "-=":
            raise _Stop(f"{where}: bad flag syntax: {s}")
        pending.pop(0)
        value: str | None = None
        if "=" in name[1:]:
            name, value = name.split("=", 1)
        flag = table.get(name)
        if flag is None:
            if (short_options and dashes == 1 and value is None and len(s) > 2
                    and all(c in table for c in s[1:])):
                pending[0:0] = [f"-{c}" for c in s[1:]]  # urfave: "-sa" is "-s -a"
                continue
            raise _Stop(f"{where}: flag provided but not defined: -{name}")
        if flag["type"] == "bool":
            if value is not None:
                problem = _value_problem(flag, value)
                if problem:
                    raise _Stop(f"{where}: {problem}")
            parsed.append((flag["name"], value is None or value in {"1", "t", "T", "TRUE",
                                                                     "true", "True"}))
            continue
        if value is None:
            if not pending:
                raise _Stop(f"{where}: flag needs an argument: -{name}")
            value = pending.pop(0)
        problem = _value_problem(flag, value)
        if problem:
            raise _Stop(f"{where}: {problem}")
        parsed.append((flag["name"], value))
    return parsed, pending, False


def _find(commands: dict, name: str) -> tuple[str, dict] | None:
    for canonical, spec in commands.items():
        if name == canonical or name in spec["aliases"]:
            return canonical, spec
    return None


def parse_crictl_argv(argv: Sequence[str], version: str) -> ParsedArgv:
    """Parse ``argv`` (program first) as crictl ``version`` would; raise on any problem."""
    argv = [str(a) for a in argv]
    versions = crictl_flags()["versions"]
    if version not in versions:
        raise ArgvProblem(argv, version, [(f"no crictl {version} in {FLAGS_FIXTURE.name}; "
                                           f"it has {', '.join(crictl_versions())}")])
    spec = versions[version]
    if not argv or ntpath.basename(argv[0]).lower() not in ("crictl.exe", "crictl"):
        raise ArgvProblem(argv, version, [f"not a crictl command line: {argv[:1]!r}"])
    out = ParsedArgv(version=version, program=argv[0])
    try:
        out.global_flags, rest, _ = _parse_flags(argv[1:], spec["global"], False, "crictl")
        shown = [n for n, v in out.global_flags if n in ("help", "version") and v]
        if shown:  # urfave/cli prints help or the version and stops (app.go checkHelp/Version)
            out.command = f"--{shown[0]}"
            return out
        if not rest:
            raise _Stop("no command after the global flags")
        found = _find(spec["commands"], rest[0])
        if found is None:
            raise _Stop(f"crictl has no command {rest[0]!r}")
        name, cmd = found
        out.flags, rest, dashdash = _parse_flags(rest[1:], cmd["flags"],
                                                 cmd["short_option_handling"], f"crictl {name}")
        subs = cmd.get("subcommands") or {}
        if rest and not dashdash and (sub := _find(subs, rest[0])) is not None:
            name, cmd = f"{name} {sub[0]}", sub[1]
            out.flags, rest, dashdash = _parse_flags(
                rest[1:], cmd["flags"], cmd["short_option_handling"], f"crictl {name}")
    except _Stop as stop:
        raise ArgvProblem(argv, version, [stop.problem]) from None
    out.command = name
    problems = _positional_problems(name, cmd, out, rest, dashdash)
    if problems:
        raise ArgvProblem(argv, version, problems)
    return out


def _positional_problems(name: str, cmd: dict, out: ParsedArgv, rest: list[str],
                         dashdash: bool) -> list[str]:
    rule = cmd.get("positional")
    if rule is None:
        return [(f"crictl {name}: {FLAGS_FIXTURE.name} has no positional-argument rule for "
                 "this command; read it from the command's Action (c.NArg() checks) and add it")]
    given = {n for n, _ in out.flags}
    effective = dict(rule)
    if rule.get("with_filters") and given & set(rule["with_filters"]["flags"]):
        effective.update(rule["with_filters"])
    low, high = effective["min"], effective["max"]
    if given & set(rule.get("none_with", [])):
        low = high = 0
    at = effective.get("command_at")
    out.arguments = list(rest if at is None else rest[:at])
    out.command_line = [] if at is None else list(rest[at:])
    problems = []
    if len(rest) < low or (high is not None and len(rest) > high):
        want = f"{low}" if low == high else f"{low}..{'' if high is None else high}"
        problems.append(f"crictl {name} takes {want} arguments ({cmd['args_usage'] or 'none'}), "
                        f"got {len(rest)}: {rest!r}; crictl prints its help and exits 0 "
                        "without doing anything")
    if not dashdash:
        for i, arg in enumerate(out.arguments[1:], start=1):
            if len(arg) > 1 and arg.startswith("-"):
                problems.append(f"crictl {name}: {arg!r} comes after the argument "
                                f"{out.arguments[i - 1]!r}; crictl does not parse flags there "
                                "(put every flag before the arguments)")
    return problems


__all__ = ["ArgvProblem", "ParsedArgv", "crictl_flags", "crictl_versions", "parse_crictl_argv"]
