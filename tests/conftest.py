import pytest

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
