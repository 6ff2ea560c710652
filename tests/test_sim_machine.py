"""The simulated host's machine model: processes, program lookup, and cmd.exe's rules."""

from __future__ import annotations

import json
import time

import pytest

from harness.sim.machine import Environ, Machine, ProcessContext, ProgramNotFoundError
from harness.sim.process import EXIT_TERMINATED
from harness.sim.programs import standard_machine
from harness.sim.programs.powershell import powershell_program
from harness.sim.programs.simtools import pattern

SIM = r"C:\hpc-e2e-sim\bin"
SIMCAT, SIMGEN, SIMSLEEP, SIMEXIT = (rf"{SIM}\{n}.exe" for n in
                                     ("simcat", "simgen", "simsleep", "simexit"))
NOT_RECOGNIZED = ("'{}' is not recognized as an internal or external command,\r\n"
                  "operable program or batch file.\r\n")


def drain(proc, stdin: bytes | None = b"", deadline: float = 20.0
          ) -> tuple[int, bytes, bytes]:
    if stdin is not None:
        proc.write_stdin(stdin, eof=True)
    out, err = bytearray(), bytearray()
    end = time.monotonic() + deadline
    while True:
        o, e, done = proc.read_output(1 << 20, 0.5)
        out += o
        err += e
        if done:
            return proc.wait(1), bytes(out), bytes(err)
        assert time.monotonic() < end, f"{proc.name} did not finish"


def argv_program(ctx: ProcessContext) -> int:
    """A test program: prints its argv and working directory as JSON."""
    ctx.stdout.line(json.dumps({"argv": ctx.argv, "cwd": ctx.cwd,
                                "line": ctx.command_line}))
    return 0


@pytest.fixture
def machine() -> Machine:
    m = standard_machine("SimHost-Long-Name-01", users={"Administrator": "Pa55word!", "bob": None})
    m.register_program(r"C:\Tools\args.exe", argv_program)
    return m


def run(machine: Machine, line: str, stdin: bytes = b"", **kw) -> tuple[int, str, str]:
    code, out, err = drain(machine.spawn(line, **kw), stdin)
    return code, out.decode(), err.decode()


# --- processes -----------------------------------------------------------------------------
def test_stdin_is_copied_to_stdout(machine):
    data = b"".join(b"line %d\r\n" % i for i in range(20000))
    code, out, err = drain(machine.spawn(SIMCAT, shell=False), data)
    assert (code, out, err) == (0, data, b"")


def test_stdin_written_in_pieces(machine):
    proc = machine.spawn(SIMCAT)
    proc.write_stdin(b"abc")
    first = b""
    end = time.monotonic() + 5
    while len(first) < 3 and time.monotonic() < end:
        first += proc.read_output(100, 0.2)[0]
    assert first == b"abc"
    proc.write_stdin(b"def", eof=True)
    code, out, _ = drain(proc, None)
    assert (code, out) == (0, b"def")


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_large_output_is_the_documented_pattern(machine, stream):
    size = 5 * 1024 * 1024 + 17
    code, out, err = drain(machine.spawn(f"{SIMGEN} {size} {stream}"))
    assert code == 0
    got, other = (out, err) if stream == "stdout" else (err, out)
    assert other == b""
    assert len(got) == size
    assert got == pattern(size)


def test_pattern_offsets_are_consistent():
    assert pattern(10, 249) == bytes([249, 250, 0, 1, 2, 3, 4, 5, 6, 7])
    assert pattern(600)[300:310] == pattern(10, 300)


@pytest.mark.parametrize("code", [0, 1, 7, 255, 9009, 0xC000013A])
def test_exit_codes_pass_through_cmd(machine, code):
    assert run(machine, f"{SIMEXIT} {code}")[0] == code
    assert run(machine, f"{SIMEXIT} {code}", shell=False)[0] == code


