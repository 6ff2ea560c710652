"""Output folders and files of ``hpc-e2e run`` are owned, never swept blindly (issue 17, item 1).

The reproduction runs the CLI in a subprocess exactly as the report did; the rest drive
``execute`` with a small synthetic suite through a real nested ``pytest.main`` (as
tests/test_cli_run.py does), so pytest's own exit 4 and 5 and xdist's collection are real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import harness
from harness.cli import main
from harness.commands.run import RunOptions, execute
from harness.errors import EXIT_CONFIG, EXIT_OUTPUT, HarnessError
from harness.plugin.outputs import (ALLURE_NAME, MARKER, OutputRefused, check_output_file,
                                    check_results_dir, claim_results_dir)

REPO = Path(harness.__file__).resolve().parents[1]
OLD = "0b7c4ad2-9e0f-4a57-8d0e-3f1c2b4a5d6e"  # a previous run's Allure file name prefix

SUITE = '''
def test_one():
    pass

def test_two():
    pass
'''
STANDIN_CONFTEST = '''
def pytest_addoption(parser):
    try:
        parser.addoption("--hpc-run-id", default=None)
    except ValueError:
        pass
'''


@pytest.fixture
def suite(tmp_path) -> Path:
    d = tmp_path / "suite"
    d.mkdir()
    (d / "conftest.py").write_text(STANDIN_CONFTEST)
    (d / "test_tiny.py").write_text(SUITE)
    return d


def run(suite: Path, results: Path, *, keyword: str | None = None, workers: str | None = None,
        summary: Path | None = None, extra: tuple[str, ...] = ()) -> int:
    from rich.console import Console

    options = RunOptions(scenarios=suite, alluredir=results, keyword=keyword, workers=workers,
                         summary_json=summary, run_id="outputs-1",
                         pytest_args=["-p", "no:cacheprovider", "-p", "no:hpc_e2e",
                                      "-p", "no:benchmark", "-q", "-o", "addopts=",
                                      "--import-mode=importlib", "--rootdir", str(suite),
                                      *extra])
    try:
        return execute(options, out=Console(width=200, force_terminal=False, color_system=None))
    except HarnessError as exc:  # what main() turns into the exit code
        return exc.exit_code


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def owned_results(tmp_path: Path, suite: Path) -> Path:
    """A results folder with a previous run in it (and a user's files beside)."""
    results = tmp_path / "results"
    assert run(suite, results, summary=tmp_path / "summary.json") == 0
    assert (results / MARKER).is_file()
    (results / "history").mkdir()
    (results / "history" / "history-trend.json").write_text("[]")
    (results / "thesis-attachment-final.pdf").write_bytes(b"%PDF-1.7 thesis")
    (results / "executor.json").write_text('{"name": "ci"}')
    return results


# --- the reproduction from the issue ----------------------------------------------------------------
def test_a_folder_of_someone_elses_files_is_refused_and_left_untouched(tmp_path):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "thesis-attachment-final.pdf").write_bytes(b"%PDF-1.7 thesis")
    (folder / "executor.json").write_text('{"name": "mine"}')
    before = snapshot(folder)
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--alluredir", str(folder),
                           "-k", "nothing_matches"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == EXIT_OUTPUT, done.stdout + done.stderr
    assert snapshot(folder) == before
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert f"--alluredir: {folder} is not empty and was not made by hpc-e2e" in lines[0]
    assert not (tmp_path / "junit.xml").exists()


# --- an owned folder: cleaned only after collection ---------------------------------------------
@pytest.mark.parametrize("workers", [None, "2"])
@pytest.mark.parametrize("keyword, extra, code", [
    ("nothing_matches", (), 5),  # pytest: no tests collected
    (None, ("-k", "("), 4),  # pytest: usage error (past run's own -k check, via `--`)
    ("(", (), EXIT_CONFIG),  # run's own check of -k
    (None, ("--collect-only",), 0),  # collected, but nothing runs
])
def test_exit_4_and_5_leave_the_previous_results_untouched(suite, tmp_path, keyword, extra,
                                                           code, workers):
    results = owned_results(tmp_path, suite)
    junit = tmp_path / "junit.xml"
    before = snapshot(tmp_path)
    assert any(ALLURE_NAME.match(name) for name in snapshot(results))
    if workers and extra == ("-k", "("):
        code = 3  # xdist's own INTERNALERROR when its workers refuse the -k (pytest-xdist 3.8)
    assert run(suite, results, keyword=keyword, workers=workers, extra=extra,
               summary=tmp_path / "summary.json") == code
    assert snapshot(tmp_path) == before
    assert junit.is_file()


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_run_removes_only_allure_files_of_an_owned_folder(suite, tmp_path, workers):
    results = owned_results(tmp_path, suite)
    old = {p.name for p in results.iterdir() if ALLURE_NAME.match(p.name)}
    assert old
    assert run(suite, results, workers=workers) == 0
    names = {p.name for p in results.iterdir()}
    assert not old & names  # the previous run's results went
    assert {"history", "thesis-attachment-final.pdf", "executor.json", MARKER} <= names
    assert (results / "thesis-attachment-final.pdf").read_bytes() == b"%PDF-1.7 thesis"
    assert len([n for n in names if n.endswith("-result.json")]) == 2


def test_a_new_folder_is_not_even_created_when_nothing_is_collected(suite, tmp_path):
    results = tmp_path / "new" / "results"
    assert run(suite, results, keyword="nothing_matches") == 5
    assert not results.exists() and not (tmp_path / "new" / "junit.xml").exists()


def test_an_empty_folder_or_one_with_only_history_is_adopted(tmp_path):
    (tmp_path / "history").mkdir()
    check_results_dir(tmp_path)
    (tmp_path / f"{OLD}-result.json").write_text("{}")
    with pytest.raises(OutputRefused):
        check_results_dir(tmp_path)
    (tmp_path / f"{OLD}-result.json").unlink()
    assert claim_results_dir(tmp_path) == 0
    (tmp_path / f"{OLD}-result.json").write_text("{}")
    (tmp_path / f"{OLD}-attachment.txt.tmp").write_text("x")
    (tmp_path / "my-result.json").write_text("{}")
    assert claim_results_dir(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER, "history", "my-result.json"]


# --- output paths refused before the suite runs: tests/test_bad_cli.py (the catalogue) --------
def test_check_output_file_changes_nothing(tmp_path):
    check_output_file(tmp_path / "a" / "b" / "junit.xml", flag="--junitxml")
    assert list(tmp_path.iterdir()) == []
