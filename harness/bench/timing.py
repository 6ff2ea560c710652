"""A pytest plugin for the benchmark: when each test ran and what it cost in CPU.

Loaded with ``-p harness.bench.timing --bench-timing FILE`` (``hpc-e2e run ... -- -p ...``).
xdist replays every worker's reports through the controller, so the controller alone writes
FILE, from what reports carry across processes: start, stop and duration of each phase, and
the worker's CPU seconds for the test (added to the teardown report's ``user_properties``).

The controller also notes its own CPU time between the first and the last report: with the
simulated hosts started in the controller (no inventory), that is the sims' CPU while the
tests ran, plus xdist's relaying.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

CPU_KEY = "hpc-e2e.bench.cpu"
_START = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-timing", metavar="FILE", default=None,
                     help="hpc-e2e bench: write per-test start/stop/duration/CPU to FILE")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--bench-timing"):
        config.pluginmanager.register(_Recorder(config), "hpc-e2e-bench-timing")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_START] = time.process_time()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.when == "teardown" and _START in item.stash:
        report.user_properties.append((CPU_KEY, time.process_time() - item.stash[_START]))
    return report


class _Recorder:
    """The controller's (or a run without xdist's) collector; a worker only adds its CPU."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.worker = hasattr(config, "workerinput")
        self.tests: dict[str, dict] = {}
        self.cpu_first: float | None = None
        self.cpu_last: float | None = None
        self.workers_cpu: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.worker:
            return
        cpu_now = time.process_time()
        if self.cpu_first is None:
            self.cpu_first = cpu_now
        self.cpu_last = cpu_now
        t = self.tests.setdefault(report.nodeid, {
            "nodeid": report.nodeid, "start": report.start, "stop": report.stop,
            "duration": 0.0, "cpu": 0.0, "outcome": "passed", "worker": ""})
        t["start"] = min(t["start"], report.start)
        t["stop"] = max(t["stop"], report.stop)
        t["duration"] += report.duration
        node = getattr(report, "node", None)
        gateway = getattr(node, "gateway", None)
        if gateway is not None:
            t["worker"] = gateway.id
        for key, value in report.user_properties:
            if key == CPU_KEY:
                t["cpu"] = float(value)
        if report.failed:
            t["outcome"] = "failed" if report.when == "call" else "error"
        elif report.skipped and t["outcome"] == "passed":
            t["outcome"] = "skipped"

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        out = getattr(node, "workeroutput", None) or {}
        if CPU_KEY in out:
            self.workers_cpu[node.gateway.id] = float(out[CPU_KEY])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.worker:
            self.config.workeroutput[CPU_KEY] = time.process_time()  # type: ignore[attr-defined]
            return
        tests = sorted(self.tests.values(), key=lambda t: t["start"])
        data = {
            "tests": tests,
            "makespan": (max(t["stop"] for t in tests) - min(t["start"] for t in tests))
            if tests else 0.0,
            "controller_cpu_during_tests": (self.cpu_last or 0.0) - (self.cpu_first or 0.0),
            "workers_cpu": self.workers_cpu,
        }
        Path(self.config.getoption("--bench-timing")).write_text(
            json.dumps(data, indent=1) + "\n", encoding="utf-8")
