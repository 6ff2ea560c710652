"""The simulated host's filesystem behaves like NTFS where the harness can tell."""

from __future__ import annotations

import threading
import time

import pytest

from harness.sim.filesystem import FileSystem, UnsupportedPathError


@pytest.fixture
def fs() -> FileSystem:
    fs = FileSystem()
    fs.makedirs(r"C:\Users\Admin\AppData")
    return fs


# --- paths ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path, cwd, expected", [
    (r"C:\a\b", None, r"C:\a\b"),
    ("c:/a/b", None, r"C:\a\b"),
    (r"C:\a\.\b\..\c", None, r"C:\a\c"),
    (r"C:\..\..\a", None, r"C:\a"),
    (r"C:\a\\b\\", None, r"C:\a\b"),
    ("b", r"C:\a", r"C:\a\b"),
    (r"..\x", r"C:\a\b", r"C:\a\x"),
    (r"\x", r"C:\a", r"C:\x"),
    ("C:x", r"C:\a", r"C:\a\x"),
    ("D:x", r"C:\a", r"D:\x"),
    (r"C:\a\name. . ", None, r"C:\a\name"),  # Win32 drops trailing dots and spaces
    ("C:", None, "C:\\"),
])
def test_resolve(fs, path, cwd, expected):
    assert fs.resolve(path, cwd) == expected


@pytest.mark.parametrize("path", [r"\\server\share\x", r"\\?\C:\x", r"\\.\pipe\x",
                                  "//server/share", r"C:\temp\NUL", r"C:\con.txt"])
def test_unc_device_and_reserved_names_are_refused(fs, path):
    with pytest.raises(UnsupportedPathError, match="does not support"):
        fs.resolve(path)


@pytest.mark.parametrize("path", [r"C:\a<b", r"C:\a\b?", 'C:\\"q"', r"C:\a|b", "C:\\a\x01"])
def test_invalid_names(fs, path):
    with pytest.raises(OSError) as info:
        fs.exists(path)
    assert info.value.winerror == 123
    assert "syntax is incorrect" in info.value.strerror


def test_relative_path_without_cwd_is_a_caller_bug(fs):
    with pytest.raises(ValueError):
        fs.exists("relative")


# --- case ----------------------------------------------------------------------------------
def test_case_insensitive_and_case_preserving(fs):
    fs.write_bytes(r"C:\Users\Admin\Report.TXT", b"data")
    assert fs.exists(r"c:\users\admin\report.txt")
    assert fs.read_bytes(r"C:\USERS\ADMIN\REPORT.txt") == b"data"
    assert fs.listdir(r"c:\users\admin") == ["AppData", "Report.TXT"]
    assert fs.real_path(r"c:\users\admin\report.txt") == r"C:\Users\Admin\Report.TXT"
    # Writing through another spelling keeps the stored name.
    fs.write_bytes(r"C:\users\admin\REPORT.txt", b"new")
    assert fs.listdir(r"C:\Users\Admin") == ["AppData", "Report.TXT"]
    assert fs.read_bytes(r"C:\Users\Admin\Report.TXT") == b"new"


def test_listdir_is_in_case_insensitive_order(fs):
    for name in ("b.txt", "A.txt", "c.txt", "_x"):
        fs.write_bytes(rf"C:\Users\{name}", b"")
    assert fs.listdir(r"C:\Users") == ["_x", "A.txt", "Admin", "b.txt", "c.txt"]


def test_case_only_rename(fs):
    fs.write_bytes(r"C:\Users\Admin\file.txt", b"x")
    fs.rename(r"C:\Users\Admin\file.txt", r"C:\Users\Admin\FILE.txt")
    assert fs.listdir(r"C:\Users\Admin") == ["AppData", "FILE.txt"]


