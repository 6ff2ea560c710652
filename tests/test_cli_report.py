"""``hpc-e2e report``: which Allure command line is run, and what a user without one is told.

No Allure CLI is installed here, so the "installed" cases put a small stand-in named
``allure`` on PATH that records its arguments and writes ``index.html`` the way the real
tools do; what is tested is the harness's choice of command (python-protocol-facts.md §3),
not Allure itself.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.commands import report
from harness.errors import EXIT_CONFIG

FAKE_ALLURE = """#!{python}
import json, os, pathlib, sys
args = sys.argv[1:]
log = pathlib.Path(os.environ["FAKE_ALLURE_LOG"])
with log.open("a") as f:
    f.write(json.dumps(args) + "\\n")
if args == ["--version"]:
    print(os.environ["FAKE_ALLURE_VERSION"])
    sys.exit(0)
if os.environ.get("FAKE_ALLURE_FAIL"):
    print("Could not read results: boom", file=sys.stderr)
    sys.exit(1)
flag = "-o" if "-o" in args else "--output"
out = pathlib.Path(args[args.index(flag) + 1])
out.mkdir(parents=True, exist_ok=True)
(out / "index.html").write_text("<html>report</html>")
"""


@pytest.fixture
def results(tmp_path) -> Path:
    d = tmp_path / "allure-results"
    d.mkdir()
    (d / "0b1c-result.json").write_text(json.dumps({"name": "x", "status": "passed"}))
    return d


@pytest.fixture
def no_allure(tmp_path, monkeypatch):
    """A PATH on which no allure can be found (python itself stays reachable by path)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def fake_allure(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "allure"
    exe.write_text(FAKE_ALLURE.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "allure-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ALLURE_LOG", str(log))

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    return calls


def test_without_allure_the_user_is_told_how_to_install_one(results, tmp_path, no_allure,
                                                            capsys):
    code = main(["report", "--results", str(results), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == report.EXIT_NO_ALLURE != 0
    assert "Traceback" not in err
    assert "no `allure` on PATH" in err
    assert "npm install -g allure" in err and "allure-commandline" in err
    assert not (tmp_path / "out").exists()


def test_generate_without_allure_raises_with_the_hint(no_allure, results, tmp_path):
    with pytest.raises(report.AllureNotFound) as info:
        report.generate(results, tmp_path / "out")
    assert "npm install -g allure" in str(info.value)


def test_allure2_gets_generate_with_clean(fake_allure, results, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "2.32.0")
    out = tmp_path / "report"
    code = main(["report", "--results", str(results), "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    assert fake_allure()[-1] == ["generate", str(results), "-o", str(out), "--clean"]
    assert f"report: {out / 'index.html'}" in capsys.readouterr().out


def test_allure3_gets_awesome_and_single_file(fake_allure, results, tmp_path, monkeypatch,
                                              capsys):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "3.0.0-beta.12")
    out = tmp_path / "report"
    code = main(["report", "--results", str(results), "--output", str(out), "--single-file"])
    assert code == 0, capsys.readouterr().err
    assert fake_allure()[-1] == ["awesome", str(results), "--output", str(out), "--single-file"]
    assert (out / "index.html").is_file()


def test_a_failing_allure_is_an_error_with_its_output(fake_allure, results, tmp_path,
                                                      monkeypatch, capsys):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "2.32.0")
    monkeypatch.setenv("FAKE_ALLURE_FAIL", "1")
    code = main(["report", "--results", str(results), "--output", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code != 0
    assert "Could not read results: boom" in err and "Traceback" not in err


def test_a_tool_that_prints_no_version_is_not_taken_for_allure(fake_allure, results, tmp_path,
                                                               monkeypatch):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "usage: something else")
    with pytest.raises(report.AllureNotFound, match="did not print a version"):
        report.generate(results, tmp_path / "r")


def test_no_results_is_a_usage_error(tmp_path, capsys):
    code = main(["report", "--results", str(tmp_path / "missing")])
    assert code == EXIT_CONFIG
    assert "run `hpc-e2e run` first" in capsys.readouterr().err
