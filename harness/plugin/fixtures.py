"""The fixtures scenarios use: ``hpc_host``, ``pods``, ``expect``, ``isolation``.

Lifetimes:

* ``hpc_host`` (session, one per worker): the first test that needs a host leases one
  (:class:`~harness.plugin.leasing.HostPool`), provisions it once per run
  (:mod:`.provisioning`) and keeps the connection for the worker's session; the worker that
  provisioned it lists what earlier runs left there (:mod:`.leftovers`).
* every test that uses the host holds a lease slot for its duration (the autouse guard below,
  which first skips the test when its markers exclude the host, :mod:`.markers`).
* ``pods`` (function): what it created is removed after the test, pass or fail; with
  ``--hpc-keep-on-failure`` a failed test's pods stay (and the end-of-run sweep spares them).

The per-phase reports of a test are kept in ``item.stash[REPORTS]`` and the test's pod
factory in ``item.stash[POD_FACTORY]`` (the diagnostics bundle reads it on failure).

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.plugin.host import HpcHost, open_host
from harness.plugin.leasing import HostPool, Lease, Leaser
from harness.plugin.leftovers import survey_host
from harness.plugin.limits import outside_scenario_limit
from harness.plugin.markers import ISOLATIONS, check_markers, marked, skip_reason
from harness.plugin.options import SETTINGS
from harness.plugin.pods import PodFactory
from harness.plugin.profiles import Expectations
from harness.plugin.reporting import ReportingTransport
from harness.plugin.sweep import record_kept
from harness.plugin.targets import Run, current_run, targets, worker_id, worker_index
from harness.runtime import load_bundle

REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
POD_FACTORY = pytest.StashKey[PodFactory]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


def failed(item: pytest.Item) -> bool:
    """Whether the test failed so far (its setup or its call)."""
    return any(r.failed for r in item.stash.get(REPORTS, {}).values())


@pytest.fixture(scope="session")
def hpc_run(pytestconfig: pytest.Config) -> Run:
    """What the whole run shares: run id, run folder, lease folder, bundle."""
    return current_run(pytestconfig)


@pytest.fixture(scope="session")
def hpc_pool(pytestconfig: pytest.Config, hpc_run: Run) -> HostPool:
    """This worker's hosts and its leases on them."""
    settings = pytestconfig.stash[SETTINGS]
    leaser = Leaser(Path(hpc_run.lease_dir), timeout=settings.lease_timeout,
                    holder=worker_id(pytestconfig))
    return HostPool(targets(pytestconfig, hpc_run), leaser, start=worker_index(pytestconfig))


@pytest.fixture(scope="session")
def hpc_host(pytestconfig: pytest.Config, hpc_run: Run, hpc_pool: HostPool) -> Iterator[HpcHost]:
    """The host this worker leased, provisioned, connected (see :class:`HpcHost`)."""
    bundle = load_bundle(hpc_run.bundle)
    settings = pytestconfig.stash[SETTINGS]
    with hpc_pool.lease(purpose="connecting and provisioning") as lease:
        target = hpc_pool.targets[lease.host]
        # Outside the per-test limit, under provisioning's own deadline (limits.py): a
        # feature install's restart may take longer than any one scenario may.
        with outside_scenario_limit(target.name, settings.provision_timeout):
            host = open_host(target, bundle, run_id=hpc_run.run_id,
                             run_dir=hpc_run.run_dir, who=worker_id(pytestconfig),
                             wrap=ReportingTransport)
            if host.provisioned.here:  # once per host and run: what earlier runs left
                survey_host(host, hpc_run.run_dir)
    yield host
    host.close()


@pytest.fixture
def hpc_lease(request: pytest.FixtureRequest, hpc_pool: HostPool) -> Iterator[Lease]:
    """A slot of this worker's host for the duration of one test."""
    with hpc_pool.lease(purpose=request.node.nodeid) as lease:
        yield lease


@pytest.fixture(autouse=True)
def _hpc_e2e_guard(request: pytest.FixtureRequest) -> None:
    """Skip by marker (reasons name the host), then hold a lease while the test runs."""
    item = request.node
    if "expect" in request.fixturenames:
        expectations = request.getfixturevalue("expect")
        if isinstance(expectations, Expectations):
            expectations.item = item
    if not (marked(item) or "hpc_host" in request.fixturenames):
        return
    check_markers(item)
    host = request.getfixturevalue("hpc_host")
    if not isinstance(host, HpcHost):  # a conftest's own hpc_host (a fake) overrides ours
        return
    reason = skip_reason(item, host)
    if reason is not None:
        pytest.skip(reason)
    request.getfixturevalue("hpc_lease")


@pytest.fixture(params=ISOLATIONS)
def isolation(request: pytest.FixtureRequest) -> str:
    """``"process"`` or ``"hyperv"``; a scenario may parametrize it itself with ISOLATIONS."""
    return request.param


@pytest.fixture
def pods(request: pytest.FixtureRequest, hpc_host: HpcHost, hpc_run: Run) -> Iterator[PodFactory]:
    """The pod factory; see :class:`~harness.plugin.pods.PodFactory`."""
    item = request.node
    factory = PodFactory(hpc_host, test_name=item.name)
    item.stash[POD_FACTORY] = factory
    yield factory
    check_removed(hpc_host, item, hpc_run, release_pods(request, hpc_host, hpc_run, factory))


def release_pods(request: pytest.FixtureRequest, host, hpc_run: Run,
                 factory: PodFactory) -> list:
    """After a test: a failed test's pods stay with --keep-on-failure, otherwise they are
    removed; the problems the removal met (none when they were kept)."""
    if request.config.stash[SETTINGS].keep_on_failure and failed(request.node):
        keep_for_inspection(request, host, hpc_run,
                            [p.id for p in factory.pods if not p.removed])
        return []
    return factory.cleanup()


def check_removed(host, item: pytest.Item, hpc_run: Run, problems: list) -> None:
    """Raise when a test's pods could not be removed; the error's class is the first
    problem's (categories.py), and the end-of-run sweep tries again."""
    if problems:
        raise HarnessError(f"{host.name}: could not remove what {item.nodeid} created: "
                           + "; ".join(str(p) for p in problems),
                           hint=f"the end-of-run sweep tries again (run id {hpc_run.run_id})"
                           ) from problems[0]


def keep_for_inspection(request: pytest.FixtureRequest, host: HpcHost, run: Run,
                        pod_ids: list[str]) -> None:
    """Pods a failed test leaves for inspection (``--hpc-keep-on-failure``): recorded so that
    the end-of-run sweep spares them, and named in the test's report."""
    if not pod_ids:
        return
    item = request.node
    record_kept(run.run_dir, worker_id(request.config), host.name, pod_ids, item.nodeid)
    item.user_properties.append(("hpc-e2e kept pods", f"{host.name}: {', '.join(pod_ids)}"))


@pytest.fixture(scope="session")
def expect(pytestconfig: pytest.Config) -> Expectations:
    """The expectation profile (``--hpc-profile``); see :class:`Expectations`."""
    return Expectations(pytestconfig.stash[SETTINGS].profile)


__all__ = ["POD_FACTORY", "REPORTS", "expect", "failed", "hpc_host", "hpc_lease", "hpc_pool",
           "hpc_run", "isolation", "keep_for_inspection", "pods"]
