"""The simulated host's disks: an in-memory Windows filesystem.

Windows names are case-insensitive but case-preserving, paths take drive letters and
either slash, and errors carry the Win32 message a Windows program would print.  The
harness moves files through this model (SFTP, the PowerShell receive/send scripts, ``cmd``
redirections), so it has to behave like NTFS where the harness can tell the difference:

* names compare case-insensitively, ``listdir`` returns the stored case, in NTFS order;
* ``rename`` replaces atomically (one lock for the whole filesystem), which is what the
  "write a temporary name, verify, rename" upload scheme relies on (docs/internals.md);
* a file that is open cannot be deleted or renamed away (Windows programs open files without
  ``FILE_SHARE_DELETE``), so a harness that renames before closing fails here as it would
  on a real host;
* UNC, device (``\\\\?\\``, ``\\\\.\\``) and reserved device names (``NUL``, ``CON``…) are not
  modelled and are refused with :class:`UnsupportedPathError` rather than guessed at.

File contents live in a ``bytearray`` per file and handles read and write it in place, so a
50 MB upload in many chunks costs linear time and every write is visible to other handles
at once.
"""

from __future__ import annotations

import errno
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

# Win32 error codes and the text FormatMessage gives for them (winerror.h).
ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_ACCESS_DENIED = 5
ERROR_NOT_SAME_DEVICE = 17
ERROR_SHARING_VIOLATION = 32
ERROR_FILE_EXISTS = 80
ERROR_INVALID_NAME = 123
ERROR_DIR_NOT_EMPTY = 145
ERROR_ALREADY_EXISTS = 183
ERROR_DIRECTORY = 267

WIN_MESSAGES = {
    ERROR_FILE_NOT_FOUND: "The system cannot find the file specified.",
    ERROR_PATH_NOT_FOUND: "The system cannot find the path specified.",
    ERROR_ACCESS_DENIED: "Access is denied.",
    ERROR_NOT_SAME_DEVICE: "The system cannot move the file to a different disk drive.",
    ERROR_SHARING_VIOLATION: "The process cannot access the file because it is being used "
                             "by another process.",
    ERROR_FILE_EXISTS: "The file exists.",
    ERROR_INVALID_NAME: "The filename, directory name, or volume label syntax is incorrect.",
    ERROR_DIR_NOT_EMPTY: "The directory is not empty.",
    ERROR_ALREADY_EXISTS: "Cannot create a file when that file already exists.",
    ERROR_DIRECTORY: "The directory name is invalid.",
}

_ERRNO = {
    ERROR_FILE_NOT_FOUND: errno.ENOENT,
    ERROR_PATH_NOT_FOUND: errno.ENOENT,
    ERROR_ACCESS_DENIED: errno.EACCES,
    ERROR_NOT_SAME_DEVICE: errno.EXDEV,
    ERROR_SHARING_VIOLATION: errno.EACCES,
    ERROR_FILE_EXISTS: errno.EEXIST,
    ERROR_INVALID_NAME: errno.EINVAL,
    ERROR_DIR_NOT_EMPTY: errno.ENOTEMPTY,
    ERROR_ALREADY_EXISTS: errno.EEXIST,
    ERROR_DIRECTORY: errno.ENOTDIR,
}

# Characters NTFS refuses in a name, besides the separators (and control characters).
_INVALID_CHARS = set('<>:"|?*')
# Names Win32 maps to devices, with or without an extension.
_DEVICE_NAME = re.compile(r"^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?$", re.IGNORECASE)

DISK_FREE = 64 * 1024**3  # what `dir` reports as free space


class UnsupportedPathError(OSError):
    """A path form the simulated host does not model (UNC, device namespace, device name)."""

    def __init__(self, path: str, what: str):
        super().__init__(errno.EINVAL, f"the simulated host does not support {what}: {path}",
                         path)
        self.winerror = ERROR_INVALID_NAME


def win_error(cls: type[OSError], winerror: int, path: str | None = None,
              path2: str | None = None) -> OSError:
    """An ``OSError`` subclass carrying the Win32 code and message, as Python on Windows."""
    if path2 is not None:
        exc = cls(_ERRNO.get(winerror, errno.EIO), WIN_MESSAGES[winerror], path, None, path2)
    else:
        exc = cls(_ERRNO.get(winerror, errno.EIO), WIN_MESSAGES[winerror], path)
    exc.winerror = winerror
    return exc


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime: float
    is_dir: bool
    ctime: float = 0.0