def test_terminate_a_sleeping_program(machine):
    proc = machine.spawn(f"{SIMSLEEP} forever", shell=False)
    assert proc.wait(0.3) is None
    start = time.monotonic()
    proc.terminate()
    assert proc.wait(5) == EXIT_TERMINATED
    assert time.monotonic() - start < 2


def test_terminate_reaches_children_of_cmd_and_pipelines(machine):
    proc = machine.spawn(f"{SIMGEN} 100M | {SIMCAT} | {SIMSLEEP} forever & echo not reached")
    time.sleep(0.3)
    assert not proc.done
    proc.terminate()
    assert proc.wait(5) == EXIT_TERMINATED


def test_simsleep_finishes(machine):
    start = time.monotonic()
    assert run(machine, f"{SIMSLEEP} 0.2")[0] == 0
    assert time.monotonic() - start >= 0.2


@pytest.mark.parametrize("line", [f"{SIMGEN}", f"{SIMGEN} lots", f"{SIMSLEEP}",
                                  f"{SIMEXIT} x", f"{SIMCAT} extra"])
def test_sim_tools_reject_bad_arguments(machine, line):
    code, out, err = run(machine, line)
    assert code == 2 and "usage:" in err


def test_history_and_launches(machine):
    run(machine, "hostname & whoami")
    run(machine, SIMCAT, shell=False)
    assert machine.history == ["hostname & whoami", SIMCAT]
    images = [launch.image.lower() for launch in machine.launches]
    assert images == [r"c:\windows\system32\cmd.exe", r"c:\windows\system32\hostname.exe",
                      r"c:\windows\system32\whoami.exe", SIMCAT.lower()]
    assert machine.launches[0].command_line == r"C:\Windows\system32\cmd.exe /c hostname & whoami"
    assert machine.launches[1].parent.lower() == r"c:\windows\system32\cmd.exe"
    assert machine.launches[0].parent is None


def test_concurrent_processes(machine):
    procs = [machine.spawn(f"echo {i}& {SIMEXIT} {i}") for i in range(30)]
    results = [drain(p) for p in procs]
    assert [(c, o) for c, o, _ in results] == [(i, b"%d\r\n" % i) for i in range(30)]


# --- identity and environment --------------------------------------------------------------
def test_hostname_and_whoami(machine):
    assert run(machine, "hostname") == (0, "SimHost-Long-Name-01\r\n", "")
    # COMPUTERNAME is the NetBIOS name: upper case, 15 characters.
    assert run(machine, "echo %COMPUTERNAME%") == (0, "SIMHOST-LONG-NA\r\n", "")
    assert run(machine, "whoami") == (0, "simhost-long-na\\administrator\r\n", "")
    assert run(machine, "whoami", user="bob")[1] == "simhost-long-na\\bob\r\n"
    assert run(machine, "whoami", user=r"NT AUTHORITY\SYSTEM")[1] == "nt authority\\system\r\n"
    code, _, err = run(machine, "whoami /groups")
    assert code == 1 and "does not model whoami /groups" in err
    code, _, err = run(machine, "hostname newname")
    assert code == 1 and "sethostname" in err


def test_accounts(machine):
    assert machine.check_password("Administrator", "Pa55word!")
    assert machine.check_password(r"simhost-long-na\ADMINISTRATOR", "Pa55word!")
    assert not machine.check_password("Administrator", "wrong")
    assert not machine.check_password("bob", "")  # no password set: never accepted
    assert not machine.check_password("mallory", "x")
    with pytest.raises(ValueError, match="no account"):
        machine.spawn("whoami", user="mallory")
    with pytest.raises(ValueError, match="no domain"):
        machine.spawn("whoami", user=r"CORP\bob")
    assert machine.fs.is_dir(r"C:\Users\bob\AppData\Local\Temp")


