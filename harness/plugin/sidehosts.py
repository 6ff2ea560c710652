"""Hosts a scenario needs for what the worker's own host cannot show: ``uvm_without_hpc_pods``.

The capability refusal (docs/behaviour/runtime.md §2.7: a UVM that does not advertise
HostProcessContainerSupported refuses each HPC at StartContainer) needs a host whose UVMs
lack the capability: Hyper-V on a build older than 26100 (:data:`.markers.UVM_WITHOUT_HPC`).
The worker's ``hpc_host`` is usually not one, so this fixture finds such a host among the
run's hosts: the simulated side host the controller starts by default
(:data:`.targets.SIDE_HOST`), or an inventory host whose labels say ``os_build`` below 26100
or declare the capability.  The host is opened once per worker (connection, provisioning),
a lease slot is held for the test, and the pods are removed afterwards like ``pods``'.
Without such a host the scenario skips, saying how to provide one.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.plugin.fixtures import POD_FACTORY, check_removed, release_pods
from harness.plugin.host import HpcHost, open_host
from harness.plugin.leasing import HostPool, HostSlots, Leaser
from harness.plugin.leftovers import survey_host
from harness.plugin.markers import HPC_IN_UVM_MIN_BUILD, UVM_WITHOUT_HPC
from harness.plugin.pods import PodFactory
from harness.plugin.reporting import ReportingTransport
from harness.plugin.targets import Run, targets, worker_id
from harness.runtime import load_bundle


def candidates(config: pytest.Config, run: Run) -> list:
    """Targets that may have UVMs without HostProcess support, judged by their labels."""
    out = []
    for t in targets(config, run, side=True):
        declared = {c.lower() for c in t.labels.capabilities}
        build = t.labels.os_build
        if UVM_WITHOUT_HPC in declared or (build is not None and build < HPC_IN_UVM_MIN_BUILD):
            out.append(t)
    return out


class SideHosts:
    """Hosts this worker opened beside its ``hpc_host``, by name (closed at session end)."""

    def __init__(self, config: pytest.Config, run: Run, pool: HostPool):
        self.config = config
        self.run = run
        self.pool = pool
        self.opened: dict[str, HpcHost] = {}

    def open(self, target) -> HpcHost:
        if target.name not in self.opened:
            leaser: Leaser = self.pool.leaser
            with leaser.acquire([HostSlots(target.name, target.labels.max_leases)],
                                purpose="connecting and provisioning"):
                host = open_host(target, load_bundle(self.run.bundle), run_id=self.run.run_id,
                                 run_dir=self.run.run_dir, who=worker_id(self.config),
                                 wrap=ReportingTransport)
                if host.provisioned.here:
                    survey_host(host, self.run.run_dir)
            self.opened[target.name] = host
        return self.opened[target.name]

    def close(self) -> None:
        for host in self.opened.values():
            host.close()
        self.opened.clear()


@pytest.fixture(scope="session")
def hpc_side_hosts(pytestconfig: pytest.Config, hpc_run: Run,
                   hpc_pool: HostPool) -> Iterator[SideHosts]:
    hosts = SideHosts(pytestconfig, hpc_run, hpc_pool)
    yield hosts
    hosts.close()


@pytest.fixture
def uvm_without_hpc_pods(request: pytest.FixtureRequest, hpc_run: Run,
                         hpc_side_hosts: SideHosts) -> Iterator[PodFactory]:
    """A pod factory on a host whose UVMs lack HostProcess support (see the module doc)."""
    config = request.config
    for target in candidates(config, hpc_run):
        host = hpc_side_hosts.open(target)
        if UVM_WITHOUT_HPC in host.capabilities:
            break
    else:
        pytest.skip("no host of this run has utility VMs without HostProcess support "
                    "(Hyper-V on a build older than "
                    f"{HPC_IN_UVM_MIN_BUILD}); the simulated setup starts one by default, an "
                    "inventory names one with labels.os_build or labels.capabilities = "
                    f'["{UVM_WITHOUT_HPC}"]')
    item = request.node
    leaser = hpc_side_hosts.pool.leaser
    with leaser.acquire([HostSlots(host.name, host.target.labels.max_leases)],
                        purpose=item.nodeid):
        factory = PodFactory(host, test_name=item.name)
        item.stash[POD_FACTORY] = factory
        yield factory
        problems = release_pods(request, host, hpc_run, factory)
    check_removed(host, item, hpc_run, problems)


__all__ = ["SideHosts", "candidates", "hpc_side_hosts", "uvm_without_hpc_pods"]
