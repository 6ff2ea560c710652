"""SSH transport: paramiko exec channels to Windows OpenSSH, files over SFTP.

Windows OpenSSH hands an exec request to its default shell, ``cmd.exe`` (docs/behaviour/ecosystem.md
§4.5), so a command line means the same here as over WinRS.  Host keys are checked against
``known_hosts`` and unknown ones refused unless the inventory says
``accept_unknown_host_key = true``; then the key is trusted **for this connection only** and
logged with its fingerprint, never written to ``known_hosts`` behind the user's back (a
lab host that is re-imaged keeps working, and a changed key is still refused).

Files go over SFTP to a temporary name beside the destination, are verified by a hash the
*host* computes (``file_hash.ps1`` through the bootstrap, not a read-back over the same
channel), and are then renamed into place.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

from harness.errors import (AuthenticationError, CommandTimeout, ConfigError, HarnessError,
                            HostKeyError, RemoteCommandError, TransferError, TransportError)
from harness.secrets import redact
from harness.transport.base import DEFAULT_TIMEOUT, Stdin, TransferResult, Transport
from harness.transport.files import (check_local_destination, check_stdin, file_digest, iter_chunks,
                                     local_temporary, temporary_name, transfer_timeout)
from harness.transport.powershell import run_script
from harness.transport.retry import mark_transient

log = logging.getLogger("harness.transport.ssh")

RECV_SIZE = 64 * 1024
SEND_SIZE = 32 * 1024
PREFETCH_REQUESTS = 64  # SFTP reads in flight: bounds memory on downloads (64 × 32 KiB)
EXIT_GRACE = 5.0  # seconds to wait for an exit status after the channel closed
SFTP_REQUEST_TIMEOUT = 120.0  # seconds one SFTP request may wait for its answer

RemoteHash = Callable[["SSHTransport", str], "tuple[int, str]"]


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:<base64>`` form, as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def sftp_path(path: str) -> str:
    """Windows OpenSSH's SFTP spelling: ``C:\\dir\\f`` → ``/C:/dir/f``; others unchanged."""
    if re.match(r"^[A-Za-z]:([\\/]|$)", path):
        return "/" + path.replace("\\", "/")
    return path.replace("\\", "/") if "\\" in path else path


def file_hash_on_host(transport: Transport, path: str) -> tuple[int, str]:
    """``(size, sha256)`` of a host file, computed by ``file_hash.ps1`` on the host."""
    try:
        res = run_script(transport, "file_hash", {"path": path})
    except RemoteCommandError as exc:
        tail = exc.result.stderr.strip().splitlines()[-3:]
        raise TransferError(f"{transport.target.name}:{path}: cannot hash the file on the "
                            f"host: {' / '.join(tail) or exc.result.exit_code}") from None
    value = res.value or {}
    if not isinstance(value.get("size"), int) or not isinstance(value.get("sha256"), str):
        raise TransferError(f"{transport.target.name}:{path}: file_hash gave no result "
                            f"({res.stdout.strip()[:200]!r})")
    return value["size"], value["sha256"].lower()


class _UnknownHostKey(Exception):
    def __init__(self, hostname: str, key: paramiko.PKey):
        super().__init__(hostname)
        self.hostname = hostname
        self.key = key


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise _UnknownHostKey(hostname, key)


class _TrustForThisConnection(paramiko.MissingHostKeyPolicy):
    """Accept an unknown key in memory only, and say so in the log."""

    def missing_host_key(self, client, hostname, key):
        log.warning("accepting the unknown %s host key of %s (%s) for this connection only "
                    "(accept_unknown_host_key = true); it was not saved", key.get_name(),
                    hostname, fingerprint(key))
        client.get_host_keys().add(hostname, key.get_name(), key)