class _Node:
    __slots__ = ("ctime", "mtime", "name")

    def __init__(self, name: str):
        self.name = name
        self.ctime = self.mtime = time.time()


class _Dir(_Node):
    __slots__ = ("children",)

    def __init__(self, name: str):
        super().__init__(name)
        self.children: dict[str, _Node] = {}


class _File(_Node):
    __slots__ = ("data", "open_count", "handles")

    def __init__(self, name: str):
        super().__init__(name)
        self.data = bytearray()
        self.open_count = 0
        self.handles: list[SimFile] = []  # the open handles, for share-mode checks


def _key(name: str) -> str:
    # NTFS compares names through its upcase table; casefold is the nearest Python has.
    return name.casefold()


@dataclass(frozen=True)
class _Parsed:
    drive: str  # upper-case letter
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.drive}:\\" + "\\".join(self.parts)


class FileSystem:
    """A thread-safe in-memory Windows filesystem (drive ``C:`` unless told otherwise)."""

    def __init__(self, drives: str = "C"):
        self._lock = threading.RLock()
        self._drives: dict[str, _Dir] = {}
        for letter in drives:
            self.add_drive(letter)

    @property
    def lock(self) -> threading.RLock:
        """Held by every operation; take it to make several operations one atomic step."""
        return self._lock

    def add_drive(self, letter: str) -> None:
        letter = letter.upper()
        if len(letter) != 1 or not "A" <= letter <= "Z":
            raise ValueError(f"not a drive letter: {letter!r}")
        with self._lock:
            self._drives.setdefault(letter, _Dir(f"{letter}:"))

    @property
    def drives(self) -> list[str]:
        return sorted(self._drives)

    # --- paths ---------------------------------------------------------------------------
    def _parse(self, path: str, cwd: str | None) -> _Parsed:
        if not isinstance(path, str):
            raise TypeError(f"path must be str, not {type(path).__name__}")
        if path == "":
            raise win_error(FileNotFoundError, ERROR_PATH_NOT_FOUND, path)
        p = path.replace("/", "\\")
        if p.startswith("\\\\"):
            what = ("device namespace paths" if p[2:4] in ("?\\", ".\\")
                    else "UNC paths")
            raise UnsupportedPathError(path, what)
        base: _Parsed | None = None
        if len(p) >= 2 and p[1] == ":":
            drive = p[0].upper()
            if not "A" <= drive <= "Z":
                raise win_error(OSError, ERROR_INVALID_NAME, path)
            rest = p[2:]
            if rest.startswith("\\"):
                base = _Parsed(drive, ())
            else:  # drive-relative ("C:foo"): relative to cwd if it is on that drive
                cur = self._parse(cwd, None) if cwd else None
                base = cur if cur is not None and cur.drive == drive else _Parsed(drive, ())
        else:
            rest = p
            if rest.startswith("\\"):
                drive = self._parse(cwd, None).drive if cwd else "C"
                base = _Parsed(drive, ())
            else:
                if not cwd:
                    raise ValueError(f"relative path {path!r} needs a working directory")
                base = self._parse(cwd, None)
        parts = list(base.parts)
        for comp in rest.split("\\"):
            if comp in ("", "."):
                continue
            if comp == "..":
                if parts:
                    parts.pop()
                continue
            # Win32 drops trailing dots and spaces from each component.
            name = comp.rstrip(". ")
            if not name:
                raise win_error(OSError, ERROR_INVALID_NAME, path)
            if any(c in _INVALID_CHARS or ord(c) < 32 for c in name):
                raise win_error(OSError, ERROR_INVALID_NAME, path)
            if _DEVICE_NAME.match(name.split(":")[0].rstrip(" ")):
                raise UnsupportedPathError(path, f"the device name {name!r} in a path")
            parts.append(name)
        return _Parsed(base.drive, tuple(parts))

    def resolve(self, path: str, cwd: str | None = None) -> str:
        """The absolute, normalized form of ``path`` (relative ones against ``cwd``).

        The caller's case is kept; see :meth:`real_path` for the stored case.
        """
        return str(self._parse(path, cwd))

    def normalize(self, path: str, cwd: str | None = None) -> str:
        return self.resolve(path, cwd)

    def key(self, path: str, cwd: str | None = None) -> str:
        """A string equal for every spelling of the same path (for dictionaries)."""
        return _key(self.resolve(path, cwd))

    def split(self, path: str, cwd: str | None = None) -> tuple[str, str]:
        """``(parent, name)`` of a normalized path; the name is empty for a drive root."""
        parsed = self._parse(path, cwd)
        if not parsed.parts:
            return str(parsed), ""
        return str(_Parsed(parsed.drive, parsed.parts[:-1])), parsed.parts[-1]

    def join(self, base: str, *names: str) -> str:
        return self.resolve("\\".join((base, *names)) if names else base)

    # --- tree walking (caller holds the lock) -------------------------------------------
    def _root(self, parsed: _Parsed, path: str) -> _Dir:
        root = self._drives.get(parsed.drive)
        if root is None:
            raise win_error(FileNotFoundError, ERROR_PATH_NOT_FOUND, path)
        return root

    def _find(self, parsed: _Parsed) -> _Node | None:
        node: _Node | None = self._drives.get(parsed.drive)
        for part in parsed.parts:
            if not isinstance(node, _Dir):
                return None
            node = node.children.get(_key(part))
        return node

    def _parent(self, parsed: _Parsed, path: str) -> _Dir:
        """The directory that holds the last component; ERROR_PATH_NOT_FOUND if missing."""
        node: _Node | None = self._root(parsed, path)
        for part in parsed.parts[:-1]:
            node = node.children.get(_key(part)) if isinstance(node, _Dir) else None
            if not isinstance(node, _Dir):
                raise win_error(FileNotFoundError, ERROR_PATH_NOT_FOUND, path)
        assert isinstance(node, _Dir)
        return node

    def _get(self, path: str, cwd: str | None, *, missing: int = ERROR_FILE_NOT_FOUND
             ) -> tuple[_Parsed, _Node]:
        parsed = self._parse(path, cwd)
        if not parsed.parts:
            return parsed, self._root(parsed, path)
        parent = self._parent(parsed, path)
        node = parent.children.get(_key(parsed.parts[-1]))
        if node is None:
            raise win_error(FileNotFoundError, missing, path)
        return parsed, node

    # --- queries -------------------------------------------------------------------------
    def exists(self, path: str, cwd: str | None = None) -> bool:
        with self._lock:
            return self._find(self._parse(path, cwd)) is not None

    def is_dir(self, path: str, cwd: str | None = None) -> bool:
        with self._lock:
            return isinstance(self._find(self._parse(path, cwd)), _Dir)

    def is_file(self, path: str, cwd: str | None = None) -> bool:
        with self._lock:
            return isinstance(self._find(self._parse(path, cwd)), _File)

    def stat(self, path: str, cwd: str | None = None) -> FileStat:
        with self._lock:
            _, node = self._get(path, cwd)
            if isinstance(node, _File):
                return FileStat(len(node.data), node.mtime, False, node.ctime)
            return FileStat(0, node.mtime, True, node.ctime)

    def real_path(self, path: str, cwd: str | None = None) -> str:
        """The absolute path of an existing entry, spelled in its stored case."""
        with self._lock:
            parsed, _ = self._get(path, cwd)
            node: _Node = self._drives[parsed.drive]
            names = []
            for part in parsed.parts:
                assert isinstance(node, _Dir)
                node = node.children[_key(part)]
                names.append(node.name)
            return str(_Parsed(parsed.drive, tuple(names)))

    def listdir(self, path: str, cwd: str | None = None) -> list[str]:
        """Names in a directory, stored case, in NTFS's case-insensitive order."""
        with self._lock:
            _, node = self._get(path, cwd, missing=ERROR_PATH_NOT_FOUND)
            if not isinstance(node, _Dir):
                raise win_error(NotADirectoryError, ERROR_DIRECTORY, path)
            return [n.name for _, n in sorted(node.children.items())]

    def scandir(self, path: str, cwd: str | None = None) -> list[tuple[str, FileStat]]:
        """``(name, stat)`` for every entry, in one consistent snapshot."""
        with self._lock:
            _, node = self._get(path, cwd, missing=ERROR_PATH_NOT_FOUND)
            if not isinstance(node, _Dir):
                raise win_error(NotADirectoryError, ERROR_DIRECTORY, path)
            out = []
            for _, child in sorted(node.children.items()):
                if isinstance(child, _File):
                    out.append((child.name, FileStat(len(child.data), child.mtime, False,
                                                      child.ctime)))
                else:
                    out.append((child.name, FileStat(0, child.mtime, True, child.ctime)))
            return out

    def walk(self, top: str, cwd: str | None = None
             ) -> Iterator[tuple[str, list[str], list[str]]]:
        """Like ``os.walk`` top-down; prune by editing the yielded ``dirnames`` in place."""
        top = self.real_path(top, cwd)
        if not self.is_dir(top):
            return
        stack = [top]
        while stack:
            current = stack.pop()
            try:
                entries = self.scandir(current)
            except OSError:
                continue  # removed while walking
            dirs = [n for n, st in entries if st.is_dir]
            files = [n for n, st in entries if not st.is_dir]
            yield current, dirs, files
            stack.extend(self.join(current, d) for d in reversed(dirs))

    # --- directories ---------------------------------------------------------------------
    def mkdir(self, path: str, parents: bool = False, exist_ok: bool = False,
              cwd: str | None = None) -> None:
        with self._lock:
            parsed = self._parse(path, cwd)
            if not parsed.parts:
                if exist_ok:
                    self._root(parsed, path)
                    return
                raise win_error(FileExistsError, ERROR_ALREADY_EXISTS, path)
            if parents:
                node: _Node = self._root(parsed, path)
                for part in parsed.parts[:-1]:
                    assert isinstance(node, _Dir)
                    child = node.children.get(_key(part))
                    if child is None:
                        child = node.children[_key(part)] = _Dir(part)
                        node.mtime = time.time()
                    elif not isinstance(child, _Dir):
                        raise win_error(FileNotFoundError, ERROR_PATH_NOT_FOUND, path)
                    node = child
            parent = self._parent(parsed, path)
            existing = parent.children.get(_key(parsed.parts[-1]))
            if existing is not None:
                if exist_ok and isinstance(existing, _Dir):
                    return
                raise win_error(FileExistsError, ERROR_ALREADY_EXISTS, path)
            parent.children[_key(parsed.parts[-1])] = _Dir(parsed.parts[-1])
            parent.mtime = time.time()

    def makedirs(self, path: str, exist_ok: bool = True, cwd: str | None = None) -> None:
        self.mkdir(path, parents=True, exist_ok=exist_ok, cwd=cwd)

    def rmdir(self, path: str, cwd: str | None = None) -> None:
        with self._lock:
            parsed, node = self._get(path, cwd)
            if not parsed.parts:
                raise win_error(PermissionError, ERROR_ACCESS_DENIED, path)
            if not isinstance(node, _Dir):
                raise win_error(NotADirectoryError, ERROR_DIRECTORY, path)
            if node.children:
                raise win_error(OSError, ERROR_DIR_NOT_EMPTY, path)
            parent = self._parent(parsed, path)
            del parent.children[_key(parsed.parts[-1])]
            parent.mtime = time.time()

    def rmtree(self, path: str, cwd: str | None = None) -> None:
        """Remove a directory and everything under it (refused if a file in it is open)."""
        with self._lock:
            parsed, node = self._get(path, cwd)
            if not parsed.parts:
                raise win_error(PermissionError, ERROR_ACCESS_DENIED, path)
            if not isinstance(node, _Dir):
                raise win_error(NotADirectoryError, ERROR_DIRECTORY, path)
            if self._has_open_file(node):
                raise win_error(PermissionError, ERROR_SHARING_VIOLATION, path)
            parent = self._parent(parsed, path)
            del parent.children[_key(parsed.parts[-1])]
            parent.mtime = time.time()

    def _has_open_file(self, node: _Node) -> bool:
        if isinstance(node, _File):
            return node.open_count > 0
        assert isinstance(node, _Dir)
        return any(self._has_open_file(c) for c in node.children.values())

    # --- files ---------------------------------------------------------------------------
    _MODES = {"rb": (True, False, False, False), "r+b": (True, True, False, False),
              "rb+": (True, True, False, False), "wb": (False, True, True, False),
              "w+b": (True, True, True, False), "wb+": (True, True, True, False),
              "ab": (False, True, False, True), "a+b": (True, True, False, True),
              "ab+": (True, True, False, True), "xb": (False, True, True, False)}

    def open(self, path: str, mode: str = "rb", cwd: str | None = None,
             share: str = "rw") -> SimFile:
        """Open a file in a binary mode (``rb``, ``wb``, ``ab``, ``r+b``, ``xb`` …).

        ``share`` is CreateFile's share mode as letters, ``r`` (FILE_SHARE_READ) and ``w``
        (FILE_SHARE_WRITE): an open whose access another handle does not share, or whose
        share mode denies another handle's access, fails with ERROR_SHARING_VIOLATION.
        (Deleting or replacing an open file is refused regardless, as without
        FILE_SHARE_DELETE.)
        """
        if set(share) - set("rw"):
            raise ValueError(f"share mode {share!r}: letters r and w only")
        if mode not in self._MODES:
            raise ValueError(f"the simulated filesystem opens files in binary modes only "
                             f"({', '.join(self._MODES)}), not {mode!r}")
        readable, writable, truncate, append = self._MODES[mode]
        creates = mode[0] in "wax"
        with self._lock:
            parsed = self._parse(path, cwd)
            if not parsed.parts:
                raise win_error(IsADirectoryError, ERROR_ACCESS_DENIED, path)
            parent = self._parent(parsed, path)
            name = parsed.parts[-1]
            node = parent.children.get(_key(name))
            if isinstance(node, _Dir):
                raise win_error(IsADirectoryError, ERROR_ACCESS_DENIED, path)
            if node is not None and mode == "xb":
                raise win_error(FileExistsError, ERROR_FILE_EXISTS, path)
            if node is None:
                if not creates:
                    raise win_error(FileNotFoundError, ERROR_FILE_NOT_FOUND, path)
                node = parent.children[_key(name)] = _File(name)
                parent.mtime = time.time()
            assert isinstance(node, _File)
            for other in node.handles:
                if (readable and "r" not in other.share) or (writable and "w" not in other.share) \
                        or (other.readable() and "r" not in share) \
                        or (other.writable() and "w" not in share):
                    raise win_error(PermissionError, ERROR_SHARING_VIOLATION, path)
            if truncate:
                node.data = bytearray()
                node.mtime = time.time()
            node.open_count += 1
            handle = SimFile(self, node, str(parsed), mode, readable, writable, append,
                             share=share)
            node.handles.append(handle)
            return handle

    def read_bytes(self, path: str, cwd: str | None = None) -> bytes:
        with self._lock:
            _, node = self._get(path, cwd)
            if isinstance(node, _Dir):
                raise win_error(IsADirectoryError, ERROR_ACCESS_DENIED, path)
            assert isinstance(node, _File)
            return bytes(node.data)

    def write_bytes(self, path: str, data: bytes, cwd: str | None = None) -> None:
        with self.open(path, "wb", cwd=cwd) as f:
            f.write(data)

    def remove(self, path: str, cwd: str | None = None) -> None:
        with self._lock:
            parsed, node = self._get(path, cwd)
            if isinstance(node, _Dir):
                # DeleteFile on a directory: ERROR_ACCESS_DENIED.
                raise win_error(IsADirectoryError, ERROR_ACCESS_DENIED, path)
            assert isinstance(node, _File)
            if node.open_count:
                raise win_error(PermissionError, ERROR_SHARING_VIOLATION, path)
            parent = self._parent(parsed, path)
            del parent.children[_key(parsed.parts[-1])]
            parent.mtime = time.time()

    def rename(self, src: str, dst: str, replace: bool = True, cwd: str | None = None) -> None:
        """Move ``src`` to ``dst`` in one step (MoveFileEx; ``replace`` = REPLACE_EXISTING)."""
        with self._lock:
            psrc, node = self._get(src, cwd)
            pdst = self._parse(dst, cwd)
            if not psrc.parts or not pdst.parts:
                raise win_error(PermissionError, ERROR_ACCESS_DENIED, src, dst)
            if psrc.drive != pdst.drive:
                raise win_error(OSError, ERROR_NOT_SAME_DEVICE, src, dst)
            if isinstance(node, _File) and node.open_count:
                raise win_error(PermissionError, ERROR_SHARING_VIOLATION, src, dst)
            src_keys = tuple(_key(p) for p in psrc.parts)
            dst_keys = tuple(_key(p) for p in pdst.parts)
            if isinstance(node, _Dir) and dst_keys[:len(src_keys)] == src_keys \
                    and dst_keys != src_keys:
                # moving a directory into itself
                raise win_error(PermissionError, ERROR_SHARING_VIOLATION, src, dst)
            src_parent = self._parent(psrc, src)
            dst_parent = self._parent(pdst, dst)
            new_name = pdst.parts[-1]
            if src_keys == dst_keys:  # same entry: at most a change of case
                node.name = new_name
                node.mtime = time.time()
                return
            existing = dst_parent.children.get(_key(new_name))
            if existing is not None:
                if not replace:
                    raise win_error(FileExistsError, ERROR_ALREADY_EXISTS, src, dst)
                if isinstance(existing, _Dir) or isinstance(node, _Dir):
                    raise win_error(PermissionError, ERROR_ACCESS_DENIED, src, dst)
                assert isinstance(existing, _File)
                if existing.open_count:
                    raise win_error(PermissionError, ERROR_ACCESS_DENIED, src, dst)
            del src_parent.children[_key(psrc.parts[-1])]
            node.name = new_name
            dst_parent.children[_key(new_name)] = node
            src_parent.mtime = dst_parent.mtime = time.time()

    def copy_file(self, src: str, dst: str, cwd: str | None = None) -> int:
        """Copy one file's bytes (CopyFile, overwriting); returns the size."""
        with self._lock:
            data = self.read_bytes(src, cwd)
            if self.is_dir(dst, cwd):
                raise win_error(IsADirectoryError, ERROR_ACCESS_DENIED, dst)
            self.write_bytes(dst, data, cwd)
            return len(data)