def test_environment(machine):
    env = machine.environment_for("bob")
    assert env["path"] == env["PATH"] == env["Path"]
    assert env["USERPROFILE"] == r"C:\Users\bob"
    assert env["TEMP"] == r"C:\Users\bob\AppData\Local\Temp"
    assert env["ComSpec"] == r"C:\Windows\system32\cmd.exe"
    assert r"C:\Windows\System32\WindowsPowerShell\v1.0" in env["PATH"]
    assert "Path" in list(env)  # the stored spelling
    code, out, _ = run(machine, "set")
    names = [line.split("=", 1)[0] for line in out.splitlines()]
    assert names == sorted(names, key=str.upper) and "windir" in names


def test_environ_is_case_insensitive_and_case_preserving():
    env = Environ({"Path": "a"})
    env["PATH"] = "b"
    assert list(env) == ["Path"] and env["path"] == "b"
    del env["pAtH"]
    assert "Path" not in env


def test_spawn_cwd_and_env(machine):
    machine.fs.makedirs(r"C:\work\Sub")
    code, out, _ = run(machine, "cd & echo %MY_VAR%", cwd=r"c:\WORK\sub", env={"my_var": "v1"})
    assert (code, out) == (0, "C:\\work\\Sub\r\nv1\r\n")
    with pytest.raises(NotADirectoryError):
        machine.spawn("cd", cwd=r"C:\no\such")
    assert run(machine, "cd")[1] == "C:\\Users\\Administrator\r\n"


# --- program lookup ------------------------------------------------------------------------
def test_pathext_lookup_order(machine):
    machine.fs.makedirs(r"C:\Tools")
    machine.register_program(r"C:\Tools\dual.exe", lambda ctx: ctx.stdout.line("exe") or 0)
    machine.register_program(r"C:\Tools\dual.com", lambda ctx: ctx.stdout.line("com") or 0)
    env = {"PATH": r"C:\Windows\system32;C:\Tools"}
    assert run(machine, "dual", env=env)[1] == "com\r\n"  # .COM comes before .EXE
    assert run(machine, "dual.exe", env=env)[1] == "exe\r\n"
    assert run(machine, "DUAL", env={**env, "PATHEXT": ".EXE"})[1] == "exe\r\n"
    assert run(machine, "dual", env={"PATH": r"C:\Windows\system32"})[0] == 9009


def test_cwd_is_searched_before_path(machine):
    machine.fs.makedirs(r"C:\Here")
    machine.register_program(r"C:\Here\hostname.exe", lambda ctx: ctx.stdout.line("local") or 0)
    assert run(machine, "hostname", cwd=r"C:\Here")[1] == "local\r\n"
    assert run(machine, "hostname")[1] == "SimHost-Long-Name-01\r\n"
    assert run(machine, r".\hostname", cwd=r"C:\Here")[1] == "local\r\n"
    assert run(machine, r"..\Here\hostname.exe", cwd=r"C:\Here")[1] == "local\r\n"


def test_argv_and_quoted_program_paths(machine):
    machine.fs.makedirs(r"C:\Program Files\My Tool")
    machine.register_program(r"C:\Program Files\My Tool\tool.exe", argv_program)
    tool = r'"C:\Program Files\My Tool\tool.exe"'
    # Exactly two quotes around an existing executable: cmd /c keeps them.
    code, out, _ = run(machine, f"{tool} plain")
    assert code == 0
    assert json.loads(out)["argv"] == [r"C:\Program Files\My Tool\tool.exe", "plain"]
    # More quotes: cmd /c removes the first and the last one, which breaks this line...
    code, _, err = run(machine, tool + r' "a b" c\"d')
    assert (code, err) == (9009, NOT_RECOGNIZED.format(r"C:\Program"))
    # ...so a line with several quoted parts is sent wrapped in one more pair.
    code, out, _ = run(machine, '"' + tool + r' "a b" c\"d' + '"')
    assert code == 0
    assert json.loads(out)["argv"][1:] == ["a b", 'c"d']


def test_copy_of_a_program_keeps_its_behaviour(machine):
    code, out, _ = run(machine, r"copy C:\Windows\System32\hostname.exe C:\Tools\h2.exe "
                                r"& C:\Tools\h2.exe")
    assert code == 0
    assert out.endswith("SimHost-Long-Name-01\r\n")


