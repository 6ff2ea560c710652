"""Allure (and JUnit) reporting for the suite: labels, remote-call steps, diagnostics, run files.

What a reader of the report gets (docs/report.md "What a reader sees"):

* Every scenario under epic "HostProcess containers", its feature from the scenario module
  (``FEATURE = "..."`` or the module's name), its story from the test's docstring, links to
  the upstream change and to the reference section it checks (``@pytest.mark.reference``),
  and its parameters: isolation, handler, image, host build, host.
* One step per remote call, titled with the (redacted, shortened) command and holding its
  redacted transcript: :class:`ReportingTransport` wraps the host's transport, adding no
  round trip.
* On a failed call phase, a diagnostics bundle (:mod:`harness.plugin.diagnostics`), and on
  every failure its class (:mod:`harness.plugin.categories`) as a marker line in the trace,
  which ``categories.json`` matches, and as a JUnit property.
* ``environment.properties`` and ``categories.json``, written by the controller once,
  after the xdist workers are done (docs/behaviour/protocols.md §3: allure-pytest writes
  neither; §4: worker data reaches the controller as ``workeroutput``).

Secrets: every title and attachment is passed through :func:`harness.secrets.redact`
where it is made, and as a last line of defence every Allure result, container and
attachment is redacted on its way to the file writer, and every pytest report (the JUnit
XML's source) is redacted in ``pytest_runtest_makereport``.

The plugin core calls :func:`register` from its ``pytest_configure``; loading this module
as a plugin (``-p harness.plugin.reporting``) does the same.

This module is the plugin (its hooks) and the failure class of a report; what it reports is
built by one module per concern: :mod:`.transcripts` (remote calls as steps),
:mod:`.labels` (epic, feature, story, links, parameters), :mod:`.observations`,
:mod:`.redaction` (reports and Allure output), :mod:`.environment` (the run's and hosts'
facts) and :mod:`.runfiles` (``environment.properties``, ``categories.json``).  Their public
names are importable from here too.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import json
import logging

import pytest

from harness.secrets import install_log_redaction
from harness.plugin import categories as _categories
from harness.plugin import diagnostics as _diagnostics
from harness.plugin.environment import (
    env_state,
    environment,
    merge,
    note_host,
    record_host,
    record_run_info,
)
from harness.plugin.labels import (
    EPIC,
    REFERENCE_MARKER,
    UPSTREAM_LINKS,
    feature_of,
    label_parameters,
    label_scenario,
    scenario_parameters,
    story_of,
)
from harness.plugin.observations import OBSERVATIONS, current_item, observation
from harness.plugin.redaction import AllureRedaction, redact_report
from harness.plugin.runfiles import render_properties, write_run_files
from harness.plugin.targets import CONTROLLER
from harness.plugin.transcripts import ReportingTransport, short_title

log = logging.getLogger("harness.plugin.reporting")

PLUGIN_NAME = "hpc-e2e-reporting"

# What other layers may put on a test item.
FAILURE_CLASS = pytest.StashKey[str]()
DIAGNOSTIC_OBJECTS = pytest.StashKey[list]()  # pods/containers to inspect on failure

WORKER_OUTPUT_KEY = "hpc_e2e_reporting"


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


# --- the pytest plugin --------------------------------------------------------------------------
def _safe(fn, *args) -> None:
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - reporting must never change a test's outcome
        log.warning("reporting: %s failed: %s", getattr(fn, "__name__", fn), exc)


def _mark_report(report, failure_class: str) -> None:
    """Put the failure-class marker line into the failure's trace (see categories.py)."""
    line = _categories.marker_line(failure_class)
    longrepr = report.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection("hpc-e2e", line)
    elif isinstance(longrepr, str):
        report.longrepr = f"{longrepr}\n{line}"
    elif longrepr is None:
        report.longrepr = line
    else:
        report.longrepr = f"{report.longreprtext}\n{line}"


def _host_restart_check(item, report, failure: str) -> str:
    """A runtime-regression failure on a host that restarted meanwhile is infrastructure:
    the pods went with the restart (:meth:`HpcHost.restarted`).  The report says so."""
    host = getattr(item, "funcargs", {}).get("hpc_host")
    restarted = getattr(host, "restarted", None)
    if restarted is None:
        return failure
    try:
        seen = restarted()
    except Exception as exc:  # noqa: BLE001 - an unreachable host says nothing about the runtime
        log.info("reporting: could not read the boot time of %s after a failure: %s",
                 getattr(host, "name", "?"), exc)
        return failure
    if seen is None:
        return failure
    previous, now = seen
    report.sections.append(("hpc-e2e", f"the host {host.name} restarted during this test "
                                        f"(boot time {previous.isoformat()} -> "
                                        f"{now.isoformat()}): classified infrastructure"))
    return _categories.INFRASTRUCTURE