class SimFile:
    """An open file of :class:`FileSystem` (binary, seekable, usable as a context manager)."""

    def __init__(self, fs: FileSystem, node: _File, path: str, mode: str,
                 readable: bool, writable: bool, append: bool, share: str = "rw"):
        self.share = share
        self._fs = fs
        self._node = node
        self.name = path
        self.mode = mode
        self._readable = readable
        self._writable = writable
        self._append = append
        self._pos = len(node.data) if append else 0
        self.closed = False

    def _check(self, want_read: bool = False, want_write: bool = False) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if want_read and not self._readable:
            raise win_error(PermissionError, ERROR_ACCESS_DENIED, self.name)
        if want_write and not self._writable:
            raise win_error(PermissionError, ERROR_ACCESS_DENIED, self.name)

    def readable(self) -> bool:
        return self._readable

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        with self._fs.lock:
            self._check(want_read=True)
            data = self._node.data
            end = len(data) if n is None or n < 0 else min(len(data), self._pos + n)
            if self._pos >= end:
                return b""
            out = bytes(data[self._pos:end])
            self._pos = end
            return out

    def readinto(self, buf) -> int:
        chunk = self.read(len(buf))
        buf[:len(chunk)] = chunk
        return len(chunk)

    def write(self, b) -> int:
        n = len(b)
        with self._fs.lock:
            self._check(want_write=True)
            data = self._node.data
            if self._append:
                self._pos = len(data)
            pos = self._pos
            if pos == len(data):
                data += b
            elif pos > len(data):
                data += bytes(pos - len(data))
                data += b
            else:
                data[pos:pos + n] = b
            self._pos = pos + n
            self._node.mtime = time.time()
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        with self._fs.lock:
            self._check()
            if whence == 0:
                pos = offset
            elif whence == 1:
                pos = self._pos + offset
            elif whence == 2:
                pos = len(self._node.data) + offset
            else:
                raise ValueError(f"invalid whence ({whence})")
            if pos < 0:
                raise OSError(errno.EINVAL, "An attempt was made to move the file pointer "
                                            "before the beginning of the file.", self.name)
            self._pos = pos
            return pos

    def tell(self) -> int:
        self._check()
        return self._pos

    def truncate(self, size: int | None = None) -> int:
        with self._fs.lock:
            self._check(want_write=True)
            size = self._pos if size is None else size
            data = self._node.data
            if size < len(data):
                del data[size:]
            else:
                data += bytes(size - len(data))
            self._node.mtime = time.time()
            return size

    def flush(self) -> None:
        self._check()

    def close(self) -> None:
        with self._fs.lock:
            if not self.closed:
                self.closed = True
                self._node.open_count -= 1
                if self in self._node.handles:
                    self._node.handles.remove(self)

    def __enter__(self) -> SimFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<SimFile {self.name!r} mode={self.mode!r}{' closed' if self.closed else ''}>"