class SSHTransport(Transport):
    """Commands and files over SSH to one host.

    ``remote_hash(transport, path) -> (size, sha256)`` computes a file's digest *on the
    host*; by default :func:`file_hash_on_host` (the ``file_hash`` script through the
    PowerShell bootstrap).  A host without PowerShell (a POSIX sshd in tests) is given another.
    """

    NAME = "ssh"

    def __init__(self, target, *, remote_hash: RemoteHash | None = None):
        super().__init__(target)
        if target.ssh is None and target.transport == "ssh":
            raise ConfigError(f"{target.describe()}: transport = 'ssh' needs an [ssh] table")
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._remote_hash = remote_hash or file_hash_on_host

    # --- connection -------------------------------------------------------------------
    @property
    def known_hosts(self) -> Path:
        opts = self.target.ssh
        return Path(opts.known_hosts if opts and opts.known_hosts else "~/.ssh/known_hosts"
                    ).expanduser()

    def _connect(self) -> paramiko.SSHClient:
        if self._client is not None:
            transport = self._client.get_transport()
            if transport is not None and transport.is_active():
                return self._client
            self._close_client()  # the connection died: connecting again is safe
        t = self.target
        opts = t.ssh
        if not t.user:
            raise ConfigError(f"{t.describe()}: SSH needs a user")
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            try:
                client.load_host_keys(str(self.known_hosts))
            except (OSError, paramiko.SSHException) as exc:
                raise ConfigError(f"{t.describe()}: cannot read known_hosts "
                                  f"{self.known_hosts}: {exc}") from None
        client.set_missing_host_key_policy(
            _TrustForThisConnection() if opts.accept_unknown_host_key else _RejectUnknown())
        kwargs: dict = dict(hostname=t.address, port=t.effective_port, username=t.user,
                            timeout=opts.connect_timeout, banner_timeout=opts.connect_timeout,
                            auth_timeout=opts.connect_timeout, allow_agent=False,
                            look_for_keys=False)
        if opts.auth == "key":
            kwargs["pkey"] = self._load_key()
        elif opts.auth == "agent":
            kwargs["allow_agent"] = True
        else:
            if t.password is None:
                raise ConfigError(f"{t.describe()}: ssh auth = 'password' needs a password",
                                  hint="set password_env or password_file in the inventory")
            kwargs["password"] = t.password.reveal()
        try:
            client.connect(**kwargs)
        except Exception as exc:
            client.close()
            # A refused, reset or silent connection may be a host that is restarting its
            # sshd; keys and credentials are answers.
            err = self._map_connect(exc)
            raise mark_transient(err, isinstance(exc, (OSError, EOFError)) and not isinstance(
                err, (AuthenticationError, HostKeyError))) from None
        self._client = client
        return client

    def _load_key(self) -> paramiko.PKey:
        """Open the private key here, before the network: a wrong passphrase or a bad key
        file is a credentials problem of this machine, not a host that cannot be reached."""
        t = self.target
        path = Path(t.ssh.key_file).expanduser()
        passphrase = t.ssh.key_passphrase.reveal() if t.ssh.key_passphrase is not None else None
        try:
            return paramiko.PKey.from_path(
                path, password=passphrase.encode("utf-8") if passphrase is not None else None)
        except (paramiko.PasswordRequiredException, TypeError):
            # TypeError: the cryptography loader asked for a passphrase none was given for.
            if passphrase is not None:
                raise
            raise AuthenticationError(f"{t.describe()}: the SSH key {path} is encrypted",
                                      hint="set key_passphrase_env or key_passphrase_file "
                                           "in the inventory") from None
        except OSError as exc:
            raise ConfigError(f"{t.describe()}: cannot read the SSH key {path}: "
                              f"{exc.strerror or exc}", hint="check key_file") from None
        except (paramiko.SSHException, ValueError) as exc:
            raise AuthenticationError(
                f"{t.describe()}: cannot open the SSH key {path}: {exc}",
                hint="check key_passphrase_env / key_passphrase_file (a wrong passphrase "
                     "reads as an invalid key) and that key_file is a private key") from None

    def _map_connect(self, exc: BaseException) -> HarnessError:
        t = self.target
        where = f"{t.describe()}: cannot connect over SSH"
        port = t.effective_port
        if isinstance(exc, _UnknownHostKey):
            line = f"{exc.hostname} {exc.key.get_name()} {exc.key.get_base64()}"
            return HostKeyError(
                f"{where}: its {exc.key.get_name()} host key {fingerprint(exc.key)} is not in "
                f"{self.known_hosts}",
                hint=f"if that fingerprint is the host's (check it on the host with "
                     f"`ssh-keygen -lf C:\\ProgramData\\ssh\\ssh_host_ed25519_key.pub`), add "
                     f"this line to {self.known_hosts}: {line}   (or `ssh-keyscan -p {port} "
                     f"{t.address} >> {self.known_hosts}`)")
        if isinstance(exc, paramiko.BadHostKeyException):
            return HostKeyError(
                f"{where}: the host key CHANGED: it offered {fingerprint(exc.key)}, "
                f"{self.known_hosts} expects {fingerprint(exc.expected_key)}",
                hint="if the host was re-installed, remove its old line from known_hosts "
                     f"(`ssh-keygen -R '[{t.address}]:{port}'`); otherwise do not connect")
        if isinstance(exc, paramiko.PasswordRequiredException):
            return AuthenticationError(f"{where}: the key file is encrypted",
                                       hint="set key_passphrase (from env or file)")
        if isinstance(exc, paramiko.AuthenticationException):
            return AuthenticationError(
                f"{where}: the host rejected {t.user!r} ({t.ssh.auth} auth): {exc}",
                hint="check the user, the key or password, and administrators_authorized_keys "
                     "on the host (docs/behaviour/ecosystem.md §4.5)")
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TransportError(f"{where}: no answer from {t.address}:{port}",
                                  hint="check that the host is up and sshd runs")
        if isinstance(exc, OSError):
            return TransportError(f"{where}: {exc}",
                                  hint="check address, port and firewall, and that sshd runs")
        if isinstance(exc, paramiko.SSHException):
            return TransportError(f"{where}: {exc}")
        return TransportError(f"{where}: {type(exc).__name__}: {exc}")

    # --- commands ---------------------------------------------------------------------
    def run_streaming(self, command_line: str, *, timeout: float = DEFAULT_TIMEOUT,
                      stdin: Stdin = None, on_stdout: Callable[[bytes], None],
                      on_stderr: Callable[[bytes], None]) -> int:
        """Run ``command_line`` on an exec channel, handing output to the callbacks.

        Without ``stdin`` the command's stdin is closed at once (as ``ssh host cmd
        </dev/null``).  On the deadline the channel is closed, which makes Windows OpenSSH
        end the process, and :class:`~harness.errors.CommandTimeout` is raised.
        """
        check_stdin(stdin)
        deadline = time.monotonic() + timeout
        client = self._connect()
        try:
            chan = client.get_transport().open_session(timeout=self.target.ssh.connect_timeout)
            chan.exec_command(command_line)
        except Exception as exc:
            raise self._map_run(exc, command_line) from None
        writer_error: list[BaseException] = []
        writer = threading.Thread(target=self._feed, args=(chan, stdin, writer_error),
                                  name="ssh-stdin", daemon=True)
        writer.start()
        try:
            code = self._pump(chan, deadline, on_stdout, on_stderr)
        except _Expired:
            chan.close()
            raise CommandTimeout(_short(command_line), timeout,
                                 hint="raise the timeout if the command is expected to be "
                                      "slow; the channel was closed") from None
        except BaseException as exc:
            chan.close()
            if isinstance(exc, Exception) and not isinstance(exc, HarnessError):
                raise self._map_run(exc, command_line) from None
            raise
        finally:
            writer.join(timeout=1.0)
        chan.close()
        if writer_error and not isinstance(writer_error[0], (OSError, EOFError,
                                                             paramiko.SSHException)):
            raise writer_error[0]  # a bad stdin argument (e.g. str), not a channel problem
        return code

    @staticmethod
    def _feed(chan: paramiko.Channel, stdin: Stdin, errors: list[BaseException]) -> None:
        try:
            for chunk in iter_chunks(stdin, SEND_SIZE):
                chan.sendall(chunk)
            chan.shutdown_write()
        except BaseException as exc:  # reported by run_streaming; the channel is closed there
            errors.append(exc)
            with contextlib.suppress(Exception):
                chan.shutdown_write()

    @staticmethod
    def _pump(chan: paramiko.Channel, deadline: float, on_stdout: Callable[[bytes], None],
              on_stderr: Callable[[bytes], None]) -> int:
        closed_at = None
        while True:
            got = False
            while chan.recv_ready():
                data = chan.recv(RECV_SIZE)
                if not data:
                    break
                on_stdout(data)
                got = True
            while chan.recv_stderr_ready():
                data = chan.recv_stderr(RECV_SIZE)
                if not data:
                    break
                on_stderr(data)
                got = True
            if got:
                continue
            ended = chan.eof_received or chan.closed
            if chan.exit_status_ready() and ended:
                return chan.recv_exit_status()
            if ended:
                closed_at = closed_at or time.monotonic()
                if time.monotonic() - closed_at > EXIT_GRACE:
                    raise mark_transient(TransportError(
                        "the SSH channel closed without an exit status",
                        hint="the connection may have dropped; retry"))
            transport = chan.get_transport()
            if transport is None or not transport.is_active():
                raise mark_transient(TransportError(
                    "the SSH connection dropped during the command"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Expired()
            readable, _, _ = select.select([chan], [], [], min(remaining, 0.5))
            if ended or not readable:
                time.sleep(0.005 if ended else 0)

    def _map_run(self, exc: BaseException, command_line: str) -> HarnessError:
        """A channel that could not be opened or broke: the connection, not an answer."""
        return mark_transient(TransportError(
            f"{self.target.describe()}: SSH command failed "
            f"({type(exc).__name__}: {exc}): {_short(command_line)}"),
            isinstance(exc, (OSError, EOFError, paramiko.SSHException)))

    def _run(self, command_line: str, *, timeout: float, stdin: Stdin) -> tuple[int, bytes, bytes]:
        out, err = bytearray(), bytearray()
        code = self.run_streaming(command_line, timeout=timeout, stdin=stdin,
                                  on_stdout=out.extend, on_stderr=err.extend)
        return code, bytes(out), bytes(err)

    # --- files ------------------------------------------------------------------------
    def _sftp_client(self) -> paramiko.SFTPClient:
        client = self._connect()
        if self._sftp is None or self._sftp.get_channel() is None or \
                self._sftp.get_channel().closed:
            try:
                self._sftp = client.open_sftp()
                # a per-request ceiling; put/get enforce their overall deadline themselves
                self._sftp.get_channel().settimeout(SFTP_REQUEST_TIMEOUT)
            except Exception as exc:
                raise TransportError(f"{self.target.describe()}: cannot open SFTP: {exc}",
                                     hint="check that sshd has the sftp subsystem") from None
        return self._sftp

    def _deadline_callback(self, what: str, timeout: float) -> Callable[[int, int], None]:
        """An SFTP progress callback that aborts the transfer at its deadline."""
        deadline = time.monotonic() + timeout

        def check(done: int, total: int) -> None:
            if time.monotonic() > deadline:
                raise CommandTimeout(what, timeout, hint="pass a longer timeout to put/get")
        return check

    def _put(self, local_path: str | Path, remote_path: str, *,
            timeout: float | None = None) -> TransferResult:
        local = Path(local_path)
        started = time.monotonic()
        try:
            size, sha = file_digest(local)
        except OSError as exc:
            raise TransferError(f"cannot read {local} for upload: {exc.strerror or exc}") from None
        where = f"{self.target.name}:{remote_path}"
        tmp = temporary_name(remote_path)
        sftp = self._sftp_client()
        limit = transfer_timeout(size, timeout)
        leftover = True  # the temporary file may exist until it is renamed
        try:
            with open(local, "rb") as f:
                sftp.putfo(f, sftp_path(tmp), file_size=size, confirm=True,
                           callback=self._deadline_callback(f"sftp put {where}", limit))
            host_size, host_sha = self._remote_hash(self, tmp)
            if (host_size, host_sha) != (size, sha):
                raise TransferError(f"upload of {local} to {where} did not verify: the host "
                                    f"hashed {host_size} bytes to {host_sha}, expected {size} "
                                    f"bytes with {sha}; the destination was left untouched")
            self._rename(sftp, sftp_path(tmp), sftp_path(remote_path))
            leftover = False
        except HarnessError:
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise mark_transient(TransferError(f"upload of {local} to {where} failed: {exc}; "
                                               "the destination was left untouched"),
                                 _connection_lost(exc)) from None
        finally:
            if leftover:
                with contextlib.suppress(Exception):
                    sftp.remove(sftp_path(tmp))
        return TransferResult(local_path=local, remote_path=remote_path, size=size, sha256=sha,
                              duration=time.monotonic() - started)

    @staticmethod
    def _rename(sftp: paramiko.SFTPClient, src: str, dst: str) -> None:
        """Replace ``dst`` by ``src`` in one step where the server can (posix-rename)."""
        try:
            sftp.posix_rename(src, dst)
            return
        except OSError as exc:
            if "unsupported" not in str(exc).lower():
                raise
        # SFTP v3 rename refuses an existing target: remove it first (not atomic).
        with contextlib.suppress(FileNotFoundError):
            sftp.remove(dst)
        sftp.rename(src, dst)

    def _get(self, remote_path: str, local_path: str | Path, *,
            timeout: float | None = None) -> TransferResult:
        local = Path(local_path)
        check_local_destination(local)
        started = time.monotonic()
        where = f"{self.target.name}:{remote_path}"
        host_size, host_sha = self._remote_hash(self, remote_path)
        sftp = self._sftp_client()
        limit = transfer_timeout(host_size, timeout)
        tmp = local_temporary(local)
        sink = None
        done = False
        try:
            with open(tmp, "xb") as f:
                sink = _HashingWriter(f)
                sftp.getfo(sftp_path(remote_path), sink,
                           callback=self._deadline_callback(f"sftp get {where}", limit),
                           max_concurrent_prefetch_requests=PREFETCH_REQUESTS)
            got, sha = sink.size, sink.sha256.hexdigest()
            if (got, sha) != (host_size, host_sha):
                raise TransferError(f"download of {where} did not verify: received {got} bytes "
                                    f"with sha256 {sha}, the host hashed {host_size} bytes to "
                                    f"{host_sha}", hint="the file may have changed; retry")
            os.replace(tmp, local)
            done = True
        except HarnessError:
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise mark_transient(TransferError(f"download of {where} to {local} failed: {exc}"),
                                 _connection_lost(exc)) from None
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        return TransferResult(local_path=local, remote_path=remote_path, size=got, sha256=sha,
                              duration=time.monotonic() - started)

    # --- lifecycle --------------------------------------------------------------------
    def _close_client(self) -> None:
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        if sftp is not None:
            with contextlib.suppress(Exception):
                sftp.close()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def close(self) -> None:
        self._close_client()


class _Expired(Exception):
    """The command's deadline passed (internal)."""


class _HashingWriter:
    """A file wrapper that hashes and counts what is written through it."""

    def __init__(self, f):
        self._f = f
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._f.write(data)


def _connection_lost(exc: BaseException) -> bool:
    """An SFTP failure caused by the connection (worth a new attempt), not by the file."""
    return isinstance(exc, (EOFError, paramiko.SSHException, ConnectionError, socket.timeout))


def _short(line: str, limit: int = 300) -> str:
    line = redact(line)
    return line if len(line) <= limit else line[:limit] + f"... ({len(line)} characters)"
