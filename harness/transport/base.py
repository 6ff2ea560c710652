"""The transport contract and its result objects.

Every remote operation is either a native command line (built from an argv by
:mod:`harness.cmdline`) or a named PowerShell script run through the bootstrap
(:mod:`harness.transport.powershell`).  Both reach the host's command processor
(``cmd.exe``, which WinRS and Windows OpenSSH both use by default), so an argv is rendered
with MSVCRT quoting *and* cmd.exe escaping.

Every command has a deadline enforced here, not by the client library (pywinrm has none:
docs/behaviour/protocols.md §1.6).  Results carry the command *as sent*, redacted.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Union

from harness.cmdline import cmd_command_line
from harness.errors import RemoteCommandError
from harness.secrets import redact
from harness.transport.retry import RetryPolicy, policy_of

log = logging.getLogger("harness.transport")

DEFAULT_TIMEOUT = 120.0

# What ``run(stdin=...)`` accepts: all bytes at once, a binary file, or an iterable of
# chunks (streamed, so memory stays bounded whatever the size).
Stdin = Union[bytes, BinaryIO, Iterable[bytes], None]


@dataclass
class CommandResult:
    """What a remote command did.  ``stdout``/``stderr`` are decoded and redacted."""

    command: str
    exit_code: int
    stdout_bytes: bytes = b""
    stderr_bytes: bytes = b""
    duration: float = 0.0
    encoding: str = "utf-8"
    host: str = ""

    def __post_init__(self) -> None:
        self.command = redact(self.command)

    @property
    def stdout(self) -> str:
        return redact(self.stdout_bytes.decode(self.encoding, "replace"))

    @property
    def stderr(self) -> str:
        return redact(self.stderr_bytes.decode(self.encoding, "replace"))

    @property
    def rc(self) -> int:
        return self.exit_code

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> bool:
        return self.exit_code != 0

    def check(self, hint: str | None = None) -> CommandResult:
        """Return self if the command succeeded, else raise RemoteCommandError."""
        __tracebackhide__ = True
        if self.failed:
            raise RemoteCommandError(self, hint=hint)
        return self

    def transcript(self, limit: int = 64 * 1024) -> str:
        """A redacted human-readable record of the call, for logs and report attachments."""
        def clip(text: str) -> str:
            return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"
        return (f"$ {self.command}\n[exit {self.exit_code} after {self.duration:.3f}s"
                f"{' on ' + self.host if self.host else ''}]\n"
                f"--- stdout ---\n{clip(self.stdout)}\n--- stderr ---\n{clip(self.stderr)}\n")


@dataclass
class TransferResult:
    local_path: Path
    remote_path: str
    size: int
    sha256: str
    duration: float
    chunks: int = 0
    extra: dict = field(default_factory=dict)


class Transport(abc.ABC):
    """One connection to one host.  Not thread-safe: use one per worker/thread."""

    NAME: str = "abstract"

    def __init__(self, target):
        self.target = target

    # --- commands ------------------------------------------------------------------
    @property
    def retry_policy(self):
        """How repeatable operations are retried on this host (from ``target.retry``)."""
        policy = self.__dict__.get("_retry_policy")
        if policy is None:
            policy = RetryPolicy.from_settings(getattr(self.target, "retry", None))
            self.__dict__["_retry_policy"] = policy
        return policy

    @retry_policy.setter
    def retry_policy(self, policy) -> None:
        self.__dict__["_retry_policy"] = policy

    def run(self, command: str | Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
            stdin: Stdin = None, check: bool = False, repeatable: bool = False) -> CommandResult:
        """Run ``command`` (an argv, or a ready command line) through the host's cmd.exe.

        Raises :class:`~harness.errors.CommandTimeout` when ``timeout`` expires (after
        stopping the remote command) and a :class:`~harness.errors.TransportError` when
        the host cannot be reached.  With ``repeatable=True`` (only for commands that may
        run twice: reads, idempotent writes) a transient transport failure runs the whole
        command again, up to :attr:`retry_policy`'s attempts; ``stdin`` must then be bytes.
        """
        if repeatable:
            return run_repeatable(self, command, timeout=timeout, stdin=stdin, check=check)
        line = self.command_line(command)
        started = time.monotonic()
        exit_code, out, err = self._run(line, timeout=timeout, stdin=stdin)
        result = CommandResult(command=line, exit_code=exit_code, stdout_bytes=out,
                               stderr_bytes=err, duration=time.monotonic() - started,
                               host=self.target.name)
        log.debug("%s", result.transcript(limit=4096))
        return result.check() if check else result

    @staticmethod
    def command_line(command: str | Sequence[str]) -> str:
        if isinstance(command, str):
            return command
        return cmd_command_line(list(command))

    @abc.abstractmethod
    def _run(self, command_line: str, *, timeout: float, stdin: Stdin) -> tuple[int, bytes, bytes]:
        """Run one command line; return ``(exit_code, stdout, stderr)``."""

    # --- files ---------------------------------------------------------------------
    # Transfers are repeatable as a whole: an upload lands under a temporary name and is
    # renamed only once verified, a download restarts its local temporary file.  So
    # ``put``/``get`` retry transient failures; backends implement one attempt.
    def put(self, local_path: str | Path, remote_path: str, *,
            timeout: float | None = None) -> TransferResult:
        """Upload atomically: temporary name, SHA-256 verified on the host, then renamed."""
        return self.retry_policy.call(
            lambda: self._put(local_path, remote_path, timeout=timeout),
            what=f"put {remote_path}", host=self.target.name)

    def get(self, remote_path: str, local_path: str | Path, *,
            timeout: float | None = None) -> TransferResult:
        """Download atomically: temporary local name, SHA-256 verified, then renamed."""
        return self.retry_policy.call(
            lambda: self._get(remote_path, local_path, timeout=timeout),
            what=f"get {remote_path}", host=self.target.name)

    def _put(self, local_path: str | Path, remote_path: str, *,
             timeout: float | None = None) -> TransferResult:
        """One upload attempt (a transport that overrides ``put`` itself needs none)."""
        raise NotImplementedError(f"{type(self).__name__} cannot upload files")

    def _get(self, remote_path: str, local_path: str | Path, *,
             timeout: float | None = None) -> TransferResult:
        """One download attempt (a transport that overrides ``get`` itself needs none)."""
        raise NotImplementedError(f"{type(self).__name__} cannot download files")

    # --- lifecycle -----------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release remote resources (shells, channels).  Safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.target.describe()}>"


def replayable_stdin(stdin: Stdin) -> bytes | None:
    """``stdin`` as bytes that every attempt can send again; a stream cannot be replayed."""
    if stdin is None or isinstance(stdin, bytes):
        return stdin
    if isinstance(stdin, (bytearray, memoryview)):
        return bytes(stdin)
    raise TypeError("a repeatable command needs its stdin as bytes (a stream or iterator "
                    "cannot be sent again)")


def run_repeatable(transport, command: str | Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
                   stdin: Stdin = None, check: bool = False) -> CommandResult:
    """Run ``command`` through ``transport.run`` until it gets an answer (any exit code).

    Each attempt is a fresh call of ``transport.run`` — the reporting wrapper's when the
    transport is wrapped, so every attempt is its own report step — with the output
    buffered, never streamed: nothing reaches a caller from an attempt that failed.
    """
    data = replayable_stdin(stdin)
    line = Transport.command_line(command)
    result = policy_of(transport).call(
        lambda: transport.run(command, timeout=timeout, stdin=data),
        what=f"command {_short_line(line)}",
        host=getattr(getattr(transport, "target", None), "name", ""))
    return result.check() if check else result


def _short_line(line: str, limit: int = 120) -> str:
    line = redact(line)
    return line if len(line) <= limit else line[:limit] + "…"
