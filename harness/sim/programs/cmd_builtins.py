"""The built-in commands of the simulated ``cmd.exe`` (see :mod:`.cmd` for the processor).

Each built-in takes the shell (variables, working directory, ERRORLEVEL), the text after its
name exactly as typed (the delimiter included: ``echo.`` gets ``"."``), and the standard
handles, and returns whether it succeeded (for ``&&``/``||``).  Output and messages follow
cmd's: a failing built-in sets ERRORLEVEL 1 unless cmd leaves it alone (``del``), and a
succeeding one never resets it.  Forms not listed in a docstring raise :class:`Unsupported`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.sim.filesystem import DISK_FREE, UnsupportedPathError
from harness.sim.machine import Environ

SYNTAX_INCORRECT = "The syntax of the command is incorrect."
VOLUME_SERIAL = "6A2E-1F3B"

# Built-ins of cmd.exe that this model does not implement: named so the failure says
# "not supported by the simulated host" instead of "not recognized".
UNSUPPORTED_BUILTINS = {
    "assoc", "break", "call", "cls", "color", "date", "dpath", "endlocal", "for", "ftype",
    "goto", "if", "keys", "mklink", "path", "pause", "popd", "prompt", "pushd", "rd",
    "ren", "rename", "rmdir", "setlocal", "shift", "start", "time", "title", "verify", "vol",
}


@dataclass
class Handles:
    """A command's standard handles (after its redirections)."""

    stdin: Any
    stdout: Any
    stderr: Any


class Shell(Protocol):
    """The command processor as its built-ins see it (:class:`.cmd.Shell` is the one)."""

    machine: Any  # the Machine, or a container's view of it
    fs: Any  # its disk: a FileSystem, or a container's view of one
    env: Environ
    cwd: str
    errorlevel: int

    def fail(self, h: Handles, message: str, level: int = 1) -> bool: ...


