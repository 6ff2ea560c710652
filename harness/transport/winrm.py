"""WinRM transport: pywinrm's ``Protocol``, reused shells, deadlines enforced here.

pywinrm's ``Session.run_cmd`` opens and deletes a shell per command and has no deadline
(docs/behaviour/protocols.md §1.6, §1.8).  This transport drives ``winrm.protocol.Protocol``
directly instead (§6): a shell serves many commands, a short command costs exactly Command +
Receive, a Receive loop bounded by a wall clock, and a Signal ``terminate`` when the deadline
passes.  Finished commands are released by replacing the shell every few commands (its
Delete goes in the background), not by a Signal each.  Only requests that are safe to repeat
are retried: opening the shell, deleting it, and a Command the host refused because the
shell was gone (then nothing started).
"""

from __future__ import annotations

import logging
import math
import queue
import random
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests
import xmltodict
from urllib3.exceptions import NewConnectionError
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from harness.errors import (
    AuthenticationError,
    CommandTimeout,
    ConfigError,
    HarnessError,
    HostKeyError,
    TransportError,
)
from harness.secrets import redact
from harness.transport.base import DEFAULT_TIMEOUT, Stdin, TransferResult, Transport
from harness.transport.files import (
    check_stdin,
    download_via_script,
    iter_chunks,
    line_chunk,
    upload_via_script,
    with_last,
)
from harness.transport.retry import mark_transient

log = logging.getLogger("harness.transport.winrm")

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SEND_ACTION = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
# WSManFault code of a Send to a command whose process has exited ("The pipe is being
# closed.", Win32 ERROR_NO_DATA).
ERROR_NO_DATA = 232
# Faults after which the shell must be re-opened (docs/behaviour/protocols.md §1.10.6):
# ERROR_WSMAN_UNEXPECTED_SELECTORS "shell was not found", and too many commands in a shell.
SHELL_NOT_FOUND = 2150858843
TOO_MANY_COMMANDS = 2150859174
RESET_FAULTS = frozenset({SHELL_NOT_FOUND, TOO_MANY_COMMANDS})
ERROR_BUSY = 170  # a WSMan fault worth repeating an idempotent request for (§1.5, §2.3)
OPERATION_TIMED_OUT = 2150858793  # ERROR_WSMAN_OPERATION_TIMEDOUT (§1.10)
ACCESS_DENIED = 5
MAX_SHELLS = 2150859173  # the shells-per-user quota: asking again gets the same answer
# Faults that are the host's considered answer, not a hiccup: never worth repeating.
PERMANENT_FAULTS = frozenset({ACCESS_DENIED, MAX_SHELLS})
PERMANENT_SUBCODES = ("AccessDenied", "QuotaLimit", "SchemaValidationError",
                      "ActionNotSupported", "InvalidOptions", "EncodingLimit")
_SHELL_GONE_TEXT = re.compile(r"shell\b.*\b(not found|no longer exists|was terminated)",
                              re.IGNORECASE | re.DOTALL)
# requests' read timeout must outlast the server's w:OperationTimeout (§1.6).
READ_MARGIN = 10
# Room left in an envelope beyond the measured Send skeleton (encryption framing, ids).
ENVELOPE_SPARE = 1024
RETRIES = 3  # attempts for idempotent requests
RETRY_BASE = 0.5  # seconds; doubled per attempt, jittered ±50%
SIGNAL_TIMEOUT = 10  # seconds a terminate Signal may take
RECYCLE_AFTER = 32  # finished commands a shell holds before it is replaced (see _finished)
AUTH_NAMES = {"ntlm": "ntlm", "basic": "basic", "kerberos": "kerberos",
              "credssp": "credssp", "certificate": "certificate"}


class _Expired(Exception):
    """The command's deadline passed (internal)."""


def _short(line: str, limit: int = 300) -> str:
    line = redact(line)
    return line if len(line) <= limit else line[:limit] + f"... ({len(line)} characters)"


