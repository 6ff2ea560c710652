"""The local transport, run here against a stand-in for CreateProcess.

On the Windows runner the transport starts ``cmd.exe /d /s /c <line>`` as one string.  Here
the launcher is ``python -m harness.sim.exec``, which hands that whole string to a fresh
simulated machine's CreateProcess, so the simulated cmd.exe reads every character of it
(switches, the /s quote rule, carets, percents) and the transport's own work — process
start, stdin streaming, output collection, deadline and process-tree kill, exit codes — is
exercised for real.
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cmdline import cmd_command_line
from harness.config.target import Target
from harness.errors import CommandTimeout, TransferError
from harness.sim.programs import standard_machine
from harness.sim.programs.simtools import pattern
from harness.transport import local as local_module
from harness.transport.local import LocalTransport
from harness.transport.powershell import run_script
from checks import sim_argv

ROOT = Path(__file__).resolve().parents[1]
BIN = r"C:\hpc-e2e-sim\bin"
STAND_IN = (sys.executable, "-m", "harness.sim.exec")


@pytest.fixture
def local(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    with LocalTransport(Target(name="runner", transport="local"), launcher=STAND_IN) as t:
        yield t


# --- the whole process command line, read by the simulated host's parser ----------------

@pytest.fixture(scope="module")
def printer_machine():
    return sim_argv.printer_machine()


def _run_line(machine, program: str, process_line: str) -> tuple[int, list[str] | None, str]:
    sim_argv.install_printer(machine, program)
    return sim_argv.run_on_sim(machine, process_line)


def test_a_program_under_program_files_receives_its_argv(monkeypatch, printer_machine):
    # The line of issue 12, finding 1: on Windows the transport hands CreateProcess one
    # string; cmd /s strips exactly one outer pair of quotes, so only one may be there.
    monkeypatch.setattr(local_module, "IS_WINDOWS", True)
    argv = [r"C:\Program Files\x\argv.exe", "--version", "a b", "100%", "x&y"]
    line = cmd_command_line(argv)
    assert line == '""C:\\Program Files\\x\\argv.exe" --version ^"a b^" 100% x^&y"'
    process_line = LocalTransport(Target(name="runner", transport="local"))._popen_args(line)
    # One outer pair (stripped by /s) around the code-page switch and the rendered command.
    assert process_line == ('cmd.exe /d /s /c "chcp 65001 >nul & "C:\\Program Files\\x\\argv.exe"'
                            ' --version ^"a b^" 100% x^&y"')
    assert _run_line(printer_machine, argv[0], process_line) == (0, argv, "")


# Characters Windows allows in file names, with the ones cmd treats specially.
_NAME_CHARS = st.sampled_from(list(" &%^()!,;=@'+-_.[]{}~`$#") + ["é", "a", "Z", "7"])
_dir_name = st.text(_NAME_CHARS, min_size=1, max_size=8).filter(
    lambda s: s.strip(" .") == s)  # Windows drops trailing blanks and dots from names
_ARG_PIECES = ['"', "\\", '\\"', '""', " ", "\t", "&", "|", "<", ">", "^", "%", "%PATH%",
               "%ProgramFiles%", "%x%", "!", "(", ")", "'", ",", ";", "=", "a b", "é"]
_arg = st.lists(st.one_of(st.sampled_from(_ARG_PIECES),
                          st.text(st.characters(blacklist_categories=("Cs",),
                                                blacklist_characters="\0\r\n"),
                                  max_size=3)),
                max_size=6).map("".join)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dirs=st.lists(_dir_name, min_size=1, max_size=3), args=st.lists(_arg, max_size=5))
def test_program_files_command_lines_parse_to_the_intended_argv(printer_machine, dirs, args):
    program = "C:\\Program Files\\" + "\\".join(dirs) + "\\argv.exe"
    argv = [program, *args]
    line = cmd_command_line(argv)
    outcome = _run_line(printer_machine, program, LocalTransport.process_command_line(line))
    assert outcome == (0, argv, ""), line


def test_the_stand_in_runs_rendered_argv_lines(local):
    argv = [rf"{BIN}\simexit.exe", "7"]
    assert local.run(argv).exit_code == 7
    assert local.run(cmd_command_line(argv)).exit_code == 7


def test_output_is_utf8_as_over_winrm(local):
    # A local console starts in the OEM code page; the transport switches it to 65001, as
    # WinRM's shell does with WINRS_CODEPAGE (issue 12, finding 8).
    result = local.run("echo h\u00e9llo \u20ac", check=True)
    assert result.stdout_bytes == "h\u00e9llo \u20ac\r\n".encode("utf-8")
    assert local.run(["cmd", "/c", "echo", "\u00e9"], check=True).stdout == "\u00e9\r\n"


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
    
    path = r"C:\Windows\System32\hostname.exe"
    expected = hashlib.sha256(standard_machine().fs.read_bytes(path)).hexdigest()
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


def test_the_stand_in_refuses_what_createprocess_would_not_get(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    out = subprocess.run([sys.executable, "-m", "harness.sim.exec", "cmd.exe", "/c", "hostname"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "does not understand" in out.stderr
    out = subprocess.run([sys.executable, "-m", "harness.sim.exec", "cmd.exe /d /c hostname"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "SIMHOST"
    out = subprocess.run([sys.executable, "-m", "harness.sim.exec", "nosuch.exe"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "CreateProcess failed" in out.stderr
