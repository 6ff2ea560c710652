"""``hpc-e2e report``: which Allure command line is run, and what a user without one is told.

Most cases put a small stand-in named ``allure`` on PATH that records its arguments (and the
config file it is handed) and writes ``index.html`` the way the real tools do; what they test
is the harness's choice of command (docs/behaviour/protocols.md §3).  When a real Allure is on
PATH, one more case builds a report with it and checks that the harness's failure
categories reach the report, which is where the two tools differ (harness/commands/report.py).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.commands import report
from harness.errors import EXIT_CONFIG
from harness.plugin import categories

FAKE_ALLURE = """#!{python}
import json, os, pathlib, sys
args = sys.argv[1:]
log = pathlib.Path(os.environ["FAKE_ALLURE_LOG"])
with log.open("a") as f:
    f.write(json.dumps(args) + "\\n")
if "--config" in args:
    config = pathlib.Path(args[args.index("--config") + 1])
    pathlib.Path(os.environ["FAKE_ALLURE_LOG"] + ".config").write_text(config.read_text())
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
    assert fake_allure()[-1] == ["generate", str(results), "-o", str(out), "--clean",
                                 "--report-name", "hpc-e2e"]
    assert f"report: {out / 'index.html'}" in capsys.readouterr().out


def test_allure3_gets_awesome_and_single_file(fake_allure, results, tmp_path, monkeypatch,
                                              capsys):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "3.0.0-beta.12")
    out = tmp_path / "report"
    code = main(["report", "--results", str(results), "--output", str(out), "--single-file"])
    assert code == 0, capsys.readouterr().err
    assert fake_allure()[-1] == ["awesome", str(results), "--output", str(out),
                                 "--report-name", "hpc-e2e", "--single-file"]
    assert (out / "index.html").is_file()


ENVIRONMENT = """bundle=hpc-e2e-sim
bundle.containerd=1.7.22 sha256:{0}
bundle.containerd-shim-runhcs-v1=0.15.0 sha256:{0}
run.id=20261206-120437-b91c9e
""".format("a" * 64)


@pytest.mark.parametrize(("version", "named"), [("2.25.0", False), ("2.26.0", True),
                                                ("3.18.0", True)])
def test_the_report_is_titled_with_the_run_and_the_runtime(fake_allure, results, tmp_path,
                                                           monkeypatch, version, named):
    """Not "Allure Report" (issue 13); Allure 2 takes a name from 2.26 on."""
    (results / "environment.properties").write_text(ENVIRONMENT)
    monkeypatch.setenv("FAKE_ALLURE_VERSION", version)
    assert main(["report", "--results", str(results), "--output", str(tmp_path / "r")]) == 0
    argv = fake_allure()[-1]
    title = "hpc-e2e run 20261206-120437-b91c9e: containerd 1.7.22, runhcs shim 0.15.0"
    assert (argv[argv.index("--report-name") + 1] if "--report-name" in argv else None) == \
        (title if named else None)


@pytest.fixture
def with_categories(results) -> list[dict]:
    rules = categories.categories()
    (results / "categories.json").write_text(json.dumps(rules))
    return rules


def test_allure3_gets_the_categories_in_a_config_file(fake_allure, results, with_categories,
                                                      tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "3.18.0")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "report"
    code = main(["report", "--results", str(results), "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    argv = fake_allure()[-1]
    assert argv[:4] == ["awesome", str(results), "--output", str(out)]
    config = Path(argv[argv.index("--config") + 1])
    seen = json.loads(Path(os.environ["FAKE_ALLURE_LOG"] + ".config").read_text())
    assert seen == {"categories": with_categories}
    assert not config.exists()  # a scratch file, gone with the run


def test_allure3_keeps_the_users_own_config(fake_allure, results, with_categories, tmp_path,
                                            monkeypatch):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "3.18.0")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "allurerc.yml").write_text("name: lab\n")
    report.generate(results, tmp_path / "report")
    assert "--config" not in fake_allure()[-1]


def test_allure2_reads_the_categories_itself(fake_allure, results, with_categories, tmp_path,
                                             monkeypatch):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "2.46.1")
    out = tmp_path / "report"
    report.generate(results, out)
    assert fake_allure()[-1] == ["generate", str(results), "-o", str(out), "--clean",
                                 "--report-name", "hpc-e2e"]


def test_an_earlier_report_is_replaced_not_built_beside(fake_allure, results, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "3.18.0")
    out = tmp_path / "report"
    (out / "data").mkdir(parents=True)
    (out / "index.html").write_text("<html>last run</html>")
    (out / "data" / "old.json").write_text("{}")
    assert report.generate(results, out) == out / "index.html"
    assert (out / "index.html").read_text() == "<html>report</html>"
    assert not (out / "data").exists()


def test_a_folder_that_is_not_a_report_is_left_alone(fake_allure, results, tmp_path,
                                                     monkeypatch, capsys):
    monkeypatch.setenv("FAKE_ALLURE_VERSION", "2.46.1")
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("keep me")
    code = main(["report", "--results", str(results), "--output", str(out)])
    assert code == EXIT_CONFIG
    assert "holds no Allure report" in capsys.readouterr().err
    assert (out / "todo.txt").read_text() == "keep me"
    assert not [argv for argv in fake_allure() if argv != ["--version"]]


REAL_TRACE = "Traceback ...\nAssertionError: whoami printed local service\n" \
             "---- hpc-e2e ----\nhpc-e2e failure class: runtime regression\n"


@pytest.mark.skipif(shutil.which("allure") is None and not os.environ.get("CI"),
                    reason="no Allure command line on PATH (.ci/run installs one)")
def test_a_real_allure_shows_the_harness_categories(tmp_path, monkeypatch):
    assert shutil.which("allure"), "CI must run this test: .ci/run installs Allure 2 by npm"
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "allure-results"
    results.mkdir()
    (results / "categories.json").write_text(json.dumps(categories.categories()))
    (results / "environment.properties").write_text(ENVIRONMENT)
    for n, (status, details) in enumerate([
            ("failed", {"message": "AssertionError: whoami", "trace": REAL_TRACE}),
            ("skipped", {"message": "host sim-1 has no CNI pod network"}),
            ("passed", {})]):
        (results / f"00000000-0000-0000-0000-00000000000{n}-result.json").write_text(json.dumps(
            {"uuid": f"00000000-0000-0000-0000-00000000000{n}", "historyId": str(n),
             "name": f"test_{status}", "fullName": f"scenarios.t#test_{status}",
             "status": status, "statusDetails": details, "start": 1000, "stop": 2000,
             "labels": [{"name": "suite", "value": "t"}]}))
    report.generate(results, tmp_path / "report")
    (results / "categories.json").write_text(json.dumps(categories.categories()[:1]))
    index = report.generate(results, tmp_path / "report")  # over the first: replaced
    assert index.is_file() and not (index.parent / "awesome").exists()
    widget = (index.parent / "widgets" / "categories.json").read_text()
    assert "runtime regression" in widget, widget[:500]
    assert "skipped: prerequisites" not in widget, "the first report is still there"
    assert "Product errors" not in widget and "Product defects" not in widget
    summary = json.loads((index.parent / "widgets" / "summary.json").read_text())
    assert summary["reportName"] == ("hpc-e2e run 20261206-120437-b91c9e: containerd 1.7.22, "
                                     "runhcs shim 0.15.0")


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