class WinRMTransport(Transport):
    """Commands and files over WS-Management (WinRS) to one host."""

    NAME = "winrm"

    def __init__(self, target, *, retries: int = RETRIES):
        super().__init__(target)
        self._retries = max(1, retries)
        self._protocol: Protocol | None = None
        self._shell_id: str | None = None
        self._send_payload: int | None = None
        self._background = _BackgroundDeletes(self)
        self._finished_in_shell = 0  # finished commands the current shell still holds

    # --- connection -------------------------------------------------------------------
    def _build_protocol(self) -> Protocol:
        t = self.target
        opts = t.winrm
        # Defence in depth: the Target validated this already, but a password must never
        # travel in the clear because a model was built some other way.
        if opts.scheme == "http" and opts.auth == "basic" and not opts.allow_unencrypted:
            raise ConfigError(f"{t.describe()}: basic auth over http would send the password "
                              "in the clear", hint="use https or ntlm, or set "
                              "allow_unencrypted = true if you accept that")
        if opts.auth == "certificate" and opts.scheme != "https":
            raise ConfigError(f"{t.describe()}: certificate auth needs https")
        if opts.auth in ("basic", "ntlm", "credssp") and (not t.user or t.password is None):
            raise ConfigError(f"{t.describe()}: auth = {opts.auth!r} needs user and password",
                              hint="set user and password_env or password_file in the inventory")
        if opts.insecure:
            validation, ca = "ignore", None
        else:
            # None, not pywinrm's "legacy_requests": no CA bundle from the environment
            # (docs/behaviour/protocols.md §1.7); the system store or the inventory's bundle.
            validation, ca = "validate", (str(opts.ca_bundle) if opts.ca_bundle else None)
        op = int(opts.operation_timeout)
        protocol = Protocol(
            endpoint=t.winrm_url,
            transport=AUTH_NAMES[opts.auth],
            username=t.user,
            password=t.password.reveal() if t.password is not None else None,
            ca_trust_path=ca,  # type: ignore[arg-type]
            server_cert_validation=validation,  # type: ignore[arg-type]
            cert_pem=str(opts.cert_pem) if opts.cert_pem else None,
            cert_key_pem=str(opts.cert_key_pem) if opts.cert_key_pem else None,
            read_timeout_sec=op + READ_MARGIN,
            operation_timeout_sec=op,
            message_encryption="auto",
            proxy=None,  # never an environment proxy between us and a lab host
        )
        _ignore_environment(protocol)
        return protocol

    @property
    def protocol(self) -> Protocol:
        if self._protocol is None:
            try:
                self._protocol = self._build_protocol()
            except HarnessError:
                raise
            except Exception as exc:  # pywinrm validates credentials/paths up front
                raise self._map(exc, "configure the WinRM client") from None
        return self._protocol

    def _timeouts(self, operation_timeout: float | None = None) -> None:
        """Set the per-request w:OperationTimeout and the HTTP read timeout above it."""
        p = self.protocol
        op = int(self.target.winrm.operation_timeout) if operation_timeout is None else \
            max(1, int(math.ceil(operation_timeout)))
        p.operation_timeout_sec = op
        p.read_timeout_sec = op + READ_MARGIN
        p.transport.read_timeout_sec = op + READ_MARGIN

    def _shell(self) -> str:
        if self._shell_id is None:
            opts = self.target.winrm

            def open_shell() -> str:
                self._timeouts()
                return self.protocol.open_shell(codepage=opts.codepage, noprofile=True)

            self._shell_id = self._idempotent("open a shell", open_shell)
            self._finished_in_shell = 0
            log.debug("%s: opened shell %s", self.target.name, self._shell_id)
        return self._shell_id

    def _drop_shell(self, *, delete: bool) -> None:
        shell, self._shell_id = self._shell_id, None
        if shell is None or not delete:
            return
        try:
            self._timeouts(SIGNAL_TIMEOUT)
            self.protocol.close_shell(shell, close_session=False)
        except Exception as exc:  # the shell may already be gone; nothing to undo
            log.debug("%s: deleting shell %s failed: %s", self.target.name, shell, exc)

    def _idempotent(self, operation: str, fn: Callable[[], str]) -> str:
        """Run a request that is safe to repeat, with bounded, jittered retries."""
        for attempt in range(self._retries):
            try:
                return fn()
            except Exception as exc:
                if attempt + 1 >= self._retries or not self._transient(exc):
                    raise self._map(exc, operation) from None
                pause = RETRY_BASE * 2 ** attempt * random.uniform(0.5, 1.5)
                log.info("%s: %s failed (%s); retrying in %.1fs", self.target.name, operation,
                         _short(str(exc), 120), pause)
                time.sleep(pause)
        raise RuntimeError("unreachable")  # pragma: no cover

    @staticmethod
    def _transient(exc: BaseException) -> bool:
        """Whether asking again may get an answer: a dropped connection, a shell the host
        forgot, a busy or internal-error fault.  Auth, TLS, quotas and malformed requests
        are answers (docs/behaviour/protocols.md §1.10: every WS-Man fault comes with HTTP
        500, so the fault code decides, not the status)."""
        if isinstance(exc, (requests.exceptions.SSLError, requests.Timeout)):
            # A certificate will not become trusted, and a host that let the read timeout
            # pass will not answer a quick second try either.
            return False
        if isinstance(exc, InvalidCredentialsError):
            return False
        if isinstance(exc, (requests.ConnectionError, WinRMOperationTimeoutError)):
            return True
        if isinstance(exc, WSManFaultError):
            code = fault_code(exc)
            if code in RESET_FAULTS or code in (ERROR_BUSY, OPERATION_TIMED_OUT):
                return True
            if code in PERMANENT_FAULTS or exc.code in (401, 403) or \
                    any(p in str(exc.fault_subcode or "") for p in PERMANENT_SUBCODES):
                return False
            return exc.code >= 500
        if isinstance(exc, WinRMTransportError):
            return exc.code >= 500
        return False

    @staticmethod
    def _shell_gone(exc: BaseException) -> bool:
        if isinstance(exc, WSManFaultError):
            return fault_code(exc) in RESET_FAULTS
        if isinstance(exc, WinRMTransportError):
            return exc.code in (400, 500) and bool(_SHELL_GONE_TEXT.search(exc.response_text or ""))
        return False

    @staticmethod
    def _never_sent(exc: BaseException) -> bool:
        """A connection that failed before the request left (so the host saw nothing)."""
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return True
        if isinstance(exc, requests.ConnectionError) and \
                not isinstance(exc, requests.exceptions.SSLError):
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            return isinstance(reason, NewConnectionError)
        return False

    # --- commands ---------------------------------------------------------------------
    def _start(self, command_line: str, console_mode_stdin: bool) -> str:
        """Issue the Command; re-open the shell and retry once if the host lost it."""
        for attempt in (1, 2):
            shell = self._shell()
            try:
                self._timeouts()
                return self.protocol.run_command(shell, command_line,
                                                 console_mode_stdin=console_mode_stdin)
            except Exception as exc:
                if attempt == 1 and self._shell_gone(exc):
                    log.info("%s: shell %s is gone (%s); re-opening it", self.target.name,
                             shell, _short(str(exc), 120))
                    self._drop_shell(delete=fault_code(exc)
                                     == TOO_MANY_COMMANDS)
                    continue
                if attempt == 1 and self._never_sent(exc):
                    continue
                raise self._map(exc, "start a command") from None
        raise RuntimeError("unreachable")  # pragma: no cover

    def send_payload(self) -> int:
        """Raw stdin bytes per Send so that its envelope stays under the host's limit.

        Measured from the Send envelope pywinrm builds with empty content, as pypsrp sizes
        its chunks (docs/behaviour/protocols.md §2.3): base64 grows the rest by 4/3.
        """
        if self._send_payload is None:
            dummy = str(uuid.uuid4()).upper()
            req = {"env:Envelope": self.protocol.build_wsman_header(
                action=SEND_ACTION, resource_uri=SHELL_URI, shell_id=dummy)}
            req["env:Envelope"]["env:Body"] = {"rsp:Send": {"rsp:Stream": {
                "@CommandId": dummy, "@Name": "stdin", "@End": "false",
                "@xmlns:rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
                "#text": ""}}}
            skeleton = len(xmltodict.unparse(req).encode("utf-8"))
            room = self.target.winrm.max_envelope_size - skeleton - ENVELOPE_SPARE
            self._send_payload = max(3, room // 4 * 3)
        return self._send_payload

    def run_streaming(self, command_line: str, *, timeout: float = DEFAULT_TIMEOUT,
                      stdin: Stdin = None, on_stdout: Callable[[bytes], None],
                      on_stderr: Callable[[bytes], None]) -> int:
        """Run ``command_line``, handing output to the callbacks as it arrives; the exit code.

        Output is never accumulated here, so a command may print any amount.
        """
        check_stdin(stdin)
        deadline = time.monotonic() + timeout
        # A command fed from stdin gets a pipe, not console input (Ansible's choice,
        # docs/behaviour/protocols.md §2.3); without stdin, pywinrm's default.
        command_id = self._start(command_line, console_mode_stdin=stdin is None)
        shell = self._shell_id
        assert shell is not None
        finished = False
        try:
            if stdin is not None:
                self._send_stdin(shell, command_id, stdin, deadline)
            code = self._receive(shell, command_id, deadline, on_stdout, on_stderr)
            finished = True
        except _Expired:
            self._signal(shell, command_id)
            raise CommandTimeout(_short(command_line), timeout,
                                 hint="raise the timeout if the command is expected to be "
                                      "slow; the remote command was terminated") from None
        except BaseException as exc:
            self._signal(shell, command_id)
            if isinstance(exc, Exception) and not isinstance(exc, HarnessError):
                raise self._map(exc, "run a command") from None
            raise
        finally:
            if finished:
                self._finished(shell)
        return code

    def _finished(self, shell: str) -> None:
        """A command ran to its end: the host only needs to release it.

        pywinrm's ``cleanup_command`` (a terminate Signal) would cost a request per
        command.  Deleting the shell releases every command in it, so finished commands are
        left in the shell and the shell is replaced after :data:`RECYCLE_AFTER` of them —
        its Delete sent in the background on a second connection.  The host never holds
        more than that many finished commands per shell: well inside WinRS's per-shell
        quota (MaxProcessesPerShell counts *running* processes; docs/behaviour/protocols.md
        §1.9), and a quota fault would re-open the shell anyway (§1.10.6).  A command
        stopped at its deadline or by an error is still signalled at once.
        """
        self._finished_in_shell += 1
        if shell == self._shell_id and self._finished_in_shell >= RECYCLE_AFTER:
            self._shell_id = None
            self._finished_in_shell = 0
            self._background.delete(shell)

    def _send_stdin(self, shell: str, command_id: str, stdin: Stdin, deadline: float) -> None:
        """Send ``stdin``; stop early, without error, when the command has already exited.

        WinRS answers a Send to a finished process with ERROR_NO_DATA ("The pipe is being
        closed.").  That is the command's business, not the transport's: its own output
        and exit code say what happened (a script that refused its arguments says why), so
        sending stops and the caller receives them (Ansible's WinRM connection plugin,
        ``_winrm_exec``, likewise reads the output after a failed stdin push).
        """
        for chunk, last in with_last(iter_chunks(stdin, self.send_payload())):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Expired()
            self._timeouts(min(self.target.winrm.operation_timeout, remaining))
            try:
                self.protocol.send_command_input(shell, command_id, chunk, end=last)
            except WSManFaultError as exc:
                if fault_code(exc) != ERROR_NO_DATA:
                    raise
                log.debug("%s: command %s exited before reading all of its input",
                          self.target.name, command_id)
                return

    def _receive(self, shell: str, command_id: str, deadline: float,
                 on_stdout: Callable[[bytes], None], on_stderr: Callable[[bytes], None]) -> int:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Expired()
            # The host may hold a Receive up to w:OperationTimeout: never past the deadline.
            self._timeouts(min(self.target.winrm.operation_timeout, remaining))
            try:
                out, err, code, done = self.protocol.get_command_output_raw(shell, command_id)
            except WinRMOperationTimeoutError:
                continue  # no output within the operation timeout: ask again (§1.5)
            if out:
                on_stdout(out)
            if err:
                on_stderr(err)
            if done:
                return code

    def _signal(self, shell: str, command_id: str) -> None:
        try:
            self._timeouts(SIGNAL_TIMEOUT)
            self.protocol.cleanup_command(shell, command_id)
        except Exception as exc:
            # The command is finished or abandoned either way; a shell that is gone will be
            # re-opened by the next Command.
            log.debug("%s: terminate signal for %s failed: %s", self.target.name, command_id,
                      _short(str(exc), 200))

    def _run(self, command_line: str, *, timeout: float, stdin: Stdin) -> tuple[int, bytes, bytes]:
        out, err = bytearray(), bytearray()
        code = self.run_streaming(command_line, timeout=timeout, stdin=stdin,
                                  on_stdout=out.extend, on_stderr=err.extend)
        return code, bytes(out), bytes(err)

    # --- files ------------------------------------------------------------------------
    def _put(self, local_path: str | Path, remote_path: str, *,
            timeout: float | None = None) -> TransferResult:
        return upload_via_script(self, local_path, remote_path,
                                 line_raw=line_chunk(self.send_payload()), timeout=timeout)

    def _get(self, remote_path: str, local_path: str | Path, *,
            timeout: float | None = None) -> TransferResult:
        return download_via_script(self, remote_path, local_path,
                                   line_raw=line_chunk(self.send_payload()), timeout=timeout)

    # --- lifecycle --------------------------------------------------------------------
    def protocols(self) -> list[Protocol]:
        """Every pywinrm ``Protocol`` this transport sends requests with: the command
        connection and the background one (request counting hooks both)."""
        return [self.protocol, self._background.protocol]

    def flush_background(self, timeout: float = SIGNAL_TIMEOUT) -> None:
        """Wait until the queued background Deletes of replaced shells have been sent."""
        self._background.flush(timeout)

    def close(self) -> None:
        self._background.close()
        protocol, shell = self._protocol, self._shell_id
        self._shell_id = None
        if protocol is None:
            return
        if shell is not None:
            def delete() -> str:
                self._timeouts(SIGNAL_TIMEOUT)
                protocol.close_shell(shell, close_session=False)
                return shell

            try:
                self._idempotent("delete the shell", delete)
            except HarnessError as exc:  # the host may be gone (rebooted, stopped)
                log.debug("%s: %s", self.target.name, exc)
        protocol.transport.close_session()

    # --- errors -----------------------------------------------------------------------
    def _map(self, exc: BaseException, operation: str) -> HarnessError:
        """Turn a pywinrm/requests failure into a harness error that says what to do,
        marked transient when asking again may succeed (harness/transport/retry.py)."""
        if isinstance(exc, HarnessError):
            return exc
        err = self._map_error(exc, operation)
        mark_transient(err, self._transient(exc))
        return err

    def _map_error(self, exc: BaseException, operation: str) -> HarnessError:
        t = self.target
        where = f"{t.describe()}: cannot {operation}"
        url = t.winrm_url
        if isinstance(exc, InvalidCredentialsError):
            return AuthenticationError(
                f"{where}: the WinRM service rejected the credentials of {t.user!r} "
                f"({t.winrm.auth} auth): {exc}",
                hint="check user and password (password_env / password_file) and that the "
                     f"listener allows {t.winrm.auth} auth")
        if isinstance(exc, requests.exceptions.SSLError):
            if _cert_untrusted(exc):
                bundle = t.winrm.ca_bundle
                return HostKeyError(
                    f"{where}: the TLS certificate of {url} is not trusted: {_reason(exc)}",
                    hint=(f"ca_bundle = {str(bundle)!r} does not hold the CA that signed the "
                          "host's certificate; pass the right ca_bundle or check the host's "
                          "certificate" if bundle else
                          "pass ca_bundle = '<PEM file of the CA that signed the host's "
                          "certificate>' in the inventory, or check the host's certificate "
                          "(insecure = true turns verification off)"))
            return TransportError(f"{where}: TLS handshake with {url} failed: {_reason(exc)}",
                                  hint="check that the port is the HTTPS listener (5986)")
        if isinstance(exc, requests.Timeout):
            return TransportError(f"{where}: no answer from {url} in time",
                                  hint="check that the host is up and its WinRM service runs")
        if isinstance(exc, requests.ConnectionError):
            return TransportError(f"{where}: cannot connect to {url}: {_reason(exc)}",
                                  hint="check address, port and firewall; "
                                       "`winrm quickconfig` on the host creates a listener")
        if isinstance(exc, WSManFaultError):
            return TransportError(f"{where}: WS-Management fault {fault_code(exc)} "
                                  f"(HTTP {exc.code}, {exc.fault_subcode}): {exc.reason}")
        if isinstance(exc, WinRMOperationTimeoutError):
            return TransportError(f"{where}: the host did not complete the request within "
                                  "its operation timeout")
        if isinstance(exc, WinRMTransportError):
            body = (exc.response_text or "").strip().replace("\n", " ")[:300]
            return TransportError(f"{where}: HTTP {exc.code} from {url}"
                                  + (f": {body}" if body else ""))
        if isinstance(exc, WinRMError):
            missing = "not installed" in str(exc)
            return TransportError(f"{where}: {exc}", hint=(
                f"install the extra: pip install 'pywinrm[{t.winrm.auth}]'" if missing else None))
        if isinstance(exc, (StopIteration, AssertionError, KeyError, ValueError)) or \
                type(exc).__name__ == "ParseError":
            # pywinrm parses answers with next()/assert/int(): a malformed answer surfaces
            # as one of these, which must not read as a product failure.
            return TransportError(f"{where}: the host's answer is not valid WS-Management "
                                  f"({type(exc).__name__}: {exc})")
        return TransportError(f"{where}: {type(exc).__name__}: {exc}")


def fault_code(exc: BaseException) -> int | None:
    """The host's code for a WS-Management fault, wherever the host put it.

    Most faults carry it as the ``WSManFault`` element's Code; quota violations carry it
    as ``error_Code`` of an ``MSFT_WmiError`` object instead (pywinrm's
    ``WSManFaultError.wmierror_code``: "more fatal service error codes returned as a
    MSFT_WmiError object, for example quota violations").
    """
    if not isinstance(exc, WSManFaultError):
        return None
    return exc.wsman_fault_code if exc.wsman_fault_code is not None else exc.wmierror_code


def _ignore_environment(protocol: Protocol) -> None:
    """Make the ``requests`` session pywinrm builds ignore the environment per request.

    pywinrm already merges the environment once when it builds its session (with
    ``proxy=None`` that yields "no proxy"); with ``trust_env`` left on, ``requests`` looks up
    proxy variables and .netrc again on *every* request, a measurable share of a short
    command's cost and never wanted here (docs/behaviour/protocols.md §1.7).
    """
    transport = protocol.transport
    build = transport.build_session

    def build_without_environment():
        session = build()
        session.trust_env = False
        return session

    transport.build_session = build_without_environment  # type: ignore[method-assign]


class _BackgroundDeletes:
    """Requests nothing waits for — the Delete of a replaced shell (which releases the
    finished commands it held) — sent in the background on a second connection (its own
    pywinrm ``Protocol``, same endpoint and credentials), so no command pays a round trip
    for them.  ``close`` sends what is queued before the current shell is deleted.
    """

    def __init__(self, owner: WinRMTransport):
        self._owner = owner
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._protocol: Protocol | None = None
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    @property
    def protocol(self) -> Protocol:
        if self._protocol is None:
            self._protocol = self._owner._build_protocol()
            self._protocol.operation_timeout_sec = SIGNAL_TIMEOUT
            self._protocol.read_timeout_sec = SIGNAL_TIMEOUT + READ_MARGIN
            self._protocol.transport.read_timeout_sec = SIGNAL_TIMEOUT + READ_MARGIN
        return self._protocol

    def delete(self, shell: str) -> None:
        """Delete a shell nobody uses any more (it releases the commands it holds)."""
        with self._lock:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"winrm-deletes-{self._owner.target.name}")
                self._thread.start()
        self._queue.put(shell)

    def _run(self) -> None:
        while True:
            shell = self._queue.get()
            if shell is None:
                return
            try:
                self.protocol.close_shell(shell, close_session=False)
            except Exception as exc:  # noqa: BLE001 - nobody uses that shell any more
                log.debug("%s: background Delete of shell %s failed: %s",
                          self._owner.target.name, shell, _short(str(exc), 200))
            finally:
                with self._lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.notify_all()

    def flush(self, timeout: float) -> None:
        with self._lock:
            self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self.flush(SIGNAL_TIMEOUT + READ_MARGIN)
            self._queue.put(None)
            thread.join(SIGNAL_TIMEOUT)
        self._thread = None
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            try:
                protocol.transport.close_session()
            except Exception as exc:  # noqa: BLE001 - closing a socket to a gone host
                log.debug("%s: closing the background connection: %s", self._owner.target.name,
                          exc)


def _cert_untrusted(exc: BaseException) -> bool:
    seen = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e):
            return True
        stack.extend([e.__cause__, e.__context__, *[a for a in getattr(e, "args", ())
                                                    if isinstance(a, BaseException)]])
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    return False


def _reason(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"\((?:Caused by )?\w+\((.*)\)\)\s*$", text)
    return _short(m.group(1) if m else text, 300)
