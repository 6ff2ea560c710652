"""Local transport: the harness runs on the Windows host itself (a CI runner).

Commands go to ``cmd.exe /d /s /c "chcp 65001 >nul & <command>"``, where ``<command>`` is
what ``cmd /s /c <line>`` would run (a leading quote and the last quote dropped), so an argv
rendered by :mod:`harness.cmdline` for ``cmd.exe /c`` (WinRS, Windows OpenSSH) means the same
here as remotely, and text comes back in UTF-8 as over WinRM.  There is exactly one outer
pair of quotes, the one ``/s`` strips (cmd /?): the line used to be wrapped in a second pair
on top of the one :func:`harness.cmdline.escape` adds, and cmd then read the program as
``""C:\\Program`` (issue 12, finding 1).  The whole line is given to ``CreateProcess`` as one
string (``subprocess.Popen`` passes a ``str`` through verbatim on Windows), with a console of
cmd's own (CREATE_NO_WINDOW) so the code-page switch never touches the runner's console.
Deadlines kill the whole process tree (``taskkill /T /F``): cmd.exe's children would
otherwise outlive it.

``launcher`` is a constructor parameter so that the transport can be exercised on another OS:
the launcher receives the very string ``CreateProcess`` would get as its one argument (the
tests use ``python -m harness.sim.exec``, which hands it to the simulated host's
CreateProcess, so the simulated cmd.exe parses the whole line).  Files are local atomic
copies, hashed on the way in and checked on the way out.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import CommandTimeout, TransferError, TransportError
from harness.secrets import redact
from harness.transport.base import DEFAULT_TIMEOUT, Stdin, TransferResult, Transport
from harness.transport.files import (
    READ_SIZE,
    check_local_destination,
    check_stdin,
    file_digest,
    iter_chunks,
    local_temporary,
)

SHELL = ("cmd.exe", "/d", "/s", "/c")
# The console of the local cmd.exe starts in the OEM code page; WinRM's shells use 65001.
CODEPAGE_SWITCH = "chcp 65001 >nul"  # the blank: a digit glued to > would name a handle
PIPE_CHUNK = 64 * 1024
IS_WINDOWS = os.name == "nt"


class LocalTransport(Transport):
    """Commands through the local cmd.exe; files as local copies."""

    NAME = "local"

    def __init__(self, target, *, launcher: Sequence[str] = ()):
        super().__init__(target)
        self.launcher = tuple(launcher)

    # --- commands ---------------------------------------------------------------------
    @staticmethod
    def process_command_line(command_line: str) -> str:
        """The string ``CreateProcess`` receives for ``command_line``.

        ``command_line`` is what follows ``cmd.exe /c`` remotely (an argv rendered by
        :func:`harness.cmdline.cmd_command_line`, or a line given as it is).  cmd first
        switches the console to UTF-8 (``chcp 65001``), as WinRM's shell is (its
        WINRS_CODEPAGE, ``Target.winrm.codepage``), so text output means the same here as
        remotely; the line then runs exactly as ``cmd /s /c <line>`` would have run it:
        ``/s`` would strip a leading quote and the last quote, so that is done here, and
        the result goes inside the one pair of quotes ``/s`` strips.
        """
        text = command_line.lstrip(" \t")
        if text.startswith('"'):
            last = text.rindex('"')
            text = text[1:last] + text[last + 1:]
        return " ".join(SHELL) + f' "{CODEPAGE_SWITCH} & {text}"'

    def _popen_args(self, command_line: str) -> str | list[str]:
        full = self.process_command_line(command_line)
        return [*self.launcher, full] if self.launcher else full

    def run_streaming(self, command_line: str, *, timeout: float = DEFAULT_TIMEOUT,
                      stdin: Stdin = None, on_stdout: Callable[[bytes], None],
                      on_stderr: Callable[[bytes], None]) -> int:
        """Run ``command_line``, handing output to the callbacks (on this thread)."""
        check_stdin(stdin)
        deadline = time.monotonic() + timeout
        # CREATE_NO_WINDOW: cmd.exe gets a console of its own (without a window), so its
        # chcp changes that console, never the runner's.
        flags = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP
                 | subprocess.CREATE_NO_WINDOW} if IS_WINDOWS \
            else {"start_new_session": True}
        try:
            proc = subprocess.Popen(self._popen_args(command_line),
                                    stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, **flags)
        except OSError as exc:
            raise TransportError(f"{self.target.describe()}: cannot start "
                                 f"{(self.launcher or SHELL)[0]}: {exc}",
                                 hint="the local transport needs cmd.exe (run on Windows)"
                                 ) from None
        events: queue.Queue = queue.Queue(maxsize=16)  # bounded: readers wait for us
        readers = [threading.Thread(target=_read_pipe, args=(pipe, name, events),
                                    daemon=True, name=f"local-{name}")
                   for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr))]
        for r in readers:
            r.start()
        writer = None
        if stdin is not None:
            writer = threading.Thread(target=_write_pipe, args=(proc.stdin, stdin),
                                      daemon=True, name="local-stdin")
            writer.start()
        open_streams = 2
        try:
            while open_streams:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Expired()
                try:
                    name, data = events.get(timeout=min(remaining, 0.5))
                except queue.Empty:
                    continue
                if data is None:
                    open_streams -= 1
                elif name == "stdout":
                    on_stdout(data)
                else:
                    on_stderr(data)
            remaining = deadline - time.monotonic()
            try:
                return proc.wait(timeout=max(remaining, 0.001))
            except subprocess.TimeoutExpired:
                raise _Expired() from None
        except _Expired:
            _kill_tree(proc)
            raise CommandTimeout(_short(command_line), timeout,
                                 hint="raise the timeout if the command is expected to be "
                                      "slow; its process tree was killed") from None
        except BaseException:
            _kill_tree(proc)
            raise
        finally:
            _drain_until_done(events, readers)
            if writer is not None:
                writer.join(timeout=1.0)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()

    def _run(self, command_line: str, *, timeout: float, stdin: Stdin) -> tuple[int, bytes, bytes]:
        out, err = bytearray(), bytearray()
        code = self.run_streaming(command_line, timeout=timeout, stdin=stdin,
                                  on_stdout=out.extend, on_stderr=err.extend)
        return code, bytes(out), bytes(err)

    # --- files ------------------------------------------------------------------------
    def _put(self, local_path: str | Path, remote_path: str, *,
            timeout: float | None = None) -> TransferResult:
        return self._copy(Path(local_path), Path(remote_path), local_path, remote_path)

    def _get(self, remote_path: str, local_path: str | Path, *,
            timeout: float | None = None) -> TransferResult:
        return self._copy(Path(remote_path), Path(local_path), local_path, remote_path)

    def _copy(self, src: Path, dst: Path, local_path, remote_path) -> TransferResult:
        """Copy to a temporary name beside ``dst``, re-hash what landed, then rename."""
        started = time.monotonic()
        check_local_destination(dst)
        tmp = local_temporary(dst)
        h = hashlib.sha256()
        size = 0
        done = False
        try:
            with open(src, "rb") as fin, open(tmp, "xb") as fout:
                while chunk := fin.read(READ_SIZE):
                    h.update(chunk)
                    fout.write(chunk)
                    size += len(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            landed = file_digest(tmp)
            if landed != (size, h.hexdigest()):
                raise TransferError(f"copy of {src} to {dst} did not verify: wrote {size} bytes "
                                    f"with sha256 {h.hexdigest()}, found {landed}")
            with contextlib.suppress(OSError):
                shutil.copymode(src, tmp)
            os.replace(tmp, dst)
            done = True
        except OSError as exc:
            raise TransferError(f"copy of {src} to {dst} failed: {exc}") from None
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        return TransferResult(local_path=Path(local_path), remote_path=str(remote_path),
                              size=size, sha256=h.hexdigest(),
                              duration=time.monotonic() - started)

    def close(self) -> None:
        """Nothing stays open between commands."""


class _Expired(Exception):
    """The command's deadline passed (internal)."""


