"""A pytest plugin for the benchmark: when each test ran and what it cost in CPU.

Loaded with ``-p harness.bench.timing --hpc-bench-timing FILE`` (``hpc-e2e run ... -- -p ...``).
xdist replays every worker's reports through the controller, so the controller alone writes
FILE, from what reports carry across processes: start, stop and duration of each phase, and
the worker's CPU seconds for the test (added to the teardown report's ``user_properties``).

Per test it also records what belongs to the worker rather than to the scenario, so a
makespan can be split into setup and scenario work: the ``hpc_host`` fixture's setup
(connect, provisioning check, host facts: once per worker, inside its first test's setup
phase), the image checks of ``hpc_host.ensure_image`` (once per image and worker, inside
the first test that uses the image), and the start of the worker's shared HPCs
(harness/plugin/shared.py: one per worker and isolation, started inside the first test that
reads one; later tests reuse it).  With more workers these happen once per worker, so the
ideal schedule counts them once per worker, not as work that divides.  The setup phase's
own duration is kept as well: beyond ``hpc_host`` it is the lease wait and the other
fixtures.

The controller notes its own CPU time between the first and the last report (xdist's
relaying of reports and scheduling).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

CPU_KEY = "hpc-e2e.bench.cpu"
HOST_SETUP_KEY = "hpc-e2e.bench.host-setup"
IMAGE_CHECK_KEY = "hpc-e2e.bench.image-check"
SHARED_START_KEY = "hpc-e2e.bench.shared-start"
_START = pytest.StashKey[float]()
_AT_START = pytest.StashKey[tuple[float, float]]()


class _WorkerClock:
    """This process's pending ``hpc_host`` setup time and its running totals of image checks
    and shared-HPC starts."""

    host_setup: float | None = None
    image_check: float = 0.0
    shared_start: float = 0.0
    in_shared: int = 0  # an image check inside a shared start counts once, as the start


_CLOCK = _WorkerClock()


def _timed_ensure_image(ensure_image):
    def timed(image: str) -> None:
        t0 = time.perf_counter()
        try:
            ensure_image(image)
        finally:
            if not _CLOCK.in_shared:
                _CLOCK.image_check += time.perf_counter() - t0

    return timed


def _timed_shared_get(get):
    """``SharedHpcs.get`` returns ``(entry, created)``: only calls that started a pod count."""
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        _CLOCK.in_shared += 1
        try:
            result = get(*args, **kwargs)
        finally:
            _CLOCK.in_shared -= 1
        if isinstance(result, tuple) and len(result) == 2 and result[1] is True:
            _CLOCK.shared_start += time.perf_counter() - t0
        return result

    return timed


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--hpc-bench-timing", metavar="FILE", default=None,
                     help="hpc-e2e bench: write per-test start/stop/duration/CPU to FILE")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--hpc-bench-timing"):
        config.pluginmanager.register(_Recorder(config), "hpc-e2e-bench-timing")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_START] = time.process_time()
    item.stash[_AT_START] = (_CLOCK.image_check, _CLOCK.shared_start)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """Time ``hpc_host``'s setup, and the image checks of the host it returns, and the starts
    of the worker's shared HPCs (fixture ``_hpc_shared``, harness/plugin/shared.py)."""
    if fixturedef.argname == "_hpc_shared":
        shared = yield
        if callable(getattr(shared, "get", None)):
            shared.get = _timed_shared_get(shared.get)
        return shared
    if fixturedef.argname != "hpc_host":
        return (yield)
    t0 = time.perf_counter()
    host = yield
    _CLOCK.host_setup = (_CLOCK.host_setup or 0.0) + time.perf_counter() - t0
    if callable(getattr(host, "ensure_image", None)):
        host.ensure_image = _timed_ensure_image(host.ensure_image)
    return host


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.when == "setup" and _CLOCK.host_setup is not None:
        report.user_properties.append((HOST_SETUP_KEY, _CLOCK.host_setup))
        _CLOCK.host_setup = None
    if call.when == "teardown" and _START in item.stash:
        report.user_properties.append((CPU_KEY, time.process_time() - item.stash[_START]))
        images, shared = item.stash.get(_AT_START, (0.0, 0.0))
        report.user_properties.append((IMAGE_CHECK_KEY, _CLOCK.image_check - images))
        report.user_properties.append((SHARED_START_KEY, _CLOCK.shared_start - shared))
    return report


_FIELDS = {CPU_KEY: "cpu", HOST_SETUP_KEY: "host_setup", IMAGE_CHECK_KEY: "image_check",
           SHARED_START_KEY: "shared_start"}


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
            "duration": 0.0, "cpu": 0.0, "outcome": "passed", "worker": "",
            "setup": 0.0, "host_setup": 0.0, "image_check": 0.0, "shared_start": 0.0})
        t["start"] = min(t["start"], report.start)
        t["stop"] = max(t["stop"], report.stop)
        t["duration"] += report.duration
        if report.when == "setup":
            t["setup"] = report.duration
        node = getattr(report, "node", None)
        gateway = getattr(node, "gateway", None)
        if gateway is not None:
            t["worker"] = gateway.id
        for key, value in report.user_properties:
            field = _FIELDS.get(key)
            if field is not None:
                t[field] = float(value)
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
        Path(self.config.getoption("--hpc-bench-timing")).write_text(
            json.dumps(data, indent=1) + "\n", encoding="utf-8")
