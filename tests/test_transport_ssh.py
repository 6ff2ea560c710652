"""The SSH transport: host keys, auth and SFTP against the sim, then against a real sshd.

Command behaviour shared with WinRM (exit codes, stdin, deadlines, large output, put/get) is
parametrized over both transports in ``test_transport_winrm.py``.  Here: what only SSH has —
known_hosts policy, key and passphrase auth, SFTP with host-side verification — first on
the simulated host (Windows OpenSSH's cmd.exe and ``/C:/`` SFTP paths), then on a real
OpenSSH ``sshd`` started on loopback, whose shell is POSIX sh: there only shell-agnostic
behaviour is checked.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from harness.config.secrets import Secret
from harness.config.target import SSHOptions, Target
from harness.errors import (
    AuthenticationError,
    CommandTimeout,
    HostKeyError,
    TransferError,
)
from harness.sim.host import SimHost
from harness.transport.ssh import SSHTransport, fingerprint, sftp_path

HOME = r"C:\Users\Administrator"
SSHD = Path("/usr/sbin/sshd")


def make_key(directory: Path, name: str, passphrase: bytes | None = None) -> tuple[Path, str]:
    """An ed25519 key in OpenSSH format; returns (private key path, public key line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    enc = serialization.BestAvailableEncryption(passphrase) if passphrase else \
        serialization.NoEncryption()
    path = directory / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.OpenSSH, enc))
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    (directory / f"{name}.pub").write_text(public + "\n")
    return path, public


# --- against the simulated host ---------------------------------------------------------------
@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    plain, plain_pub = make_key(d, "id_plain")
    locked, locked_pub = make_key(d, "id_locked", b"open sesame 42")
    stranger, _ = make_key(d, "id_stranger")
    return {"plain": plain, "locked": locked, "stranger": stranger,
            "authorized": [plain_pub, locked_pub]}


@pytest.fixture(scope="module")
def sim(tmp_path_factory, keys):
    with SimHost(tmp_path_factory.mktemp("sim"), authorized_keys=keys["authorized"]) as host:
        yield host


def sim_target(host: SimHost, **ssh_opts) -> Target:
    ep = json.loads(host.endpoint_file.read_text())
    opts = {"auth": "password", "known_hosts": ep["ssh_known_hosts"], **ssh_opts}
    return Target(name="sim-ssh", address=ep["ssh_host"], port=ep["ssh_port"], transport="ssh",
                  user=ep["user"],
                  password=Secret.from_file(ep["password_file"]) if opts["auth"] == "password"
                  else None, ssh=SSHOptions(**opts))


def test_sftp_paths_use_windows_openssh_spelling():
    assert sftp_path(r"C:\Users\me\f.bin") == "/C:/Users/me/f.bin"
    assert sftp_path("d:/x") == "/d:/x"
    assert sftp_path(r"rel\dir\f") == "rel/dir/f"
    assert sftp_path("/tmp/posix") == "/tmp/posix"


def test_key_auth(sim, keys):
    with SSHTransport(sim_target(sim, auth="key", key_file=keys["plain"])) as t:
        assert t.run("whoami", check=True).stdout.strip().lower().endswith("administrator")


def test_an_encrypted_key_needs_its_passphrase(sim, keys):
    good = sim_target(sim, auth="key", key_file=keys["locked"],
                      key_passphrase=Secret("open sesame 42"))
    with SSHTransport(good) as t:
        assert t.run("hostname", check=True).stdout.strip() == "SIMHOST"
    with pytest.raises(AuthenticationError) as info, \
            SSHTransport(sim_target(sim, auth="key", key_file=keys["locked"])) as t:
        t.run("hostname")
    assert "key_passphrase" in (info.value.hint or "")


def test_a_key_the_host_does_not_know_is_refused(sim, keys):
    with pytest.raises(AuthenticationError), \
            SSHTransport(sim_target(sim, auth="key", key_file=keys["stranger"])) as t:
        t.run("hostname")


def test_a_wrong_password_is_an_authentication_error(sim):
    target = sim_target(sim).model_copy(update={"password": Secret("wrong-password-77")})
    with pytest.raises(AuthenticationError) as info, SSHTransport(target) as t:
        t.run("hostname")
    assert "wrong-password-77" not in str(info.value)


