"""``hpc-e2e run``: the scenario suite through pytest, a summary table, optionally the report.

The verb is a thin wrapper: it turns its options into a pytest command line for the
``hpc-e2e`` plugin (docs/internals.md "The suite"), calls ``pytest.main`` in this process
with :class:`~harness.commands.summary.SummaryCollector` attached, prints the table and
exits with pytest's own exit code, so a CI job can treat ``hpc-e2e run`` like ``pytest``.
With no inventory the plugin starts the simulated hosts itself.

Three things are done here rather than by pytest options, on purpose:

* output paths are checked before pytest starts and changed only after pytest has accepted
  its arguments and collected at least one scenario (harness/plugin/outputs.py): the
  results folder must be new, empty or marked as hpc-e2e's, and only Allure's own files
  are removed from it, from the collection hook, not with ``--clean-alluredir`` (which
  every xdist worker runs again in its own ``pytest_configure``, racing, and which removes
  the whole folder; docs/behaviour/protocols.md §3).  JUnit XML is written to a private
  staging file and moved into place, and ``--summary-json`` written, only when scenarios
  were collected: a bad ``-k`` (exit 4) or one that selects nothing (exit 5) leaves the
  previous run's results as they were;
* JUnit XML goes beside the results directory, not into it: Allure 2 also reads JUnit XML
  files it finds among the results, and would show every scenario twice
  (allure-framework/allure2#675);
* the run id is chosen and printed before pytest starts, so a run killed at any point
  can be cleaned up with ``hpc-e2e clean --run-id``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.markup import escape

import harness
from harness.commands import console
from harness.commands.report import generate
from harness.commands.summary import SummaryCollector
from harness.config.files import file_kind_problem
from harness.cri.spec import check_label, new_run_id
from harness.errors import EXIT_INTERRUPTED, ConfigError, HarnessError
from harness.hosts import select_hosts, sim_options
from harness.plugin.images import image_set_for
from harness.plugin.options import MAX_SECONDS, MAX_SIM_HOSTS
from harness.plugin.outputs import (OutputRefused, check_output_file, check_results_dir,
                                    claim_results_dir, previous_results)
from harness.plugin.profiles import load_profile
from harness.runtime.bundle import load_bundle

# Everything a run writes goes under one folder by default (ignored by git): the Allure
# results, JUnit XML and the summary JSON beside them, and the HTML report.
OUTPUT_DIR = Path("hpc-e2e-results")
# The suite's per-test limit in seconds: pyproject.toml's pytest ``timeout`` (tests/ share it).
SUITE_TIMEOUT = 300
DEFAULT_ALLUREDIR = OUTPUT_DIR / "allure-results"
DEFAULT_REPORT_DIR = OUTPUT_DIR / "allure-report"
_WORKERS = re.compile(r"^(?:\d+|auto|logical)\Z")


@dataclass
class RunOptions:
    """Everything ``hpc-e2e run`` passes on; ``None`` leaves the plugin's default."""

    inventory: Path | None = None
    hosts: Sequence[str] = ()
    bundle: Path | None = None
    profile: str | None = None
    keep_on_failure: bool = False
    run_id: str | None = None
    sim_hosts: int | None = None
    sim_flavor: str | None = None
    sim_build: int | None = None
    sim_faults: str | None = None  # --sim-faults SPEC (harness/sim/faults.py)
    sim_latency: str | None = None  # --sim-latency SPEC (harness/sim/latency.py)
    lease_dir: Path | None = None
    lease_timeout: float | None = None
    provision_timeout: float | None = None
    workers: str | None = None  # pytest-xdist -n
    keyword: str | None = None  # -k
    markers: str | None = None  # -m
    alluredir: Path = DEFAULT_ALLUREDIR
    junitxml: Path | None = None  # default: <alluredir's parent>/junit.xml
    report: bool = False
    report_dir: Path = DEFAULT_REPORT_DIR
    single_file: bool = False
    summary_json: Path | None = None
    all_rows: bool = False  # the table shows every scenario, not only those needing attention
    pytest_args: Sequence[str] = ()
    scenarios: Path | None = None  # default: the checkout's scenarios/ (tests point elsewhere)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        return cls(inventory=args.inventory, hosts=list(args.host), bundle=args.bundle,
                   profile=args.profile, keep_on_failure=args.keep_on_failure,
                   run_id=args.run_id, sim_hosts=args.sim_hosts, sim_flavor=args.sim_flavor,
                   sim_build=args.sim_build, sim_faults=getattr(args, "sim_faults", None),
                   sim_latency=getattr(args, "sim_latency", None), lease_dir=args.lease_dir,
                   lease_timeout=args.lease_timeout,
                   provision_timeout=getattr(args, "provision_timeout", None),
                   workers=args.workers,
                   keyword=args.keyword, markers=args.markers, alluredir=args.alluredir,
                   junitxml=args.junitxml, report=args.report, report_dir=args.report_dir,
                   single_file=args.single_file, summary_json=args.summary_json,
                   all_rows=getattr(args, "all_rows", False),
                   pytest_args=list(getattr(args, "pytest_args", None) or []))

    @property
    def junit_path(self) -> Path:
        return self.junitxml or (Path(self.alluredir).parent / "junit.xml")

    @property
    def summary_path(self) -> Path:
        return self.summary_json or (Path(self.alluredir).parent / "summary.json")