def _read_pipe(pipe, name: str, events: queue.Queue) -> None:
    try:
        while data := pipe.read1(PIPE_CHUNK) if hasattr(pipe, "read1") else pipe.read(PIPE_CHUNK):
            events.put((name, data))
    except (OSError, ValueError):
        pass
    finally:
        events.put((name, None))


def _write_pipe(pipe, stdin: Stdin) -> None:
    try:
        for chunk in iter_chunks(stdin, PIPE_CHUNK):
            pipe.write(chunk)
            pipe.flush()
    except (OSError, ValueError):
        pass  # the process closed its stdin or was killed
    finally:
        with contextlib.suppress(OSError, ValueError):
            pipe.close()


def _drain_until_done(events: queue.Queue, readers: list[threading.Thread]) -> None:
    """Unblock readers that wait on a full queue after we stopped listening."""
    give_up = time.monotonic() + 2.0
    while any(r.is_alive() for r in readers) and time.monotonic() < give_up:
        with contextlib.suppress(queue.Empty):
            events.get(timeout=0.05)


def _kill_tree(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    if IS_WINDOWS:
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(proc.pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _short(line: str, limit: int = 300) -> str:
    line = redact(line)
    return line if len(line) <= limit else line[:limit] + f"... ({len(line)} characters)"