def test_unmodelled_program_fails_loudly(machine):
    machine.fs.write_bytes(r"C:\Tools\mystery.exe", b"MZ\x90\x00real bytes")
    code, out, err = run(machine, r"C:\Tools\mystery.exe --flag")
    assert code != 0 and out == ""
    assert "has no model of program C:\\Tools\\mystery.exe" in err
    code, _, err = run(machine, r"C:\Tools\mystery.exe", shell=False)
    assert code != 0 and "no model" in err


def test_registered_path_without_placeholder(machine):
    """A behaviour registered for a path applies to whatever file is later put there."""
    machine.register_program(r"C:\bin\later.exe", argv_program, create_file=False)
    assert run(machine, r"C:\bin\later.exe")[0] == 3  # path not found: no folder yet
    machine.fs.makedirs(r"C:\bin")
    machine.fs.write_bytes(r"C:\bin\later.exe", b"MZ uploaded binary")
    code, out, _ = run(machine, r"C:\bin\later.exe x")
    assert code == 0 and json.loads(out)["argv"][1:] == ["x"]


def test_createprocess_lookup(machine):
    assert run(machine, "hostname", shell=False)[1] == "SimHost-Long-Name-01\r\n"
    with pytest.raises(ProgramNotFoundError) as info:
        machine.spawn("nosuchprogram arg", shell=False)
    assert info.value.winerror == 2
    # No cmd.exe: operators are plain arguments.
    code, out, _ = run(machine, r"C:\Tools\args.exe a & b", shell=False)
    assert json.loads(out)["argv"] == [r"C:\Tools\args.exe", "a", "&", "b"]


def test_deleted_program_is_not_found(machine):
    machine.fs.remove(r"C:\Windows\System32\whoami.exe")
    assert run(machine, "whoami") == (9009, "", NOT_RECOGNIZED.format("whoami"))


def test_powershell_is_registered(machine):
    """standard_machine installs the powershell.exe model itself (no import fallback)."""
    path = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
    assert machine.fs.is_file(path)
    assert machine.program_at(path) is powershell_program


