"""The hosts of a run: the inventory's, or simulated hosts started by the controller.

What the whole run shares is decided once, in the controller (the only process without
xdist): the run id, the run folder (``<basetemp>/hpc-e2e``, the parent of every worker's
basetemp, docs/behaviour/protocols.md §4), the lease folder, the bundle and — without an
inventory — the simulated hosts, started in-process on first need.  xdist workers receive
it as ``workerinput["hpc_e2e"]`` (hook ``pytest_configure_node``) and build their Targets
from it; a worker never starts a host.

At session end the controller sweeps what this run left on its hosts (:mod:`.sweep`) and
stops the simulated hosts, after every worker has finished.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.config.target import Target
from harness.cri.spec import new_run_id
from harness.errors import HarnessError
from harness.hosts import SimOptions, sim_host_target, start_sim, write_sim_bundle
from harness.plugin.options import SETTINGS, Settings
from harness.plugin.sweep import sweep_run

log = logging.getLogger("harness.plugin")

WORKERINPUT_KEY = "hpc_e2e"
# A simulated host started beside the pool by default: a Windows Server 2022 host with
# Hyper-V, whose utility VMs boot 20348 and so lack HostProcess support
# (docs/behaviour/runtime.md §2.7, §7).  Scenarios that need such a UVM (the capability
# refusal) run on it through ``uvm_without_hpc_pods`` (harness/plugin/sidehosts.py); it never
# joins the pool the other scenarios lease from.
SIDE_HOST = "sim-ws2022"
SIDE_HOST_BUILD = 20348
POOL, SIDE = "pool", "side"
SIM_RESTART_SECONDS = 0.2


@dataclass
class Run:
    """What every process of the run shares (JSON-able, for ``workerinput``)."""

    run_id: str
    run_dir: str
    lease_dir: str
    bundle: str
    sim_hosts: list[dict[str, Any]] = field(default_factory=list)  # name, build, endpoint, role

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        return cls(**data)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def worker_id(config: pytest.Config) -> str:
    return config.workerinput["workerid"] if is_worker(config) else "master"


def worker_index(config: pytest.Config) -> int:
    wid = worker_id(config)
    return int(wid[2:]) if wid.startswith("gw") and wid[2:].isdigit() else 0


class Controller:
    """The controller's side: makes the :class:`Run` on first need and owns the sim hosts."""

    def __init__(self, config: pytest.Config, settings: Settings):
        self.config = config
        self.settings = settings
        self._run: Run | None = None
        self.sims: list[Any] = []  # simulated hosts started (harness.hosts.start_sim)

    @property
    def started(self) -> bool:
        return self._run is not None

    def run(self) -> Run:
        if self._run is None:
            self._run = self._make_run()
        return self._run

    def _make_run(self) -> Run:
        s = self.settings
        run_dir = _basetemp(self.config) / "hpc-e2e"
        run_dir.mkdir(parents=True, exist_ok=True)
        lease_dir = s.lease_dir or run_dir / "leases"
        bundle = s.bundle
        sims: list[dict[str, Any]] = []
        if s.simulated:
            if bundle is None:
                bundle = write_sim_bundle(run_dir / "sim-bundle")
            sims = self._start_sims(run_dir)
        return Run(run_id=s.run_id or new_run_id(), run_dir=str(run_dir),
                   lease_dir=str(lease_dir), bundle=str(bundle), sim_hosts=sims)

    def _start_sims(self, run_dir: Path) -> list[dict[str, Any]]:
        s = self.settings
        names = [f"sim-{i}" for i in range(1, s.sim_hosts + 1)]
        if s.host_names:
            names = [n for n in names if n in s.host_names]
        # The side host is never leased by the pool, so --hpc-host does not choose it.
        hosts = [(name, s.sim_build, POOL) for name in names] + \
            [(SIDE_HOST, SIDE_HOST_BUILD, SIDE)]
        names = [h[0] for h in hosts]
        out = []
        try:
            for name, build, role in hosts:
                restart = SIM_RESTART_SECONDS if s.sim_latency is None else \
                    s.sim_latency.restart_seconds(SIM_RESTART_SECONDS)
                seed_name = name if role == POOL else f"sim-{s.sim_hosts + 1}"
                options = SimOptions(flavor=s.sim_flavor,
                                     faults=_host_faults(s.sim_faults, seed_name),
                                     latency=s.sim_latency)
                sim = start_sim(run_dir / "sim" / name, options=options, name=name.upper(),
                                build=build, restart_seconds=restart)
                self.sims.append(sim)
                out.append({"name": name, "build": build, "role": role,
                            "endpoint": dict(sim.endpoint)})
        except BaseException:
            self.stop()
            raise
        log.info("started simulated hosts %s (flavor %s, build %d)", ", ".join(names),
                 s.sim_flavor, s.sim_build)
        if s.sim_faults is not None or s.sim_latency is not None:
            log.info("simulated hosts inject faults %s (each host's faults.jsonl), latency %s",
                     s.sim_faults, s.sim_latency)
        return out

    def stop(self) -> None:
        sims, self.sims = self.sims, []
        for sim in sims:
            try:
                sim.stop()
            except Exception:  # stopping must go on for the others
                log.exception("stopping a simulated host failed")