# --- errors --------------------------------------------------------------------------------
def test_missing_file_versus_missing_path(fs):
    with pytest.raises(FileNotFoundError) as leaf:
        fs.read_bytes(r"C:\Users\Admin\nope.txt")
    assert leaf.value.winerror == 2
    assert leaf.value.strerror == "The system cannot find the file specified."
    with pytest.raises(FileNotFoundError) as middle:
        fs.read_bytes(r"C:\Users\nobody\nope.txt")
    assert middle.value.winerror == 3
    assert middle.value.strerror == "The system cannot find the path specified."
    with pytest.raises(FileNotFoundError):
        fs.open(r"C:\nodir\new.txt", "wb")
    with pytest.raises(FileNotFoundError):
        fs.listdir(r"C:\nodir")
    assert not fs.exists(r"Q:\x")  # no such drive
    with pytest.raises(FileNotFoundError):
        fs.stat(r"Q:\x")


def test_directory_errors(fs):
    with pytest.raises(FileExistsError) as exists:
        fs.mkdir(r"C:\Users\Admin")
    assert exists.value.strerror == "Cannot create a file when that file already exists."
    fs.mkdir(r"C:\Users\Admin", exist_ok=True)
    with pytest.raises(FileNotFoundError):
        fs.mkdir(r"C:\x\y\z")
    fs.mkdir(r"C:\x\y\z", parents=True)
    assert fs.is_dir(r"C:\x\y")
    with pytest.raises(OSError) as not_empty:
        fs.rmdir(r"C:\x")
    assert not_empty.value.strerror == "The directory is not empty."
    fs.write_bytes(r"C:\x\f", b"")
    with pytest.raises(NotADirectoryError):
        fs.listdir(r"C:\x\f")
    with pytest.raises(NotADirectoryError):
        fs.rmdir(r"C:\x\f")
    with pytest.raises(IsADirectoryError):
        fs.open(r"C:\x", "rb")
    with pytest.raises(IsADirectoryError):
        fs.remove(r"C:\x")
    with pytest.raises(FileExistsError):
        fs.mkdir(r"C:\x\f", exist_ok=True)  # a file is in the way
    fs.rmtree(r"C:\x")
    assert not fs.exists(r"C:\x")


def test_open_file_cannot_be_removed_or_renamed_away(fs):
    path = r"C:\Users\Admin\locked.bin"
    f = fs.open(path, "wb")
    with pytest.raises(PermissionError) as info:
        fs.remove(path)
    assert info.value.winerror == 32
    with pytest.raises(PermissionError):
        fs.rename(path, path + ".moved")
    fs.write_bytes(r"C:\Users\Admin\other", b"o")
    with pytest.raises(PermissionError):
        fs.rename(r"C:\Users\Admin\other", path)  # replacing an open file
    f.close()
    fs.rename(r"C:\Users\Admin\other", path)
    assert fs.read_bytes(path) == b"o"
    fs.remove(path)
    assert not fs.exists(path)


def test_unsupported_open_mode(fs):
    with pytest.raises(ValueError, match="binary"):
        fs.open(r"C:\Users\x.txt", "w")


# --- rename --------------------------------------------------------------------------------
def test_rename_replace_semantics(fs):
    a, b = r"C:\Users\Admin\a.tmp", r"C:\Users\Admin\b.txt"
    fs.write_bytes(a, b"new")
    fs.write_bytes(b, b"old")
    with pytest.raises(FileExistsError):
        fs.rename(a, b, replace=False)
    assert fs.read_bytes(b) == b"old"
    fs.rename(a, r"c:\users\admin\B.TXT")  # replaces, and takes the new spelling
    assert fs.read_bytes(b) == b"new"
    assert not fs.exists(a)
    assert fs.listdir(r"C:\Users\Admin") == ["AppData", "B.TXT"]
    with pytest.raises(FileNotFoundError):
        fs.rename(a, b)
    with pytest.raises(FileNotFoundError):
        fs.rename(b, r"C:\nodir\b.txt")
    with pytest.raises(PermissionError):
        fs.rename(b, r"C:\Users\Admin\AppData")  # a directory is never replaced
    with pytest.raises(PermissionError):
        fs.rename(r"C:\Users", r"C:\Users\Admin\inside")
    fs.add_drive("D")
    with pytest.raises(OSError) as other_drive:
        fs.rename(b, r"D:\b.txt")
    assert other_drive.value.winerror == 17


