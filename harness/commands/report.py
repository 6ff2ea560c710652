"""``hpc-e2e report``: the HTML report from ``allure-results``, with whichever Allure is installed.

allure-pytest only writes results; a report needs an Allure command-line tool
(python-protocol-facts.md §3): Allure 2 (Java; ``allure generate <results> -o <report>
--clean [--single-file]``) or Allure 3 (npm package ``allure``; ``allure awesome <results>
--output <report> [--single-file]``).  Neither ships on PyPI as a dependency we could pin, so
the harness looks for one on PATH and, when there is none, says how to install one instead
of failing with a traceback.  Generation runs offline; ``ALLURE_NO_ANALYTICS`` keeps the
report from embedding the analytics snippet (same section).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import EXIT_CONFIG, HarnessError

# sysexits EX_UNAVAILABLE: "a support program or file does not exist".
EXIT_NO_ALLURE = 69
VERSION_TIMEOUT = 120.0  # the Java CLI starts a JVM just to print its version
GENERATE_TIMEOUT = 1800.0
DEFAULT_RESULTS = Path("allure-results")
DEFAULT_OUTPUT = Path("allure-report")

INSTALL_HINT = ("install an Allure command-line tool: Allure 3 with `npm install -g allure` "
                "(needs Node.js), or Allure 2 with `npm install -g allure-commandline` or the "
                "allure-commandline zip from the Allure releases (both need Java 8+); then "
                "run `hpc-e2e report` again")


class AllureNotFound(HarnessError):
    exit_code = EXIT_NO_ALLURE


@dataclass(frozen=True)
class AllureTool:
    path: str
    major: int
    version: str

    def command(self, results: Path, output: Path, *, single_file: bool) -> list[str]:
        """The generation argv for this major version (python-protocol-facts.md §3)."""
        if self.major >= 3:
            argv = [self.path, "awesome", str(results), "--output", str(output)]
        else:
            argv = [self.path, "generate", str(results), "-o", str(output), "--clean"]
        return argv + (["--single-file"] if single_file else [])


def find_allure(executable: str | None = None) -> AllureTool:
    """The Allure CLI named (or ``allure`` on PATH) and its major version."""
    name = executable or "allure"
    path = shutil.which(name)
    if path is None:
        where = f"{name!r} is not an executable" if executable else "no `allure` on PATH"
        raise AllureNotFound(f"cannot build the HTML report: {where}", hint=INSTALL_HINT)
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True,
                              timeout=VERSION_TIMEOUT, env=_env(), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AllureNotFound(f"{path} --version failed: {exc}", hint=INSTALL_HINT) from None
    text = (done.stdout + "\n" + done.stderr).strip()
    m = re.search(r"(?<![\d.])(\d+)\.(\d+)(?:\.(\d+))?", text)
    if done.returncode != 0 or not m:
        first = text.splitlines()[0] if text else f"exit code {done.returncode}"
        raise AllureNotFound(f"{path} --version did not print a version: {first}",
                             hint="is it the Allure report tool? " + INSTALL_HINT)
    return AllureTool(path, int(m.group(1)), m.group(0))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ALLURE_NO_ANALYTICS", "true")
    return env


def has_results(results: Path) -> bool:
    return results.is_dir() and any(results.glob("*-result.json"))


def generate(results: Path = DEFAULT_RESULTS, output: Path = DEFAULT_OUTPUT, *,
             single_file: bool = False, executable: str | None = None) -> Path:
    """Build the report; returns the file to open (``<output>/index.html``)."""
    results, output = Path(results), Path(output)
    if not has_results(results):
        raise HarnessError(f"no Allure results in {results}", exit_code=EXIT_CONFIG,
                           hint="run `hpc-e2e run` first, or pass --results DIR")
    tool = find_allure(executable)
    argv = tool.command(results, output, single_file=single_file)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=GENERATE_TIMEOUT,
                              env=_env(), check=False)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{' '.join(argv)} did not finish within {GENERATE_TIMEOUT:g}s"
                           ) from None
    except OSError as exc:
        raise AllureNotFound(f"cannot run {tool.path}: {exc}", hint=INSTALL_HINT) from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise HarnessError(f"allure {tool.version} exited with {done.returncode}: "
                           + " | ".join(tail), hint=f"the command was: {' '.join(argv)}")
    index = output / "index.html"
    if not index.is_file():
        raise HarnessError(f"allure {tool.version} finished but wrote no {index}",
                           hint=f"the command was: {' '.join(argv)}")
    return index


def command(args: argparse.Namespace) -> int:
    """``hpc-e2e report``."""
    index = generate(args.results, args.output, single_file=args.single_file,
                     executable=args.allure)
    print(f"report: {index}")
    if not args.single_file:
        print(f"(open it through a web server: `allure open {index.parent}`)")
    return 0


__all__ = ["DEFAULT_OUTPUT", "DEFAULT_RESULTS", "EXIT_NO_ALLURE", "INSTALL_HINT",
           "AllureNotFound", "AllureTool", "command", "find_allure", "generate", "has_results"]