class ReportingPlugin:
    def __init__(self, config):
        self.config = config
        self._redaction = AllureRedaction()

    def install(self) -> None:
        if getattr(self.config.option, "allure_report_dir", None):
            self._redaction.install()
        self.config.add_cleanup(self._redaction.uninstall)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        token = current_item.set(item)
        try:
            return (yield)
        finally:
            current_item.reset(token)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        _safe(label_scenario, item)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item):
        _safe(label_parameters, item)

    # trylast: the innermost wrapper, so the report is final here and allure-pytest's own
    # wrapper (and the JUnit writer after it) sees the marker line and the redacted text.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        try:
            if report.failed and call.excinfo is not None:
                failure = _categories.classify(call.excinfo)
                if failure == _categories.RUNTIME_REGRESSION:
                    failure = _host_restart_check(item, report, failure)
                item.stash.setdefault(FAILURE_CLASS, failure)
                _mark_report(report, failure)
                # JUnit XML takes a test's properties from its *teardown* report, which is
                # made from the item's list; the report of this phase gets it too.
                prop = ("hpc-e2e.failure-class", failure)
                if not any(name == prop[0] for name, _ in item.user_properties):
                    item.user_properties.append(prop)
                if prop not in report.user_properties:
                    report.user_properties.append(prop)
                if call.when == "call":
                    self._diagnose(item)
            if call.when == "setup" and not report.passed:
                # a test skipped or broken in setup still says what it was to run against
                label_parameters(item)
            redact_report(report)
        except Exception as exc:  # noqa: BLE001 - diagnostics and reports must never fail a test
            log.warning("reporting: could not finish the %s report of %s: %s",
                        call.when, item.nodeid, exc)
        return report

    def _diagnose(self, item) -> None:
        funcargs = getattr(item, "funcargs", {})
        host = funcargs.get("hpc_host")
        if host is None:
            return
        objects = list(item.stash.get(DIAGNOSTIC_OBJECTS, []))
        objects += _diagnostics.objects_of(funcargs.get("pods"))
        bundle = _diagnostics.collect_diagnostics(host, objects)
        _diagnostics.attach_bundle(bundle)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        data = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if data:
            try:
                merge(env_state(self.config), json.loads(data))
            except ValueError as exc:
                log.warning("reporting: unreadable report data from %s: %s", node, exc)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        config = self.config
        if _is_worker(config):
            config.workeroutput[WORKER_OUTPUT_KEY] = json.dumps(env_state(config))
            return
        if config.option.collectonly:
            return
        if not session.testscollected or exitstatus in (pytest.ExitCode.USAGE_ERROR,
                                                        pytest.ExitCode.NO_TESTS_COLLECTED):
            return  # nothing ran: the previous run's files stay as they were (outputs.py)
        if not _suite_ran(config):
            # No test used the suite's hosts: another project's run with this plugin
            # installed (entry point), whose Allure results are none of the suite's business.
            return
        try:
            write_run_files(config)
        except OSError as exc:
            log.warning("reporting: could not write environment.properties/categories.json: "
                        "%s", exc)


def _suite_ran(config) -> bool:
    """The run used the suite: the controller made its run (hosts, run folder), or a test's
    host facts were recorded (here, or by a worker and merged)."""
    controller = config.stash.get(CONTROLLER, None)
    state = env_state(config)
    return bool(controller is not None and controller.started) or \
        bool(state["hosts"] or state["run"])


def register(config) -> ReportingPlugin:
    """Add the reporting plugin to this pytest run (idempotent); call from pytest_configure."""
    existing = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if existing is not None:
        return existing
    config.addinivalue_line("markers", REFERENCE_MARKER)
    plugin = ReportingPlugin(config)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    plugin.install()
    return plugin


def pytest_configure(config) -> None:
    register(config)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session) -> None:
    """Mask secrets in pytest's own log handlers too (live log, captured log, log file):
    they format records before any report hook sees them."""
    plugin = session.config.pluginmanager.get_plugin("logging-plugin")
    if plugin is not None:
        install_log_redaction(*(getattr(plugin, name, None) for name in (
            "log_cli_handler", "caplog_handler", "report_handler", "log_file_handler")))


__all__ = ["DIAGNOSTIC_OBJECTS", "EPIC", "FAILURE_CLASS", "OBSERVATIONS", "UPSTREAM_LINKS",
           "ReportingPlugin", "ReportingTransport", "environment", "feature_of", "label_parameters",
           "label_scenario", "note_host", "observation", "record_host", "record_run_info",
           "redact_report", "register", "render_properties", "scenario_parameters",
           "short_title", "story_of", "write_run_files"]
