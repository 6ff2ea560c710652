"""``hpc-e2e report``: the HTML report from ``allure-results``, with whichever Allure is installed.

allure-pytest only writes results; a report needs an Allure command-line tool
(docs/behaviour/protocols.md §3): Allure 2 (Java; ``allure generate <results> -o <report>
--clean [--single-file]``) or Allure 3 (npm package ``allure``; ``allure awesome <results>
--output <report> [--single-file]``).  Neither ships on PyPI as a dependency we could pin, so
the harness looks for one on PATH and, when there is none, says how to install one instead
of failing with a traceback.  Generation runs offline; ``ALLURE_NO_ANALYTICS`` keeps the
report from embedding the analytics snippet (same section; Allure 2 honours it, Allure
3.18's ``awesome`` report embeds the snippet regardless).

Allure 2 reads ``categories.json`` from the results; Allure 3's ``awesome`` does not, it takes
categories from its config file (``categories``, which accepts the same ``matchedStatuses`` /
``messageRegex`` / ``traceRegex`` rules; checked on allure 3.18.0).  So for Allure 3 the
harness's categories are handed over in a generated config, unless the working directory has
an ``allurerc`` of its own, which then wins.

Both tools are handed an output folder that is new, empty, or an earlier report (which is
removed first): Allure 3 writes into ``<output>/awesome/`` when the folder already holds
folders, leaving the earlier ``index.html`` where the user looks (3.18.0 moves a plugin's
files up only when it finds a single folder there), and Allure 2's ``--clean`` empties
whatever folder it is given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import EXIT_CONFIG, HarnessError

# sysexits EX_UNAVAILABLE: "a support program or file does not exist".
EXIT_NO_ALLURE = 69
VERSION_TIMEOUT = 120.0  # the Java CLI starts a JVM just to print its version
GENERATE_TIMEOUT = 1800.0
DEFAULT_RESULTS = Path("hpc-e2e-results") / "allure-results"  # where `hpc-e2e run` puts them
DEFAULT_OUTPUT = Path("hpc-e2e-results") / "allure-report"

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

    def command(self, results: Path, output: Path, *, single_file: bool,
                config: Path | None = None, name: str | None = None) -> list[str]:
        """The generation argv for this major version (docs/behaviour/protocols.md §3);
        ``config`` (an Allure 3 config file) is ignored for Allure 2, which has none.
        ``name`` titles the report: Allure 3's ``--report-name``, and Allure 2's from 2.26
        on (allure-framework/allure2#2229); older Allure 2 keeps "Allure Report"."""
        if self.major >= 3:
            argv = [self.path, "awesome", str(results), "--output", str(output)]
            if config is not None:
                argv += ["--config", str(config)]
        else:
            argv = [self.path, "generate", str(results), "-o", str(output), "--clean"]
        if name and (self.major >= 3 or self.at_least(2, 26)):
            argv += ["--report-name", name]
        return argv + (["--single-file"] if single_file else [])

    def at_least(self, major: int, minor: int) -> bool:
        parts = [int(p) for p in self.version.split(".")[:2]] + [0]
        return (parts[0], parts[1]) >= (major, minor)


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


# The names Allure 3 looks for in its working directory (allure 3.18.0, core config.js).
ALLURE3_CONFIG_NAMES = tuple(f"allurerc.{ext}" for ext in
                             ("js", "mjs", "cjs", "ts", "mts", "cts", "json", "yaml", "yml"))


def allure3_config(results: Path, directory: Path, *, cwd: Path | None = None) -> Path | None:
    """An Allure 3 config in ``directory`` carrying ``results/categories.json``, or None.

    None when there is nothing to carry (no or unreadable ``categories.json``) or when the
    working directory has its own ``allurerc``, which Allure 3 then reads as usual.
    """
    here = Path.cwd() if cwd is None else Path(cwd)
    if any((here / name).is_file() for name in ALLURE3_CONFIG_NAMES):
        return None
    try:
        rules = json.loads((Path(results) / "categories.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rules, list) or not rules:
        return None
    path = Path(directory) / "allurerc.json"
    path.write_text(json.dumps({"categories": rules}, indent=2) + "\n", encoding="utf-8")
    return path


def clear_output(output: Path) -> None:
    """Make room for a report at ``output``: a new or empty folder stays, an earlier report
    (``index.html`` at its top) is removed, anything else is refused untouched."""
    output = Path(output)
    if not output.exists():
        return
    if not output.is_dir():
        raise HarnessError(f"--output: {output} exists and is not a folder",
                           exit_code=EXIT_CONFIG)
    if not any(output.iterdir()):
        return
    if not (output / "index.html").is_file():
        raise HarnessError(f"--output: {output} is not empty and holds no Allure report "
                           "(no index.html); it is left as it is", exit_code=EXIT_CONFIG,
                           hint="choose a new folder for the report, or empty this one")
    shutil.rmtree(output)


def report_name(results: Path) -> str:
    """The report's title: the run id and the runtime under test, from the run's
    ``environment.properties`` (harness/plugin/reporting.py writes it)."""
    values: dict[str, str] = {}
    try:
        text = (Path(results) / "environment.properties").read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        text = ""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    title = "hpc-e2e"
    if values.get("run.id"):
        title += f" run {values['run.id']}"
    runtime = []
    for artifact, label in (("containerd", "containerd"),
                            ("containerd-shim-runhcs-v1", "runhcs shim")):
        version = values.get(f"bundle.{artifact}", "").split(" ")[0] or next(
            (v for k, v in sorted(values.items())
             if k.startswith("host.") and k.endswith(f".{artifact}")), "")
        if version:
            runtime.append(f"{label} {version}")
    return f"{title}: {', '.join(runtime)}" if runtime else title


def generate(results: Path = DEFAULT_RESULTS, output: Path = DEFAULT_OUTPUT, *,
             single_file: bool = False, executable: str | None = None) -> Path:
    """Build the report; returns the file to open (``<output>/index.html``)."""
    results, output = Path(results), Path(output)
    if not has_results(results):
        raise HarnessError(f"no Allure results in {results}", exit_code=EXIT_CONFIG,
                           hint="run `hpc-e2e run` first, or pass --results DIR")
    tool = find_allure(executable)
    clear_output(output)
    with tempfile.TemporaryDirectory(prefix="hpc-e2e-allure-") as scratch:
        config = allure3_config(results, Path(scratch)) if tool.major >= 3 else None
        argv = tool.command(results, output, single_file=single_file, config=config,
                            name=report_name(results))
        try:
            done = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=GENERATE_TIMEOUT, env=_env(), check=False)
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


__all__ = ["ALLURE3_CONFIG_NAMES", "DEFAULT_OUTPUT", "DEFAULT_RESULTS", "EXIT_NO_ALLURE",
           "INSTALL_HINT", "AllureNotFound", "AllureTool", "allure3_config", "clear_output",
           "command", "find_allure", "generate", "has_results", "report_name"]
