"""Secret values and the process-wide redaction registry.

A :class:`Secret` is read from the environment or a file, never from a command line
(DESIGN.md "Secrets").  Creating one registers its value; :func:`redact` masks every
registered value in any text, and is applied wherever text leaves the process (logs,
reports, exception messages, command transcripts).  Credentials written into a URL
(``https://user:pass@host/...``, a bundle source say) are masked by the same call whether
or not anyone registered them.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

MASK = "********"

_lock = threading.Lock()
_values: set[str] = set()
_pattern_cache: list[str] | None = None


def register(value: str) -> None:
    """Mark ``value`` as secret for the rest of the process's life."""
    global _pattern_cache
    if not value or len(value) < 3:
        # Masking one- or two-character strings would shred ordinary text; such a
        # password is refused by the inventory validation anyway.
        return
    with _lock:
        _values.add(value)
        _pattern_cache = None


# The user-information part of a URL (RFC 3986 §3.2.1: ``scheme://user:password@host``):
# a credential whoever wrote it, registered or not.  The scheme stays; what lies between
# ``//`` and the authority's last ``@`` (a password may hold an unencoded ``@``) is masked.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s'\"<>]+@")


def redact_urls(text: str) -> str:
    """``text`` with the credentials of every URL in it masked
    (``https://user:pass@host/x`` -> ``https://********@host/x``)."""
    if not text or "@" not in text:
        return text
    return _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret, and every credential inside a URL,
    replaced by a mask."""
    global _pattern_cache
    if not text:
        return text
    if "@" in text:
        text = redact_urls(text)
    if not _values:
        return text
    with _lock:
        if _pattern_cache is None:
            _pattern_cache = sorted(_values, key=len, reverse=True)
        patterns = _pattern_cache
    for value in patterns:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_bytes(data: bytes) -> bytes:
    return redact(data.decode("utf-8", "replace")).encode("utf-8")


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
        from harness.config.files import MAX_SECRET_BYTES, file_kind_problem, read_text

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


class RedactingFilter:
    """A ``logging`` filter that masks secrets in every record a handler emits.

    Attached to the CLI's root handler and to pytest's logging handlers, so a secret that
    reaches a log call (a library's debug line, an exception text) is masked before any
    handler formats it.  The record's message is rendered once and its args dropped.
    """

    def filter(self, record) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message or record.args:
            record.msg, record.args = masked, ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            import logging

            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(*handlers) -> None:
    """Add one :class:`RedactingFilter` to each handler (idempotent)."""
    for handler in handlers:
        if handler is not None and not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
