"""A WS-Management / WinRS listener for the simulated host.

It answers pywinrm (and anything speaking the same WinRS shell operations) the way a
Windows WinRM service does, following docs/behaviour/protocols.md §1.2-§1.10: Create,
Command, Send, Receive, Signal and Delete on the ``windows/shell/cmd`` resource, with the
faults real hosts send (operation timeout, shell not found, quotas).  Commands run on the
machine model through ``machine.spawn`` (docs/internals.md "The simulated host").

Authentication is an object per listener (:class:`Authenticator`) that makes a state
object per TCP connection (:class:`ConnectionAuth`), because NTLM authenticates a
connection, not a request, and then wraps every body (docs/behaviour/protocols.md §1.7).
Basic is implemented here; NTLM with message encryption is harness.sim.ntlm_auth, plugged
into the same hooks without touching the dispatcher.

Test controls — :meth:`WinRMServer.drop_shells`, :meth:`WinRMServer.close_connections`, the
request counter — let tests reproduce a host that lost its WinRM service or its network.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hmac
import itertools
import logging
import socket
import socketserver
import ssl
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Self

from harness.sim import faults, wsman
from harness.sim.password import Revealable, reveal
from harness.sim.wsman import WSManFault, q

if TYPE_CHECKING:
    from harness.sim.process import SimProcess

log = logging.getLogger("harness.sim.winrm")

SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"

# docs/behaviour/protocols.md §1.3: pywinrm sends lowercase, pypsrp capitalised; compare
# case-insensitively.
_SIGNAL_PREFIX = wsman.SHELL_URI + "/signal/"
_SIGNAL_TERMINATE = "terminate"
_SIGNAL_CTRL = ("ctrl_c", "ctrl_break")


# --- authentication -----------------------------------------------------------------------

@dataclass
class AuthResult:
    """What a connection's authenticator decided about one request.

    ``user`` set: go on and dispatch the request as that user.  Otherwise
    ``response`` = (status, headers, body) is sent as is (a 401 challenge, or the 200 that
    ends an NTLM handshake on an empty body).
    """

    user: str | None = None
    response: tuple[int, dict[str, str], bytes] | None = None


class ConnectionAuth(abc.ABC):
    """Per-TCP-connection authentication state."""

    @abc.abstractmethod
    def authenticate(self, headers: Message, body: bytes) -> AuthResult: ...

    def unwrap(self, headers: Message, body: bytes) -> bytes:
        """The SOAP bytes inside a request body (message encryption would undo itself here)."""
        ctype = (headers.get("Content-Type") or "").lower()
        if not ctype.startswith("application/soap+xml"):
            raise wsman.malformed(f"Content-Type {headers.get('Content-Type')!r} is not "
                                  "application/soap+xml (this listener does not encrypt)")
        return body

    def wrap(self, body: bytes) -> tuple[str, bytes]:
        """``(content type, bytes)`` to send for a SOAP response body."""
        return SOAP_CONTENT_TYPE, body


class Authenticator(abc.ABC):
    """One per listener: holds the accounts and makes a :class:`ConnectionAuth` per socket."""

    @abc.abstractmethod
    def for_connection(self) -> ConnectionAuth: ...


class BasicAuthenticator(Authenticator):
    """HTTP Basic, checked on every request (pywinrm sends it pre-emptively, §1.7).

    Windows account names compare case-insensitively; the canonical spelling given here is
    the user the machine sees.
    """

    CHALLENGE = 'Basic realm="WSMAN"'

    def __init__(self, users: Mapping[str, str | Revealable]):
        if not users:
            raise ValueError("BasicAuthenticator needs at least one account")
        self._users = {name.casefold(): (name, reveal(pw)) for name, pw in users.items()}

    def check(self, header: str | None) -> str | None:
        if not header:
            return None
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            raw = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # requests encodes str credentials as latin-1
        user, sep, password = text.partition(":")
        if not sep:
            return None
        entry = self._users.get(user.casefold())
        if entry is None:
            hmac.compare_digest(password.encode(), password.encode())  # same work either way
            return None
        name, expected = entry
        if not hmac.compare_digest(password.encode("utf-8"), expected.encode("utf-8")):
            return None
        return name

    def for_connection(self) -> ConnectionAuth:
        return _BasicConnection(self)


class _BasicConnection(ConnectionAuth):
    def __init__(self, owner: BasicAuthenticator):
        self._owner = owner

    def authenticate(self, headers: Message, body: bytes) -> AuthResult:
        user = self._owner.check(headers.get("Authorization"))
        if user is None:
            return AuthResult(response=(401, {"WWW-Authenticate": BasicAuthenticator.CHALLENGE},
                                        b""))
        return AuthResult(user=user)


# --- shells and commands ------------------------------------------------------------------

@dataclass
class WinRMLimits:
    """Quotas of the WinRS service (``winrm get winrm/config/winrs``), configurable so tests
    can reproduce the failures real hosts give (docs/behaviour/protocols.md §1.9, §1.10.6)."""

    max_shells_per_user: int = 30  # MaxShellsPerUser
    max_commands_per_shell: int = 25  # MaxProcessesPerShell: running commands per shell
    idle_timeout: float = 7200.0  # IdleTimeout, seconds; a shell unused this long is gone
    max_request_bytes: int = 500 * 1024  # MaxEnvelopeSizekb = 500
    connection_idle_timeout: float = 120.0  # HTTP.sys keeps an idle connection this long


@dataclass
class _Command:
    id: str
    line: str
    process: SimProcess
    receive_lock: threading.Lock = field(default_factory=threading.Lock)
    stdin_closed: bool = False
    done_sent: bool = False


@dataclass
class _Shell:
    id: str
    user: str
    codepage: int
    noprofile: bool
    cwd: str | None
    env: dict[str, str]
    idle_timeout: float
    last_used: float = field(default_factory=time.monotonic)
    commands: dict[str, _Command] = field(default_factory=dict)
    closed: bool = False

    def running_commands(self) -> int:
        return sum(1 for c in self.commands.values() if not c.process.done)


def _bool_option(req: wsman.Request, name: str, default: bool) -> bool:
    value = req.options.get(name)
    if value is None:
        return default
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    raise WSManFault(f"The option {name} has the value {value!r}; expected TRUE or FALSE.",
                     subcode="w:InvalidOptions")


def _shell_not_found(shell_id: str) -> WSManFault:
    # Message as real hosts word it (pypsrp#22, WinRb/WinRM#253).
    return WSManFault(
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
        "shell was not found on the server. Possible causes are: the specified ShellId is "
        "incorrect or the shell no longer exists on the server. Provide the correct ShellId "
        "or create a new shell and retry the operation.",
        subcode="w:InvalidSelectors", wsman_code=wsman.CODE_SHELL_NOT_FOUND)


def _timed_out() -> WSManFault:
    return WSManFault("The WS-Management service cannot complete the operation within the "
                      "time specified in OperationTimeout.", code="s:Receiver",
                      subcode="w:TimedOut", wsman_code=wsman.CODE_TIMED_OUT)


def _internal_error() -> WSManFault:
    # ERROR_INTERNAL_ERROR (1359) with its system text; the wording of a real WinRM internal
    # error is an assumption (harness/sim/ASSUMPTIONS.md "Fault injection").
    return WSManFault("An internal error occurred. ", code="s:Receiver",
                      subcode="w:InternalError", wsman_code=1359)


class _Stopping(Exception):
    """The server is shutting down; the connection is dropped without an answer."""


# --- the HTTP side ------------------------------------------------------------------------

class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, owner: WinRMServer, ssl_context: ssl.SSLContext | None):
        self.owner = owner
        self.ssl_context = ssl_context
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall for
        # seconds on hosts with broken resolvers; loopback needs no name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request_thread(self, request, client_address):
        # The TLS handshake happens here, on the connection's own thread, so a client that
        # stalls mid-handshake cannot block the accept loop.
        conn_id = self.owner._register_connection(request)
        sock = request
        try:
            if self.ssl_context is not None:
                request.settimeout(10.0)
                sock = self.ssl_context.wrap_socket(request, server_side=True)
                self.owner._replace_connection(conn_id, sock)
            sock.settimeout(None)
            _Handler(sock, client_address, self, conn_id)
        except (ssl.SSLError, OSError, _Stopping) as exc:
            log.debug("connection %d from %s ended: %s", conn_id, client_address, exc)
        except Exception:  # one connection must never take the server down
            log.exception("connection %d from %s failed", conn_id, client_address)
        finally:
            self.owner._unregister_connection(conn_id)
            try:
                sock.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are written separately; without TCP_NODELAY, Nagle plus the
    # client's delayed ACK adds ~40 ms to every response.
    disable_nagle_algorithm = True
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""

    def __init__(self, request, client_address, server: _HTTPServer, conn_id: int):
        self.conn_id = conn_id
        self.owner = server.owner
        self.auth = self.owner.authenticator.for_connection()
        self.timeout = self.owner.limits.connection_idle_timeout
        super().__init__(request, client_address, server)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("conn %d %s " + format, self.conn_id, self.address_string(), *args)

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def _send_soap(self, status: int, soap: bytes) -> None:
        ctype, body = self.auth.wrap(soap)
        self._send(status, {"Content-Type": ctype}, body)

    def do_POST(self) -> None:
        try:
            self._post()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as exc:
            log.debug("conn %d: client went away: %s", self.conn_id, exc)
            self.close_connection = True

    def _post(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(501, {"Content-Type": "text/plain"},
                       b"the simulated WinRM service needs a Content-Length, not chunked bodies")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._send(400, {"Content-Type": "text/plain"}, b"bad Content-Length")
            return
        if length > self.owner.limits.max_request_bytes:
            # Not read: the connection is closed instead of draining a huge body.
            self.close_connection = True
            self.owner._record(self.conn_id, "(too large)")
            fault = WSManFault(
                f"The WS-Management service cannot process the request because the request "
                f"of {length} bytes exceeds the maximum envelope size of "
                f"{self.owner.limits.max_request_bytes} bytes.", subcode="w:EncodingLimit")
            self._send_soap(500, wsman.fault_envelope(fault, None, self.owner.machine_name))
            return
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            return
        if self.path.split("?", 1)[0].rstrip("/").lower() != "/wsman":
            self.owner._record(self.conn_id, "(bad path)")
            self._send(404, {"Content-Type": "text/plain"},
                       f"the simulated WinRM service listens on /wsman, not {self.path}".encode())
            return

        result = self.auth.authenticate(self.headers, body)
        if result.user is None:
            assert result.response is not None
            self.owner._record(self.conn_id, "(unauthenticated)")
            status, headers, resp_body = result.response
            self._send(status, headers, resp_body)
            return

        relates_to: str | None = None
        try:
            soap = self.auth.unwrap(self.headers, body)
            relates_to = wsman.best_effort_message_id(soap)
            req = wsman.parse_request(soap)
        except WSManFault as fault:
            self.owner._record(self.conn_id, "(malformed)")
            self._send_soap(fault.http_status,
                            wsman.fault_envelope(fault, relates_to, self.owner.machine_name))
            return

        self.owner._record(self.conn_id, req.action or req.action_uri.rsplit("/", 1)[-1])
        latency = getattr(self.owner.machine, "latency", None)  # harness.sim.latency
        if latency is not None:  # before dispatch, no lock held
            latency.on_request(req.action or "")
        if self._inject_fault(req):
            return
        try:
            status, response = 200, self.owner._dispatch(req, result.user)
        except WSManFault as fault:
            status = fault.http_status
            response = wsman.fault_envelope(fault, req.message_id, self.owner.machine_name)
        except _Stopping:
            self.close_connection = True
            return
        except Exception:  # a sim bug: say so in the fault, keep serving
            log.exception("internal error handling %s", req.action_uri)
            fault = WSManFault("The simulated WinRM service failed internally:\n"
                               + traceback.format_exc(limit=5), code="s:Receiver",
                               subcode="w:InternalError")
            status = 500
            response = wsman.fault_envelope(fault, req.message_id, self.owner.machine_name)
        if req.fault == faults.DROP_ANSWER:  # handled; the answer is lost with the connection
            self.close_connection = True
            return
        self._send_soap(status, response)

    def _inject_fault(self, req: wsman.Request) -> bool:
        """Roll for an injected fault (harness/sim/faults.py); True when it ended the request.

        Runs after authentication and decryption, before dispatch; a fault answer is wrapped
        like any other, so NTLM-encrypted connections see it encrypted.
        """
        injector = getattr(self.owner.machine, "faults", None)
        if injector is None:
            return False
        shell_id = req.selectors.get("ShellId") if req.action != "Create" else None
        kind = injector.roll(f"winrm:{req.action or 'unknown'}",
                             faults.winrm_kinds(req.action, shell_id is not None),
                             detail=f"connection {self.conn_id}"
                                    + (f" shell {shell_id}" if shell_id else ""))
        req.fault = kind
        if kind is None or kind in (faults.DROP_ANSWER, faults.HANG):
            return False
        if kind == faults.HOST_RESTART:
            self.owner.machine.request_restart()
        if kind in (faults.DROP_REQUEST, faults.HOST_RESTART):
            self.close_connection = True  # closed without an answer; nothing was handled
            return True
        if kind == faults.RECEIVE_TIMEOUT:
            fault = _timed_out()
        elif kind == faults.SHELL_NOT_FOUND:
            assert shell_id is not None
            self.owner._service.forget(shell_id)
            fault = _shell_not_found(shell_id)
        else:
            fault = _internal_error()
        self._send_soap(fault.http_status,
                        wsman.fault_envelope(fault, req.message_id, self.owner.machine_name))
        return True


# --- the service --------------------------------------------------------------------------

class WinRMServer:
    """One WinRM listener (HTTP or HTTPS) in front of a machine.

    Several listeners may share one shell table (``shells_from``), as the HTTP and HTTPS
    listeners of one Windows host share one WinRM service.
    """

    def __init__(self, machine: Any, authenticator: Authenticator, *, port: int = 0,
                 ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1",
                 limits: WinRMLimits | None = None, machine_name: str = "localhost",
                 shells_from: WinRMServer | None = None):
        self.machine = machine
        self.authenticator = authenticator
        self.limits = limits or (shells_from.limits if shells_from else WinRMLimits())
        self.machine_name = machine_name
        self._service = shells_from._service if shells_from else _ShellTable(self)
        self._http = _HTTPServer((host, port), self, ssl_context)
        self.scheme = "https" if ssl_context is not None else "http"
        self._thread: threading.Thread | None = None
        self._conn_ids = itertools.count(1)
        self._conns: dict[int, socket.socket] = {}
        self._conn_lock = threading.Lock()
        self._requests: list[tuple[int, str]] = []
        self._stopping = threading.Event()

    # --- lifecycle ------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._http.server_address[0]

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/wsman"

    def start(self) -> WinRMServer:
        if self._thread is None:
            self._service.attach(self)
            self._thread = threading.Thread(target=self._http.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name=f"winrm-{self.scheme}-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, drop every connection, and end the shells if no listener is left."""
        self._stopping.set()
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(5)
            self._thread = None
        self._http.server_close()
        self.close_connections()
        self._service.detach(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls --------------------------------------------------------------
    @property
    def requests(self) -> list[tuple[int, str]]:
        """(connection id, action name) of every request so far, oldest first."""
        with self._conn_lock:
            return list(self._requests)

    def request_count(self, connection: int | None = None, action: str | None = None) -> int:
        with self._conn_lock:
            return sum(1 for c, a in self._requests
                       if (connection is None or c == connection)
                       and (action is None or a == action))

    def reset_counters(self) -> None:
        with self._conn_lock:
            self._requests.clear()

    def drop_shells(self) -> int:
        """Forget every shell and end its processes, as a restarted WinRM service would.

        Returns how many shells were dropped.  Later requests naming them get fault
        2150858843.
        """
        return self._service.drop_all()

    def close_connections(self) -> int:
        """Cut every open TCP connection (the client sees a reset or EOF)."""
        with self._conn_lock:
            socks = list(self._conns.values())
        for s in socks:
            try:
                socket.socket.shutdown(s, socket.SHUT_RDWR)
            except OSError:
                pass
        return len(socks)

    @property
    def shell_count(self) -> int:
        return self._service.count()

    def commands_per_shell(self) -> list[int]:
        """Test control: how many commands (running or finished, not yet released) each
        open shell holds."""
        with self._service._lock:
            return [len(shell.commands) for shell in self._service._shells.values()]

    # --- bookkeeping used by the HTTP side ------------------------------------------
    def _register_connection(self, sock: socket.socket) -> int:
        with self._conn_lock:
            conn_id = next(self._conn_ids)
            self._conns[conn_id] = sock
        return conn_id

    def _replace_connection(self, conn_id: int, sock: socket.socket) -> None:
        with self._conn_lock:
            self._conns[conn_id] = sock

    def _unregister_connection(self, conn_id: int) -> None:
        with self._conn_lock:
            self._conns.pop(conn_id, None)

    def _record(self, conn_id: int, action: str) -> None:
        with self._conn_lock:
            self._requests.append((conn_id, action))

    def _dispatch(self, req: wsman.Request, user: str) -> bytes:
        if self._stopping.is_set():
            raise _Stopping()
        return self._service.dispatch(req, user, self)


class _ShellTable:
    """The WinRS service state: shells, their commands, quotas and idle expiry."""

    def __init__(self, first: WinRMServer):
        self.limits = first.limits
        self.machine = first.machine
        self._lock = threading.Lock()
        self._shells: dict[str, _Shell] = {}
        self._listeners: set[WinRMServer] = set()
        self._reaper_stop = threading.Event()
        self._reaper: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------
    def attach(self, server: WinRMServer) -> None:
        with self._lock:
            self._listeners.add(server)
            if self._reaper is None:
                self._reaper_stop.clear()
                self._reaper = threading.Thread(target=self._reap, name="winrm-idle-reaper",
                                                daemon=True)
                self._reaper.start()

    def detach(self, server: WinRMServer) -> None:
        with self._lock:
            self._listeners.discard(server)
            last = not self._listeners
        if last:
            self._reaper_stop.set()
            if self._reaper is not None:
                self._reaper.join(5)
                self._reaper = None
            self.drop_all()

    def _reap(self) -> None:
        while not self._reaper_stop.wait(1.0):
            self.expire_idle()

    def expire_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            dead = [s for s in self._shells.values()
                    if not self._busy(s) and now - s.last_used > s.idle_timeout]
            for s in dead:
                del self._shells[s.id]
                s.closed = True
        for s in dead:
            log.info("shell %s idle for more than %gs: deleted", s.id, s.idle_timeout)
            self._end(s)

    @staticmethod
    def _busy(shell: _Shell) -> bool:
        # A Receive in progress is use; WinRM's IdleTimeout counts from the last request.
        return any(c.receive_lock.locked() for c in shell.commands.values())

    def forget(self, shell_id: str) -> bool:
        """Drop one shell as a restarted WinRM service would (an injected fault)."""
        with self._lock:
            shell = self._shells.pop(shell_id.upper(), None)
            if shell is not None:
                shell.closed = True
        if shell is not None:
            self._end(shell)
        return shell is not None

    def drop_all(self) -> int:
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
            for s in shells:
                s.closed = True
        for s in shells:
            self._end(s)
        return len(shells)

    def count(self) -> int:
        with self._lock:
            return len(self._shells)

    @staticmethod
    def _end(shell: _Shell) -> None:
        for cmd in list(shell.commands.values()):
            cmd.process.terminate()
        shell.commands.clear()

    # --- dispatch -------------------------------------------------------------------
    def dispatch(self, req: wsman.Request, user: str, server: WinRMServer) -> bytes:
        action = req.action
        if action is None:
            raise WSManFault(
                f"The action {req.action_uri} is not supported by the service "
                "(the simulated host implements the WinRS shell operations only).",
                subcode="w:ActionNotSupported")
        if req.resource_uri != wsman.CMD_RESOURCE_URI:
            raise WSManFault(
                f"The WS-Management service cannot process the request. The resource URI "
                f"{req.resource_uri!r} is not supported by the simulated host (only "
                f"{wsman.CMD_RESOURCE_URI}).", subcode="a:DestinationUnreachable")
        for name in req.must_comply:
            if name not in _KNOWN_OPTIONS.get(action, ()):
                raise WSManFault(f"The option {name} marked MustComply is not supported.",
                                 subcode="w:InvalidOptions")
        if action == "Create":
            return self._create(req, user, server)
        shell = self._shell_for(req, user)
        try:
            handler = getattr(self, "_" + action.lower())
            return handler(req, shell, server)
        finally:
            shell.last_used = time.monotonic()

    def _shell_for(self, req: wsman.Request, user: str) -> _Shell:
        shell_id = req.selectors.get("ShellId")
        if shell_id is None:
            raise WSManFault("The Windows Remote Shell cannot process the request because it "
                             "requires the following selector: ShellId.",
                             subcode="w:InvalidSelectors")
        with self._lock:
            shell = self._shells.get(shell_id.upper())
        if shell is None or shell.closed:
            raise _shell_not_found(shell_id)
        if shell.user.casefold() != user.casefold():
            # Another user's shell is invisible, as on Windows.
            raise _shell_not_found(shell_id)
        shell.last_used = time.monotonic()
        return shell

    def _command_for(self, shell: _Shell, command_id: str | None) -> _Command:
        if not command_id:
            raise WSManFault("The request names no CommandId.", subcode="w:InvalidParameter",
                             wsman_code=wsman.CODE_INVALID_PARAMETER)
        cmd = shell.commands.get(command_id.upper())
        if cmd is None:
            raise WSManFault(f"The parameter is incorrect. There is no command with CommandId "
                             f"{command_id} in shell {shell.id}.",
                             subcode="w:InvalidParameter",
                             wsman_code=wsman.CODE_INVALID_PARAMETER)
        return cmd

    # --- Create -----------------------------------------------------------------------
    def _create(self, req: wsman.Request, user: str, server: WinRMServer) -> bytes:
        shell_el = req.body.find(q("rsp", "Shell"))
        if shell_el is None:
            raise wsman.malformed("Create needs an rsp:Shell in the Body")
        inputs = (shell_el.findtext(q("rsp", "InputStreams")) or "stdin").split()
        outputs = (shell_el.findtext(q("rsp", "OutputStreams")) or "stdout stderr").split()
        if inputs != ["stdin"] or sorted(outputs) != ["stderr", "stdout"]:
            raise WSManFault(f"The simulated host supports the streams stdin / stdout stderr "
                             f"only, not {inputs} / {outputs}.", subcode="w:InvalidParameter",
                             wsman_code=wsman.CODE_INVALID_PARAMETER)
        codepage_text = req.options.get("WINRS_CODEPAGE", "437")
        try:
            codepage = int(codepage_text)
        except ValueError:
            raise WSManFault(f"WINRS_CODEPAGE {codepage_text!r} is not a code page number.",
                             subcode="w:InvalidOptions") from None
        noprofile = _bool_option(req, "WINRS_NOPROFILE", False)
        cwd = shell_el.findtext(q("rsp", "WorkingDirectory"))
        env: dict[str, str] = {}
        env_el = shell_el.find(q("rsp", "Environment"))
        if env_el is not None:
            for var in env_el.findall(q("rsp", "Variable")):
                name = var.get("Name")
                if not name:
                    raise wsman.malformed("an rsp:Variable has no Name")
                env[name] = var.text or ""
        idle = self.limits.idle_timeout
        idle_text = shell_el.findtext(q("rsp", "IdleTimeOut"))
        if idle_text is not None:
            try:
                idle = min(idle, wsman.parse_duration(idle_text))
            except ValueError:
                raise WSManFault(f"rsp:IdleTimeOut {idle_text!r} is not an xs:duration.",
                                 subcode="w:InvalidParameter",
                                 wsman_code=wsman.CODE_INVALID_PARAMETER) from None
        self.expire_idle()
        shell = _Shell(id=str(uuid.uuid4()).upper(), user=user, codepage=codepage,
                       noprofile=noprofile, cwd=cwd.strip() if cwd else None, env=env,
                       idle_timeout=idle)
        with self._lock:
            mine = sum(1 for s in self._shells.values() if s.user.casefold() == user.casefold())
            if mine >= self.limits.max_shells_per_user:
                # Wording and code as real hosts send them (hashicorp/vagrant#7489).
                raise WSManFault(
                    "The WS-Management service cannot process the request. This user is "
                    f"allowed a maximum number of {self.limits.max_shells_per_user} concurrent "
                    "shells, which has been exceeded. Close existing shells or raise the quota "
                    "for this user.", code="s:Receiver", subcode="w:InternalError",
                    wsman_code=wsman.CODE_MAX_SHELLS, wmi_error=True)
            self._shells[shell.id] = shell
        extra = (f"<rsp:Shell><rsp:ShellId>{shell.id}</rsp:ShellId>"
                 f"<rsp:Owner>{wsman.escape(user)}</rsp:Owner>"
                 f"<rsp:InputStreams>stdin</rsp:InputStreams>"
                 f"<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
        return wsman.create_response(req.message_id, server.url, shell.id, extra)

    # --- Command ----------------------------------------------------------------------
    def _command(self, req: wsman.Request, shell: _Shell, server: WinRMServer) -> bytes:
        line_el = req.body.find(q("rsp", "CommandLine"))
        if line_el is None:
            raise wsman.malformed("Command needs an rsp:CommandLine in the Body")
        command = line_el.findtext(q("rsp", "Command"))
        if command is None or not command.strip():
            raise wsman.malformed("rsp:CommandLine has no rsp:Command")
        # docs/behaviour/protocols.md §1.3: Arguments travel joined by spaces, unquoted.
        parts = [command] + [a.text or "" for a in line_el.findall(q("rsp", "Arguments"))]
        line = " ".join(p for p in parts if p != "")
        skip_cmd = _bool_option(req, "WINRS_SKIP_CMD_SHELL", False)
        _bool_option(req, "WINRS_CONSOLEMODE_STDIN", True)  # validated; no console here
        with self._lock:
            if shell.running_commands() >= self.limits.max_commands_per_shell:
                raise WSManFault(
                    "The WS-Management service cannot process the request. The maximum number "
                    f"of concurrent commands per shell ({self.limits.max_commands_per_shell}) "
                    "has been exceeded. Retry the request later or raise the quota.",
                    code="s:Receiver", subcode="w:InternalError",
                    wsman_code=wsman.CODE_MAX_OPERATIONS, wmi_error=True)
            command_id = (line_el.get("CommandId") or str(uuid.uuid4())).upper()
            if command_id in shell.commands:
                raise WSManFault(f"A command with CommandId {command_id} already exists.",
                                 subcode="w:InvalidParameter",
                                 wsman_code=wsman.CODE_INVALID_PARAMETER)
        process = (faults.hung_process(self.machine, line) if req.fault == faults.HANG
                   else self._spawn(shell, line, skip_cmd))
        with self._lock:
            if shell.closed:  # dropped while we spawned
                process.terminate()
                raise _shell_not_found(shell.id)
            shell.commands[command_id] = _Command(command_id, line, process)
        log.debug("shell %s command %s: %s", shell.id, command_id, line)
        return wsman.command_response(req.message_id, command_id)

    def _spawn(self, shell: _Shell, line: str, skip_cmd: bool) -> SimProcess:
        # Working directory and environment come from the shell (rsp:WorkingDirectory,
        # rsp:Environment); the machine merges env over the account's defaults.
        try:
            return self.machine.spawn(line, shell=not skip_cmd, codepage=shell.codepage,
                                      user=shell.user, cwd=shell.cwd, env=shell.env or None)
        except OSError as exc:
            # CreateProcess failures surface as a fault on Command, with the Win32 code
            # (e.g. 2 "The system cannot find the file specified." with SKIP_CMD_SHELL,
            # 267 for a bad working directory).
            code = getattr(exc, "winerror", None)
            raise WSManFault(f"{exc.strerror or exc} ", code="s:Receiver",
                             subcode="w:InternalError",
                             wsman_code=code if isinstance(code, int) else None) from None
        except ValueError as exc:  # e.g. an account the machine does not know
            raise WSManFault(f"{exc} ", code="s:Receiver", subcode="w:InternalError") from None

    # --- Send -------------------------------------------------------------------------
    def _send(self, req: wsman.Request, shell: _Shell, server: WinRMServer) -> bytes:
        send_el = req.body.find(q("rsp", "Send"))
        if send_el is None:
            raise wsman.malformed("Send needs an rsp:Send in the Body")
        streams = send_el.findall(q("rsp", "Stream"))
        if not streams:
            raise wsman.malformed("rsp:Send has no rsp:Stream")
        for st in streams:
            if st.get("Name") != "stdin":
                raise WSManFault(f"The shell has no input stream named {st.get('Name')!r}.",
                                 subcode="w:InvalidParameter",
                                 wsman_code=wsman.CODE_INVALID_PARAMETER)
            cmd = self._command_for(shell, st.get("CommandId"))
            try:
                data = base64.b64decode("".join((st.text or "").split()), validate=True)
            except (binascii.Error, ValueError):
                raise wsman.malformed("rsp:Stream text is not base64") from None
            end = (st.get("End") or "false").lower() == "true"
            if cmd.stdin_closed and (data or end):
                raise WSManFault(f"The input stream of command {cmd.id} was already closed "
                                 "with End=\"true\".", subcode="w:InvalidParameter",
                                 wsman_code=wsman.CODE_INVALID_PARAMETER)
            if cmd.process.done:
                # The process has exited, so its stdin pipe is gone: WinRS answers with
                # ERROR_NO_DATA; the command's output can still be received.
                raise WSManFault("The pipe is being closed. ", code="s:Receiver",
                                 subcode="w:InternalError", wsman_code=wsman.CODE_NO_DATA)
            cmd.process.write_stdin(data, end)
            cmd.stdin_closed = cmd.stdin_closed or end
        return wsman.simple_response("Send", req.message_id)

    # --- Receive ----------------------------------------------------------------------
    def _receive(self, req: wsman.Request, shell: _Shell, server: WinRMServer) -> bytes:
        recv_el = req.body.find(q("rsp", "Receive"))
        desired = None if recv_el is None else recv_el.find(q("rsp", "DesiredStream"))
        if desired is None:
            raise wsman.malformed("Receive needs rsp:Receive/rsp:DesiredStream")
        if not desired.get("CommandId"):
            raise WSManFault("The simulated host only supports Receive for one command "
                             "(rsp:DesiredStream needs a CommandId).",
                             subcode="w:InvalidParameter",
                             wsman_code=wsman.CODE_INVALID_PARAMETER)
        names = sorted((desired.text or "").split())
        if names != ["stderr", "stdout"]:
            raise WSManFault(f"The simulated host only receives stdout and stderr together, "
                             f"not {names}.", subcode="w:InvalidParameter",
                             wsman_code=wsman.CODE_INVALID_PARAMETER)
        cmd = self._command_for(shell, desired.get("CommandId"))
        budget = self._raw_budget(req, cmd.id)
        deadline = time.monotonic() + req.operation_timeout
        with cmd.receive_lock:
            if cmd.done_sent:
                return wsman.receive_response(req.message_id, cmd.id,
                                              [("stdout", "", True), ("stderr", "", True)],
                                              cmd.process.exit_code)
            while True:
                remaining = deadline - time.monotonic()
                out, err, done = cmd.process.read_output(budget, max(0.0, min(0.25, remaining)))
                if shell.closed or shell.commands.get(cmd.id) is not cmd:
                    # Deleted, dropped or signalled while this Receive was held.
                    raise _shell_not_found(shell.id) if shell.closed else WSManFault(
                        f"The command {cmd.id} was terminated while the Receive was pending.",
                        subcode="w:InvalidParameter", wsman_code=wsman.CODE_INVALID_PARAMETER)
                if server._stopping.is_set():
                    raise _Stopping()
                if out or err or done:
                    break
                if deadline - time.monotonic() <= 0:
                    raise _timed_out()
            streams: list[tuple[str, str, bool]] = []
            if out:
                streams.append(("stdout", base64.b64encode(out).decode("ascii"), False))
            if err:
                streams.append(("stderr", base64.b64encode(err).decode("ascii"), False))
            exit_code = None
            if done:
                streams += [("stdout", "", True), ("stderr", "", True)]
                exit_code = cmd.process.exit_code
                cmd.done_sent = True
            response = wsman.receive_response(req.message_id, cmd.id, streams, exit_code)
        if len(response) > req.max_envelope_size:  # a bug here, never the client's fault
            raise AssertionError(f"Receive response of {len(response)} bytes exceeds "
                                 f"MaxEnvelopeSize {req.max_envelope_size}")
        return response

    @staticmethod
    def _raw_budget(req: wsman.Request, command_id: str) -> int:
        """Raw output bytes that fit one Receive response under ``w:MaxEnvelopeSize``.

        docs/behaviour/protocols.md §1.10.5: base64 grows by 4/3; the envelope around the data
        is measured from an actual response with the largest exit code and both streams.
        """
        skeleton = wsman.receive_response(
            req.message_id, command_id,
            [("stdout", "x", False), ("stderr", "x", False),
             ("stdout", "", True), ("stderr", "", True)], 0xFFFFFFFF)
        room = req.max_envelope_size - len(skeleton) - 64
        raw = room // 4 * 3 - 6  # two base64 runs, each padded to a multiple of 4
        if raw < 1:
            raise WSManFault(f"w:MaxEnvelopeSize {req.max_envelope_size} is too small for any "
                             "output.", subcode="w:EncodingLimit")
        return raw

    # --- Signal / Delete -------------------------------------------------------------------
    def _signal(self, req: wsman.Request, shell: _Shell, server: WinRMServer) -> bytes:
        sig_el = req.body.find(q("rsp", "Signal"))
        if sig_el is None:
            raise wsman.malformed("Signal needs an rsp:Signal in the Body")
        code = (sig_el.findtext(q("rsp", "Code")) or "").strip()
        kind = code[len(_SIGNAL_PREFIX):].lower() \
            if code.lower().startswith(_SIGNAL_PREFIX.lower()) else None
        if kind != _SIGNAL_TERMINATE and kind not in _SIGNAL_CTRL:
            raise WSManFault(f"The signal code {code!r} is not supported.",
                             subcode="w:InvalidParameter",
                             wsman_code=wsman.CODE_INVALID_PARAMETER)
        cmd = self._command_for(shell, sig_el.get("CommandId"))
        # The sim has no console to deliver Ctrl+C to; every program ends on it, as the
        # simple console programs the harness runs do.
        cmd.process.terminate()
        if kind == _SIGNAL_TERMINATE:
            with self._lock:
                shell.commands.pop(cmd.id, None)
        return wsman.simple_response("Signal", req.message_id)

    def _delete(self, req: wsman.Request, shell: _Shell, server: WinRMServer) -> bytes:
        with self._lock:
            if self._shells.pop(shell.id, None) is None:
                raise _shell_not_found(shell.id)
            shell.closed = True
        self._end(shell)
        return wsman.simple_response("Delete", req.message_id)


# Options each action understands (others are ignored unless marked MustComply).
_KNOWN_OPTIONS = {
    "Create": ("WINRS_CODEPAGE", "WINRS_NOPROFILE"),
    "Command": ("WINRS_SKIP_CMD_SHELL", "WINRS_CONSOLEMODE_STDIN"),
}