# --- cmd.exe -------------------------------------------------------------------------------
CMD_CASES = [
    # line, exit code, stdout, stderr
    ("echo hello world", 0, "hello world\r\n", ""),
    ("echo", 0, "ECHO is on.\r\n", ""),
    ("echo.", 0, "\r\n", ""),
    ("echo:x", 0, "x\r\n", ""),
    ("echo/", 0, "\r\n", ""),
    ('echo "quoted" ^& caret', 0, '"quoted" & caret\r\n', ""),
    ("echo a&echo b", 0, "a\r\nb\r\n", ""),
    (f"{SIMEXIT} 3 & echo next", 3, "next\r\n", ""),  # ERRORLEVEL stays 3
    (f"echo x & {SIMEXIT} 3", 3, "x \r\n", ""),  # the blank before & is echoed
    (f"{SIMEXIT} 3 && echo no", 3, "", ""),
    (f"{SIMEXIT} 3 || echo yes", 3, "yes\r\n", ""),
    (f"{SIMEXIT} 0 && echo yes|| echo no", 0, "yes\r\n", ""),
    (f"{SIMEXIT} 4 && echo no || echo yes", 4, "yes\r\n", ""),
    (f"{SIMEXIT} 0 || echo no && echo yes", 0, "yes\r\n", ""),
    (f"{SIMEXIT} 5 || {SIMEXIT} 6 || echo last", 6, "last\r\n", ""),
    ("nosuch", 9009, "", NOT_RECOGNIZED.format("nosuch")),
    ('echo x& "no such" arg', 9009, "x\r\n", NOT_RECOGNIZED.format('"no such"')),
    (r"C:\no\such\tool.exe", 3, "", "The system cannot find the path specified.\r\n"),
    ("nosuch || echo fallback", 9009, "fallback\r\n", NOT_RECOGNIZED.format("nosuch")),
    ("echo %USERNAME%", 0, "Administrator\r\n", ""),
    ("echo %username% %UNDEFINED_VAR% 100%", 0, "Administrator %UNDEFINED_VAR% 100%\r\n", ""),
    ("set X=1 & echo %X%", 0, "%X%\r\n", ""),  # expanded before anything ran
    (f"{SIMEXIT} 7 & echo %ERRORLEVEL%", 7, "0\r\n", ""),
    ("exit 5", 5, "", ""),
    ("exit /b 6 & echo not reached", 6, "", ""),
    (f"{SIMEXIT} 2 & exit", 2, "", ""),
    ("ver", 0, "\r\nMicrosoft Windows [Version 10.0.20348.2340]\r\n", ""),
    ("set NO_SUCH_PREFIX", 1, "", "Environment variable NO_SUCH_PREFIX not defined\r\n"),
    ("set windi", 0, "windir=C:\\Windows\r\n", ""),
    ("set A_B=x y & set a_b", 0, "A_B=x y \r\n", ""),
    ('set "Q=v" & set q', 0, "Q=v\r\n", ""),
    ("cd", 0, "C:\\Users\\Administrator\r\n", ""),
    (r"cd C:\windows\SYSTEM32 & cd", 0, "C:\\Windows\\System32\r\n", ""),
    ("cd .. & cd", 0, "C:\\Users\r\n", ""),
    ("cd /d C:\\Windows& cd", 0, "C:\\Windows\r\n", ""),
    ("echo %CD%", 0, "C:\\Users\\Administrator\r\n", ""),
    ("set X=1& set X=& set X", 1, "", "Environment variable X not defined\r\n"),
    ("set NEVER_SET=", 1, "", ""),
    ("cd\\ & cd", 0, "C:\\\r\n", ""),
    (r"cd C:\nope", 1, "", "The system cannot find the path specified.\r\n"),
    ("type nope.txt", 1, "", "The system cannot find the file specified.\r\n"),
    ("echo a && echo b &&", 1, "", "The syntax of the command is incorrect.\r\n"),
    ("echo hi | ", 1, "", "The syntax of the command is incorrect.\r\n"),
    ("echo a | echo b", 0, "b\r\n", ""),
    (f"echo piped| {SIMCAT}", 0, "piped\r\n", ""),
    (f"echo a | {SIMEXIT} 4", 4, "", ""),
    (f"{SIMEXIT} 4 | echo b", 0, "b\r\n", ""),
    ("echo a 1>&2", 0, "", "a \r\n"),
    (f"{SIMGEN} 10 stderr 2>nul", 0, "", ""),
    ("echo gone >nul", 0, "", ""),
    ("nosuch 2>nul", 9009, "", ""),
    (f"{SIMGEN} 5 stderr 2>&1 | {SIMCAT}", 0, pattern(5).decode(), ""),
    ("cmd /c echo nested", 0, "nested\r\n", ""),
    ('cmd /c "echo nested quoted"', 0, "nested quoted\r\n", ""),
    (f"cmd /c {SIMEXIT} 9", 9, "", ""),
    ("mkdir newdir & cd newdir & cd", 0, "C:\\Users\\Administrator\\newdir\r\n", ""),
    ("mkdir AppData", 1, "", "A subdirectory or file AppData already exists.\r\n"),
]


@pytest.mark.parametrize("line, code, out, err", CMD_CASES, ids=[c[0] for c in CMD_CASES])
def test_cmd(machine, line, code, out, err):
    assert run(machine, line) == (code, out, err)