def scenarios_dir() -> Path:
    """The scenario suite: the folder ``scenarios`` beside the ``harness`` package.

    That holds in a checkout and in an install alike: the wheel ships the suite as the
    top-level folder ``scenarios`` next to ``harness`` (pyproject.toml).  It is found from the
    harness in use, not imported: ``scenarios`` has no ``__init__.py`` (pytest imports its
    modules by path), and a namespace lookup would also merge any ``scenarios`` folder on
    sys.path, such as one in the current directory.
    """
    path = Path(harness.__file__).resolve().parent.parent / "scenarios"
    if not path.is_dir():
        raise ConfigError(f"the scenario suite is not here: {path} does not exist",
                          hint="reinstall hpc-e2e (its wheel ships the suite beside the "
                               "harness package), or name a suite with --scenarios")
    return path


def suite_pytest_args(suite: Path) -> list[str]:
    """pytest settings of the suite that do not depend on a configuration file above it.

    A checkout has pyproject.toml's ``[tool.pytest.ini_options]``; an installed copy has no
    such file, so the settings the suite needs are given on the command line (the same
    values: tests/test_package_data.py compares them): the per-test limit, strict markers,
    the short summary, and the rootdir, so node ids read ``scenarios/test_x.py::...`` in
    both layouts.
    """
    return ["--rootdir", str(suite.parent), "-o", f"timeout={SUITE_TIMEOUT}", "-ra",
            "--strict-markers"]


def _abs(path: Path | str) -> str:
    return str(Path(path).expanduser().resolve())


def check_options(o: RunOptions) -> None:
    """Refuse option mistakes before pytest starts (the plugin re-checks values); a flavor
    file's path is made absolute here, so the pytest command line names it from any folder."""
    if o.hosts and o.inventory is None:
        raise ConfigError("--host selects hosts from an inventory; pass --inventory too")
    if o.inventory is not None:
        problem = file_kind_problem(Path(o.inventory))
        if problem is not None:  # a FIFO is refused here, never opened
            raise ConfigError(f"--inventory: {o.inventory} {problem}")
        sim_only = [flag for flag, value in (("--sim-hosts", o.sim_hosts),
                                             ("--sim-flavor", o.sim_flavor),
                                             ("--sim-build", o.sim_build),
                                             ("--sim-faults", o.sim_faults),
                                             ("--sim-latency", o.sim_latency))
                    if value is not None]
        if sim_only:
            raise ConfigError(f"{', '.join(sim_only)} only apply to simulated hosts, "
                              f"not to an --inventory")
    for flag, path in (("--bundle", o.bundle),):
        problem = None if path is None else file_kind_problem(Path(path))
        if problem is not None:
            raise ConfigError(f"{flag}: {path} {problem}")
    o.sim_flavor = sim_options(flavor=o.sim_flavor, faults=o.sim_faults,
                               latency=o.sim_latency).flavor
    if o.sim_hosts is not None and o.sim_hosts < 1:
        raise ConfigError(f"--sim-hosts: {o.sim_hosts} is not a number of hosts (1 or more)")
    for flag, seconds in (("--lease-timeout", o.lease_timeout),
                          ("--provision-timeout", o.provision_timeout)):
        check_seconds(flag, seconds)
    if o.workers is not None and not _WORKERS.match(str(o.workers)):
        raise ConfigError(f"-n: {o.workers!r} is not a number of workers, 'auto' or 'logical'")
    for flag, text in (("-k", o.keyword), ("-m", o.markers)):
        if text:
            check_expression(flag, text)
    if o.single_file and not o.report:
        raise ConfigError("--single-file shapes the HTML report; add --report")
    _check_values(o)


