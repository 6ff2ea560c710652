"""Simulated processes: a program (a Python callable) run on a thread with pipes.

The servers see a process only through :class:`SimProcess` — write stdin, read output
with a timeout, terminate — which is exactly what WinRS and an SSH exec channel need.
Programs see it through a context object (:class:`harness.sim.machine.ProcessContext`,
which names the machine they run on); this module knows nothing of machines.  Pipes are
bounded, so a program that writes 10 MB blocks until the client has received it, as a real
pipe would.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

PIPE_CAPACITY = 1 << 20  # bytes buffered per output pipe before the writer blocks

# Windows exit code of a process ended by TerminateProcess from a Ctrl-C/terminate signal
# (STATUS_CONTROL_C_EXIT).  WinRS' terminate signal kills the process tree.
EXIT_TERMINATED = 0xC000013A


class Terminated(Exception):
    """Raised inside a program when its process is being terminated."""


class ProgramNotFoundError(FileNotFoundError):
    """CreateProcess found no executable for a command line (spawn with ``shell=False``)."""


class Pipe:
    """A bounded byte pipe with EOF, safe between one writer and one reader thread."""

    def __init__(self, capacity: int = PIPE_CAPACITY, activity: threading.Event | None = None):
        self._buf = bytearray()
        self._activity = activity  # set on every write and close, for readers of several pipes
        self._capacity = capacity
        self._closed = False
        self._cond = threading.Condition()

    def write(self, data: bytes, cancel: threading.Event | None = None) -> None:
        view = memoryview(data)
        with self._cond:
            while view:
                if self._closed:
                    raise BrokenPipeError("pipe closed")
                room = self._capacity - len(self._buf)
                if room <= 0:
                    if cancel is not None and cancel.is_set():
                        raise Terminated()
                    self._cond.wait(0.1)
                    continue
                self._buf += view[:room]
                view = view[room:]
                self._cond.notify_all()
                if self._activity is not None:
                    self._activity.set()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._activity is not None:
            self._activity.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def read(self, max_bytes: int = -1, timeout: float | None = None,
             cancel: threading.Event | None = None) -> bytes:
        """Return available bytes (waiting up to ``timeout``); ``b""`` means EOF or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._buf and not self._closed:
                if cancel is not None and cancel.is_set():
                    raise Terminated()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return b""
                self._cond.wait(0.1 if remaining is None else min(remaining, 0.1))
            n = len(self._buf) if max_bytes < 0 else min(max_bytes, len(self._buf))
            data = bytes(self._buf[:n])
            del self._buf[:n]
            self._cond.notify_all()
            return data

    def at_eof(self) -> bool:
        with self._cond:
            return self._closed and not self._buf

    def pending(self) -> int:
        with self._cond:
            return len(self._buf)


