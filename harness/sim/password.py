"""Passwords inside the simulated host: a value that never prints, and reading one back.

The simulated host imports nothing of the harness (docs/internals.md "Layout"), so it keeps its own
small counterpart of the harness's ``Secret``: :class:`Password` prints as a mask, and
:func:`reveal` turns whatever a caller handed in (a plain string, a :class:`Password`, or
any object with a ``reveal()`` method, such as the harness's own secret type) into the
plain text an authenticator compares with.  The sim registers nothing for redaction: a
client that reads the password file (``endpoint.json``'s ``password_file``) marks it secret
on its own side.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

MASK = "********"


@runtime_checkable
class Revealable(Protocol):
    """Anything that hands out its plain value on request (and, by convention, only then)."""

    def reveal(self) -> str: ...


class Password:
    """A password the simulated host holds: ``str()``/``repr()`` print a mask."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "value"):
        self._value = value
        self.source = source

    @classmethod
    def read_file(cls, path: str | os.PathLike[str]) -> Password | None:
        """The one-line password a previous run wrote to ``path``, or None when there is
        no usable one (missing, unreadable, empty, more than one line, control characters):
        the caller then makes a new one."""
        try:
            with open(path, encoding="utf-8-sig") as f:
                value = f.read(4096).rstrip("\r\n")
        except (OSError, UnicodeDecodeError):
            return None
        if not value or not value.isprintable():
            return None
        return cls(value, source=f"file:{path}")

    def reveal(self) -> str:
        """The plain value, for comparing with what a client sent; never for printing."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Password({self.source})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Password) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def reveal(value: str | Revealable) -> str:
    """The plain text of a password given as a string or as a revealable value."""
    return value.reveal() if isinstance(value, Revealable) else value


__all__ = ["MASK", "Password", "Revealable", "reveal"]
