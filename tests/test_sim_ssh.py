"""The simulated host's SSH listener: auth, exec through cmd.exe, SFTP, host-key pinning."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import time

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from harness.sim.filesystem import FileSystem
from harness.sim.host import SimHost
from harness.sim.machine import ProcessContext
from harness.sim.process import EXIT_TERMINATED, SimProcess
from harness.sim.ssh_server import parse_authorized_keys

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD = "Administrator", "Ssh-Test-Passw0rd!"


# --- a fake machine (the real one is exercised in the last test) ---------------------------

def _echo(ctx: ProcessContext) -> int:
    ctx.stdout.line(" ".join(ctx.argv[1:]))
    return 0


def _cat_upper(ctx: ProcessContext) -> int:
    data = ctx.stdin.read()
    ctx.stdout.write(data.upper())
    ctx.stderr.write(f"{len(data)} bytes".encode())
    return 3


def _sleep(ctx: ProcessContext) -> int:
    ctx.sleep(3600)
    return 0


PROGRAMS = {"echo": _echo, "upper": _cat_upper, "sleep": _sleep}


class FakeMachine:
    name = "FAKEHOST"

    def __init__(self) -> None:
        self.fs = FileSystem()
        self.fs.makedirs(r"C:\Users\Administrator")
        self.spawns: list[dict] = []
        self.processes: list[SimProcess] = []

    def add_user(self, name: str, password: object) -> None:
        self.fs.makedirs(f"C:\\Users\\{name}")

    def spawn(self, command_line: str, *, shell: bool = True, codepage: int = 65001,
              user: str | None = None, cwd=None, env=None) -> SimProcess:
        argv = command_line.split()
        self.spawns.append({"line": command_line, "shell": shell, "user": user})

        def unknown(ctx: ProcessContext) -> int:
            ctx.stderr.line(f"'{argv[0]}' is not recognized as an internal or external "
                            "command,\r\noperable program or batch file.")
            return 9009

        program = PROGRAMS.get(argv[0], unknown)

        def factory(stdin, stdout, stderr, cancel) -> ProcessContext:
            return ProcessContext(machine=self, command_line=command_line, argv=argv, env={},
                                  cwd=r"C:\Users\Administrator", stdin=stdin, stdout=stdout,
                                  stderr=stderr, cancelled=cancel, codepage=codepage)

        proc = SimProcess(factory, program, argv[0], codepage=codepage)
        self.processes.append(proc)
        return proc


def _new_key() -> paramiko.Ed25519Key:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()).decode()
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem))


@pytest.fixture(scope="module")
def client_key() -> paramiko.Ed25519Key:
    return _new_key()


@pytest.fixture
def machine() -> FakeMachine:
    return FakeMachine()


@pytest.fixture
def host(tmp_path, machine, client_key):
    keyfile = tmp_path / "id_ed25519.pub"
    keyfile.write_text(f"# the test key\n{client_key.get_name()} {client_key.get_base64()} "
                       "tester@example\n")
    with SimHost(tmp_path / "sim", machine=machine, password=PASSWORD,
                 authorized_keys=[keyfile]) as h:
        yield h


def connect(host: SimHost, **kw) -> paramiko.SSHClient:
    """A client that trusts only the known_hosts file the host wrote."""
    ep = host.endpoint
    client = paramiko.SSHClient()
    client.load_host_keys(ep["ssh_known_hosts"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    kw.setdefault("password", PASSWORD)
    client.connect(ep["ssh_host"], port=ep["ssh_port"], username=ep["user"],
                   allow_agent=False, look_for_keys=False, timeout=10, **kw)
    return client


def run(client: paramiko.SSHClient, command: str, stdin: bytes | None = None):
    i, o, e = client.exec_command(command, timeout=20)
    if stdin is not None:
        i.write(stdin)
        i.channel.shutdown_write()
    out, err = o.read(), e.read()
    return out, err, o.channel.recv_exit_status()


# --- auth and exec -------------------------------------------------------------------------

def test_password_auth_and_exec_through_cmd(host, machine):
    with connect(host) as c:
        assert run(c, "echo hello there") == (b"hello there\r\n", b"", 0)
        _, err, code = run(c, "no-such-thing")
        assert code == 9009 and b"not recognized" in err
    assert machine.spawns[0] == {"line": "echo hello there", "shell": True, "user": USER}


def test_key_auth(host, client_key):
    with connect(host, password=None, pkey=client_key) as c:
        assert run(c, "echo key")[0] == b"key\r\n"


def test_wrong_password_and_unknown_key_are_refused(host):
    with pytest.raises(paramiko.AuthenticationException):
        connect(host, password="wrong")
    with pytest.raises(paramiko.AuthenticationException):
        connect(host, password=None, pkey=_new_key())


def test_stdin_stderr_and_exit_status(host):
    with connect(host) as c:
        assert run(c, "upper", stdin=b"abc\r\n" * 1000) == (b"ABC\r\n" * 1000, b"5000 bytes", 3)


def test_closing_the_channel_terminates_the_process(host, machine):
    with connect(host) as c:
        chan = c.get_transport().open_session()
        chan.exec_command("sleep")
        deadline = time.monotonic() + 5
        while not machine.processes and time.monotonic() < deadline:
            time.sleep(0.02)
        proc = machine.processes[-1]
        assert not proc.done
        chan.close()
        assert proc.wait(5) == EXIT_TERMINATED


def test_shell_and_pty_requests_are_refused(host):
    with connect(host) as c:
        with pytest.raises(paramiko.SSHException):
            c.invoke_shell()
        chan = c.get_transport().open_session()
        with pytest.raises(paramiko.SSHException):
            chan.get_pty()
        assert run(c, "echo still fine")[2] == 0  # the connection survives


def test_host_key_fingerprint_and_known_hosts(host, tmp_path):
    ep = json.loads((host.state_dir / "endpoint.json").read_text())
    with connect(host) as c:
        key = c.get_transport().get_remote_server_key()
    import base64
    import hashlib
    seen = "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode()
    assert ep["ssh_host_key_fingerprint"] == seen.rstrip("=")
    assert ep["ssh_host_key_fingerprint"].startswith("SHA256:") and "=" not in \
        ep["ssh_host_key_fingerprint"]
    # A client that does not know the key refuses it.
    stranger = paramiko.SSHClient()
    stranger.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException):
        stranger.connect(ep["ssh_host"], port=ep["ssh_port"], username=USER,
                         password=PASSWORD, allow_agent=False, look_for_keys=False)
    stranger.close()


def test_host_key_is_stable_across_restarts(tmp_path, machine):
    with SimHost(tmp_path / "s", machine=machine, password=PASSWORD) as h:
        first = h.endpoint["ssh_host_key_fingerprint"]
    with SimHost(tmp_path / "s", machine=machine, password=PASSWORD) as h:
        assert h.endpoint["ssh_host_key_fingerprint"] == first
        assert stat.S_IMODE((tmp_path / "s" / "ssh_host_ed25519_key").stat().st_mode) == 0o600


def test_authorized_keys_with_options_are_refused():
    assert len(parse_authorized_keys(f"ssh-ed25519 {_new_key().get_base64()} me")) == 1
    with pytest.raises(ValueError, match="without options"):
        parse_authorized_keys(f'command="evil" ssh-ed25519 {_new_key().get_base64()}')
    with pytest.raises(ValueError, match="says"):
        parse_authorized_keys(f"ssh-rsa {_new_key().get_base64()}")


def test_abrupt_disconnects_do_not_hurt_the_server(host):
    s = socket.create_connection((host.ssh.host, host.ssh.port))
    s.sendall(b"SSH-2.0-garbage\r\n\x00\x01\x02")
    s.close()
    s = socket.create_connection((host.ssh.host, host.ssh.port))
    s.close()
    c = connect(host)
    c.get_transport().open_session().exec_command("sleep")
    c.get_transport().sock.close()  # vanish without a goodbye
    with connect(host) as c2:
        assert run(c2, "echo ok")[0] == b"ok\r\n"


# --- SFTP ----------------------------------------------------------------------------------

def test_sftp_put_get_list_rename(host, machine, tmp_path):
    fs = machine.fs
    fs.makedirs(r"C:\data")
    payload = bytes(range(256)) * 4000  # ~1 MB
    local = tmp_path / "payload.bin"
    local.write_bytes(payload)
    with connect(host) as c, c.open_sftp() as sftp:
        assert sftp.normalize(".") == "/C:/Users/Administrator"
        sftp.put(str(local), "/C:/data/upload.tmp")
        assert fs.read_bytes(r"C:\data\upload.tmp") == payload
        sftp.rename("/C:/data/upload.tmp", "/C:/data/Upload.bin")
        assert sftp.listdir("/C:/data") == ["Upload.bin"]
        assert sftp.stat("/C:/data/upload.BIN").st_size == len(payload)  # case-insensitive
        assert stat.S_ISDIR(sftp.stat("/C:/data").st_mode)
        back = tmp_path / "back.bin"
        sftp.get("C:/data/Upload.bin", str(back))
        assert back.read_bytes() == payload
        sftp.mkdir("/C:/data/sub")
        with sftp.open("/C:/data/sub/note.txt", "w") as f:
            f.write(b"hi")
        assert fs.read_bytes(r"C:\data\sub\note.txt") == b"hi"
        sftp.put(str(local), "relative.bin")  # relative to the home folder
        assert fs.is_file(r"C:\Users\Administrator\relative.bin")
        # Plain SFTP rename refuses to replace; posix-rename replaces.
        with pytest.raises(OSError):
            sftp.rename("relative.bin", "/C:/data/Upload.bin")
        sftp.posix_rename("relative.bin", "/C:/data/Upload.bin")
        assert not fs.exists(r"C:\Users\Administrator\relative.bin")
        sftp.remove("/C:/data/sub/note.txt")
        sftp.rmdir("/C:/data/sub")
        assert sorted(sftp.listdir("/C:/data")) == ["Upload.bin"]


def test_sftp_errors_are_status_codes_not_crashes(host, machine):
    with connect(host) as c, c.open_sftp() as sftp:
        with pytest.raises(FileNotFoundError):
            sftp.stat("/C:/nope")
        with pytest.raises(FileNotFoundError):
            sftp.listdir("/etc")  # not a Windows path
        with pytest.raises(OSError):
            sftp.open("/C:/bad|name", "w")
        with pytest.raises(OSError):
            sftp.rmdir("/C:/Users")  # not empty
        with pytest.raises(OSError):
            sftp.symlink("/C:/a", "/C:/b")
        with pytest.raises(OSError):
            sftp.chown("/C:/Users", 1000, 1000)  # no owner/group on Windows OpenSSH
        sftp.chmod("/C:/Users", 0o777)  # accepted, as Windows OpenSSH does (read-only bit)
        assert sftp.listdir("/C:/Users") == ["Administrator"]  # session still healthy


def test_real_machine_over_ssh(tmp_path):
    with SimHost(tmp_path / "sim", password=PASSWORD) as h, connect(h) as c:
        out, err, code = run(c, "hostname")
        assert (out.strip().decode(), code) == (h.machine.name, 0), err
        with c.open_sftp() as sftp:
            assert "Administrator" in sftp.listdir("/C:/Users")


# --- OpenSSH's own scp and sftp against the simulated host (issue 12, finding 10) -------------
@pytest.fixture
def openssh_client(tmp_path):
    """A key the sim trusts and the options that make scp/sftp non-interactive."""
    for tool in ("scp", "sftp", "ssh-keygen"):
        if shutil.which(tool) is None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{tool} is missing (apt-get install openssh-client)", pytrace=False)
            pytest.skip(f"{tool} is missing (apt-get install openssh-client)")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with SimHost(tmp_path / "sim", authorized_keys=[key.with_suffix(".pub")]) as sim:
        ep = json.loads(sim.endpoint_file.read_text())
        options = ["-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={ep['ssh_known_hosts']}",
                   "-i", str(key), "-P", str(ep["ssh_port"])]
        yield sim, options


def _openssh(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_openssh_scp_copies_both_ways_and_exits_0(openssh_client, tmp_path, caplog):
    sim, options = openssh_client
    data = os.urandom(300_000)
    (tmp_path / "up.bin").write_bytes(data)
    remote = "Administrator@127.0.0.1:/C:/Users/Administrator/up.bin"
    with caplog.at_level(logging.DEBUG):
        up = _openssh(["scp", *options, str(tmp_path / "up.bin"), remote])
        assert (up.returncode, up.stderr) == (0, "")
        assert sim.machine.fs.read_bytes(r"C:\Users\Administrator\up.bin") == data
        down = _openssh(["scp", *options, remote, str(tmp_path / "down.bin")])
        assert (down.returncode, down.stderr) == (0, "")
        assert (tmp_path / "down.bin").read_bytes() == data
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_openssh_sftp_batch_exits_0(openssh_client, tmp_path, caplog):
    sim, options = openssh_client
    (tmp_path / "a.bin").write_bytes(b"sftp" * 1000)
    batch = tmp_path / "batch"
    batch.write_text(f"put {tmp_path / 'a.bin'} /C:/Users/Administrator/a.bin\n"
                     f"get /C:/Users/Administrator/a.bin {tmp_path / 'b.bin'}\n"
                     "rename /C:/Users/Administrator/a.bin /C:/Users/Administrator/c.bin\n"
                     "ls /C:/Users/Administrator\n")
    with caplog.at_level(logging.DEBUG):
        r = _openssh(["sftp", *options, "-b", str(batch), "Administrator@127.0.0.1"])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b.bin").read_bytes() == b"sftp" * 1000
    assert "c.bin" in r.stdout
    assert not [rec for rec in caplog.records if rec.exc_info]


def test_a_client_that_closes_early_leaves_no_error_in_the_hosts_log(tmp_path, caplog):
    # A client that hangs up mid-output (scp interrupted, ssh closed with unread output) is
    # ordinary for sshd; the simulated host must not log it as an error (issue 12, 10).
    with SimHost(tmp_path / "sim") as sim, caplog.at_level(logging.DEBUG):
        ep = json.loads(sim.endpoint_file.read_text())
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect("127.0.0.1", port=ep["ssh_port"], username="Administrator",
                       password=open(ep["password_file"]).read().strip(),
                       look_for_keys=False, allow_agent=False)
        chan = client.get_transport().open_session()
        chan.exec_command(r"C:\hpc-e2e-sim\bin\simgen.exe 50M")
        chan.recv(1000)
        client.close()  # with output unread: the server sees a reset connection
        # wait until the server has noticed (its transport for this client ends)
        deadline = time.monotonic() + 30
        while sim.ssh.open_connections() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not sim.ssh.open_connections()
    server_side = [r for r in caplog.records if r.name.startswith("harness.sim.ssh")]
    assert server_side, "the server's transport logs under harness.sim.ssh"
    bad = [r for r in server_side if r.levelno >= logging.WARNING or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]