@pytest.mark.parametrize("line, what", [
    ("cmd /k echo hi", "cmd.exe /k"),
    ("cmd", "interactive"),
    ("cmd /v:on /c echo hi", "/V:ON"),
    ("if 1==1 echo x", "the if statement"),
    ("(exit 0)", "parentheses"),
    ("set /a 1+1", "set /a"),
    ("pushd C:\\", "'pushd'"),
    ("dir /s", "dir /s without /b"),
    ("dir /o:n", "dir /o:n"),
    ("echo x > con", "device con"),
    ("copy a+b c", "concatenation"),
])
def test_cmd_fails_loudly_on_what_it_does_not_model(machine, line, what):
    code, out, err = run(machine, line)
    assert code != 0
    assert "simulated" in err and what.lower() in err.lower()


def test_redirections(machine):
    fs = machine.fs
    assert run(machine, r"echo one> C:\out.txt& echo two>>C:\out.txt")[0] == 0
    assert fs.read_bytes(r"C:\out.txt") == b"one\r\ntwo\r\n"
    # Left to right: ">f 2>&1" sends both to f; "2>&1 >f" sends stderr to the old stdout.
    code, out, err = run(machine, r"nosuch >C:\both.txt 2>&1")
    assert (code, out, err) == (9009, "", "")
    assert fs.read_bytes(r"C:\both.txt").decode() == NOT_RECOGNIZED.format("nosuch")
    code, out, err = run(machine, r"nosuch 2>&1 >C:\only-out.txt")
    assert (out, err) == (NOT_RECOGNIZED.format("nosuch"), "")
    assert fs.read_bytes(r"C:\only-out.txt") == b""
    # Input from a file.
    fs.write_bytes(r"C:\in.txt", b"from file\r\n")
    assert run(machine, rf"{SIMCAT} < C:\in.txt")[1] == "from file\r\n"
    assert run(machine, rf"{SIMCAT} <nul", stdin=b"ignored")[1] == ""
    # Quoted targets with spaces; relative targets against the working directory.
    assert run(machine, 'echo q> "C:\\Users\\Administrator\\a b.txt"')[0] == 0
    assert run(machine, "type \"a b.txt\"")[1] == "q\r\n"


def test_failed_redirection_does_not_run_the_command(machine):
    code, out, err = run(machine, rf"{SIMEXIT} 0 > C:\missing\dir\x.txt && echo ran")
    assert (code, out) == (1, "")
    assert err == "The system cannot find the path specified.\r\n"
    code, out, err = run(machine, rf"{SIMCAT} < C:\missing.txt || echo failed")
    assert (code, out, err) == (1, "failed\r\n", "The system cannot find the file specified.\r\n")
    assert run(machine, r"echo x > C:\Windows")[2] == "Access is denied.\r\n"


def test_large_data_through_pipes_and_files(machine):
    size = 3 * 1024 * 1024
    code, out, err = drain(machine.spawn(
        rf"{SIMGEN} {size} | {SIMCAT} > C:\big.bin & type C:\big.bin | {SIMCAT}"))
    assert (code, err) == (0, b"")
    assert out == pattern(size)
    assert machine.fs.read_bytes(r"C:\big.bin") == pattern(size)


def test_reader_that_stops_early_ends_the_pipeline(machine):
    # `echo` never reads its stdin: the writer sees a broken pipe and the pipeline ends.
    code, out, _ = run(machine, f"{SIMGEN} 100M | echo done")
    assert (code, out) == (0, "done\r\n")


def test_pipeline_sides_do_not_change_the_shell(machine):
    code, out, _ = run(machine, f"set PIPED=1 | {SIMCAT} & cd \\ | {SIMCAT} & set PIPED & cd")
    assert code == 1  # set PIPED failed: the assignment happened in another cmd
    assert out == "C:\\Users\\Administrator\r\n"


