"""Moving bytes: stdin chunking, and file transfer through the PowerShell scripts.

Every path here streams: a file is read, hashed and sent one chunk at a time, and a download
is decoded, hashed and written one line at a time, so memory stays bounded whatever the
size.  The WinRM transport moves files with :func:`upload_via_script` and
:func:`download_via_script` (docs/internals.md "Files over WinRM"); they work over any
transport that can run the bootstrap, which is why they live here and not in ``winrm.py``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.errors import HarnessError, RemoteCommandError, TransferError
from harness.transport.base import DEFAULT_TIMEOUT, Stdin, TransferResult, Transport
from harness.transport.powershell import run_script

READ_SIZE = 1 << 20  # local file reads
TMP_SUFFIX = ".hpce2e-tmp"
# Transfers get a deadline that grows with the size: DEFAULT_TIMEOUT plus this many seconds
# per MiB (a conservative 256 KiB/s).
SECONDS_PER_MIB = 4.0
# A download's size is unknown until it ends: without a caller's timeout it gets this long.
DOWNLOAD_TIMEOUT = 600.0


# --- stdin ------------------------------------------------------------------------------
def iter_chunks(stdin: Stdin, size: int) -> Iterator[bytes]:
    """Yield ``stdin`` as chunks of at most ``size`` bytes, reading lazily.

    Accepts bytes-like objects, binary files (anything with ``read``) and iterables of
    bytes.  ``str`` is refused: the caller chooses the encoding, not the transport.
    """
    if size < 1:
        raise ValueError("chunk size must be positive")
    if stdin is None:
        return
    if isinstance(stdin, str):
        raise TypeError("stdin must be bytes, a binary file or an iterable of bytes, not str")
    if isinstance(stdin, (bytes, bytearray, memoryview)):
        view = memoryview(stdin).cast("B")
        for i in range(0, len(view), size):
            yield bytes(view[i:i + size])
        return
    read = getattr(stdin, "read", None)
    if read is not None:
        while True:
            chunk = read(size)
            if not chunk:
                return
            if isinstance(chunk, str):
                raise TypeError("stdin file must be opened in binary mode")
            yield bytes(chunk)
    for piece in stdin:
        if isinstance(piece, str):
            raise TypeError("stdin chunks must be bytes, not str")
        view = memoryview(piece).cast("B")
        for i in range(0, len(view), size):
            yield bytes(view[i:i + size])


def check_stdin(stdin: Stdin) -> None:
    """Refuse a ``str`` before anything is started (the encoding is the caller's choice)."""
    if isinstance(stdin, str):
        raise TypeError("stdin must be bytes, a binary file or an iterable of bytes, not str")


def with_last(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """``(chunk, is_last)`` pairs; an empty input gives one ``(b"", True)``.

    WinRS closes a command's stdin with ``End="true"`` on a Send, so the last chunk must be
    known when it is sent (docs/behaviour/protocols.md §1.3).
    """
    it = iter(chunks)
    try:
        pending = next(it)
    except StopIteration:
        yield b"", True
        return
    for chunk in it:
        yield pending, False
        pending = chunk
    yield pending, True


# --- local files ------------------------------------------------------------------------
def file_digest(path: str | Path) -> tuple[int, str]:
    """``(size, sha256 hex)`` of a local file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(READ_SIZE):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def temporary_name(path: str) -> str:
    """``<path>.<random>.hpce2e-tmp``: beside the destination, so the rename is one step."""
    return f"{path}.{secrets.token_hex(4)}{TMP_SUFFIX}"


def local_temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def transfer_timeout(size: int | None, timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    if size is None:
        return DOWNLOAD_TIMEOUT
    return DEFAULT_TIMEOUT + SECONDS_PER_MIB * size / (1 << 20)


def check_local_destination(local: Path) -> None:
    if not local.parent.is_dir():
        raise TransferError(f"cannot download to {local}: {local.parent} is not a directory")
    if local.is_dir():
        raise TransferError(f"cannot download to {local}: it is a directory",
                            hint="give the full destination file name")


# --- transfers through the bootstrap ----------------------------------------------------
def line_chunk(payload: int) -> int:
    """Raw bytes per base64 line so that one line plus CRLF fills ``payload`` bytes."""
    return max(3, (payload - 2) // 4 * 3)


def upload_via_script(transport: Transport, local: str | Path, remote: str, *,
                      line_raw: int, timeout: float | None = None) -> TransferResult:
    """Send ``local`` to ``receive_file.ps1`` as base64 lines of ``line_raw`` bytes."""
    local = Path(local)
    started = time.monotonic()
    try:
        size, sha = file_digest(local)
    except OSError as exc:
        raise TransferError(f"cannot read {local} for upload: {exc.strerror or exc}") from None
    lines = 0

    def body() -> Iterator[bytes]:
        nonlocal lines
        with open(local, "rb") as f:
            while chunk := f.read(line_raw):
                lines += 1
                yield base64.b64encode(chunk) + b"\r\n"

    where = f"{transport.target.name}:{remote}"
    try:
        res = run_script(transport, "receive_file", {"path": remote, "sha256": sha, "size": size},
                         stdin_chunks=body(), timeout=transfer_timeout(size, timeout))
    except RemoteCommandError as exc:
        raise TransferError(f"upload of {local} to {where} failed; the destination was "
                            f"left untouched:\n  {_tail(exc.result.stderr)}") from None
    value = res.value or {}
    if value.get("sha256") != sha or value.get("size") != size:
        raise TransferError(f"upload of {local} to {where}: the host reported {value!r}, "
                            f"expected size {size} and sha256 {sha}")
    return TransferResult(local_path=local, remote_path=str(value.get("path") or remote),
                          size=size, sha256=sha, duration=time.monotonic() - started,
                          chunks=lines)


def download_via_script(transport: Transport, remote: str, local: str | Path, *,
                        line_raw: int, timeout: float | None = None) -> TransferResult:
    """Receive ``remote`` from ``send_file.ps1`` into a temporary file, verify, rename."""
    local = Path(local)
    check_local_destination(local)
    started = time.monotonic()
    tmp = local_temporary(local)
    h = hashlib.sha256()
    got = 0
    lines = 0
    where = f"{transport.target.name}:{remote}"
    done = False
    try:
        with open(tmp, "xb") as out:
            def on_line(line: bytes) -> None:
                nonlocal got, lines
                if not line.strip():
                    return
                try:
                    data = base64.b64decode(line, validate=True)
                except binascii.Error:
                    raise TransferError(f"download of {where}: the host sent a line that is "
                                        f"not base64: {line[:80]!r}") from None
                h.update(data)
                out.write(data)
                got += len(data)
                lines += 1

            try:
                res = run_script(transport, "send_file", {"path": remote, "chunk": line_raw},
                                 timeout=transfer_timeout(None, timeout), on_line=on_line)
            except RemoteCommandError as exc:
                raise TransferError(f"download of {where} failed:\n  "
                                    f"{_tail(exc.result.stderr)}") from None
        value = res.value or {}
        sha = h.hexdigest()
        if value.get("sha256") != sha or value.get("size") != got:
            raise TransferError(f"download of {where} did not verify: received {got} bytes "
                                f"with sha256 {sha}, the host reported {value!r}",
                                hint="the file may have changed during the download; retry")
        os.replace(tmp, local)
        done = True
    except HarnessError:
        raise
    except OSError as exc:
        raise TransferError(f"download of {where} to {local} failed: {exc}") from None
    finally:
        if not done:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return TransferResult(local_path=local, remote_path=str(value.get("path") or remote),
                          size=got, sha256=sha, duration=time.monotonic() - started,
                          chunks=lines)


def _tail(text: str, n: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n  ".join(lines[-n:]) or "(no message on stderr)"
