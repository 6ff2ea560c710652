"""Reading the harness's input files safely: one line for every way a file can be wrong.

Every file the harness reads as configuration (inventory, bundle manifest, profile, images
list, password and passphrase files) goes through :func:`read_text` or :func:`load_toml`:

* only regular files are read.  A FIFO would block ``open()`` for ever, a device such as
  ``/dev/zero`` would never end, and a folder is no file: each is refused by its ``stat``
  type before anything is opened;
* a size limit keeps a wrong path (a log, an image) from being read whole;
* text is UTF-8, with or without a byte order mark (Notepad's "UTF-8 with BOM"); TOML
  files must be UTF-8 (toml.io, "Spec": "A TOML file must be a valid UTF-8 encoded Unicode
  document"), so a UTF-16 one is refused saying so; a password file may also be UTF-16
  with a BOM, which is what Windows PowerShell 5's ``>`` writes ("Out-File ... -Encoding
  Unicode" is its default, Microsoft Learn, about_Redirection).  Other bytes are refused
  naming the file and the offset;
* TOML nesting is bounded: tomllib recurses per nested table or array and a deeply nested
  file ends in ``RecursionError``; :func:`load_toml` refuses more than
  :data:`MAX_TOML_DEPTH` levels before parsing (counted over the text) and after.
"""

from __future__ import annotations

import codecs
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # far more than any inventory, manifest or profile
MAX_SECRET_BYTES = 64 * 1024
MAX_TOML_DEPTH = 32  # the deepest legitimate file here nests 3 or 4 levels

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class InputFileError(ConfigError):
    """An input file that cannot be read as what it should be (the message names it)."""


def expand_home(path: str | os.PathLike[str], *, what: str) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; :class:`ConfigError` naming
    ``what`` when there is no such home folder (``Path.expanduser`` raises RuntimeError)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise ConfigError(f"{what}: {str(path)[:120]!r}: cannot expand '~' (no such user's "
                          "home folder)") from None


def file_kind_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable regular file ("does not exist", "is a folder"...),
    found from its ``stat`` alone; None when it is one."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except NotADirectoryError:
        return "does not exist (a part of its path is a file)"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    except ValueError:  # os.stat refuses a path holding a NUL character
        return "is not a valid path (it holds a NUL character)"
    for test, kind in _KINDS:
        if test(mode):
            return f"is {kind}, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def _decode(data: bytes, utf16: bool) -> str:
    """UTF-8 (a BOM is dropped), or UTF-16 with a BOM when ``utf16``; ValueError saying
    what is wrong."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    elif data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise ValueError("is not UTF-8 text (it is UTF-32); save it as UTF-8")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if not utf16:
            raise ValueError("is not UTF-8 text (it is UTF-16, with a byte order mark); "
                             "save it as UTF-8")
        try:
            return data.decode("utf-16")  # the BOM says which byte order, and is dropped
        except UnicodeDecodeError as exc:
            raise ValueError(f"is not valid UTF-16 text (byte {exc.start})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r}"
                         "); save it as UTF-8") from None


def read_text(path: str | os.PathLike[str], *, what: str,
              max_bytes: int = MAX_CONFIG_BYTES, utf16: bool = False) -> str:
    """The text of a regular file; :class:`InputFileError` "<path>: <what> <problem>"."""
    path = Path(path)
    problem = file_kind_problem(path)
    if problem is not None:
        raise InputFileError(f"{path}: {what} {problem}")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise InputFileError(f"{path}: {what} cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise InputFileError(f"{path}: {what} is larger than {max_bytes} bytes; is it the "
                             "right file?")
    try:
        return _decode(data, utf16)
    except ValueError as exc:
        raise InputFileError(f"{path}: {what} {exc}") from None


def _text_depth(text: str) -> int:
    """An upper bound of the nesting of brackets and braces outside strings and comments
    (cheap, before tomllib recurses into them)."""
    depth = deepest = 0
    quote = None
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote is not None:
            if ch == "\\" and quote in ('"', '"""'):
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch in "\"'":
            quote = text[i:i + 3] if text.startswith(ch * 3, i) else ch
            i += len(quote)
            continue
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return deepest


def _value_depth(value: Any, level: int = 0) -> int:
    if level > MAX_TOML_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_value_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_value_depth(v, level + 1) for v in value), default=level + 1)
    return level


def load_toml(path: str | os.PathLike[str], *, what: str,
              max_bytes: int = MAX_CONFIG_BYTES) -> dict[str, Any]:
    """A TOML file as a dict; :class:`InputFileError` naming the file for every problem."""
    path = Path(path)
    text = read_text(path, what=what, max_bytes=max_bytes)
    if _text_depth(text) > MAX_TOML_DEPTH:
        raise InputFileError(f"{path}: {what} nests tables or arrays more than "
                             f"{MAX_TOML_DEPTH} levels deep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"{path}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise InputFileError(f"{path}: {what} nests too deeply to read") from None
    if _value_depth(data) > MAX_TOML_DEPTH:  # dotted keys nest without brackets
        raise InputFileError(f"{path}: {what} nests tables or arrays more than "
                             f"{MAX_TOML_DEPTH} levels deep")
    return data


__all__ = ["InputFileError", "MAX_CONFIG_BYTES", "MAX_SECRET_BYTES", "MAX_TOML_DEPTH",
           "file_kind_problem", "load_toml", "read_text"]
