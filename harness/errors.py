"""The one exception family of the harness.

Modelled on Molecule's ``MoleculeError(message, code)``: every error carries a message, a
hint that tells the user what to do next, and the process exit code the CLI should use.
None of them derive from ``AssertionError``: Allure reports an ``AssertionError`` as a
product failure and anything else as "broken", and transport or configuration trouble
must never read as a runtime regression (docs/behaviour/protocols.md §3, §6).

Messages pass through the redaction registry when rendered, so a secret that slipped
into an error text is masked before it reaches a terminal or a report.
"""

from __future__ import annotations

from harness.secrets import redact

# Exit codes the CLI uses (the table is in README.md, "Exit codes"); pytest owns 0-5, so
# ours start above, at the BSD sysexits.h values where one fits.
EXIT_USAGE = 64  # EX_USAGE: the command line does not parse (unknown verb or option, typo)
EXIT_CONFIG = 78  # EX_CONFIG: a value is wrong: inventory, bundle, profile, option value
EXIT_CONNECT = 69  # EX_UNAVAILABLE: the host cannot be reached or refused us
EXIT_NOT_READY = EXIT_CONNECT  # doctor: a host answered but is not ready for the suite
EXIT_REMOTE = 70  # EX_SOFTWARE: a remote command failed in a way the harness did not expect
EXIT_OUTPUT = 73  # EX_CANTCREAT: an output path is not ours to write (or cannot be written)
EXIT_TIMEOUT = 75  # EX_TEMPFAIL: a deadline expired
EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C or SIGTERM stopped the run
EXIT_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`hpc-e2e doctor | head`)


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code: int = EXIT_REMOTE

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        text = self.message if not self.hint else f"{self.message} (hint: {self.hint})"
        return redact(text)


class ConfigError(HarnessError):
    """The inventory, an option or a manifest is wrong; nothing was sent to any host."""

    exit_code = EXIT_CONFIG


class TransportError(HarnessError):
    """The host could not be reached, refused the credentials, or broke the connection."""

    exit_code = EXIT_CONNECT


class AuthenticationError(TransportError):
    """The host rejected the credentials."""


class HostKeyError(TransportError):
    """An SSH host key (or TLS certificate) could not be trusted."""


class CommandTimeout(HarnessError):
    """A remote command outlived its deadline and was stopped."""

    exit_code = EXIT_TIMEOUT

    def __init__(self, command: str, timeout: float, *, hint: str | None = None):
        super().__init__(
            f"command did not finish within {timeout:g}s and was stopped: {command}",
            hint=hint or "raise the timeout if the command is expected to be slow",
        )
        self.command = command
        self.timeout = timeout


class RemoteCommandError(HarnessError):
    """A remote command exited non-zero where success was required."""

    def __init__(self, result, *, hint: str | None = None):  # result: transport.CommandResult
        tail = (result.stderr or result.stdout or "").strip().splitlines()[-5:]
        super().__init__(
            f"command exited with {result.exit_code}: {result.command}"
            + (("\n  " + "\n  ".join(tail)) if tail else ""),
            hint=hint,
        )
        self.result = result


class TransferError(HarnessError):
    """A file upload or download failed or did not verify; the destination was left untouched."""
