"""Bad command lines for every ``hpc-e2e`` verb and for the pytest plugin's options.

Each case runs the real entry point (``harness.cli.main``, and a few as the installed
``hpc-e2e`` program in a subprocess) from an empty working folder and checks the answer:
the documented exit code (78 for a configuration error, 64 for a malformed
command line, 69 for ``report`` without an Allure tool), no traceback, one line naming the
option, file or value; and that nothing started: no pytest run, no simulated host, no
results folder.

Part of the bad-input catalogue (tests/checks/bad_input.py counts it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from checks.bad_input import clear_error

from harness.cli import main
from harness.commands import run as run_mod
from harness.errors import EXIT_CONFIG, EXIT_CONNECT, EXIT_OUTPUT, EXIT_USAGE
from harness.sim.bundle import write_sim_bundle

pytest_plugins = ["checks.bad_input_count"]

ARGPARSE = EXIT_USAGE  # a command line that does not parse (argparse would say 2)

# (argv, exit code, fragments of the one line). Upper-case words are files made by `files`.
CASES: dict[str, tuple[list[str], int, tuple[str, ...]]] = {
    # --- the command itself
    "no verb": ([], ARGPARSE, ("required: COMMAND",)),
    "unknown verb": (["deploy"], ARGPARSE, ("invalid choice: 'deploy'",)),
    "only -v": (["-v"], ARGPARSE, ("required: COMMAND",)),
    "unknown global flag": (["--colour", "run"], ARGPARSE, ("unrecognized arguments: --colour",)),
    "-- for another verb": (["doctor", "--", "-x"], ARGPARSE,
                            ("passed to pytest by `hpc-e2e run` only",)),
    # --- run
    "run unknown flag": (["run", "--hosts", "a"], ARGPARSE, ("unrecognized arguments: --hosts",)),
    "run missing value": (["run", "--sim-hosts"], ARGPARSE,
                          ("--sim-hosts: expected one argument",)),
    "run sim-hosts not a number": (["run", "--sim-hosts", "two"], ARGPARSE,
                                   ("--sim-hosts: invalid int value: 'two'",)),
    "run sim-hosts zero": (["run", "--sim-hosts", "0"], EXIT_CONFIG, ("--sim-hosts: 0",)),
    "run sim-hosts negative": (["run", "--sim-hosts", "-1"], EXIT_CONFIG, ("--sim-hosts: -1",)),
    "run sim-hosts too many": (["run", "--sim-hosts", "100"], EXIT_CONFIG,
                               ("--sim-hosts: 100 is more than 16",)),
    "run sim-build not a number": (["run", "--sim-build", "ltsc2025"], ARGPARSE,
                                   ("--sim-build: invalid int value",)),
    "run sim-build unknown": (["run", "--sim-build", "17763"], EXIT_CONFIG,
                              ("--sim-build:", "no images for host build 17763")),
    "run sim-build tiny": (["run", "--sim-build", "1"], EXIT_CONFIG, ("--sim-build:",)),
    "run unknown flavor": (["run", "--sim-flavor", "nightly"], EXIT_CONFIG,
                           ("--sim-flavor: unknown runtime flavor 'nightly'",)),
    "run flavor file missing": (["run", "--sim-flavor", "nope.py"], EXIT_CONFIG,
                                ("--sim-flavor: nope.py does not exist",)),
    "run flavor file broken": (["run", "--sim-flavor", "BROKEN_PY"], EXIT_CONFIG,
                               ("--sim-flavor:", "broken.py")),
    "run sim-faults bad": (["run", "--sim-faults", "rate=7"], EXIT_CONFIG, ("--sim-faults:",)),
    "run sim-latency bad": (["run", "--sim-latency", "glacial"], EXIT_CONFIG,
                            ("--sim-latency:",)),
    "run sim-faults empty": (["run", "--sim-faults", ""], EXIT_CONFIG, ("--sim-faults:",)),
    "run sim-latency empty": (["run", "--sim-latency", ""], EXIT_CONFIG, ("--sim-latency:",)),
    "run inventory and sim-faults": (["run", "--inventory", "INVENTORY", "--bundle", "BUNDLE",
                                      "--sim-faults", "rate=0.1"], EXIT_CONFIG,
                                     ("--sim-faults", "not to an --inventory")),
    "run lease-timeout words": (["run", "--lease-timeout", "soon"], ARGPARSE,
                                ("--lease-timeout: invalid float value: 'soon'",)),
    "run lease-timeout zero": (["run", "--lease-timeout", "0"], EXIT_CONFIG,
                               ("--lease-timeout: 0",)),
    "run lease-timeout negative": (["run", "--lease-timeout", "-5"], EXIT_CONFIG,
                                   ("--lease-timeout: -5",)),
    "run lease-timeout nan": (["run", "--lease-timeout", "nan"], EXIT_CONFIG,
                              ("--lease-timeout: nan",)),
    "run lease-timeout inf": (["run", "--lease-timeout", "inf"], EXIT_CONFIG,
                              ("--lease-timeout: inf",)),
    "run -n words": (["run", "-n", "many"], EXIT_CONFIG, ("-n: 'many'",)),
    "run -n negative": (["run", "-n", "-1"], EXIT_CONFIG, ("-n: '-1'",)),
    "run run-id with space": (["run", "--run-id", "my run"], EXIT_CONFIG,
                              ("--run-id: 'my run' is not a run id",)),
    "run run-id empty": (["run", "--run-id", ""], EXIT_CONFIG, ("--run-id: must not be empty",)),
    "run run-id too long": (["run", "--run-id", "r" * 64], EXIT_CONFIG, ("--run-id: 'rrrr",)),
    "run run-id leading dash": (["run", "--run-id=-nightly"], EXIT_CONFIG,
                                ("--run-id: '-nightly'",)),
    "run unknown profile": (["run", "--profile", "nightly"], EXIT_CONFIG,
                            ("--profile:", "nightly.toml: profile file does not exist")),
    "run profile not a name": (["run", "--profile", "a b"], EXIT_CONFIG,
                               ("--profile: 'a b' is neither",)),
    "run profile is a folder": (["run", "--profile", "A_DIR.toml"], EXIT_CONFIG,
                                ("--profile:", "profile is a folder, not a file")),
    "run profile broken": (["run", "--profile", "BAD_PROFILE"], EXIT_CONFIG,
                           ("--profile:", "bad-profile.toml: TOML syntax error")),
    "run inventory missing": (["run", "--inventory", "missing.toml"], EXIT_CONFIG,
                              ("--inventory: missing.toml does not exist",)),
    "run inventory broken": (["run", "--inventory", "BAD_INVENTORY", "--bundle", "BUNDLE"],
                             EXIT_CONFIG, ("bad-inventory.toml: TOML syntax error",)),
    "run inventory without bundle": (["run", "--inventory", "INVENTORY"], EXIT_CONFIG,
                                     ("--bundle: required with --inventory",)),
    "run inventory unknown host": (["run", "--inventory", "INVENTORY", "--bundle", "BUNDLE",
                                    "--host", "lab9"], EXIT_CONFIG, ("no host named 'lab9'",)),
    "run host without inventory": (["run", "--host", "lab1"], EXIT_CONFIG,
                                   ("--host selects hosts from an inventory",)),
    "run inventory and sim-flavor": (["run", "--inventory", "INVENTORY", "--bundle", "BUNDLE",
                                      "--sim-flavor", "pre-fix"], EXIT_CONFIG,
                                     ("--sim-flavor", "not to an --inventory")),
    "run inventory and sim-build": (["run", "--inventory", "INVENTORY", "--bundle", "BUNDLE",
                                     "--sim-build", "20348"], EXIT_CONFIG,
                                    ("--sim-build", "not to an --inventory")),
    "run bundle missing": (["run", "--bundle", "missing.toml"], EXIT_CONFIG,
                           ("--bundle: missing.toml does not exist",)),
    "run bundle wrong hash": (["run", "--bundle", "WRONG_HASH"], EXIT_CONFIG,
                              ("artifact 'crictl': sha256:",)),
    "run bundle missing file": (["run", "--bundle", "MISSING_FILE"], EXIT_CONFIG,
                                ("artifact 'crictl': source: file",)),
    "run bundle unknown source": (["run", "--bundle", "UNKNOWN_SOURCE"], EXIT_CONFIG,
                                  ("artifact 'crictl': source: unknown source kind 'ftp'",)),
    "run lease-dir is a file": (["run", "--lease-dir", "A_FILE"], EXIT_CONFIG,
                                ("--lease-dir:", "is not a folder")),
    "run alluredir is a file": (["run", "--alluredir", "A_FILE"], EXIT_OUTPUT,
                                ("--alluredir:", "exists and is not a folder")),
    "run alluredir not ours": (["run", "--alluredir", "THESIS", "-k", "nothing_matches"],
                               EXIT_OUTPUT, ("--alluredir:", "is not empty and was not made by "
                                             "hpc-e2e", "thesis-attachment-final.pdf")),
    "run alluredir under a file": (["run", "--alluredir", "A_FILE/results"], EXIT_OUTPUT,
                                   ("--alluredir:", "A_FILE is not a folder")),
    "run alluredir unwritable": (["run", "--alluredir", "/proc/hpc-e2e-results"], EXIT_OUTPUT,
                                 ("--alluredir: cannot write in /proc",)),
    "run junitxml is a folder": (["run", "--junitxml", "A_DIR.toml"], EXIT_OUTPUT,
                                 ("--junitxml:", "is a folder, not a file")),
    "run junitxml unwritable": (["run", "--junitxml", "/proc/junit.xml"], EXIT_OUTPUT,
                                ("--junitxml: cannot write in /proc",)),
    "run junitxml a device": (["run", "--junitxml", "/dev/null"], EXIT_OUTPUT,
                              ("--junitxml: /dev/null exists and is not a regular file",)),
    "run summary-json under a file": (["run", "--summary-json", "A_FILE/s.json"], EXIT_OUTPUT,
                                      ("--summary-json:", "A_FILE is not a folder")),
    "run summary-json unwritable": (["run", "--summary-json", "/proc/s.json"], EXIT_OUTPUT,
                                    ("--summary-json: cannot write in /proc",)),
    "run bad -k": (["run", "-k", "identity and"], EXIT_CONFIG,
                   ("-k: 'identity and' is not a valid expression",)),
    "run bad -m": (["run", "-m", "(slow"], EXIT_CONFIG, ("-m: '(slow' is not a valid expression",)),
    "run report-dir is a file": (["run", "--report", "--report-dir", "A_FILE"], EXIT_CONFIG,
                                 ("--report-dir:", "is not a folder")),
    "run single-file without report": (["run", "--single-file"], EXIT_CONFIG,
                                       ("--single-file", "add --report")),
    # --- doctor
    "doctor unknown flag": (["doctor", "--fix"], ARGPARSE, ("unrecognized arguments: --fix",)),
    "doctor inventory missing": (["doctor", "--inventory", "missing.toml"], EXIT_CONFIG,
                                 ("missing.toml: inventory file does not exist",)),
    "doctor inventory broken": (["doctor", "--inventory", "BAD_INVENTORY"], EXIT_CONFIG,
                                ("bad-inventory.toml: TOML syntax error",)),
    "doctor unknown host": (["doctor", "--inventory", "INVENTORY", "--host", "lab9"],
                            EXIT_CONFIG, ("no host named 'lab9'",)),
    "doctor host without inventory": (["doctor", "--host", "lab1"], EXIT_CONFIG,
                                      ("--host selects hosts from an inventory",)),
    "doctor bundle missing": (["doctor", "--bundle", "missing.toml"], EXIT_CONFIG,
                              ("missing.toml: bundle manifest does not exist",)),
    "doctor bundle unknown source": (["doctor", "--bundle", "UNKNOWN_SOURCE"], EXIT_CONFIG,
                                     ("unknown source kind 'ftp'",)),
    "doctor state-dir is a file": (["doctor", "--sim-state-dir", "A_FILE"], EXIT_CONFIG,
                                   ("--sim-state-dir:", "is not a folder")),
    # --- provision
    "provision bundle missing": (["provision", "--bundle", "missing.toml"], EXIT_CONFIG,
                                 ("missing.toml: bundle manifest does not exist",)),
    "provision bundle wrong hash": (["provision", "--bundle", "WRONG_HASH"], EXIT_CONFIG,
                                    ("artifact 'crictl': sha256:",)),
    "provision bundle missing file": (["provision", "--bundle", "MISSING_FILE"], EXIT_CONFIG,
                                      ("artifact 'crictl': source: file",)),
    "provision bundle unknown source": (["provision", "--bundle", "UNKNOWN_SOURCE"],
                                        EXIT_CONFIG, ("unknown source kind 'ftp'",)),
    "provision inventory without bundle": (["provision", "--inventory", "INVENTORY"],
                                           EXIT_CONFIG, ("--bundle is required",)),
    "provision inventory broken": (["provision", "--inventory", "BAD_INVENTORY", "--bundle",
                                    "BUNDLE"], EXIT_CONFIG, ("bad-inventory.toml:",)),
    "provision inventory and sim": (["provision", "--inventory", "INVENTORY", "--sim"],
                                    EXIT_CONFIG, ("--sim and --inventory",)),
    "provision inventory and flavor": (["provision", "--inventory", "INVENTORY", "--bundle",
                                        "BUNDLE", "--sim-flavor", "pre-fix"], EXIT_CONFIG,
                                       ("--sim-flavor", "not to an --inventory")),
    "provision unknown flavor": (["provision", "--sim-flavor", "nightly"], EXIT_CONFIG,
                                 ("--sim-flavor: unknown runtime flavor 'nightly'",)),
    "provision host without inventory": (["provision", "--host", "lab1"], EXIT_CONFIG,
                                         ("--host selects hosts from an inventory",)),
    "provision state-dir is a file": (["provision", "--sim-state-dir", "A_FILE"], EXIT_CONFIG,
                                      ("--sim-state-dir:", "is not a folder")),
    # --- clean
    "clean bad duration": (["clean", "--older-than", "5x"], EXIT_CONFIG,
                           ("--older-than: '5x' is not a duration",)),
    "clean empty duration": (["clean", "--older-than", ""], EXIT_CONFIG,
                             ("--older-than: '' is not a duration",)),
    "clean negative duration": (["clean", "--older-than=-5m"], EXIT_CONFIG,
                                ("--older-than: '-5m'",)),
    "clean duration without unit": (["clean", "--older-than", "30"], EXIT_CONFIG,
                                    ("--older-than: '30'",)),
    "clean run-id with space": (["clean", "--run-id", "a b"], EXIT_CONFIG,
                                ("--run-id: 'a b' is not a run id",)),
    "clean run-id path": (["clean", "--run-id", "../x"], EXIT_CONFIG,
                          ("--run-id: '../x' is not a run id",)),
    "clean bundle missing": (["clean", "--bundle", "missing.toml"], EXIT_CONFIG,
                             ("missing.toml: bundle manifest does not exist",)),
    "clean inventory missing": (["clean", "--inventory", "missing.toml"], EXIT_CONFIG,
                                ("missing.toml: inventory file does not exist",)),
    "clean host without inventory": (["clean", "--host", "lab1"], EXIT_CONFIG,
                                     ("--host selects hosts from an inventory",)),
    "clean dry-run with a value": (["clean", "--dry-run=yes"], ARGPARSE,
                                   ("--dry-run: ignored explicit argument 'yes'",)),
    "clean state-dir is a file": (["clean", "--sim-state-dir", "A_FILE"], EXIT_CONFIG,
                                  ("--sim-state-dir:", "is not a folder")),
    # --- report
    "report no results": (["report", "--results", "missing"], EXIT_CONFIG,
                          ("no Allure results in missing",)),
    "report results is a file": (["report", "--results", "A_FILE"], EXIT_CONFIG,
                                 ("no Allure results in",)),
    "report allure missing": (["report", "--results", "RESULTS", "--allure", "no-allure"],
                              EXIT_CONNECT, ("'no-allure' is not an executable",)),
    "report unknown flag": (["report", "--open"], ARGPARSE, ("unrecognized arguments: --open",)),
    # --- sim serve
    "sim without command": (["sim"], ARGPARSE, ("required: COMMAND",)),
    "sim unknown command": (["sim", "start"], ARGPARSE, ("invalid choice: 'start'",)),
    "serve port too high": (["sim", "serve", "--port", "70000"], EXIT_CONFIG,
                            ("--port: 70000 is not a TCP port",)),
    "serve port negative": (["sim", "serve", "--port", "-1"], EXIT_CONFIG, ("--port: -1",)),
    "serve port words": (["sim", "serve", "--port", "https"], ARGPARSE,
                         ("--port: invalid int value: 'https'",)),
    "serve ssh-port too high": (["sim", "serve", "--ssh-port", "65536"], EXIT_CONFIG,
                                ("--ssh-port: 65536",)),
    "serve http-port too high": (["sim", "serve", "--http-port", "99999"], EXIT_CONFIG,
                                 ("--http-port: 99999",)),
    "serve ntlm-port negative": (["sim", "serve", "--ntlm-port", "-2"], EXIT_CONFIG,
                                 ("--ntlm-port: -2",)),
    "serve unknown build": (["sim", "serve", "--build", "17763"], ARGPARSE,
                            ("--build: invalid choice: 17763",)),
    "serve key missing": (["sim", "serve", "--authorized-key", "id.pub"], EXIT_CONFIG,
                          ("--authorized-key: id.pub does not exist",)),
    "serve unknown flavor": (["sim", "serve", "--sim-flavor", "nightly"], EXIT_CONFIG,
                             ("--sim-flavor: unknown runtime flavor 'nightly'",)),
    "serve state-dir is a file": (["sim", "serve", "--state-dir", "A_FILE"], EXIT_CONFIG,
                                  ("--state-dir:", "is not a folder")),
}


def make_files(folder: Path) -> dict[str, str]:
    """The files the cases name, in ``folder`` (the working folder); word -> path."""
    (folder / "A_FILE").write_text("not a folder\n")
    (folder / "A_DIR.toml").mkdir()
    (folder / "broken.py").write_text("raise RuntimeError('broken flavor')\n")
    (folder / "bad-profile.toml").write_text("[expect\n")
    (folder / "bad-inventory.toml").write_text("[hosts.lab1\n")
    (folder / "inventory.toml").write_text('[hosts.lab1]\ntransport = "local"\n')
    (folder / "results").mkdir()
    (folder / "results" / "x-result.json").write_text("{}")
    (folder / "thesis").mkdir()  # issue 17: someone's folder given as --alluredir
    (folder / "thesis" / "thesis-attachment-final.pdf").write_bytes(b"%PDF-1.7")
    (folder / "thesis" / "executor.json").write_text("{}")
    words = {"A_FILE": "A_FILE", "BROKEN_PY": "broken.py", "BAD_PROFILE": "bad-profile.toml",
             "BAD_INVENTORY": "bad-inventory.toml", "INVENTORY": "inventory.toml",
             "RESULTS": "results", "THESIS": "thesis", "BUNDLE": str(write_sim_bundle(folder / "bundle"))}
    words.update(bad_bundles(folder))
    return words


def bad_bundles(folder: Path) -> dict[str, str]:
    """The three broken bundles the issue names: wrong hash, missing file, unknown source."""
    wrong = write_sim_bundle(folder / "wrong-hash")
    (folder / "wrong-hash" / "bin" / "crictl.exe").write_bytes(b"MZ tampered")
    missing = write_sim_bundle(folder / "missing-file")
    (folder / "missing-file" / "bin" / "crictl.exe").unlink()
    unknown = write_sim_bundle(folder / "unknown-source")
    text = unknown.read_text(encoding="utf-8")
    unknown.write_text(text.replace("source = { file = 'bin/crictl.exe' }",
                                    "source = { ftp = 'bin/crictl.exe' }"), encoding="utf-8")
    assert "ftp" in unknown.read_text(encoding="utf-8")
    return {"WRONG_HASH": str(wrong), "MISSING_FILE": str(missing), "UNKNOWN_SOURCE": str(unknown)}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working folder with the case files; pytest must never start from here."""
    monkeypatch.chdir(tmp_path)
    words = make_files(tmp_path)
    calls: list = []
    monkeypatch.setattr(run_mod, "pytest_main", lambda argv, plugins: calls.append(argv) or 0)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    yield words, calls, before


