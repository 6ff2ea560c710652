"""An SSH listener for the simulated host, behaving like Windows OpenSSH's sshd.

What the harness relies on (docs/behaviour/ecosystem.md §4.5): ``exec`` requests run through the
default shell, ``cmd.exe`` (so the line goes to ``machine.spawn(line, shell=True)``), with
stdin, stdout, stderr and the exit status streamed; the ``sftp`` subsystem shows Windows
paths as ``/C:/dir/file``.  Interactive shells and ptys are refused: the harness never asks
for them, and a sim that pretended to give one would hide the mistake.

Host keys live in the state directory so ``known_hosts`` entries stay valid across restarts.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import logging
import os
import socket
import stat as statmod
import struct
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko.common import cMSG_CHANNEL_FAILURE, cMSG_CHANNEL_SUCCESS
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_OP_UNSUPPORTED

from harness.sim.password import Revealable, reveal

log = logging.getLogger("harness.sim.ssh")
TRANSPORT_LOG = "harness.sim.ssh.transport"


class _HangUpIsNormal(logging.Filter):
    """paramiko logs a peer that resets or drops the connection as an ERROR ("Socket
    exception: Connection reset by peer"); for a server that is a client hanging up early
    (an interrupted scp, ssh closed with output unread), which sshd logs at info level.
    Such records are lowered to DEBUG; everything else passes unchanged."""

    _TEXT = ("Socket exception", "EOF in transport thread", "Connection reset")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING and not record.exc_info \
                and any(t in record.getMessage() for t in self._TEXT):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logging.getLogger(TRANSPORT_LOG).addFilter(_HangUpIsNormal())

HOST_KEY_FILE = "ssh_host_ed25519_key"
_CHUNK = 32 * 1024


# --- keys ---------------------------------------------------------------------------------

def ensure_host_key(directory: str | os.PathLike[str]) -> paramiko.PKey:
    """Load the Ed25519 host key from ``directory``, generating it the first time."""
    path = Path(directory) / HOST_KEY_FILE
    if path.exists():
        try:
            return paramiko.Ed25519Key(filename=str(path))
        except (paramiko.SSHException, OSError, ValueError) as exc:
            log.warning("host key %s is unreadable (%s); generating a new one", path, exc)
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption())
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(tmp, path)
    return paramiko.Ed25519Key(filename=str(path))


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:<base64, no padding>``, as ``ssh-keygen -l`` and OpenSSH print it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def parse_authorized_keys(text: str, source: str = "authorized keys") -> list[bytes]:
    """Key blobs from OpenSSH ``authorized_keys`` text.

    Lines with options (``command=...``, ``from=...``) are refused: honouring only part of
    them would let a key do more than its file says.
    """
    blobs = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2 or not (fields[0].startswith(("ssh-", "ecdsa-", "sk-"))):
            raise ValueError(f"{source} line {n}: the simulated host understands only "
                             f"'<type> <base64> [comment]' lines, without options: {line[:60]}")
        try:
            blob = base64.b64decode(fields[1], validate=True)
        except ValueError:
            raise ValueError(f"{source} line {n}: the key is not base64") from None
        key_type = paramiko.Message(blob).get_text()
        if key_type != fields[0]:
            raise ValueError(f"{source} line {n}: the key says it is {key_type}, the line "
                             f"says {fields[0]}")
        blobs.append(blob)
    return blobs


def authorized_key_blobs(items: Iterable[Any]) -> list[bytes]:
    """Accept paramiko keys, ``authorized_keys``-format lines, or paths of such files."""
    blobs: list[bytes] = []
    for item in items:
        if isinstance(item, paramiko.PKey):
            blobs.append(item.asbytes())
        elif isinstance(item, str) and item.lstrip().startswith(("ssh-", "ecdsa-", "sk-")):
            blobs.extend(parse_authorized_keys(item))
        else:
            p = Path(item)
            blobs.extend(parse_authorized_keys(p.read_text(encoding="utf-8"), str(p)))
    return blobs


# --- the SSH session side -----------------------------------------------------------------

class _Transport(paramiko.Transport):
    """A Transport that tells exec sessions when the reply to their request has gone out.

    paramiko sends the reply to a channel request only after the ServerInterface callback
    returns.  A command that finishes inside that gap would close its channel before the
    client heard "success", and the client would report "Channel closed".  OpenSSH, being
    single-threaded, always replies first; waiting for the reply restores that order.
    """

    def __init__(self, sock: socket.socket):
        super().__init__(sock)
        self._replies: dict[int, threading.Event] = {}
        self._replies_lock = threading.Lock()

    def reply_sent(self, remote_chanid: int) -> threading.Event:
        with self._replies_lock:
            return self._replies.setdefault(remote_chanid, threading.Event())

    def _send_user_message(self, data):  # overrides a paramiko internal, see class doc
        super()._send_user_message(data)
        raw = data.asbytes() if hasattr(data, "asbytes") else bytes(data)
        if raw[:1] in (cMSG_CHANNEL_SUCCESS, cMSG_CHANNEL_FAILURE) and len(raw) >= 5:
            self.reply_sent(struct.unpack(">I", raw[1:5])[0]).set()


class _Server(paramiko.ServerInterface):
    """Authentication and channel policy for one connection."""

    def __init__(self, owner: SSHServer):
        self.owner = owner
        self.user: str | None = None

    def _account(self, username: str) -> str | None:
        # Windows account names compare case-insensitively.
        return self.owner._users.get(username.casefold())

    def get_allowed_auths(self, username: str) -> str:
        methods = []
        if self.owner._authorized:
            methods.append("publickey")
        if self.owner._passwords:
            methods.append("password")
        return ",".join(methods) or "none"

    def check_auth_password(self, username: str, password: str) -> int:
        name = self._account(username)
        expected = self.owner._passwords.get(name) if name else None
        if expected is not None and hmac.compare_digest(password.encode("utf-8"),
                                                        expected.encode("utf-8")):
            self.user = name
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        name = self._account(username)
        if name is not None and key.asbytes() in self.owner._authorized:
            self.user = name
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        log.warning("refused a %r channel: the simulated host only opens sessions", kind)
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        try:
            line = command.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("refused an exec request that is not UTF-8: %r", command[:80])
            return False
        assert self.user is not None
        injector = getattr(self.owner.machine, "faults", None)  # harness/sim/faults.py
        if injector is not None and injector.roll("ssh:exec", ("drop-request",),
                                                  detail=line[:200]):
            _drop_connection(channel)  # before the command runs; the client sees EOF
            return False
        self.owner._start_exec(channel, line, self.user)
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        log.warning("refused an interactive shell request: the simulated host runs exec "
                    "requests only")
        return False

    def check_channel_pty_request(self, channel, term, width, height, pixelwidth, pixelheight,
                                  modes) -> bool:
        log.warning("refused a pty request: the simulated host has no terminals")
        return False


def _drop_connection(channel: paramiko.Channel) -> None:
    transport = channel.get_transport()
    sock = getattr(transport, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _ExecSession:
    """One exec channel: pumps bytes between the channel and a simulated process."""

    def __init__(self, owner: SSHServer, channel: paramiko.Channel, line: str, user: str):
        self.owner = owner
        self.channel = channel
        self.line = line
        self.user = user
        self.process = None

    def run(self) -> None:
        chan = self.channel
        transport = chan.get_transport()
        if isinstance(transport, _Transport):
            # Clients ask for a reply to "exec"; one that did not costs this wait once.
            transport.reply_sent(chan.remote_chanid).wait(2.0)
        try:
            self.process = self.owner.machine.spawn(self.line, shell=True,
                                                    codepage=self.owner.codepage,
                                                    user=self.user)
        except Exception as exc:  # report to the client, keep serving
            log.exception("spawn failed for %r", self.line)
            try:
                chan.sendall_stderr(f"simulated host could not start the command: {exc}\r\n"
                                    .encode())
                chan.send_exit_status(1)
                chan.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass
            return
        proc = self.process
        self.owner._track(self)
        feeder = threading.Thread(target=self._feed_stdin, name="ssh-stdin", daemon=True)
        feeder.start()
        try:
            while True:
                out, err, done = proc.read_output(_CHUNK, 0.2)
                if out:
                    chan.sendall(out)
                if err:
                    chan.sendall_stderr(err)
                if done:
                    break
                if chan.closed or not chan.get_transport().is_active():
                    proc.terminate()  # the client went away: so does the process
                    return
            chan.send_exit_status(proc.exit_code if proc.exit_code is not None else 1)
            chan.shutdown_write()
            chan.close()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.debug("exec channel for %r ended early: %s", self.line, exc)
            proc.terminate()
        finally:
            self.owner._untrack(self)

    def _feed_stdin(self) -> None:
        proc = self.process
        try:
            while True:
                data = self.channel.recv(_CHUNK)
                if not data:
                    break
                proc.write_stdin(data)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            proc.write_stdin(b"", eof=True)

    def terminate(self) -> None:
        if self.process is not None:
            self.process.terminate()


# --- SFTP ---------------------------------------------------------------------------------

def _sftp_errors(method):
    """Turn exceptions into SFTP status codes: a bad request never kills the session."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except OSError as exc:
            log.debug("sftp %s%r: %s", method.__name__, args, exc)
            return paramiko.SFTPServer.convert_errno(exc.errno)
        except (ValueError, TypeError) as exc:
            log.warning("sftp %s%r not understood: %s", method.__name__, args, exc)
            return SFTP_FAILURE
        except Exception:  # a bug in the sim: SFTP failure, session lives on
            log.exception("sftp %s%r failed inside the simulated host", method.__name__, args)
            return SFTP_FAILURE

    return wrapper


def _attrs(st: Any, name: str | None = None) -> paramiko.SFTPAttributes:
    a = paramiko.SFTPAttributes()
    a.st_size = st.size
    a.st_mode = (statmod.S_IFDIR | 0o755) if st.is_dir else (statmod.S_IFREG | 0o644)
    a.st_mtime = int(st.mtime)
    a.st_atime = int(st.mtime)
    if name is not None:
        a.filename = name
    return a


class _Handle(paramiko.SFTPHandle):
    def __init__(self, fs: Any, path: str, f: Any, flags: int):
        super().__init__(flags)
        self._fs = fs
        self._path = path
        if f.readable():
            self.readfile = f
        if f.writable():
            self.writefile = f
        self._file = f

    def close(self) -> None:
        self._file.close()

    @_sftp_errors
    def stat(self):
        return _attrs(self._fs.stat(self._path))

    @_sftp_errors
    def chattr(self, attr):
        if not _settable(attr):
            return SFTP_OP_UNSUPPORTED
        if attr._flags & paramiko.SFTPAttributes.FLAG_SIZE:
            self._file.truncate(attr.st_size)
        return SFTP_OK


# What Windows OpenSSH's sftp-server applies on (f)setstat: size (the file is cut or
# extended, as scp's upload asks with its fsetstat), permissions (mapped to the read-only
# attribute there; accepted and ignored here) and times (accepted and ignored).  Owner and
# group have no Windows meaning: refused (Win32-OpenSSH, sftp-server.c process_setstat /
# process_fsetstat).
_SETTABLE = (paramiko.SFTPAttributes.FLAG_SIZE | paramiko.SFTPAttributes.FLAG_PERMISSIONS
             | paramiko.SFTPAttributes.FLAG_AMTIME)


def _settable(attr: paramiko.SFTPAttributes) -> bool:
    return (attr._flags & ~_SETTABLE) == 0


class _SFTPSubsystem(paramiko.SFTPServer):
    """paramiko's SFTP server, ending its channel the way sshd ends a subsystem.

    sshd sends the subsystem's exit status (sftp-server's, 0 on a normal end) before it
    closes the channel; OpenSSH's scp exits 1 when none comes (RFC 4254 §6.10).  A client
    that already closed its side gets nothing, and that is not an error.
    """

    def finish_subsystem(self):
        channel = self.sock
        if not channel.closed:
            with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
                channel.send_exit_status(0)
        super().finish_subsystem()


class _SFTP(paramiko.SFTPServerInterface):
    """SFTP on the machine's filesystem with Windows OpenSSH's path spelling."""

    def __init__(self, server: _Server, *args: Any, **kwargs: Any):
        super().__init__(server, *args, **kwargs)
        self.owner = server.owner
        self.fs = server.owner.machine.fs
        self.home = server.owner.home_for(server.user or "")

    # --- paths ------------------------------------------------------------------------
    def to_windows(self, path: str) -> str:
        """``/C:/a/b``, ``C:/a/b``, ``C:\\a\\b`` or a home-relative path → ``C:\\a\\b``."""
        if path in ("", "."):
            return self.home
        p = path.replace("\\", "/")
        if len(p) >= 3 and p[0] == "/" and p[2] == ":" and p[1].isalpha():
            p = p[1:]
        if len(p) >= 2 and p[1] == ":" and p[0].isalpha():
            return self.fs.resolve(p if len(p) > 2 else p + "/")
        if p.startswith("/"):
            # Windows OpenSSH only has drive paths under "/"; anything else does not exist.
            raise FileNotFoundError(2, "no such file (paths look like /C:/dir/file)", path)
        return self.fs.resolve(p, cwd=self.home)

    @staticmethod
    def to_sftp(win_path: str) -> str:
        return "/" + win_path.replace("\\", "/").rstrip("/") + ("/" if win_path.endswith(":\\")
                                                                   else "")

    # --- operations -------------------------------------------------------------------
    def canonicalize(self, path: str) -> str:
        try:
            win = self.to_windows(path)
        except (OSError, ValueError):
            return path if path.startswith("/") else "/" + path
        try:
            win = self.fs.real_path(win)
        except OSError:
            pass
        return self.to_sftp(win)

    @_sftp_errors
    def list_folder(self, path: str):
        win = self.to_windows(path)
        return [_attrs(st, name) for name, st in self.fs.scandir(win)]

    @_sftp_errors
    def stat(self, path: str):
        return _attrs(self.fs.stat(self.to_windows(path)))

    lstat = stat

    @_sftp_errors
    def open(self, path: str, flags: int, attr):
        win = self.to_windows(path)
        acc = flags & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
        read = acc in (os.O_RDONLY, os.O_RDWR)
        write = acc in (os.O_WRONLY, os.O_RDWR)
        if flags & os.O_CREAT and flags & os.O_EXCL:
            mode = "xb"
        elif flags & os.O_APPEND and write:
            mode = "a+b" if read else "ab"
            if not flags & os.O_CREAT and not self.fs.is_file(win):
                raise FileNotFoundError(2, "no such file", path)
        elif flags & os.O_TRUNC and write:
            mode = "w+b" if read else "wb"
            if not flags & os.O_CREAT and not self.fs.is_file(win):
                raise FileNotFoundError(2, "no such file", path)
        elif write:
            with self.fs.lock:
                if flags & os.O_CREAT and not self.fs.exists(win):
                    self.fs.write_bytes(win, b"")
                f = self.fs.open(win, "r+b")
            return _Handle(self.fs, win, f, flags)
        else:
            mode = "rb"
        return _Handle(self.fs, win, self.fs.open(win, mode), flags)

    @_sftp_errors
    def remove(self, path: str):
        self.fs.remove(self.to_windows(path))
        return SFTP_OK

    @_sftp_errors
    def rename(self, oldpath: str, newpath: str):
        # SFTP v3 rename fails when the target exists (draft-ietf-secsh-filexfer-02 §6.5);
        # posix-rename@openssh.com replaces it.
        self.fs.rename(self.to_windows(oldpath), self.to_windows(newpath), replace=False)
        return SFTP_OK

    @_sftp_errors
    def posix_rename(self, oldpath: str, newpath: str):
        self.fs.rename(self.to_windows(oldpath), self.to_windows(newpath), replace=True)
        return SFTP_OK

    @_sftp_errors
    def mkdir(self, path: str, attr):
        self.fs.mkdir(self.to_windows(path))
        return SFTP_OK

    @_sftp_errors
    def rmdir(self, path: str):
        self.fs.rmdir(self.to_windows(path))
        return SFTP_OK

    @_sftp_errors
    def chattr(self, path: str, attr):
        win = self.to_windows(path)
        self.fs.stat(win)
        if not _settable(attr):
            return SFTP_OP_UNSUPPORTED
        if attr._flags & paramiko.SFTPAttributes.FLAG_SIZE:
            with self.fs.open(win, "r+b") as f:
                f.truncate(attr.st_size)
        return SFTP_OK

    def readlink(self, path: str):
        return SFTP_OP_UNSUPPORTED

    def symlink(self, target_path: str, path: str):
        return SFTP_OP_UNSUPPORTED


# --- the listener -------------------------------------------------------------------------

class SSHServer:
    """An sshd on loopback in front of a machine: exec through cmd.exe, and SFTP."""

    def __init__(self, machine: Any, host_key: paramiko.PKey, *,
                 users: Mapping[str, str | Revealable | None],
                 authorized_keys: Iterable[Any] = (), port: int = 0,
                 host: str = "127.0.0.1", codepage: int = 65001,
                 home_template: str = "C:\\Users\\{user}"):
        self.machine = machine
        self.host_key = host_key
        self.codepage = codepage
        self.home_template = home_template
        self._users = {name.casefold(): name for name in users}
        self._passwords = {name: reveal(pw)
                           for name, pw in users.items() if pw}
        self._authorized = set(authorized_key_blobs(authorized_keys))
        self._sock = socket.create_server((host, port), backlog=64)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._transports: set[paramiko.Transport] = set()
        self._sessions: set[_ExecSession] = set()

    @property
    def host(self) -> str:
        return self._sock.getsockname()[0]

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.host_key)

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}"

    def home_for(self, user: str) -> str:
        return self.home_template.format(user=user)

    def start(self) -> SSHServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._accept_loop,
                                            name=f"ssh-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        try:
            self._sock.close()
        except OSError:
            pass
        self.close_connections()
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            s.terminate()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def open_connections(self) -> int:
        """How many client connections are being served now (for tests)."""
        with self._lock:
            return len(self._transports)

    def close_connections(self) -> int:
        with self._lock:
            transports = list(self._transports)
        for t in transports:
            t.close()
        return len(transports)

    # --- internals --------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            threading.Thread(target=self._serve_connection, args=(conn, addr),
                             name=f"ssh-conn-{addr[1]}", daemon=True).start()

    def _serve_connection(self, conn: socket.socket, addr: Any) -> None:
        conn.settimeout(None)
        transport = _Transport(conn)
        # The server's side of paramiko logs under the sim's name, where a client hanging up
        # is not an error (see _HangUpIsNormal).
        transport.set_log_channel(TRANSPORT_LOG)
        try:
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", _SFTPSubsystem, _SFTP)
            with self._lock:
                if self._stop.is_set():
                    transport.close()
                    return
                self._transports.add(transport)
            transport.start_server(server=_Server(self))
            # Exec and subsystem requests arrive through the ServerInterface callbacks.  The
            # accepted channels are held here because paramiko keeps only weak references
            # and a collected Channel closes itself.
            channels: set[paramiko.Channel] = set()
            while transport.is_active() and not self._stop.is_set():
                chan = transport.accept(0.5)
                if chan is not None:
                    channels.add(chan)
                channels = {c for c in channels if not c.closed}
        except (paramiko.SSHException, EOFError, OSError) as exc:
            log.debug("ssh connection from %s ended: %s", addr, exc)
        except Exception:  # one connection must never take the server down
            log.exception("ssh connection from %s failed", addr)
        finally:
            with self._lock:
                self._transports.discard(transport)
            transport.close()

    def _start_exec(self, channel: paramiko.Channel, line: str, user: str) -> None:
        session = _ExecSession(self, channel, line, user)
        threading.Thread(target=session.run, name="ssh-exec", daemon=True).start()

    def _track(self, session: _ExecSession) -> None:
        with self._lock:
            self._sessions.add(session)

    def _untrack(self, session: _ExecSession) -> None:
        with self._lock:
            self._sessions.discard(session)


__all__ = ["SSHServer", "authorized_key_blobs", "ensure_host_key", "fingerprint",
           "parse_authorized_keys"]
