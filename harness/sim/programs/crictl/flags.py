"""Go's ``flag`` package as urfave/cli v2 drives it: crictl's command-line parser.

The harness depends on crictl's exact parsing quirks (flags stop at the first positional
argument, ``-x`` equals ``--x``, short options combine only where a command enables them), so
the parser lives alone where those rules can be read against the Go sources.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.sim.programs.crictl.goformat import go_quote, parse_go_bool, parse_go_duration


# --- Go flag parsing with urfave/cli's conventions ---------------------------------------
@dataclass(frozen=True)
class Flag:
    names: tuple[str, ...]
    kind: str  # bool | string | duration | int | int64 | strings
    default: Any = None
    env: str | None = None

    @property
    def name(self) -> str:
        return self.names[0]


def _flag(*names: str, kind: str = "bool", default: Any = None, env: str | None = None
          ) -> Flag:
    if default is None:
        default = {"bool": False, "string": "", "duration": 0.0, "int": 0, "int64": 0,
                   "strings": ()}[kind]
    return Flag(names, kind, default, env)


HELP_FLAG = _flag("help", "h")


class FlagError(Exception):
    """What Go's FlagSet.Parse returns (urfave prints Incorrect Usage, crictl fails)."""


@dataclass
class Parsed:
    values: dict[str, Any]
    set: set[str]
    args: list[str]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def _convert(flag: Flag, value: str) -> Any:
    if flag.kind == "string":
        return value
    if flag.kind == "duration":
        return parse_go_duration(value)
    if flag.kind in ("int", "int64"):
        # strconv.ParseInt(s, 0, 64): 0x/0o/0b prefixes, a leading 0 is octal.
        if value != value.strip() or not value:
            raise ValueError(value)
        if re.fullmatch(r"[+-]?0[0-7_]+", value):
            return int(value.replace("_", ""), 8)
        number = int(value, 0)
        if not -2**63 <= number < 2**63:
            raise ValueError(value)
        return number
    raise AssertionError(flag.kind)


def parse_flags(args: Sequence[str], flags: Sequence[Flag], *, short_options: bool,
                env: Mapping[str, str] | None = None) -> Parsed:
    """Go ``flag.FlagSet.Parse`` plus urfave's short-option splitting and env defaults."""
    by_name = {n: f for f in flags for n in f.names}
    values: dict[str, Any] = {f.name: f.default for f in flags}
    is_set: set[str] = set()
    for f in flags:  # urfave: an EnvVars value sets the flag (and IsSet is true)
        if f.env and env is not None and f.env in env:
            try:
                values[f.name] = _convert(f, env[f.env]) if f.kind != "bool" else \
                    parse_go_bool(env[f.env])
                is_set.add(f.name)
            except ValueError:
                pass
    rest = list(args)
    i = 0
    while i < len(rest):
        s = rest[i]
        if len(s) < 2 or s[0] != "-":
            break
        minuses = 1
        if s[1] == "-":
            minuses = 2
            if len(s) == 2:
                i += 1
                break
        name = s[minuses:]
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {s}")
        value: str | None = None
        eq = name.find("=", 1)
        if eq > 0:
            name, value = name[:eq], name[eq + 1:]
        f = by_name.get(name)
        if f is None:
            if short_options and minuses == 1 and len(s) > 2 and \
                    all(c in by_name for c in s[1:]):
                rest[i:i + 1] = ["-" + c for c in s[1:]]
                continue
            raise FlagError(f"flag provided but not defined: -{name}")
        i += 1
        if f.kind == "bool":
            if value is None:
                converted: Any = True
            else:
                try:
                    converted = parse_go_bool(value)
                except ValueError:
                    raise FlagError(f"invalid boolean value {go_quote(value)} for -{name}: "
                                    "parse error") from None
        else:
            if value is None:
                if i >= len(rest):
                    raise FlagError(f"flag needs an argument: -{name}")
                value = rest[i]
                i += 1
            try:
                converted = _convert(f, value) if f.kind != "strings" else value
            except ValueError:
                raise FlagError(f"invalid value {go_quote(value)} for flag -{name}: "
                                "parse error") from None
        if f.kind == "strings":  # urfave StringSlice: repeatable, comma-separated
            previous = list(values[f.name]) if f.name in is_set else []
            values[f.name] = tuple(previous + [v.strip() for v in converted.split(",")])
        else:
            values[f.name] = converted
        is_set.add(f.name)
    return Parsed(values, is_set, rest[i:])
