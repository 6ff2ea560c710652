"""The Wine oracle: Windows command lines run by an implementation nobody here wrote.

Wine's ``cmd.exe`` and its C runtime (``msvcrt``) read the command lines the harness renders
and the ones the simulated host parses, so both are checked against an outside
implementation as well as against each other (issue 12, finding 1).  Two small programs
written for this project (``tests/wine/*.c``) are compiled with mingw-w64 when a test first
needs them: ``argv.exe`` prints the argv its C runtime built, ``launch.exe`` hands each line
it reads to ``CreateProcessW`` unchanged (as ``subprocess.Popen(str)`` does on Windows).

One Wine prefix per test session, in a temporary folder; one launcher process serves every
line, so a case costs one CreateProcess, not one Wine start.  Debian packages: ``wine``, ``wine64``,
``gcc-mingw-w64-x86-64`` (``.ci/run`` installs them).  In CI (``CI=true``) missing tools
fail the tests with a message naming them; elsewhere the tests skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCES = Path(__file__).resolve().parents[1] / "wine"
CC = "x86_64-w64-mingw32-gcc"
# Debian bookworm: the commands come with "wine", the 64-bit loader with "wine64".
TOOLS = {"wine": "wine", "wineboot": "wine", "wineserver": "wine", "/usr/lib/wine/wine64": "wine64",
         CC: "gcc-mingw-w64-x86-64"}


def require_tools() -> None:
    """Skip (or, in CI, fail) naming the Debian packages when a tool is missing."""
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    message = (f"the Wine oracle needs the Debian packages {', '.join(missing)} "
               f"(apt-get install -y {' '.join(missing)}; .ci/run installs them)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class Outcome:
    """What one command line did under Wine."""

    exit_code: int | None   # None: CreateProcess itself failed
    argv: list[str] | None  # what the argv printer printed, None if it did not run
    other: list[str]        # any other output (cmd's messages)


# What the launcher prints when Wine's CreateProcess fails with ERROR_INTERNAL_ERROR.
WINE_INTERNAL_ERROR = "==createprocess-failed 1359"
WINE_INTERNAL_ERROR_TRIES = 3


class WineOracle:
    """A Wine prefix with the argv printer and one long-lived launcher."""

    def __init__(self, root: Path):
        self.root = root
        self.prefix = root / "prefix"
        self.env = {**os.environ, "WINEPREFIX": str(self.prefix), "WINEDEBUG": "-all",
                    # no Mono/Gecko installers: nothing here needs .NET or HTML
                    "WINEDLLOVERRIDES": "mscoree,mshtml=", "LANG": "C.UTF-8"}
        self.printer = root / "argv.exe"
        self.launcher = root / "launch.exe"
        self.setup_seconds = 0.0
        self._proc: subprocess.Popen | None = None

    def start(self) -> WineOracle:
        started = time.monotonic()
        for name, extra in (("argv", ["-municode"]), ("launch", [])):
            subprocess.run([CC, "-O1", "-Wall", *extra, "-o", str(self.root / f"{name}.exe"),
                            str(SOURCES / f"{name}.c")], check=True, capture_output=True)
        subprocess.run(["wineboot", "-i"], env=self.env, check=True, capture_output=True,
                       timeout=300)
        self._proc = subprocess.Popen(["wine", str(self.launcher)], env=self.env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
        self.setup_seconds = time.monotonic() - started
        return self

    def install_printer(self, windows_path: str) -> None:
        """Put the argv printer at ``windows_path`` (``C:\\...``) inside the prefix."""
        drive, _, rest = windows_path.partition(":\\")
        if drive.upper() != "C":
            raise ValueError(f"the printer goes on drive C:, not {windows_path!r}")
        target = self.prefix / "drive_c" / Path(*rest.split("\\"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copyfile(self.printer, target)

    def run(self, process_command_line: str) -> Outcome:
        """CreateProcessW(NULL, ``process_command_line``) under Wine; wait; report.

        Wine's CreateProcess now and then fails with 1359 (ERROR_INTERNAL_ERROR) on a busy
        machine, whatever the line: hypothesis saw the same line pass when it ran it again
        (a FlakyFailure in one of four CI runs).  That is Wine's, not the line's, so it is
        tried again, a few times; any other failure is the line's and is reported at once.
        """
        for _ in range(WINE_INTERNAL_ERROR_TRIES - 1):
            outcome = self._run_once(process_command_line)
            if outcome.other[-1:] != [WINE_INTERNAL_ERROR]:
                return outcome
        return self._run_once(process_command_line)

    def _run_once(self, process_command_line: str) -> Outcome:
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(process_command_line.encode("utf-8").hex().encode() + b"\n")
        self._proc.stdin.flush()
        argv: list[str] | None = None
        other: list[str] = []
        while True:
            raw = self._proc.stdout.readline()
            if not raw:
                raise RuntimeError("the Wine launcher ended unexpectedly")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("==exit "):
                return Outcome(int(line.split()[1]), argv, other)
            if line.startswith("==createprocess-failed "):
                return Outcome(None, None, [*other, line])
            if line.startswith("A:"):
                argv = [] if argv is None else argv
                argv.append(bytes.fromhex(line[2:]).decode("utf-8"))
            elif line:
                other.append(line)

    def close(self) -> None:
        if self._proc is not None:
            with_stdin = self._proc.stdin
            if with_stdin:
                with_stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        # Our prefix's own wineserver (it lingers a few seconds after the last process).
        subprocess.run(["wineserver", "-k"], env=self.env, capture_output=True, check=False)