class CmdExit(Exception):
    """``exit``: ends the command processor with ``code``."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class Unsupported(Exception):
    """Something the model does not implement; the message names it."""


# --- argument helpers ---------------------------------------------------------------------
def _split_args(text: str) -> list[str]:
    """Whitespace-separated words, double quotes grouping and removed (built-in arguments)."""
    words: list[str] = []
    cur: list[str] = []
    in_quote = started = False
    for ch in text:
        if ch == '"':
            in_quote = not in_quote
            started = True
        elif ch in " \t" and not in_quote:
            if started:
                words.append("".join(cur))
                cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        words.append("".join(cur))
    return words


def _switches(words: list[str], known: set[str], command: str) -> tuple[set[str], list[str]]:
    flags: set[str] = set()
    rest: list[str] = []
    for w in words:
        if w.startswith("/"):
            flag = w.lower().replace(":", "")
            if flag not in known:
                raise Unsupported(f"{command} {w}")
            flags.add(flag)
        else:
            rest.append(w)
    return flags, rest


def _has_wildcard(name: str) -> bool:
    return "*" in name or "?" in name


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    if pattern in ("*.*", "*"):
        return re.compile(r".*", re.DOTALL)
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL)




def _size(n: int) -> str:
    return f"{n:,}"


# --- built-ins ----------------------------------------------------------------------------
# Each takes (shell, rest of the command after its name, handles) and returns success.

def _echo(sh: Shell, rest: str, h: Handles) -> bool:
    """``echo``, ``echo text``, ``echo.``/``echo(``/``echo:`` (empty line), ``echo on|off``."""
    if not rest.strip(" \t"):
        h.stdout.line("ECHO is on.")
        return True
    if rest[0] in " \t" and rest.strip(" \t").lower() in ("on", "off"):
        return True  # the echo state only matters for interactive and batch use
    h.stdout.line(rest[1:])
    return True


def _set(sh: Shell, rest: str, h: Handles) -> bool:
    """``set``, ``set PREFIX``, ``set NAME=value``, ``set "NAME=value"``, ``set NAME=``."""
    arg = rest.lstrip(" \t")
    if not arg.strip():
        for k, v in sh.env.sorted_items():
            h.stdout.line(f"{k}={v}")
        return True
    if arg[:2].lower() in ("/a", "/p"):
        raise Unsupported(f"set {arg[:2]}")
    if arg.startswith('"'):
        end = arg.rfind('"')
        arg = arg[1:end] if end > 0 else arg[1:]
    if "=" in arg:
        name, value = arg.split("=", 1)
        if not name:
            return sh.fail(h, SYNTAX_INCORRECT)
        if value == "":
            if name not in sh.env:
                sh.errorlevel = 1  # silently, as cmd does
                return False
            del sh.env[name]
        else:
            sh.env[name] = value
        return True
    prefix = arg.rstrip(" \t").upper()
    matches = [(k, v) for k, v in sh.env.sorted_items() if k.upper().startswith(prefix)]
    if not matches:
        return sh.fail(h, f"Environment variable {arg.rstrip()} not defined")
    for k, v in matches:
        h.stdout.line(f"{k}={v}")
    return True


def _cd(sh: Shell, rest: str, h: Handles) -> bool:
    """``cd``, ``cd path``, ``cd /d path``, ``cd ..``, ``cd\\``."""
    arg = rest.strip(" \t")  # "cd.." and "cd\" keep their delimiter as the path
    switch_d = False
    if arg[:2].lower() == "/d" and (len(arg) == 2 or arg[2] in " \t\""):
        switch_d = True
        arg = arg[2:].strip(" \t")
    arg = arg.replace('"', "").rstrip(" \t")
    if not arg:
        h.stdout.line(sh.cwd)
        return True
    if re.fullmatch(r"[A-Za-z]:", arg):
        if arg[0].upper() == sh.cwd[0].upper():
            h.stdout.line(sh.cwd)
            return True
        if arg[0].upper() not in sh.fs.drives:
            return sh.fail(h, "The system cannot find the drive specified.")
        h.stdout.line(arg.upper() + "\\")
        return True
    try:
        target = sh.fs.resolve(arg, sh.cwd)
        if not sh.fs.exists(target):
            return sh.fail(h, "The system cannot find the path specified.")
        if not sh.fs.is_dir(target):
            return sh.fail(h, "The directory name is invalid.")
        target = sh.fs.real_path(target)
    except UnsupportedPathError as exc:
        raise Unsupported(exc.strerror) from None
    except OSError as exc:
        return sh.fail(h, exc.strerror or str(exc))
    if target[0].upper() == sh.cwd[0].upper() or switch_d:
        sh.cwd = target
    return True


def _dir(sh: Shell, rest: str, h: Handles) -> bool:
    """``dir [path|pattern ...] [/b] [/s with /b] [/a] [/ad] [/a-d]``."""
    flags, paths = _switches(_split_args(rest), {"/b", "/s", "/a", "/ad", "/a-d"}, "dir")
    if "/s" in flags and "/b" not in flags:
        raise Unsupported("dir /s without /b")
    bare, recursive = "/b" in flags, "/s" in flags
    want = "dirs" if "/ad" in flags else "files" if "/a-d" in flags else "all"
    ok = True
    for spec in paths or ["."]:
        try:
            ok = _dir_one(sh, spec, h, bare, recursive, want) and ok
        except UnsupportedPathError as exc:
            raise Unsupported(exc.strerror) from None
        except OSError as exc:
            ok = sh.fail(h, exc.strerror or str(exc))
    if not ok:
        sh.errorlevel = 1
    return ok


def _split_pattern(sh: Shell, spec: str) -> tuple[str, str | None, str]:
    r"""``(folder, wildcard, display)`` for ``dir\*.txt``; ``(path, None, path)`` otherwise.

    Wildcards are only allowed in the last component (cmd's rule for these built-ins).
    """
    m = re.match(r"(.*[\\/:])?([^\\/:]*)\Z", spec, re.DOTALL)
    assert m is not None
    head, leaf = m.group(1) or "", m.group(2)
    if _has_wildcard(leaf):
        folder = sh.fs.resolve(head or ".", sh.cwd)
        return folder, leaf, folder.rstrip("\\") + "\\" + leaf
    path = sh.fs.resolve(spec, sh.cwd)
    return path, None, path


def _dir_one(sh: Shell, spec: str, h: Handles, bare: bool, recursive: bool,
             want: str) -> bool:
    fs = sh.fs
    path, wildcard, _ = _split_pattern(sh, spec)
    pattern: re.Pattern[str] | None
    if wildcard is not None:
        folder, pattern = path, _wildcard_regex(wildcard)
    elif fs.is_dir(path):
        folder, pattern = path, None
    else:
        folder, leaf = fs.split(path)
        pattern = re.compile(re.escape(leaf), re.IGNORECASE)
    if not fs.is_dir(folder):
        if not bare:
            _dir_header(sh, h, folder)
        return sh.fail(h, "The system cannot find the path specified." if not
                       fs.exists(folder) else "File Not Found")
    folder = fs.real_path(folder)

    def select(entries: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        out = []
        for name, st in entries:
            if pattern is not None and not pattern.fullmatch(name):
                continue
            if (want == "dirs" and not st.is_dir) or (want == "files" and st.is_dir):
                continue
            out.append((name, st))
        return out

    if bare:
        found = False
        folders = [folder]
        while folders:
            current = folders.pop(0)
            entries = fs.scandir(current)
            for name, _ in select(entries):
                h.stdout.line(fs.join(current, name) if recursive else name)
                found = True
            if recursive:
                folders[:0] = [fs.join(current, n) for n, st in entries if st.is_dir]
        return found or sh.fail(h, "File Not Found")

    _dir_header(sh, h, folder)
    entries = select(fs.scandir(folder))
    if pattern is None and want != "files" and folder.rstrip("\\")[2:]:
        me = fs.stat(folder)
        entries = [(".", me), ("..", fs.stat(fs.split(folder)[0]))] + entries
    if not entries:
        return sh.fail(h, "File Not Found")
    files = dirs = total = 0
    for name, st in entries:
        stamp = time.strftime("%m/%d/%Y  %I:%M %p", time.localtime(st.mtime))
        if st.is_dir:
            dirs += 1
            h.stdout.line(f"{stamp}    <DIR>          {name}")
        else:
            files += 1
            total += st.size
            h.stdout.line(f"{stamp} {_size(st.size):>17} {name}")
    h.stdout.line(f"{files:>16} File(s) {_size(total):>14} bytes")
    h.stdout.line(f"{dirs:>16} Dir(s) {_size(DISK_FREE):>15} bytes free")
    return True


def _dir_header(sh: Shell, h: Handles, folder: str) -> None:
    h.stdout.line(f" Volume in drive {folder[0].upper()} has no label.")
    h.stdout.line(f" Volume Serial Number is {VOLUME_SERIAL}")
    h.stdout.line()
    h.stdout.line(f" Directory of {folder}")
    h.stdout.line()


def _type(sh: Shell, rest: str, h: Handles) -> bool:
    """``type file`` (one file; its bytes as they are)."""
    words = _split_args(rest)
    if not words:
        return sh.fail(h, SYNTAX_INCORRECT)
    if len(words) > 1 or _has_wildcard(words[0]):
        raise Unsupported("type with several files or wildcards")
    try:
        if sh.fs.is_dir(words[0], sh.cwd):
            return sh.fail(h, "Access is denied.")
        f = sh.fs.open(words[0], "rb", cwd=sh.cwd)
    except UnsupportedPathError as exc:
        raise Unsupported(exc.strerror) from None
    except OSError as exc:
        msg = exc.strerror or str(exc)
        if getattr(exc, "winerror", None) == 3:  # type says "file" for a missing folder too
            msg = "The system cannot find the file specified."
        return sh.fail(h, msg)
    with f:
        while chunk := f.read(65536):
            h.stdout.write(chunk)
    return True


def _exit(sh: Shell, rest: str, h: Handles) -> bool:
    """``exit [/b] [code]`` — ends ``cmd /c`` (outside a batch file ``/b`` does the same)."""
    words = _split_args(rest)
    if words and words[0].lower() == "/b":
        words = words[1:]
    code = sh.errorlevel
    if words:
        m = re.match(r"[+-]?\d+", words[0])
        code = int(m.group(0)) if m else 0
    raise CmdExit(code)


def _ver(sh: Shell, rest: str, h: Handles) -> bool:
    h.stdout.line()
    h.stdout.line(f"Microsoft Windows [Version {sh.machine.os_version}]")
    return True


def _rem(sh: Shell, rest: str, h: Handles) -> bool:
    return True


def _mkdir(sh: Shell, rest: str, h: Handles) -> bool:
    """``mkdir a [b ...]`` with intermediate folders (command extensions are on)."""
    words = _split_args(rest)
    if not words:
        return sh.fail(h, SYNTAX_INCORRECT)
    ok = True
    for word in words:
        try:
            path = sh.fs.resolve(word, sh.cwd)
            if sh.fs.exists(path):
                h.stderr.line(f"A subdirectory or file {word} already exists.")
                ok = False
                continue
            sh.fs.makedirs(path)
        except UnsupportedPathError as exc:
            raise Unsupported(exc.strerror) from None
        except OSError as exc:
            h.stderr.line(exc.strerror or str(exc))
            ok = False
    if not ok:
        sh.errorlevel = 1
    return ok


def _matches(sh: Shell, spec: str) -> tuple[str, list[str]]:
    """``(spec as a full path, existing paths it names)``; wildcards name files only."""
    path, wildcard, display = _split_pattern(sh, spec)
    if wildcard is None:
        return path, [sh.fs.real_path(path)] if sh.fs.exists(path) else []
    if not sh.fs.is_dir(path):
        return display, []
    rx = _wildcard_regex(wildcard)
    folder = sh.fs.real_path(path)
    return display, [sh.fs.join(folder, n) for n, st in sh.fs.scandir(folder)
                     if not st.is_dir and rx.fullmatch(n)]


def _del(sh: Shell, rest: str, h: Handles) -> bool:
    """``del [/f] [/q] name|pattern ...``; a folder's files only with ``/q``.

    Like cmd, del reports what it could not delete but does not set ERRORLEVEL for it.
    """
    flags, names = _switches(_split_args(rest), {"/f", "/q"}, "del")
    if not names:
        return sh.fail(h, SYNTAX_INCORRECT)
    for spec in names:
        try:
            path, found = _matches(sh, spec)
        except UnsupportedPathError as exc:
            raise Unsupported(exc.strerror) from None
        except OSError as exc:
            h.stderr.line(exc.strerror or str(exc))
            continue
        if not found:
            h.stderr.line(f"Could Not Find {path}")
            continue
        targets: list[str] = []
        for p in found:
            if sh.fs.is_dir(p):
                if "/q" not in flags:
                    raise Unsupported("del's confirmation prompt for a folder (use /q)")
                targets += [sh.fs.join(p, n) for n, st in sh.fs.scandir(p) if not st.is_dir]
            else:
                targets.append(p)
        for p in targets:
            try:
                sh.fs.remove(p)
            except OSError as exc:
                h.stderr.line(f"{p}")
                h.stderr.line(exc.strerror or str(exc))
    return True


def _copy(sh: Shell, rest: str, h: Handles) -> bool:
    """``copy [/y] [/b] [/v] source [destination]``: one file, a pattern, or a folder's files."""
    flags, words = _switches(_split_args(rest), {"/y", "/b", "/v"}, "copy")
    if not words or len(words) > 2:
        return sh.fail(h, SYNTAX_INCORRECT)
    if any("+" in w for w in words):
        raise Unsupported("copy with '+' (concatenation)")
    src_spec, dst_spec = words[0], words[1] if len(words) > 1 else "."
    overwrite = "/y" in flags or "/y" in sh.env.get("COPYCMD", "").lower()
    fs = sh.fs
    try:
        _, found = _matches(sh, src_spec)
        several = _has_wildcard(src_spec)
        prefix = re.sub(r"[^\\/:]*$", "", src_spec) if several else ""
        if len(found) == 1 and fs.is_dir(found[0]):
            found = [fs.join(found[0], n) for n, st in fs.scandir(found[0]) if not st.is_dir]
            several = True
            prefix = src_spec.rstrip("\\/") + "\\"
        if not found:
            h.stderr.line("The system cannot find the file specified.")
            h.stdout.line("        0 file(s) copied.")
            sh.errorlevel = 1
            return False
        dst = fs.resolve(dst_spec, sh.cwd)
        into_dir = fs.is_dir(dst)
        if several and not into_dir and len(found) > 1:
            raise Unsupported("copy of several files into one (concatenation)")
        copied = 0
        for src in found:
            target = fs.join(dst, fs.split(src)[1]) if into_dir else dst
            if fs.key(target) == fs.key(src):
                h.stderr.line("The file cannot be copied onto itself.")
                h.stdout.line("        0 file(s) copied.")
                sh.errorlevel = 1
                return False
            if fs.exists(target) and not overwrite:
                raise Unsupported("copy's overwrite prompt (use /y)")
            if several:  # copy names each file as the source was spelled
                h.stdout.line(prefix + fs.split(src)[1])
            fs.copy_file(src, target)
            copied += 1
    except UnsupportedPathError as exc:
        raise Unsupported(exc.strerror) from None
    except OSError as exc:
        h.stderr.line(exc.strerror or str(exc))
        h.stdout.line("        0 file(s) copied.")
        sh.errorlevel = 1
        return False
    h.stdout.line(f"{copied:>9} file(s) copied.")
    return True


def _move(sh: Shell, rest: str, h: Handles) -> bool:
    """``move [/y] source destination`` for one file or folder (no wildcards)."""
    flags, words = _switches(_split_args(rest), {"/y"}, "move")
    if len(words) != 2:
        return sh.fail(h, SYNTAX_INCORRECT)
    if _has_wildcard(words[0]):
        raise Unsupported("move with wildcards")
    fs = sh.fs
    overwrite = "/y" in flags or "/y" in sh.env.get("COPYCMD", "").lower()
    try:
        src = fs.resolve(words[0], sh.cwd)
        if not fs.exists(src):
            return sh.fail(h, "The system cannot find the file specified.")
        is_dir = fs.is_dir(src)
        dst = fs.resolve(words[1], sh.cwd)
        if fs.is_dir(dst) and fs.key(dst) != fs.key(src):
            dst = fs.join(dst, fs.split(fs.real_path(src))[1])
        if fs.exists(dst) and fs.key(dst) != fs.key(src):
            if is_dir or fs.is_dir(dst):
                return sh.fail(h, "Access is denied.")
            if not overwrite:
                raise Unsupported("move's overwrite prompt (use /y)")
        fs.rename(src, dst, replace=True)
    except UnsupportedPathError as exc:
        raise Unsupported(exc.strerror) from None
    except OSError as exc:
        return sh.fail(h, exc.strerror or str(exc))
    h.stdout.line(f"        1 {'dir' if is_dir else 'file'}(s) moved.")
    return True


BUILTINS: dict[str, Callable[[Shell, str, Handles], bool]] = {
    "echo": _echo, "set": _set, "cd": _cd, "chdir": _cd, "dir": _dir, "type": _type,
    "exit": _exit, "ver": _ver, "rem": _rem, "mkdir": _mkdir, "md": _mkdir, "del": _del,
    "erase": _del, "copy": _copy, "move": _move,
}
