"""Secret values: a :class:`Secret` is read from the environment or a file, never from a
command line (README.md "Describing real hosts: the inventory"); creating one registers its value for redaction.

The redaction registry itself is :mod:`harness.secrets`, at the bottom of the layers.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.config.files import MAX_SECRET_BYTES, file_kind_problem, read_text
from harness.secrets import MASK, register


class Secret:
    """A value that must never be shown: ``str()``/``repr()`` print a mask."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "value"):
        self._value = value
        self.source = source
        register(value)

    @classmethod
    def from_env(cls, name: str) -> Secret:
        try:
            value = os.environ[name]
        except KeyError:
            raise LookupError(f"environment variable {name} is not set") from None
        if not value:
            raise LookupError(f"environment variable {name} is empty")
        bad = next((c for c in value if not c.isprintable()), None)
        if bad is not None:
            raise LookupError(f"environment variable {name} holds an invisible or control "
                              f"character (U+{ord(bad):04X}); set the password alone")
        return cls(value, source=f"env:{name}")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Secret:
        p = Path(path).expanduser()
        problem = file_kind_problem(p)
        if problem is not None:  # a FIFO or a device is refused before it is opened
            raise LookupError(f"secret file {p} {problem}")
        try:
            # UTF-8 with or without a BOM, or UTF-16 with one (PowerShell 5's `>`)
            value = read_text(p, what="secret file", max_bytes=MAX_SECRET_BYTES, utf16=True)
        except Exception as exc:  # noqa: BLE001 - InputFileError; one line, no value shown
            raise LookupError(str(exc).replace(f"{p}: secret file", f"secret file {p}")) \
                from None
        value = value.rstrip("\r\n")
        if not value:
            raise LookupError(f"secret file {p} is empty")
        if "\n" in value or "\r" in value:
            raise LookupError(f"secret file {p} holds more than one line; a password file "
                              "holds the password alone")
        bad = next((c for c in value if not c.isprintable()), None)
        if bad is not None:
            raise LookupError(f"secret file {p} holds an invisible or control character "
                              f"(U+{ord(bad):04X}); save the password alone, as plain text")
        return cls(value, source=f"file:{p}")

    def reveal(self) -> str:
        """The plain value, for handing to a client library; never for printing."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


__all__ = ["Secret"]
