"""The local transport, run here against a stand-in for cmd.exe.

On the Windows runner the transport starts ``cmd.exe /d /s /c "<line>"``.  Here the shell
prefix is ``python -m harness.sim.exec /d /s /c``, which runs the line on a fresh simulated
machine, so the transport's own work — process start, stdin streaming, output collection,
deadline and process-tree kill, exit codes — is exercised for real.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.config.target import Target
from harness.errors import CommandTimeout, TransferError
from harness.sim.programs.simtools import pattern
from harness.transport import local as local_module
from harness.transport.local import LocalTransport
from harness.transport.powershell import run_script

ROOT = Path(__file__).resolve().parents[1]
BIN = r"C:\hpc-e2e-sim\bin"
STAND_IN = (sys.executable, "-m", "harness.sim.exec", "/d", "/s", "/c")


@pytest.fixture
def local(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    with LocalTransport(Target(name="runner", transport="local"), shell_argv=STAND_IN) as t:
        yield t


def test_on_windows_the_line_goes_to_createprocess_as_one_string(monkeypatch):
    monkeypatch.setattr(local_module, "IS_WINDOWS", True)
    t = LocalTransport(Target(name="runner", transport="local"))
    line = 'C:\\tools\\x.exe "a b" ^& echo'
    assert t._popen_args(line) == f'cmd.exe /d /s /c "{line}"'


def test_a_command_runs_through_the_shell(local):
    result = local.run("hostname", check=True)
    assert result.stdout.strip() == "SIMHOST"
    assert result.host == "runner"


def test_exit_codes_come_back(local):
    assert local.run(rf"{BIN}\simexit.exe 0").exit_code == 0
    assert local.run(rf"{BIN}\simexit.exe 42").exit_code == 42
    result = local.run("no-such-program")
    # cmd.exe's 9009; a POSIX parent sees only the low byte of the stand-in's status
    assert result.exit_code == (9009 if os.name == "nt" else 9009 % 256)
    assert "is not recognized" in result.stderr


@pytest.mark.parametrize("make_stdin", [
    lambda data: data,
    lambda data: io.BytesIO(data),
    lambda data: iter([data[:10], data[10:]]),
], ids=["bytes", "file", "iterable"])
def test_stdin_is_streamed(local, make_stdin):
    data = b"line one\r\n" + os.urandom(200_000)
    assert local.run(rf"{BIN}\simcat.exe", stdin=make_stdin(data), check=True).stdout_bytes == data


def test_large_output_and_separate_stderr(local):
    size = 10 * 2**20
    assert local.run(rf"{BIN}\simgen.exe {size}", check=True).stdout_bytes == pattern(size)
    result = local.run(rf"{BIN}\simgen.exe 999 stderr", check=True)
    assert result.stdout_bytes == b"" and result.stderr_bytes == pattern(999)


def test_the_deadline_kills_the_process_tree(local):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="simsleep"):
        local.run(rf"{BIN}\simsleep.exe forever", timeout=1.5)
    assert time.monotonic() - started < 5
    leftover = [p for p in psutil.Process().children(recursive=True)
                if p.pid not in before and p.is_running()
                and p.status() != psutil.STATUS_ZOMBIE]
    assert leftover == []
    assert local.run("hostname", check=True).stdout.strip() == "SIMHOST"


def test_the_bootstrap_runs_through_the_local_shell(local):
    # A fresh simulated machine per command: hash a file every machine has.
    from harness.sim.machine import Machine

    path = r"C:\Windows\System32\hostname.exe"
    expected = hashlib.sha256(Machine().fs.read_bytes(path)).hexdigest()
    res = run_script(local, "file_hash", {"path": path})
    assert res.value["sha256"] == expected


def test_put_and_get_are_verified_copies(local, tmp_path):
    data = os.urandom(3 * 2**20)
    (tmp_path / "a").write_bytes(data)
    (tmp_path / "dest").mkdir()
    up = local.put(tmp_path / "a", str(tmp_path / "dest" / "b"))
    assert (tmp_path / "dest" / "b").read_bytes() == data
    assert up.sha256 == hashlib.sha256(data).hexdigest() and up.size == len(data)
    down = local.get(str(tmp_path / "dest" / "b"), tmp_path / "c")
    assert (tmp_path / "c").read_bytes() == data and down.sha256 == up.sha256
    assert not list(tmp_path.rglob("*.hpce2e-tmp"))


def test_a_failed_copy_leaves_nothing(local, tmp_path):
    with pytest.raises(TransferError):
        local.get(str(tmp_path / "missing"), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TransferError, match="not a directory"):
        local.put(__file__, str(tmp_path / "no" / "such" / "dir" / "f"))


def test_the_stand_in_refuses_what_cmd_exe_would_not_get(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    out = subprocess.run([sys.executable, "-m", "harness.sim.exec", "/c", "hostname"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "does not understand" in out.stderr
