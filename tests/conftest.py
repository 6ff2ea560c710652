import pytest

from harness.sim.host import SimHost
from harness.sim.hostmodel import HostProfile

pytest_plugins = ["pytester"]

_XDIST_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


@pytest.fixture(autouse=True)
def _inner_runs_are_not_xdist_workers(request, monkeypatch):
    """A pytester run inside an xdist worker must not believe it is that worker.

    xdist exports the worker's identity in the environment; an in-process inner pytest
    (and the fakes the plugin tests build) would otherwise read it and act as ``gwN``.
    """
    if "pytester" in request.fixturenames:
        for name in _XDIST_ENV:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def serve_sim(tmp_path):
    """Start simulated hosts (WinRM only) for one test, as `hpc-e2e sim serve --state-dir DIR`
    would: ``serve_sim(basic=False, restart_seconds=0.5, **profile)``; each in its own state
    folder, all stopped after the test."""
    hosts: list[SimHost] = []

    def serve(*, basic: bool = False, restart_seconds: float = 0.5, **profile) -> SimHost:
        sim = SimHost(tmp_path / f"state{len(hosts)}", ssh_port=None, basic=basic,
                      profile=HostProfile(restart_seconds=restart_seconds, **profile)).start()
        hosts.append(sim)
        return sim

    yield serve
    for sim in hosts:
        sim.stop()