def test_dir(machine):
    fs = machine.fs
    fs.makedirs(r"C:\data\Sub")
    fs.write_bytes(r"C:\data\Big.LOG", b"x" * 1234567)
    fs.write_bytes(r"C:\data\a.txt", b"abc")
    code, out, _ = run(machine, r"dir C:\DATA")
    assert code == 0
    lines = out.split("\r\n")
    assert lines[:5] == [" Volume in drive C has no label.",
                         " Volume Serial Number is 6A2E-1F3B", "",
                         " Directory of C:\\data", ""]
    body = [line[20:] for line in lines[5:9]]  # after the date and time columns
    assert body == ["    <DIR>          .", "    <DIR>          ..",
                    "                 3 a.txt", "         1,234,567 Big.LOG"]
    assert "    <DIR>          Sub" in lines[9]
    assert lines[10] == "               2 File(s)      1,234,570 bytes"
    assert lines[11].startswith("               3 Dir(s)") and lines[11].endswith("bytes free")
    assert run(machine, r"dir /b C:\data\*.txt") == (0, "a.txt\r\n", "")
    assert run(machine, r"dir /b /a-d C:\data") == (0, "a.txt\r\nBig.LOG\r\n", "")
    assert run(machine, r"dir /b /ad C:\data") == (0, "Sub\r\n", "")
    fs.write_bytes(r"C:\data\Sub\deep.txt", b"")
    assert run(machine, r"dir /s /b C:\data\*.txt")[1] == (
        "C:\\data\\a.txt\r\nC:\\data\\Sub\\deep.txt\r\n")
    code, out, err = run(machine, r"dir C:\data\*.none")
    assert (code, err) == (1, "File Not Found\r\n") and "Directory of C:\\data" in out
    assert run(machine, r"dir /b C:\data\nothing")[0:3:2] == (1, "File Not Found\r\n")


def test_file_builtins(machine):
    fs = machine.fs
    fs.makedirs(r"C:\w\dst")
    fs.write_bytes(r"C:\w\a.txt", b"A")
    fs.write_bytes(r"C:\w\b.txt", b"B")
    fs.write_bytes(r"C:\w\c.log", b"C")
    assert run(machine, r"copy C:\w\a.txt C:\w\dst") == (0, "        1 file(s) copied.\r\n", "")
    assert fs.read_bytes(r"C:\w\dst\a.txt") == b"A"
    code, out, _ = run(machine, r"copy C:\w\*.txt C:\w\dst /y")
    assert (code, out) == (0, "C:\\w\\a.txt\r\nC:\\w\\b.txt\r\n        2 file(s) copied.\r\n")
    code, _, err = run(machine, r"copy C:\w\a.txt C:\w\dst")
    assert code == 1 and "overwrite prompt" in err
    code, out, err = run(machine, r"copy C:\w\none.txt C:\w\dst")
    assert (code, out, err) == (1, "        0 file(s) copied.\r\n",
                                "The system cannot find the file specified.\r\n")
    assert run(machine, r"move C:\w\c.log C:\w\dst")[1] == "        1 file(s) moved.\r\n"
    assert fs.exists(r"C:\w\dst\c.log") and not fs.exists(r"C:\w\c.log")
    assert run(machine, r"move C:\w\dst C:\w\moved")[1] == "        1 dir(s) moved.\r\n"
    assert fs.is_file(r"C:\w\moved\c.log")
    assert run(machine, r"move C:\w\nope C:\w\x")[0:3:2] == (
        1, "The system cannot find the file specified.\r\n")
    assert run(machine, r"del C:\w\*.txt") == (0, "", "")
    assert fs.listdir(r"C:\w") == ["moved"]
    # del reports what it could not find but leaves ERRORLEVEL alone.
    assert run(machine, r"del C:\w\gone.txt && echo still ok") == (
        0, "still ok\r\n", "Could Not Find C:\\w\\gone.txt\r\n")
    assert run(machine, r"del /q C:\w\moved") == (0, "", "")
    assert fs.listdir(r"C:\w\moved") == []


def test_type_writes_bytes_unchanged(machine):
    data = bytes(range(256)) * 10
    machine.fs.write_bytes(r"C:\bin.dat", data)
    code, out, err = drain(machine.spawn(r"type C:\bin.dat"))
    assert (code, out, err) == (0, data, b"")
    assert run(machine, r"type C:\Windows")[0:3:2] == (1, "Access is denied.\r\n")