def _host_faults(plan: Any, name: str) -> Any:
    """sim-N draws from seed + N - 1: hosts fail independently, and still repeatably."""
    if plan is None:
        return None
    return dataclasses.replace(plan, seed=plan.seed + int(name.rsplit("-", 1)[1]) - 1)


CONTROLLER = pytest.StashKey[Controller]()


def current_run(config: pytest.Config) -> Run:
    """This run's shared facts, in any process (starts the sim hosts in the controller)."""
    if is_worker(config):
        data = config.workerinput.get(WORKERINPUT_KEY)
        if data is None:
            raise HarnessError("this xdist worker got no hpc-e2e run data from the controller",
                               hint="is the hpc-e2e plugin loaded in the controller as well?")
        return Run.from_dict(data)
    return config.stash[CONTROLLER].run()


def targets(config: pytest.Config, run: Run, *, side: bool = False) -> list[Target]:
    """The Targets this process leases from, sorted by name (deterministic across workers);
    with ``side``, also the simulated side hosts (:data:`SIDE_HOST`)."""
    settings = config.stash[SETTINGS]
    if not settings.simulated:
        return sorted(settings.targets, key=lambda t: t.name)
    out = [sim_host_target(sim["endpoint"], name=sim["name"], build=sim["build"],
                           source="simulated host (--hpc-sim-hosts)")
           for sim in run.sim_hosts if side or sim.get("role", POOL) == POOL]
    return sorted(out, key=lambda t: t.name)


def _basetemp(config: pytest.Config) -> Path:
    # The controller's basetemp is the parent of every worker's (xdist workermanage.py does
    # the same private access to hand each worker its own basetemp).
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        factory = pytest.TempPathFactory.from_config(config, _ispytest=True)
    return factory.getbasetemp()


# --- hooks -----------------------------------------------------------------------------
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not is_worker(config) and SETTINGS in config.stash:
        config.stash[CONTROLLER] = Controller(config, config.stash[SETTINGS])


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: hand the run (sim endpoints included) to a worker before it starts."""
    node.workerinput[WORKERINPUT_KEY] = current_run(node.config).to_dict()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    controller = None if is_worker(config) else config.stash.get(CONTROLLER, None)
    if controller is None or not controller.started:
        return
    run = controller.run()
    try:
        swept = sweep_run(run, lambda: targets(config, run, side=True))
    finally:
        controller.stop()
    lines = [f"hpc-e2e: swept {n} leftover pod(s) of run {run.run_id} from {host}"
             for host, n in swept.removed.items()]
    lines += [f"hpc-e2e: kept for inspection on {host} (--hpc-keep-on-failure): pods "
             f"{', '.join(ids)}" for host, ids in swept.kept.items()]
    lines += [f"hpc-e2e: leftover clean-up failed: {p}" for p in swept.problems]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for text in lines:
        log.warning(text)
        if reporter is not None:
            reporter.write_line(text, yellow=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    controller = config.stash.get(CONTROLLER, None)
    if controller is not None:
        controller.stop()


__all__ = ["CONTROLLER", "POOL", "SIDE", "SIDE_HOST", "SIDE_HOST_BUILD", "WORKERINPUT_KEY",
           "Controller", "Run", "current_run", "is_worker",
           "targets", "worker_id", "worker_index"]