@pytest.mark.bad_input
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_bad_command_line_is_one_line_and_starts_nothing(case, workdir, capsys, tmp_path):
    words, pytest_calls, before = workdir
    argv, want, fragments = CASES[case]
    argv = [words.get(a, a) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    assert code == want, f"exit {code}, wanted {want}:\n{captured.err}{captured.out}"
    clear_error(captured.err, *fragments, out=captured.out)
    assert captured.out == ""
    assert pytest_calls == [], "pytest was started"
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before, "the command created or removed files (a sim host, results...)"


# --- the installed program --------------------------------------------------------------
# The installed console script when there is one; else what it runs.
HPC_E2E = [shutil.which("hpc-e2e")] if shutil.which("hpc-e2e") else \
    [sys.executable, "-m", "harness.cli"]


@pytest.mark.parametrize("case", ["unknown verb", "run sim-hosts zero", "run unknown profile",
                                  "provision bundle wrong hash", "clean bad duration",
                                  "serve port too high"])
def test_the_program_answers_the_same_in_its_own_process(case, tmp_path):
    """The ``hpc-e2e`` program: the exit code and the line reach the shell the same, with no
    traceback from a real process."""
    words = make_files(tmp_path)
    argv, want, fragments = CASES[case]
    proc = subprocess.run([*HPC_E2E, *(words.get(a, a) for a in argv)], check=False,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == want, proc.stderr
    clear_error(proc.stderr, *fragments, out=proc.stdout)


# --- the pytest plugin's options, when pytest is run directly ------------------------------
PLUGIN = () if entry_points(group="pytest11", name="hpc_e2e") else ("-p", "harness.plugin")

PLUGIN_CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "sim-hosts too many": (["--hpc-sim-hosts", "17"], ("--hpc-sim-hosts: 17 is out of range",)),
    "sim-hosts negative": (["--hpc-sim-hosts=-3"], ("--hpc-sim-hosts: -3 is out of range",)),
    "sim-build tiny": (["--hpc-sim-build", "3"], ("--hpc-sim-build: 3 is out of range",)),
    "sim-flavor missing file": (["--hpc-sim-flavor", "nope.py"], ("--hpc-sim-flavor:",)),
    "sim-flavor broken file": (["--hpc-sim-flavor", "BROKEN_PY"], ("--hpc-sim-flavor:",)),
    "sim-faults bad": (["--hpc-sim-faults", "rate=7"], ("--hpc-sim-faults:",)),
    "sim-latency bad": (["--hpc-sim-latency", "glacial"], ("--hpc-sim-latency:",)),
    "hpc-host empty": (["--hpc-host", ","], ("--hpc-host: give at least one host name",)),
    "lease-timeout nan": (["--hpc-lease-timeout", "nan"], ("--hpc-lease-timeout:",)),
    "lease-timeout negative": (["--hpc-lease-timeout=-1"], ("--hpc-lease-timeout:",)),
    "lease-dir is a file": (["--hpc-lease-dir", "A_FILE"],
                            ("--hpc-lease-dir:", "is not a folder")),
    "run-id empty": (["--hpc-run-id", ""], ("--hpc-run-id:",)),
    "run-id too long": (["--hpc-run-id", "r" * 64], ("--hpc-run-id:",)),
    "bundle is a folder": (["--hpc-bundle", "A_DIR.toml"], ("--hpc-bundle:", "is not a file")),
    "bundle wrong hash": (["--hpc-bundle", "WRONG_HASH"],
                          ("--hpc-bundle:", "artifact 'crictl': sha256")),
    "bundle missing file": (["--hpc-bundle", "MISSING_FILE"], ("--hpc-bundle:", "source: file")),
    "bundle unknown source": (["--hpc-bundle", "UNKNOWN_SOURCE"],
                              ("--hpc-bundle:", "unknown source kind 'ftp'")),
    "inventory broken": (["--hpc-inventory", "BAD_INVENTORY"],
                         ("--hpc-inventory:", "TOML syntax error")),
    "inventory and sim-build": (["--hpc-inventory", "INVENTORY", "--hpc-bundle", "BUNDLE",
                                 "--hpc-sim-build", "20348"],
                                ("--hpc-sim-build: applies to simulated",)),
    "profile is a folder": (["--hpc-profile", "A_DIR.toml"],
                            ("--hpc-profile:", "profile is a folder, not a file")),
    "profile not a name": (["--hpc-profile", "a b"], ("--hpc-profile: 'a b' is neither",)),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", PLUGIN_CASES, ids=list(PLUGIN_CASES))
def test_a_bad_plugin_option_is_a_usage_error_naming_it(case, pytester):
    words = make_files(pytester.path)
    args, fragments = PLUGIN_CASES[case]
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                                *(words.get(a, a) for a in args))
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, err + result.stdout.str()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), err
    for fragment in fragments:
        assert fragment in lines[0], err
    assert "Traceback" not in err + result.stdout.str()