def test_an_unknown_host_key_is_refused_with_its_fingerprint(sim, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as info, \
            SSHTransport(sim_target(sim, known_hosts=empty)) as t:
        t.run("hostname")
    ep = json.loads(sim.endpoint_file.read_text())
    assert ep["ssh_host_key_fingerprint"] in info.value.message
    # the hint carries the line to add, in known_hosts' [host]:port form
    assert f"[127.0.0.1]:{ep['ssh_port']} ssh-ed25519 " in info.value.hint
    assert empty.read_text() == ""


def test_accepting_unknown_keys_trusts_this_connection_only(sim, tmp_path, caplog):
    missing = tmp_path / "known_hosts"
    target = sim_target(sim, known_hosts=missing, accept_unknown_host_key=True)
    with SSHTransport(target) as t:
        assert t.run("hostname", check=True).stdout.strip() == "SIMHOST"
    assert not missing.exists()  # nothing written behind the user's back
    assert "for this connection only" in caplog.text


def test_a_changed_host_key_is_refused_even_when_unknown_keys_are_accepted(sim, tmp_path):
    ep = json.loads(sim.endpoint_file.read_text())
    _, other = make_key(tmp_path, "other")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{ep['ssh_port']} {other}\n")
    with pytest.raises(HostKeyError, match="CHANGED"), \
            SSHTransport(sim_target(sim, known_hosts=kh, accept_unknown_host_key=True)) as t:
        t.run("hostname")


def test_an_upload_the_host_does_not_verify_leaves_no_file(sim, tmp_path):
    def lying_hash(transport, path):
        return 1, "0" * 64

    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(5000))
    with SSHTransport(sim_target(sim), remote_hash=lying_hash) as t, \
            pytest.raises(TransferError, match="did not verify"):
        t.put(src, rf"{HOME}\unverified.bin")
    fs = sim.machine.fs
    assert not fs.exists(rf"{HOME}\unverified.bin")
    assert [n for n in fs.listdir(HOME) if n.endswith(".hpce2e-tmp")] == []


def test_uploads_are_hashed_on_the_host(sim, tmp_path):
    seen = []

    def spy(transport, path):
        from harness.transport.ssh import file_hash_on_host

        seen.append(path)
        return file_hash_on_host(transport, path)

    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(70_000))
    with SSHTransport(sim_target(sim), remote_hash=spy) as t:
        t.put(src, rf"{HOME}\hashed.bin")
        t.get(rf"{HOME}\hashed.bin", tmp_path / "back.bin")
    assert seen[0].startswith(rf"{HOME}\hashed.bin.") and seen[0].endswith(".hpce2e-tmp")
    assert seen[1] == rf"{HOME}\hashed.bin"
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


def test_a_failed_download_leaves_no_local_file(sim, tmp_path):
    with SSHTransport(sim_target(sim)) as t, pytest.raises(TransferError):
        t.get(rf"{HOME}\absent.bin", tmp_path / "absent.bin")
    assert list(tmp_path.iterdir()) == []


# --- against a real OpenSSH sshd on loopback --------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not SSHD.exists():
        pytest.skip(f"{SSHD} is missing (apt-get install openssh-server)")
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is missing (apt-get install openssh-client)")
    d = tmp_path_factory.mktemp("sshd")
    d.chmod(0o755)
    if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
        # sshd running as root needs its privilege-separation directory (the Debian
        # service unit creates it the same way).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(d / "host_key")], check=True)
    client_key, client_pub = make_key(d, "id_client")
    (d / "authorized_keys").write_text(client_pub + "\n")
    (d / "authorized_keys").chmod(0o600)
    port = free_port()
    (d / "sshd_config").write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel VERBOSE
