"""``hpc-e2e run``: the pytest command line it builds, its option checks, the summary table.

The argv tests replace ``pytest.main`` (``harness.commands.run.pytest_main``) and look at
what it would have been given.  The summary tests run a small synthetic suite through a
real nested ``pytest.main`` (with and without xdist), so the table is checked against the
reports pytest really produces.  The end-to-end test runs the scenario suite itself
against the simulated host in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import harness
from harness.cli import main
from harness.commands import run as run_mod
from harness.commands.run import RunOptions, execute
from harness.commands.summary import crash_line, split_nodeid
from harness.errors import EXIT_CONFIG

REPO = Path(harness.__file__).resolve().parents[1]


@pytest.fixture
def fake_pytest(monkeypatch):
    """Record pytest.main's argv (and the results dir's files at that moment)."""
    calls: list[dict] = []

    def fake(argv, plugins):
        alluredir = Path(argv[argv.index("--alluredir") + 1])
        calls.append({"argv": list(argv), "plugins": plugins,
                      "files": sorted(p.name for p in alluredir.iterdir())
                      if alluredir.is_dir() else None})
        return fake.exit_code

    fake.exit_code = 0
    monkeypatch.setattr(run_mod, "pytest_main", fake)
    fake.calls = calls
    return fake


def value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# --- the pytest command line ------------------------------------------------------------------
def test_sim_run_argv(fake_pytest, tmp_path, capsys):
    results = tmp_path / "ar"
    fake_pytest.exit_code = 1
    code = main(["run", "-k", "identity and not slow", "-m", "not serial", "-n", "2",
                 "--sim-flavor", "pre-fix", "--sim-hosts", "2", "--sim-build", "20348",
                 "--alluredir", str(results), "--", "-x", "--tb=short"])
    assert code == 1  # pytest's exit code
    (call,) = fake_pytest.calls
    argv = call["argv"]
    assert argv[0] == str(REPO / "scenarios")
    assert value(argv, "--alluredir") == str(results.resolve())
    # staged privately, moved beside the results once a scenario was collected (outputs.py)
    assert Path(value(argv, "--junitxml")).name == "junit.xml"
    assert run_mod.build_pytest_args(RunOptions(alluredir=results))[4] == \
        str((tmp_path / "junit.xml").resolve())
    assert value(argv, "-k") == "identity and not slow"
    assert value(argv, "-m") == "not serial"
    assert value(argv, "-n") == "2"
    assert value(argv, "--hpc-sim-flavor") == "pre-fix"
    assert value(argv, "--hpc-sim-hosts") == "2"
    assert value(argv, "--hpc-sim-build") == "20348"
    assert argv[-2:] == ["-x", "--tb=short"]
    assert "--clean-alluredir" not in argv  # the wrapper cleans (docs/behaviour/protocols.md §3)
    assert "--hpc-inventory" not in argv
    run_id = value(argv, "--hpc-run-id")
    assert f"run id {run_id}" in capsys.readouterr().out
    assert [type(p).__name__ for p in call["plugins"]] == ["SummaryCollector", "ResultsClaim"]


def test_inventory_run_argv_has_absolute_paths(fake_pytest, tmp_path, monkeypatch):
    from harness.sim.bundle import write_sim_bundle

    monkeypatch.chdir(tmp_path)
    # run reads all three before pytest starts (a bad one is refused with exit 78).
    Path("lab.toml").write_text('[hosts.lab1]\ntransport = "local"\n'
                                '[hosts.lab2]\ntransport = "local"\n')
    assert write_sim_bundle(tmp_path) == tmp_path / "bundle.toml"
    Path("my-profile.toml").write_text('[profile]\nextends = "current"\n')
    code = main(["run", "--inventory", "lab.toml", "--host", "lab1", "--host", "lab2",
                 "--host", "lab1", "--bundle", "bundle.toml", "--profile", "my-profile.toml",
                 "--keep-on-failure", "--run-id", "nightly-7", "--lease-dir", "leases",
                 "--lease-timeout", "90", "--junitxml", "out/j.xml"])
    assert code == 0
    argv = fake_pytest.calls[0]["argv"]
    assert value(argv, "--hpc-inventory") == str(tmp_path / "lab.toml")
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--hpc-host"] == ["lab1", "lab2"]
    assert value(argv, "--hpc-bundle") == str(tmp_path / "bundle.toml")
    assert value(argv, "--hpc-profile") == str(tmp_path / "my-profile.toml")
    assert value(argv, "--hpc-run-id") == "nightly-7"
    assert value(argv, "--hpc-lease-dir") == str(tmp_path / "leases")
    assert value(argv, "--hpc-lease-timeout") == "90"
    assert run_mod.build_pytest_args(RunOptions(junitxml=Path("out/j.xml")))[4] == \
        str(tmp_path / "out" / "j.xml")  # execute() stages it, then moves it there
    assert "--hpc-keep-on-failure" in argv
    # one output folder by default (issue 13): results, JUnit XML and summary under it
    assert value(argv, "--alluredir") == str(tmp_path / "hpc-e2e-results" / "allure-results")
    assert value(argv, "--junitxml") != str(tmp_path / "junit.xml")  # staged, then moved


def test_a_named_profile_and_a_flavor_file_pass_as_given_or_absolute(fake_pytest, tmp_path,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("flavor.py").write_text("from harness.sim.cri.flavors import Flavor\n"
                                 "class Mine(Flavor):\n    name = 'mine'\nFLAVOR = Mine()\n")
    assert main(["run", "--profile", "current", "--sim-flavor", "flavor.py"]) == 0
    argv = fake_pytest.calls[0]["argv"]
    assert value(argv, "--hpc-profile") == "current"
    assert value(argv, "--hpc-sim-flavor") == str(tmp_path / "flavor.py")


def test_the_run_id_is_printed_before_pytest_starts(monkeypatch, tmp_path, capsys):
    # A run killed at any point (SIGKILL) has said which id `hpc-e2e clean --run-id` takes.
    printed = []
    monkeypatch.setattr(run_mod, "pytest_main",
                        lambda argv, plugins: printed.append(capsys.readouterr().out) or 0)
    assert main(["run", "--alluredir", str(tmp_path / "ar"), "--run-id", "rid-7"]) == 0
    assert printed[0].startswith("run id rid-7 (`hpc-e2e clean --run-id rid-7`")


def test_nothing_is_touched_before_pytest_runs(fake_pytest, tmp_path):
    results = tmp_path / "ar"
    assert main(["run", "--alluredir", str(results)]) == 0
    assert fake_pytest.calls[0]["files"] is None  # not even created: pytest collected nothing
    assert not results.exists()


@pytest.mark.parametrize("args, message", [
    (["--host", "lab1"], "--host selects hosts from an inventory"),
    (["--inventory", "INVENTORY", "--sim-flavor", "pre-fix"], "--sim-flavor only apply"),
    (["--inventory", "INVENTORY", "--sim-hosts", "2"], "--sim-hosts only apply"),
    (["--inventory", "missing.toml"], "--inventory: missing.toml does not exist"),
    (["--sim-flavor", "nightly"], "unknown runtime flavor 'nightly'"),
    (["--sim-flavor", "nope.py"], "--sim-flavor: nope.py does not exist"),
    (["--sim-flavor", "BROKEN"], "failed to import"),
    (["--sim-hosts", "0"], "--sim-hosts: 0 is not a number of hosts"),
    (["-n", "many"], "-n: 'many' is not a number of workers"),
    (["--lease-timeout", "0"], "--lease-timeout: 0 is not a positive number"),
    (["--single-file"], "--single-file shapes the HTML report; add --report"),
])
def test_option_errors_stop_before_pytest(fake_pytest, tmp_path, capsys, args, message):
    inventory = tmp_path / "lab.toml"
    inventory.write_text("")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no')\n")
    args = [str(inventory) if a == "INVENTORY" else str(broken) if a == "BROKEN" else a
            for a in args]
    code = main(["run", "--alluredir", str(tmp_path / "ar"), *args])
    assert code == EXIT_CONFIG
    assert message in capsys.readouterr().err
    assert fake_pytest.calls == []
    assert not (tmp_path / "ar").exists()


def test_arguments_after_double_dash_are_for_run_only(capsys):
    with pytest.raises(SystemExit):
        main(["doctor", "--", "-x"])
    assert "passed to pytest by `hpc-e2e run` only" in capsys.readouterr().err


def test_without_the_suite_beside_the_package_a_clear_error(fake_pytest, tmp_path,
                                                            monkeypatch, capsys):
    fake_pkg = tmp_path / "site-packages" / "harness"
    fake_pkg.mkdir(parents=True)
    monkeypatch.setattr(harness, "__file__", str(fake_pkg / "__init__.py"))
    code = main(["run", "--alluredir", str(tmp_path / "ar")])
    err = capsys.readouterr().err
    assert code == EXIT_CONFIG and "Traceback" not in err
    assert "scenario suite is not here" in err and "--scenarios" in err
    assert fake_pytest.calls == []


# --- the summary, from real pytest reports ----------------------------------------------
SUITE = '''
import pytest

class HostGone(Exception):
    """Stands in for a harness error: not an AssertionError."""

@pytest.fixture
def broken_host():
    raise HostGone("winrm: cannot connect to https://lab1:5986/wsman")

@pytest.mark.parametrize("isolation", ["process", "hyperv"])
def test_runs_as_system(isolation):
    assert isolation

@pytest.mark.parametrize("isolation", ["process", "hyperv"])
def test_hostname_matches(isolation):
    assert isolation == "process", f"hostname was SIMHOST-UVM in {isolation}"

@pytest.mark.parametrize("user", ["a", "b"])
@pytest.mark.parametrize("isolation", ["process"])
def test_user(isolation, user):
    pass

def test_needs_host(broken_host):
    pass

@pytest.mark.parametrize("isolation", ["hyperv"])
def test_uvm_only(isolation):
    pytest.skip("host sim-1 build 20348 has no HPC-in-UVM support (needs 26100)")

@pytest.mark.xfail(reason="known shim bug")
def test_known_bug():
    assert False
'''

# The synthetic runs block the hpc-e2e plugin (``-p no:hpc_e2e``: no simulated hosts for a
# suite that needs none) and stand in for the one option `run` always passes.
STANDIN_CONFTEST = '''
def pytest_addoption(parser):
    try:
        parser.addoption("--hpc-run-id", default=None)
    except ValueError:
        pass
'''


@pytest.fixture
def suite(tmp_path) -> Path:
    d = tmp_path / "synthetic_suite"
    d.mkdir()
    (d / "conftest.py").write_text(STANDIN_CONFTEST)
    (d / "test_synthetic_outcomes.py").write_text(SUITE)
    return d


def run_suite(suite: Path, tmp_path: Path, capsys, pytest_args_extra=(), **kw
              ) -> tuple[int, str, dict]:
    """Run the synthetic suite; (exit code, stdout, summary JSON).  stderr stays in
    ``capsys.last_err``."""
    from rich.console import Console

    summary = tmp_path / "summary.json"
    options = RunOptions(scenarios=suite, alluredir=tmp_path / "results",
                         summary_json=summary, run_id="synthetic-1",
                         pytest_args=["-p", "no:cacheprovider", "-p", "no:hpc_e2e",
                                      "-p", "no:benchmark", "-q", "-o", "addopts=",
                                      "--import-mode=importlib", "--rootdir", str(suite),
                                      *pytest_args_extra],
                         **kw)
    console = Console(width=200, force_terminal=False, color_system=None)
    code = execute(options, out=console)
    captured = capsys.readouterr()
    capsys.last_err = captured.err
    return code, captured.out, (json.loads(summary.read_text()) if summary.is_file() else {})


EXPECTED = {
    # nodeid tail -> (scenario, isolation, outcome, exception class)
    "test_runs_as_system[process]": ("test_runs_as_system", "process", "passed", ""),
    "test_runs_as_system[hyperv]": ("test_runs_as_system", "hyperv", "passed", ""),
    "test_hostname_matches[process]": ("test_hostname_matches", "process", "passed", ""),
    "test_hostname_matches[hyperv]": ("test_hostname_matches", "hyperv", "failed",
                                      "AssertionError"),
    "test_user[process-a]": ("test_user[a]", "process", "passed", ""),
    "test_user[process-b]": ("test_user[b]", "process", "passed", ""),
    "test_needs_host": ("test_needs_host", "", "error", "HostGone"),
    "test_uvm_only[hyperv]": ("test_uvm_only", "hyperv", "skipped", ""),
    "test_known_bug": ("test_known_bug", "", "xfailed", ""),
}


def check_summary(data: dict) -> None:
    rows = {r["nodeid"].split("::")[-1]: r for r in data["scenarios"]}
    assert set(rows) == set(EXPECTED)
    for tail, (scenario, isolation, outcome, cls) in EXPECTED.items():
        row = rows[tail]
        assert (row["scenario"].split("::")[-1], row["isolation"], row["outcome"],
                row["exception"]) == (scenario, isolation, outcome, cls), row
        assert row["failure_class"] == ""  # the hpc-e2e plugin, which classifies, is off
    assert rows["test_hostname_matches[hyperv]"]["message"] == \
        "hostname was SIMHOST-UVM in hyperv"
    assert rows["test_needs_host"]["message"] == \
        "winrm: cannot connect to https://lab1:5986/wsman"
    assert "build 20348 has no HPC-in-UVM support" in rows["test_uvm_only[hyperv]"]["message"]
    assert rows["test_known_bug"]["message"] == "known shim bug"
    assert data["totals"] == {"passed": 5, "failed": 1, "error": 1, "interrupted": 0,
                              "skipped": 1, "xfailed": 1, "xpassed": 0}
    assert all(r["duration"] >= 0 for r in rows.values())


def test_the_summary_table_and_exit_code(suite, tmp_path, capsys):
    code, out, data = run_suite(suite, tmp_path, capsys, all_rows=True)
    assert code == 1  # pytest's: tests failed
    check_summary(data)
    assert data["run_id"] == "synthetic-1" and data["exit_code"] == 1
    table = out[out.index("hpc-e2e scenarios"):]
    line = next(x for x in table.splitlines() if "test_hostname_matches" in x and "hyperv" in x)
    assert "failed" in line and "AssertionError: hostname was SIMHOST-UVM in hyperv" in line
    line = next(x for x in table.splitlines() if "test_needs_host" in x)
    assert "error" in line and "HostGone: winrm: cannot connect" in line
    assert "5 passed, 1 failed, 1 error, 1 skipped, 1 xfailed in" in table
    assert "test_user[a]" in table and "test_user[b]" in table  # ids are not rich markup
    assert "run id synthetic-1" in table
    assert (tmp_path / "junit.xml").is_file()
    assert list((tmp_path / "results").glob("*-result.json")), "allure-pytest wrote nothing"


def test_the_summary_under_xdist(suite, tmp_path, capsys):
    code, _, data = run_suite(suite, tmp_path, capsys, workers="2")
    assert code == 1
    check_summary(data)


def test_a_passing_run_exits_zero(suite, tmp_path, capsys):
    code, out, data = run_suite(suite, tmp_path, capsys, keyword="runs_as_system")
    assert code == 0
    assert data["totals"]["passed"] == 2 and sum(data["totals"].values()) == 2
    assert "2 passed in" in out


def test_no_scenario_selected_is_pytests_exit_5(suite, tmp_path, capsys):
    code, out, data = run_suite(suite, tmp_path, capsys, keyword="runs_as_system")
    assert code == 0
    summary = (tmp_path / "summary.json").read_text()
    code, out, _ = run_suite(suite, tmp_path, capsys, keyword="no_such_scenario")
    assert code == 5
    assert "no scenarios ran" in out and "were left as they were" in out
    assert (tmp_path / "summary.json").read_text() == summary  # the previous run's


def test_a_scenario_module_that_does_not_import_is_an_error_row(suite, tmp_path, capsys):
    (suite / "test_synthetic_broken.py").write_text("INHERIT = {UNDEFINED_NAME: 'true'}\n")
    code, out, data = run_suite(suite, tmp_path, capsys)
    assert code == 2  # pytest: interrupted by collection errors
    (row,) = [r for r in data["scenarios"] if "broken" in r["nodeid"]]
    assert row["outcome"] == "error" and row["exception"] == "NameError"
    assert "UNDEFINED_NAME" in row["message"]
    assert "1 error in" in out


def test_report_without_allure_says_how_to_get_one(suite, tmp_path, capsys, monkeypatch):
    from harness.commands.report import EXIT_NO_ALLURE

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, _, _ = run_suite(suite, tmp_path, capsys, keyword="runs_as_system", report=True)
    assert code == EXIT_NO_ALLURE  # the run passed; the report asked for could not be built
    assert "npm install -g allure" in capsys.last_err
    assert "Traceback" not in capsys.last_err


@pytest.mark.parametrize("nodeid, expected", [
    ("scenarios/test_identity.py::test_x[process]", ("test_identity.py::test_x", "process")),
    ("scenarios/test_identity.py::test_x[hyperv-SYSTEM]",
     ("test_identity.py::test_x[SYSTEM]", "hyperv")),
    ("scenarios/test_a.py::test_y", ("test_a.py::test_y", "")),
    ("scenarios/test_a.py::test_y[a-b]", ("test_a.py::test_y[a-b]", "")),
    ("other/test_a.py::C::test_z[process]", ("other/test_a.py::C::test_z", "process")),
])
def test_split_nodeid(nodeid, expected):
    assert split_nodeid(nodeid) == expected


def test_crash_line_of_a_dotted_exception():
    class Crash:
        message = "harness.cri.errors.CriStageError: crictl start failed: boom\nmore"

    class Report:
        longrepr = type("R", (), {"reprcrash": Crash()})()

    assert crash_line(Report()) == ("CriStageError", "crictl start failed: boom")


# --- --sim-flavor on the other verbs ------------------------------------------------------------
def test_sim_serve_passes_the_flavor(monkeypatch, tmp_path):
    import harness.sim.host as host_mod

    seen = {}
    monkeypatch.setattr(host_mod, "serve", lambda state_dir, **kw: seen.update(kw) or 0)
    assert main(["sim", "serve", "--state-dir", str(tmp_path), "--sim-flavor",
                 "no-capability"]) == 0
    assert seen["flavor"] == "no-capability"


def test_sim_serve_refuses_an_unknown_flavor(monkeypatch, tmp_path, capsys):
    import harness.sim.host as host_mod

    monkeypatch.setattr(host_mod, "serve", lambda *a, **kw: pytest.fail("served anyway"))
    assert main(["sim", "serve", "--state-dir", str(tmp_path), "--sim-flavor", "x"]) == \
        EXIT_CONFIG
    assert "unknown runtime flavor 'x'" in capsys.readouterr().err


def test_provision_starts_the_sim_with_the_flavor(monkeypatch, tmp_path, capsys):
    import harness.sim.host as host_mod

    flavors = []
    real_init = host_mod.SimHost.__init__

    def recording_init(self, *args, **kw):
        flavors.append(kw.get("flavor"))
        real_init(self, *args, **kw)

    monkeypatch.setattr(host_mod.SimHost, "__init__", recording_init)
    code = main(["provision", "--json", "--sim-state-dir", str(tmp_path / "s"),
                 "--sim-flavor", "pre-fix"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data
    assert flavors == ["pre-fix"]
    assert data["hosts"][0]["runtime"]["runtime_ready"] is True


def test_provision_flavor_and_inventory_exclude_each_other(tmp_path, capsys):
    inventory = tmp_path / "lab.toml"
    inventory.write_text("")
    code = main(["provision", "--inventory", str(inventory), "--sim-flavor", "pre-fix"])
    assert code == EXIT_CONFIG
    assert "--sim-flavor applies to the simulated host" in capsys.readouterr().err


# --- end to end: the scenario suite against the simulated host ------------------------------------
SCENARIO = "test_pod_inherit_user_runs_as_system"  # scenarios/test_identity.py, both isolations


def _plugin_args() -> list[str]:
    """Load the plugin explicitly only when neither its entry point nor the checkout's
    conftest.py does (a checkout used without ``pip install -e .``)."""
    from importlib.metadata import entry_points

    if any(ep.name == "hpc_e2e" for ep in entry_points(group="pytest11")) or \
            (REPO / "conftest.py").is_file():
        return []
    return ["-p", "harness.plugin"]


def run_cli(tmp_path: Path, *args: str) -> tuple[int, str, dict]:
    import subprocess
    import sys

    env = dict(os.environ, COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", *args,
         "--", *_plugin_args(), "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    summary = tmp_path / "hpc-e2e-results" / "summary.json"  # the default output folder
    assert summary.is_file(), output
    return done.returncode, output, json.loads(summary.read_text())


def test_run_against_the_sim_passes_and_writes_results(tmp_path):
    code, out, data = run_cli(tmp_path, "-k", SCENARIO)
    assert code == 0, out
    rows = {r["isolation"]: r for r in data["scenarios"]}
    assert set(rows) == {"process", "hyperv"}
    assert all(r["outcome"] == "passed" and SCENARIO in r["scenario"] for r in rows.values())
    assert "2 passed in" in out
    assert "hpc-e2e scenarios" not in out  # nothing needs attention: no table, the counts
    assert "warning" not in out.lower(), out  # a clean install runs quietly (issue 13)
    out_dir = tmp_path / "hpc-e2e-results"
    assert len(list((out_dir / "allure-results").glob("*-result.json"))) == 2
    assert (out_dir / "junit.xml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hpc-e2e-results"]  # nothing else
    # The report names what a runtime engineer looks for (issue 13): the host under test,
    # not the controller's name; the bundle's name and hashes, not a temporary path.
    for path in (out_dir / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        assert [lb["value"] for lb in result["labels"] if lb["name"] == "host"] == ["sim-1"]
    env = dict(line.split("=", 1) for line in
               (out_dir / "allure-results" / "environment.properties").read_text().splitlines())
    assert env["bundle"] == "hpc-e2e-sim", env
    assert re.fullmatch(r"1\.7\.22 sha256:[0-9a-f]{64}", env["bundle.containerd"]), env
    assert not any("/tmp" in value or "pytest-of" in value for value in env.values()), env


def test_run_against_a_regressed_runtime_fails_with_pytests_exit_code(tmp_path):
    # The pre-fix shim runs a hypervisor pod's HPC on the host (harness/sim/cri/flavors.py).
    code, out, data = run_cli(tmp_path, "-k", SCENARIO, "--sim-flavor", "pre-fix")
    assert code == 1, out
    rows = {r["isolation"]: r for r in data["scenarios"]}
    assert rows["process"]["outcome"] == "passed"
    assert rows["hyperv"]["outcome"] == "failed"
    assert rows["hyperv"]["failure_class"] == "runtime regression"  # the harness's class
    assert rows["hyperv"]["exception"] == "AssertionError"
    assert "hpc-e2e scenarios: failures" in out and "(runtime regression)" in out
    assert "1 passed, 1 failed in" in out


def test_summary_messages_are_redacted():
    from types import SimpleNamespace

    from harness.commands.summary import crash_line
    from harness.config.secrets import Secret

    Secret("summary-canary-Pa55")
    report = SimpleNamespace(longrepr=SimpleNamespace(reprcrash=SimpleNamespace(
        message="AssertionError: login with summary-canary-Pa55 failed")))
    cls, message = crash_line(report)
    assert cls == "AssertionError" and "summary-canary-Pa55" not in message
    skipped = SimpleNamespace(longrepr=("x.py", 1, "Skipped: host summary-canary-Pa55 down"))
    assert "summary-canary-Pa55" not in crash_line(skipped)[1]


# A Ctrl-C at a known point: the test raises KeyboardInterrupt itself, as Python's SIGINT
# handler would in the middle of it (harness/plugin/interrupts.py).
INTERRUPTED_SUITE = '''
import pytest

def test_done_before():
    pass

def test_cut_short():
    raise KeyboardInterrupt

def test_never_started():
    pass
'''


def test_an_interrupted_test_is_reported_interrupted_not_passed(tmp_path, capsys):
    """Before: the table, JUnit and Allure showed the running test as passed (issue 13)."""
    suite = tmp_path / "interrupted_suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(STANDIN_CONFTEST)
    (suite / "test_interrupted.py").write_text(INTERRUPTED_SUITE)
    code, out, data = run_suite(suite, tmp_path, capsys, all_rows=True,
                                pytest_args_extra=["-p", "harness.plugin.interrupts"])
    assert code == 130  # interrupted (pytest says 2, which also means collection errors)
    rows = {r["nodeid"].split("::")[-1]: r for r in data["scenarios"]}
    assert rows["test_done_before"]["outcome"] == "passed"
    assert rows["test_cut_short"]["outcome"] == "interrupted", rows["test_cut_short"]
    assert "interrupted" in rows["test_cut_short"]["message"]
    assert "test_never_started" not in rows
    assert data["totals"]["interrupted"] == 1 and data["totals"]["passed"] == 1
    assert data["interrupted"] is True
    assert "run interrupted: 1 passed, 1 interrupted" in out
    junit = (tmp_path / "junit.xml").read_text()
    case = junit[junit.index('name="test_cut_short"'):]
    case = case[:case.index("</testcase>")]
    assert "<failure" in case or "<error" in case, case
    statuses = {}
    for path in (tmp_path / "results").glob("*-result.json"):
        result = json.loads(path.read_text())
        statuses[result["name"]] = result["status"]
    assert statuses.get("test_cut_short") not in (None, "passed"), statuses


def test_non_hostprocess_pods_get_a_network_on_the_default_simulated_host(tmp_path):
    """Deploy writes the nat CNI config from the host's HNS nat network when the bundle
    ships the nat plugin (the default sim bundle does), so these scenarios run instead of
    skipping (issue 13: no skips on the simulated host by default)."""
    code, out, data = run_cli(tmp_path, "-k", "hostprocess_annotation_True_does_not_make_an_hpc")
    assert code == 0, out
    outcomes = [r["outcome"] for r in data["scenarios"]]
    assert outcomes == ["passed", "passed"], data["scenarios"]


def test_the_summary_reads_at_80_columns_and_shows_only_what_needs_attention(suite, tmp_path,
                                                                             capsys):
    """A five-column table folds every cell mid-word at 80 columns (issue 13): a narrow
    terminal gets one block per failure instead, and passing rows only on request."""
    from rich.console import Console

    from harness.commands.summary import ScenarioResult, SummaryCollector

    run_suite(suite, tmp_path, capsys)
    data = json.loads((tmp_path / "summary.json").read_text())
    collector = SummaryCollector()
    for row in data["scenarios"]:
        collector.results[row["nodeid"]] = ScenarioResult(
            row["nodeid"], row["scenario"], row["isolation"], outcome=row["outcome"],
            exception=row["exception"], message=row["message"])
    console = Console(width=80, force_terminal=False, color_system=None, record=True)
    collector.render(console)
    text = console.export_text()
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines), text
    assert any(line.startswith("FAILED  test_synthetic_outcomes.py::test_hostname_matches")
               for line in lines), text
    assert "hostname was SIMHOST-UVM in hyperv" in text
    assert "test_runs_as_system" not in text  # passed: not listed by default
    assert lines[-1].startswith("5 passed, 1 failed, 1 error")
