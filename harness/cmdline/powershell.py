"""PowerShell single-quoted string literals.

In a single-quoted string PowerShell expands nothing; the only special character is the
single quote, written twice to stand for itself.  PowerShell's tokenizer accepts four
Unicode characters as single quotes besides ``'`` (U+2018, U+2019, U+201A, U+201B; the
PowerShell language specification, "Lexical grammar", *single-quote-character*), so each
of them must be doubled as well, or a value holding one would end the literal early.
"""

from __future__ import annotations

_SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")


def ps_quote(value: str) -> str:
    """``value`` as a PowerShell literal that evaluates to exactly ``value``."""
    body = "".join(ch * 2 if ch in _SINGLE_QUOTES else ch for ch in value)
    return f"'{body}'"