def _check_values(o: RunOptions) -> None:
    """What the plugin would refuse after pytest started (exit 4, a summary of nothing ran),
    refused here with one line and exit 78 (EXIT_CONFIG); files are read, so a bad one changes no host."""
    if o.sim_hosts is not None and o.sim_hosts > MAX_SIM_HOSTS:
        raise ConfigError(f"--sim-hosts: {o.sim_hosts} is more than {MAX_SIM_HOSTS} hosts")
    if o.sim_build is not None:
        try:
            image_set_for(o.sim_build)
        except ConfigError as exc:
            raise ConfigError(f"--sim-build: {exc.message}", hint=exc.hint) from None
    if o.run_id is not None:
        try:
            check_label("hpc-e2e.run-id", o.run_id)
        except ConfigError:
            raise ConfigError(f"--run-id: {o.run_id!r} is not a run id",
                              hint="run ids are label values: at most 63 letters, digits, "
                                   "'.', '_', '-', starting and ending with a letter or digit"
                              ) from None
        if not o.run_id:
            raise ConfigError("--run-id: must not be empty")
    for flag, path, kind in (("--lease-dir", o.lease_dir, "folder"),
                             ("--report-dir", o.report_dir if o.report else None, "folder")):
        if path is None:
            continue
        path = Path(path).expanduser()
        if path.exists() and path.is_dir() != (kind == "folder"):
            raise ConfigError(f"{flag}: {path} exists and is not a {kind}")
    check_results_dir(Path(o.alluredir), flag="--alluredir")
    check_output_file(o.junit_path, flag="--junitxml")
    check_output_file(Path(o.summary_path), flag="--summary-json")
    if o.profile is not None:
        try:
            load_profile(str(o.profile))
        except ConfigError as exc:
            raise ConfigError(f"--profile: {exc.message}", hint=exc.hint) from None
    if o.inventory is not None:
        select_hosts(inventory=Path(o.inventory), hosts=o.hosts,
                     sim_state_dir=Path("."), start_sim=False)
        if o.bundle is None:
            raise ConfigError("--bundle: required with --inventory (the runtime under test; "
                              "see fixtures/bundle.example.toml)")
    if o.bundle is not None:
        load_bundle(o.bundle)


def check_seconds(flag: str, seconds: float | None) -> None:
    """A deadline option: a finite number of seconds above 0, at most a week."""
    if seconds is None:
        return
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{flag}: {seconds:g} is not a positive number of seconds")
    if seconds > MAX_SECONDS:
        raise ConfigError(f"{flag}: {seconds:g} seconds is more than a week "
                          f"({MAX_SECONDS:g} s)")


def check_expression(flag: str, text: str) -> None:
    """A ``-k``/``-m`` expression pytest would refuse (exit 4), refused here in one line."""
    try:
        from _pytest.mark.expression import Expression
    except ImportError:  # pytest moved it: pytest itself says what is wrong, as exit 4
        return
    try:
        Expression.compile(text)
    except Exception as exc:  # noqa: BLE001 - pytest raises SyntaxError-like errors here
        reason = " ".join(str(exc).split())  # pytest's message may hold line breaks
        raise ConfigError(f"{flag}: {text!r} is not a valid expression: {reason}") from None


def build_pytest_args(o: RunOptions) -> list[str]:
    """The pytest command line for these options (paths made absolute).

    Each option maps onto the plugin's by one rule: ``--hpc-`` + this verb's spelling
    (``--inventory`` is ``--hpc-inventory``, ``--host`` ``--hpc-host``; harness/plugin/options.py).
    """
    suite = Path(o.scenarios) if o.scenarios is not None else scenarios_dir()
    argv = [str(suite), "--alluredir", _abs(o.alluredir), "--junitxml", _abs(o.junit_path)]
    if o.scenarios is None:
        argv += suite_pytest_args(suite)
    if o.inventory is not None:
        argv += ["--hpc-inventory", _abs(o.inventory)]
    for host in dict.fromkeys(o.hosts):
        argv += ["--hpc-host", host]
    if o.bundle is not None:
        argv += ["--hpc-bundle", _abs(o.bundle)]
    if o.profile is not None:
        profile = str(o.profile)
        argv += ["--hpc-profile", _abs(profile) if Path(profile).is_file() else profile]
    if o.keep_on_failure:
        argv.append("--hpc-keep-on-failure")
    if o.run_id is not None:
        argv += ["--hpc-run-id", o.run_id]
    if o.sim_hosts is not None:
        argv += ["--hpc-sim-hosts", str(o.sim_hosts)]
    if o.sim_flavor is not None:
        argv += ["--hpc-sim-flavor", o.sim_flavor]
    if o.sim_build is not None:
        argv += ["--hpc-sim-build", str(o.sim_build)]
    if o.sim_faults is not None:
        argv += ["--hpc-sim-faults", o.sim_faults]
    if o.sim_latency is not None:
        argv += ["--hpc-sim-latency", o.sim_latency]
    if o.lease_dir is not None:
        argv += ["--hpc-lease-dir", _abs(o.lease_dir)]
    if o.lease_timeout is not None:
        argv += ["--hpc-lease-timeout", f"{o.lease_timeout:g}"]
    if o.provision_timeout is not None:
        argv += ["--hpc-provision-timeout", f"{o.provision_timeout:g}"]
    if o.workers is not None:
        argv += ["-n", str(o.workers)]
    if o.keyword:
        argv += ["-k", o.keyword]
    if o.markers:
        argv += ["-m", o.markers]
    return argv + list(o.pytest_args)


