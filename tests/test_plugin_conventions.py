"""The hpc-e2e plugin as a guest in other projects' pytest runs.

Installing the package registers the plugin (entry point ``pytest11: hpc_e2e``) for every
pytest run of the venv, not only the suite's.  So it must claim no option name another
project or plugin may use (pytest-profiling registers ``--profile``; argparse refuses a
second one and pytest cannot start), and in a run whose tests use none of its fixtures it
must do nothing: start no simulated host, make no run or lease folder, write nothing into
the project's Allure results.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

# An installed checkout loads the plugin through its entry point; naming it again would
# register it twice (see conftest.py).
INSTALLED = bool(entry_points(group="pytest11", name="hpc_e2e"))
PLUGIN = () if INSTALLED else ("-p", "harness.plugin")
WITHOUT_PLUGIN = ("-p", "no:hpc_e2e") if INSTALLED else ()
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")

# The names a project of its own might register: generic words, as the plugin once did.
PROJECT_CONFTEST = '''
def pytest_addoption(parser):
    parser.addoption("--profile", action="store_true", default=False)  # as pytest-profiling
    parser.addoption("--inventory", default=None)
    parser.addoption("--bundle", default=None)
    parser.addoption("--run-id", default=None)
    parser.addoption("--keep-on-failure", action="store_true", default=False)
'''

PROJECT_TEST = '''
def test_the_project_sees_its_own_options(pytestconfig):
    assert pytestconfig.getoption("--profile") is True
    assert pytestconfig.getoption("--inventory") == "hosts.yaml"
    assert pytestconfig.getoption("--bundle") == "mine"
    assert pytestconfig.getoption("--run-id") == "r1"
    assert pytestconfig.getoption("--keep-on-failure") is True
    # the plugin's own, alongside and at their defaults
    assert pytestconfig.getoption("--hpc-profile") == "current"
    assert pytestconfig.getoption("--hpc-inventory") is None
'''


def test_a_project_registering_generic_option_names_still_starts(pytester):
    pytester.makeconftest(PROJECT_CONFTEST)
    pytester.makepyfile(test_project=PROJECT_TEST)
    result = pytester.runpytest_subprocess(
        *PLUGIN, *QUIET, "--profile", "--inventory", "hosts.yaml", "--bundle", "mine",
        "--run-id", "r1", "--keep-on-failure", timeout=120)
    # before the rename: "ValueError: option dest 'profile' already used", or a usage error
    assert result.ret == pytest.ExitCode.OK, result.stderr.str() + result.stdout.str()
    result.assert_outcomes(passed=1)


# What the plugin's controller did, recorded before its own session-end hooks stop anything.
RECORDING_CONFTEST = '''
import json
from pathlib import Path

import pytest

from harness.plugin.targets import CONTROLLER


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    controller = session.config.stash.get(CONTROLLER, None)
    Path("controller.json").write_text(json.dumps({
        "registered": controller is not None,
        "started": bool(controller is not None and controller.started),
        "sims": len(controller.sims) if controller is not None else None}))
'''

UNRELATED_TESTS = '''
def test_arithmetic():
    assert 1 + 1 == 2

def test_tmp_path(tmp_path):
    (tmp_path / "f").write_text("x")
'''


def test_the_plugin_does_nothing_in_a_run_that_uses_none_of_its_fixtures(pytester):
    pytester.makeconftest(RECORDING_CONFTEST)
    pytester.makepyfile(test_unrelated=UNRELATED_TESTS)
    basetemp = pytester.path / "basetemp"
    results = pytester.path / "project-allure"
    result = pytester.runpytest_subprocess(*PLUGIN, *QUIET, "--basetemp", str(basetemp),
                                           "--alluredir", str(results), timeout=120)
    result.assert_outcomes(passed=2)
    seen = json.loads((pytester.path / "controller.json").read_text())
    # the plugin is there (its controller object), and started nothing
    assert seen == {"registered": True, "started": False, "sims": 0}, seen
    # no run folder (with its leases, sim state and bundle) among pytest's temp folders
    # (pytest's own: the test's folder and its "current" link)
    assert sorted(p.name for p in basetemp.iterdir()) == ["test_tmp_path0",
                                                          "test_tmp_pathcurrent"]
    # the project's Allure results hold allure-pytest's own files only: not the suite's
    # environment.properties / categories.json
    assert not {"environment.properties", "categories.json"} & \
        {p.name for p in results.iterdir()}, sorted(p.name for p in results.iterdir())
    # nothing else appeared beside the project's files (no junit.xml, no results folder)
    made = sorted(p.name for p in pytester.path.iterdir()
                  # pytester's own basetemp and the subprocess' captured output
                  if not p.name.startswith("runpytest-") and p.name not in ("stdout", "stderr"))
    assert made == ["basetemp", "conftest.py", "controller.json", "project-allure",
                    "test_unrelated.py"], made
    # and it says nothing in the project's output (no report header line of its own)
    assert "hpc-e2e:" not in result.stdout.str(), result.stdout.str()


OPTION_NAMES = '''
import json
from pathlib import Path


def test_list_options(pytestconfig):
    parser = pytestconfig._parser  # pytest keeps no public list of registered options
    names = [name for group in [parser._anonymous, *parser._groups]
             for option in group.options for name in option.names()]
    dests = [option.dest for group in [parser._anonymous, *parser._groups]
             for option in group.options]
    Path("options.json").write_text(json.dumps({"names": names, "dests": dests}))
'''


def _options(pytester, *plugin: str) -> dict[str, set[str]]:
    pytester.makepyfile(test_options=OPTION_NAMES)
    result = pytester.runpytest_subprocess(*plugin, *QUIET, timeout=120)
    result.assert_outcomes(passed=1)
    data = json.loads((pytester.path / "options.json").read_text())
    return {key: set(values) for key, values in data.items()}


def test_every_option_the_plugin_registers_is_namespaced(pytester):
    with_plugin = _options(pytester, *PLUGIN)
    without = _options(pytester, *WITHOUT_PLUGIN)
    added = with_plugin["names"] - without["names"]
    assert "--hpc-inventory" in added  # the comparison sees the plugin at all
    assert sorted(n for n in added if not n.startswith("--hpc-")) == []
    dests = with_plugin["dests"] - without["dests"]
    assert sorted(d for d in dests if not d.startswith("hpc_")) == []


def test_the_plugin_spells_each_option_as_hpc_plus_the_clis():
    """One rule shared by ``hpc-e2e run`` and the plugin: ``--hpc-`` + the CLI's spelling,
    and ``run`` passes each on under that name."""
    from harness.cli import build_parser
    from harness.commands.run import RunOptions, build_pytest_args

    run_parser = next(action for action in build_parser()._actions
                      if getattr(action, "choices", None) and "run" in action.choices
                      ).choices["run"]
    cli = {name for action in run_parser._actions for name in action.option_strings}
    shared = ["--inventory", "--host", "--bundle", "--profile", "--keep-on-failure",
              "--run-id", "--sim-hosts", "--sim-flavor", "--sim-build", "--sim-faults",
              "--sim-latency", "--lease-dir", "--lease-timeout", "--provision-timeout"]
    assert set(shared) <= cli
    argv = build_pytest_args(RunOptions(
        scenarios="s", inventory="i.toml", hosts=("a", "b"), bundle="b.toml", profile="p",
        keep_on_failure=True, run_id="r", lease_dir="l", lease_timeout=5.0,
        provision_timeout=6.0))
    sim_argv = build_pytest_args(RunOptions(
        scenarios="s", sim_hosts=2, sim_flavor="current", sim_build=26100,
        sim_faults="rate=0.1", sim_latency="realistic"))
    passed = {a for a in argv + sim_argv if a.startswith("--") and a not in
              ("--alluredir", "--junitxml")}
    assert passed == {"--hpc-" + flag[2:] for flag in shared}
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--hpc-host"] == ["a", "b"]


@pytest.mark.parametrize("hosts", [["sim-1,sim-2"], ["sim-2", "sim-1"], ["sim-1", "sim-2,sim-1"]])
def test_hpc_host_is_repeatable_and_takes_a_comma_list(hosts):
    from harness.plugin.options import _names

    assert set(_names(hosts)) == {"sim-1", "sim-2"} and len(_names(hosts)) == 2