class StdinReader:
    """What a program reads its standard input from (blocking, honours termination)."""

    def __init__(self, pipe: Pipe, cancel: threading.Event):
        self._pipe = pipe
        self._cancel = cancel
        self._pushback = bytearray()

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes (all until EOF when ``n < 0``); ``b""`` at EOF."""
        out = bytearray(self._pushback[: n if n >= 0 else len(self._pushback)])
        del self._pushback[: len(out)]
        while n < 0 or len(out) < n:
            if out and n >= 0:
                break
            chunk = self._pipe.read(-1 if n < 0 else n - len(out), cancel=self._cancel)
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def readline(self) -> bytes:
        """One line including its ``\\n`` (or the rest at EOF); ``b""`` at EOF."""
        while b"\n" not in self._pushback:
            chunk = self._pipe.read(-1, cancel=self._cancel)
            if not chunk:
                line = bytes(self._pushback)
                self._pushback.clear()
                return line
            self._pushback += chunk
        i = self._pushback.index(b"\n") + 1
        line = bytes(self._pushback[:i])
        del self._pushback[:i]
        return line

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class Console:
    """The console a process tree shares: its code page (``chcp`` changes it for the tree)."""

    def __init__(self, codepage: int):
        self.codepage = codepage


class OutputWriter:
    """A standard output handle; text is encoded in the console's current code page."""

    def __init__(self, pipe: Pipe, cancel: threading.Event, encoding: str,
                 console: Console | None = None):
        self._pipe = pipe
        self._cancel = cancel
        self._encoding = encoding
        self.console = console

    @property
    def encoding(self) -> str:
        return encoding_for(self.console.codepage) if self.console else self._encoding

    @encoding.setter
    def encoding(self, value: str) -> None:
        self._encoding = value
        self.console = None

    def write(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode(self.encoding, "replace")
        if self._cancel.is_set():
            raise Terminated()
        try:
            self._pipe.write(data, cancel=self._cancel)
        except BrokenPipeError:
            raise Terminated() from None

    def line(self, text: str = "") -> None:
        """Write ``text`` and a Windows line ending."""
        self.write(text + "\r\n")


def encoding_for(codepage: int) -> str:
    return {65001: "utf-8", 437: "cp437", 1252: "cp1252", 850: "cp850"}.get(codepage, "utf-8")


class ProgramContext(Protocol):
    """What :class:`SimProcess` needs of the context it hands its program."""

    console: Console | None


class SimProcess:
    """A running simulated program, as a server sees it.

    ``ctx_factory`` builds the program's context from the process's standard handles and
    its cancel event; ``program`` is called with that context and returns the exit code.
    """

    def __init__(self, ctx_factory: Callable[[StdinReader, OutputWriter, OutputWriter,
                                              threading.Event], ProgramContext],
                 program: Callable[[Any], int], name: str, codepage: int = 65001):
        self.name = name
        self.cancel = threading.Event()
        self._stdin = Pipe(capacity=1 << 62)  # writers (servers) never block on stdin
        self._activity = threading.Event()
        self._stdout = Pipe(activity=self._activity)
        self._stderr = Pipe(activity=self._activity)
        enc = encoding_for(codepage)
        console = Console(codepage)
        self.ctx = ctx_factory(StdinReader(self._stdin, self.cancel),
                               OutputWriter(self._stdout, self.cancel, enc, console),
                               OutputWriter(self._stderr, self.cancel, enc, console),
                               self.cancel)
        if self.ctx.console is None:
            self.ctx.console = console
        self.exit_code: int | None = None
        self._done = threading.Event()
        self._program = program
        self._thread = threading.Thread(target=self._main, name=f"sim-proc-{name}", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        code = 1
        try:
            code = int(self._program(self.ctx))
        except Terminated:
            code = EXIT_TERMINATED
        except Exception:  # a bug in the sim: say so loudly on stderr, never exit 0
            try:
                self._stderr.write(("simulated host internal error in "
                                    f"{self.name}:\n{traceback.format_exc()}").encode())
            except BrokenPipeError:
                pass
            code = 1
        finally:
            self.exit_code = code & 0xFFFFFFFF if code < 0 else code
            self._done.set()
            self._stdout.close()
            self._stderr.close()

    # --- what servers call -------------------------------------------------------------
    def write_stdin(self, data: bytes, eof: bool = False) -> None:
        if data and not self._stdin.closed:
            self._stdin.write(data)
        if eof:
            self._stdin.close()

    def read_output(self, max_bytes: int, timeout: float) -> tuple[bytes, bytes, bool]:
        """Wait up to ``timeout`` for output or exit; return ``(stdout, stderr, done)``.

        ``done`` is true only once the program has exited *and* both pipes are drained.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._activity.clear()
            out = self._stdout.read(max_bytes, timeout=0)
            err = self._stderr.read(max(0, max_bytes - len(out)) or 1, timeout=0) \
                if len(out) < max_bytes else b""
            done = self._done.is_set() and self._stdout.at_eof() and self._stderr.at_eof()
            if out or err or done:
                return out, err, done
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"", b"", False
            self._activity.wait(remaining)

    def terminate(self) -> None:
        self.cancel.set()
        self._stdin.close()
        self._stdout.close()
        self._stderr.close()

    def wait(self, timeout: float | None = None) -> int | None:
        self._done.wait(timeout)
        return self.exit_code

    @property
    def done(self) -> bool:
        return self._done.is_set()