class ResultsClaim:
    """A pytest plugin (controller only) that takes the results folder over, removing the
    previous run's Allure files (those it held before pytest started), once pytest has
    accepted its arguments and collected a scenario.

    In one process that is after every deselection (a wrapper sees no result when one of
    them failed: a bad ``-k`` raises ``UsageError`` there).  Under xdist a worker reports
    its collection even when its ``-k`` failed, so the controller claims when the first
    test starts instead (xdist/dsession.py, ``DSession.worker_logstart``); only the files
    listed before pytest started go, so what workers wrote meanwhile stays.
    """

    def __init__(self, alluredir: Path) -> None:
        self.alluredir = Path(alluredir)
        self.previous = previous_results(self.alluredir)
        self.claimed = False
        self.removed = 0

    def _claim(self) -> None:
        if self.claimed:
            return
        try:
            self.removed = claim_results_dir(self.alluredir, only=self.previous)
        except (OutputRefused, OSError) as exc:
            pytest.exit(f"error: {exc}", returncode=OutputRefused.exit_code)
        self.claimed = True

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, session, config, items):
        result = yield
        if items and not hasattr(config, "workerinput") and not config.option.collectonly:
            self._claim()  # (--collect-only runs nothing: the results stay as they were)
        return result

    def pytest_runtest_logstart(self, nodeid, location) -> None:
        self._claim()


def pytest_main(argv: list[str], plugins: list) -> int:
    """``pytest.main`` (a seam the argv tests replace)."""
    return int(pytest.main(argv, plugins=plugins))


def execute(o: RunOptions, *, out=None) -> int:
    """Run the suite; pytest's exit code (or the report's, when only that failed)."""
    check_options(o)
    if o.run_id is None:  # chosen here so the summary can name it (for `hpc-e2e clean`)
        o.run_id = new_run_id()
    con = out or console()
    # Before anything reaches a host: a run killed at any moment can be cleaned up by id.
    con.print(escape(f"run id {o.run_id} (`hpc-e2e clean --run-id {o.run_id}` removes what "
                     "it leaves if it is killed)"))
    argv = build_pytest_args(o)
    alluredir = Path(o.alluredir).expanduser().absolute()
    existed = alluredir.exists()
    claim = ResultsClaim(alluredir)
    collector = SummaryCollector()
    with tempfile.TemporaryDirectory(prefix="hpc-e2e-junit-") as staging:
        staged = Path(staging) / "junit.xml"
        argv[argv.index("--junitxml") + 1] = str(staged)
        code = pytest_main(argv, [collector, claim])
        if collector.interrupted and code == pytest.ExitCode.INTERRUPTED:
            code = EXIT_INTERRUPTED  # pytest's 2 also means collection errors: tell them apart
        if claim.claimed and staged.is_file():
            junit = Path(o.junit_path).expanduser().absolute()
            junit.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staged), str(junit))
    if not claim.claimed and not existed and alluredir.is_dir() \
            and not any(alluredir.iterdir()):
        alluredir.rmdir()  # allure-pytest makes it at configure time; nothing was written
    con.print()
    collector.render(con, all_rows=o.all_rows)
    if not claim.claimed:
        con.print(escape(f"run id {o.run_id}: no scenario was collected, so the results in "
                         f"{o.alluredir}, {o.junit_path} and {o.summary_path} were left as "
                         "they were"))
        return code
    data = collector.to_dict() | {"run_id": o.run_id, "exit_code": code}
    summary = Path(o.summary_path).expanduser()
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    con.print(escape(f"run id {o.run_id}; Allure results in {o.alluredir}; JUnit XML in "
                     f"{o.junit_path}; summary in {summary}"))
    if o.report:
        try:
            index = generate(o.alluredir, o.report_dir, single_file=o.single_file)
            con.print(escape(f"report: {index}"))
        except HarnessError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return code or exc.exit_code
    return code


def command(args: argparse.Namespace) -> int:
    """``hpc-e2e run``."""
    return execute(RunOptions.from_args(args))


__all__ = ["DEFAULT_ALLUREDIR", "DEFAULT_REPORT_DIR", "OUTPUT_DIR", "ResultsClaim", "RunOptions",
           "build_pytest_args", "check_options", "command", "execute", "scenarios_dir"]
