"""Secret values' process-wide redaction registry: the bottom layer of the harness.

Every text that leaves the process (logs, reports, exception messages, command transcripts)
goes through :func:`redact`, which masks every value registered with :func:`register` and
every credential written into a URL (``https://user:pass@host/...``) whether or not anyone
registered it.  :class:`harness.config.secrets.Secret` registers its value on creation
(README.md "Describing real hosts: the inventory").

It sits below everything, :mod:`harness.errors` included, so that errors can redact their
messages while configuration raises errors (without this module at the bottom, errors and
config import each other).
"""

from __future__ import annotations

import logging
import re
import threading

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
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(*handlers) -> None:
    """Add one :class:`RedactingFilter` to each handler (idempotent)."""
    for handler in handlers:
        if handler is not None and not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


__all__ = ["MASK", "RedactingFilter", "install_log_redaction", "redact", "redact_bytes",
           "redact_urls", "register"]