""")
    check = subprocess.run([str(SSHD), "-t", "-f", str(d / "sshd_config")],
                           capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip(f"sshd refuses the generated test config: {check.stderr.strip()}")
    with open(d / "sshd.log", "wb") as log:
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")],
                                stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sshd did not start:\n{(d / 'sshd.log').read_text()}")
            time.sleep(0.1)
    host_pub = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    info = {"dir": d, "port": port, "key": client_key, "known_hosts": d / "known_hosts"}
    yield info
    proc.terminate()
    proc.wait(timeout=10)


def sshd_target(info, **ssh_opts) -> Target:
    opts = {"auth": "key", "key_file": info["key"], "known_hosts": info["known_hosts"],
            **ssh_opts}
    return Target(name="real-sshd", address="127.0.0.1", port=info["port"], transport="ssh",
                  user=getpass.getuser(), ssh=SSHOptions(**opts))


def posix_hash(transport, path):
    """The host-side hash on a POSIX host: sha256sum and stat instead of file_hash.ps1."""
    out = transport.run(f"sha256sum '{path}' && stat -c %s '{path}'", check=True).stdout
    digest, size = out.split()[0], out.split()[-1]
    return int(size), digest


@pytest.fixture
def real(sshd):
    with SSHTransport(sshd_target(sshd), remote_hash=posix_hash) as t:
        yield t


@pytest.mark.openssh
def test_real_sshd_exit_codes(real):
    assert real.run("true").exit_code == 0
    assert real.run("exit 3").exit_code == 3
    assert real.run("kill -9 $$").exit_code != 0


@pytest.mark.openssh
def test_real_sshd_stdin_and_stderr(real):
    data = bytes(range(256)) * 4000
    assert real.run("cat", stdin=iter([data[:1000], data[1000:]]), check=True).stdout_bytes == data
    result = real.run("echo out; echo err 1>&2")
    assert (result.stdout, result.stderr) == ("out\n", "err\n")


@pytest.mark.openssh
def test_real_sshd_large_output(real):
    result = real.run("seq 1 1500000", check=True)
    expected = "".join(f"{i}\n" for i in range(1, 1500001)).encode()
    assert len(expected) > 10 * 10**6
    assert result.stdout_bytes == expected


@pytest.mark.openssh
def test_real_sshd_deadline(real):
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="sleep 30"):
        real.run("sleep 30", timeout=1)
    assert time.monotonic() - started < 4
    assert real.run("echo still here", check=True).stdout == "still here\n"


@pytest.mark.openssh
def test_real_sshd_sftp_round_trip(real, sshd, tmp_path):
    data = os.urandom(3 * 2**20 + 1)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    remote = str(sshd["dir"] / "uploaded.bin")
    Path(remote).write_bytes(b"old")  # replaced in one step
    up = real.put(src, remote)
    assert Path(remote).read_bytes() == data
    assert up.sha256 == hashlib.sha256(data).hexdigest()
    real.get(remote, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data
    assert not list(sshd["dir"].glob("*.hpce2e-tmp"))


@pytest.mark.openssh
def test_real_sshd_unverified_upload_leaves_nothing(sshd, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    remote = sshd["dir"] / "never.bin"
    with SSHTransport(sshd_target(sshd), remote_hash=lambda t, p: (7, "0" * 64)) as t, \
            pytest.raises(TransferError):
        t.put(src, str(remote))
    assert not remote.exists()
    assert not list(sshd["dir"].glob("*.hpce2e-tmp"))


@pytest.mark.openssh
def test_real_sshd_unknown_host_key_shows_ssh_keygen_fingerprint(sshd, tmp_path):
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(sshd["dir"] / "host_key.pub")],
                            capture_output=True, text=True, check=True).stdout.split()[1]
    with pytest.raises(HostKeyError) as info, \
            SSHTransport(sshd_target(sshd, known_hosts=tmp_path / "none")) as t:
        t.run("true")
    assert listed in info.value.message


@pytest.mark.openssh
def test_real_sshd_refuses_a_key_it_does_not_know(sshd, tmp_path):
    stranger, _ = make_key(tmp_path, "stranger")
    with pytest.raises(AuthenticationError), \
            SSHTransport(sshd_target(sshd, key_file=stranger)) as t:
        t.run("true")


@pytest.mark.openssh
def test_fingerprint_matches_openssh_format(sshd):
    import paramiko

    key = paramiko.PublicBlob.from_file(str(sshd["dir"] / "host_key.pub"))
    pkey = paramiko.Ed25519Key(data=key.key_blob)
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(sshd["dir"] / "host_key.pub")],
                            capture_output=True, text=True, check=True).stdout.split()[1]
    assert fingerprint(pkey) == listed


def test_a_wrong_key_passphrase_is_a_credentials_error_before_any_connection(sim, keys):
    bad = sim_target(sim, auth="key", key_file=keys["locked"],
                     key_passphrase=Secret("not the passphrase 99"))
    before = len(sim.machine.history)
    with pytest.raises(AuthenticationError) as info, SSHTransport(bad) as t:
        t.run("hostname")
    assert "cannot open the SSH key" in str(info.value) and "key_passphrase" in info.value.hint
    assert "not the passphrase 99" not in str(info.value)
    assert len(sim.machine.history) == before