def test_rename_directory_moves_subtree(fs):
    fs.write_bytes(r"C:\Users\Admin\AppData\deep.txt", b"d")
    fs.rename(r"C:\Users\Admin\AppData", r"C:\Users\Moved")
    assert fs.read_bytes(r"C:\users\moved\DEEP.txt") == b"d"
    assert not fs.exists(r"C:\Users\Admin\AppData")


def test_rename_is_atomic_for_concurrent_readers(fs):
    """A reader polling the destination sees either the old or the new content, never none."""
    dst = r"C:\Users\Admin\target"
    fs.write_bytes(dst, b"old")
    seen: set[bytes] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                seen.add(fs.read_bytes(dst))
            except OSError as exc:  # the destination was missing for a moment
                errors.append(exc)
                return

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        tmp = rf"C:\Users\Admin\target.{i}.tmp"
        fs.write_bytes(tmp, b"new")
        fs.rename(tmp, dst)
    stop.set()
    t.join()
    assert errors == []
    assert seen <= {b"old", b"new"} and seen
    assert fs.listdir(r"C:\Users\Admin") == ["AppData", "target"]


# --- file handles --------------------------------------------------------------------------
def test_file_modes(fs):
    p = r"C:\Users\Admin\f.bin"
    with fs.open(p, "wb") as f:
        assert f.write(b"hello world") == 11
        assert f.tell() == 11
    with fs.open(p, "r+b") as f:
        f.seek(6)
        f.write(b"WORLD!")
        f.seek(0)
        assert f.read(5) == b"hello"
        assert f.read() == b" WORLD!"
        assert f.read() == b""
    with fs.open(p, "ab") as f:
        f.seek(0)
        f.write(b"+")  # append mode always writes at the end
    assert fs.read_bytes(p) == b"hello WORLD!+"
    with fs.open(p, "wb") as f:
        f.seek(4)
        f.write(b"x")
    assert fs.read_bytes(p) == b"\0\0\0\0x"
    with fs.open(p, "rb") as f, pytest.raises(PermissionError):
        f.write(b"no")
    with pytest.raises(FileExistsError):
        fs.open(p, "xb")
    f = fs.open(p, "rb")
    f.close()
    with pytest.raises(ValueError):
        f.read()


def test_writes_are_visible_to_other_handles(fs):
    p = r"C:\Users\Admin\shared.log"
    w = fs.open(p, "wb")
    w.write(b"line1\n")
    assert fs.stat(p).size == 6
    with fs.open(p, "rb") as r:
        assert r.read() == b"line1\n"
    w.close()


def test_stat_and_mtime(fs):
    p = r"C:\Users\Admin\s.txt"
    fs.write_bytes(p, b"12345")
    st = fs.stat(p)
    assert (st.size, st.is_dir) == (5, False)
    assert abs(st.mtime - time.time()) < 5
    assert fs.stat(r"C:\Users").is_dir
    assert fs.stat("C:\\").is_dir


def test_walk(fs):
    fs.write_bytes(r"C:\Users\Admin\AppData\a.txt", b"")
    fs.write_bytes(r"C:\Users\Admin\b.txt", b"")
    walked = list(fs.walk(r"c:\users"))
    assert walked == [
        (r"C:\Users", ["Admin"], []),
        (r"C:\Users\Admin", ["AppData"], ["b.txt"]),
        (r"C:\Users\Admin\AppData", [], ["a.txt"]),
    ]


def test_50_megabytes_in_chunks_is_linear(fs):
    p = r"C:\Users\Admin\big.bin"
    chunk = bytes(range(256)) * 256  # 64 KiB
    count = 50 * 16  # 50 MiB
    start = time.monotonic()
    with fs.open(p, "wb") as f:
        for _ in range(count):
            f.write(chunk)
    assert fs.stat(p).size == len(chunk) * count
    with fs.open(p, "rb") as f:
        n = 0
        while True:
            data = f.read(1 << 20)
            if not data:
                break
            assert data[:256] == chunk[:256]
            n += len(data)
    elapsed = time.monotonic() - start
    assert n == len(chunk) * count
    assert elapsed < 10, f"50 MiB write+read took {elapsed:.1f}s"
