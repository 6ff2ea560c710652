"""``shared_hpc``: one standard HPC per worker and isolation, reused by read-only checks.

Most scenarios need nothing but "an HPC in a HostProcess pod that inherits the user" and
then look at it (``whoami``, ``ipconfig``, a builtin, an exit code).  Starting a pod for each
of them costs a RunPodSandbox — for hypervisor isolation a utility VM boot, the most
expensive step of the suite — plus the container's create and start.  A check that only
*reads* can run in a pod another check started, as long as three rules hold:

* the pod is exactly the standard one (pod: host_process, inherit-user ``"true"``;
  container: the idle probe command, no user), so what a scenario reads does not depend on
  who made it;
* a test that fails retires the shared pod (it is removed, or kept with
  ``--hpc-keep-on-failure``), so a broken pod never carries a failure into the next test;
* the scenario does not change what a later test reads (it writes nothing outside its own
  uniquely named files, it does not stop, remove or reconfigure the container).

Scenarios that check pod or container creation itself (admission, annotations, users,
rootfs locations) keep using ``pods``.  The shared pods carry the run id like every other
pod; they are removed when the worker's session ends, and the end-of-run sweep catches
them if the worker dies.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import allure
import pytest

from harness.errors import HarnessError
from harness.plugin.fixtures import failed, keep_for_inspection
from harness.plugin.options import SETTINGS
from harness.plugin.pods import Container, PodFactory
from harness.plugin.reporting import DIAGNOSTIC_OBJECTS
from harness.plugin.targets import worker_id

log = logging.getLogger("harness.plugin")

INHERIT_USER_ANNOTATION = "microsoft.com/hostprocess-inherit-user"


@dataclass
class SharedEntry:
    container: Container
    created_by: str
    uses: int = 0


@dataclass
class SharedHpcs:
    """This worker's shared HPCs, one per (host, isolation), created on first use."""

    factory: PodFactory
    entries: dict[str, SharedEntry] = field(default_factory=dict)

    def get(self, isolation: str, *, user: str) -> tuple[SharedEntry, bool]:
        """The shared HPC for ``isolation`` and whether it was created now."""
        entry = self.entries.get(isolation)
        if entry is not None:
            entry.uses += 1
            return entry, False
        # pod, container and start in one remote command (PodFactory.start_long_running_many)
        (container,) = self.factory.start_long_running_many(
            [{"isolation": isolation, "annotations": {INHERIT_USER_ANNOTATION: "true"}}])
        entry = self.entries[isolation] = SharedEntry(container, created_by=user, uses=1)
        return entry, True

    def retire(self, isolation: str, *, keep: bool) -> list[str]:
        """Forget the shared HPC of ``isolation``; remove its pod unless ``keep``.  Returns
        the ids of pods kept."""
        entry = self.entries.pop(isolation, None)
        if entry is None:
            return []
        pod = entry.container.pod
        if keep:
            pod.removed = True  # not ours to remove any more: the sweep spares it
            return [pod.id]
        # one rmp --force (stops the pod and removes it with its container); "not found"
        # counts as removed
        for exc in self.factory.crictl.rmp_many([pod.ref], force=True):
            log.warning("removing retired shared pod %s failed (the end-of-run sweep tries "
                        "again): %s", pod.name, exc)
        pod.removed = True
        for c in pod.containers:
            c.removed = True
        return []

    def close(self) -> list[HarnessError]:
        self.entries.clear()
        return self.factory.cleanup()


@pytest.fixture(scope="session")
def _hpc_shared(pytestconfig: pytest.Config, hpc_host) -> Iterator[SharedHpcs]:
    shared = SharedHpcs(PodFactory(hpc_host, test_name=f"shared-hpc-{worker_id(pytestconfig)}"))
    yield shared
    for problem in shared.close():
        log.warning("%s: removing a shared HPC failed (the end-of-run sweep tries again): %s",
                    hpc_host.name, problem)


class SharedHpc:
    """What ``shared_hpc`` gives a test: the shared container, fetched (or started) on first
    use *inside the test*, so a runtime that refuses the standard HPC fails the test that
    needed it (with its behaviour named), not its setup."""

    def __init__(self, shared: SharedHpcs, isolation: str, item: pytest.Item):
        self._shared = shared
        self._isolation = isolation
        self._item = item
        self._container: Container | None = None

    @property
    def container(self) -> Container:
        if self._container is None:
            entry, created = self._shared.get(self._isolation, user=self._item.nodeid)
            self._container = entry.container
            self._item.stash.setdefault(DIAGNOSTIC_OBJECTS, []).append(entry.container.pod)
            if not created:
                _note_reuse(entry.container, entry)
        return self._container

    @property
    def used(self) -> bool:
        return self._container is not None

    # The Container interface scenarios use, spelt out so that ``hasattr`` and ``repr`` do
    # not start a pod.
    @property
    def id(self) -> str:
        return self.container.id

    @property
    def pod(self):
        return self.container.pod

    def exec(self, argv, timeout: float = 60, **kw):
        return self.container.exec(argv, timeout=timeout, **kw)

    def inspect(self):
        return self.container.inspect()

    def logs(self) -> str:
        return self.container.logs()

    def __repr__(self) -> str:
        return f"<shared HPC {self._isolation}: {self._container!r}>"


@pytest.fixture
def shared_hpc(request: pytest.FixtureRequest, isolation: str, hpc_host, hpc_run,
               _hpc_shared: SharedHpcs) -> Iterator[SharedHpc]:
    """The standard HPC (pod: host_process, inherit-user "true"; container: the idle probe
    command) of this worker for ``isolation``, for checks that only read."""
    item = request.node
    handle = SharedHpc(_hpc_shared, isolation, item)
    yield handle
    if handle.used and failed(item):
        keep = request.config.stash[SETTINGS].keep_on_failure
        keep_for_inspection(request, hpc_host, hpc_run, _hpc_shared.retire(isolation, keep=keep))


def _note_reuse(container: Container, entry: SharedEntry) -> None:
    """One report step saying whose pod this test reads (its creation steps are in the
    report of the test that created it)."""
    with allure.step(f"reuse shared HPC {container.name} in pod {container.pod.name} "
                     f"({container.pod.isolation}; created by {entry.created_by}, "
                     f"use {entry.uses})"):
        pass


__all__ = ["SharedHpc", "SharedHpcs", "shared_hpc"]
