"""The hosts a command or a run works on: an inventory's, or simulated hosts.

The one gateway between the harness and the simulated host (``harness/sim``): no other
module of the harness imports it (a checked contract, ``[tool.importlinter]`` in
pyproject.toml).  Everything that chooses between inventory hosts and a simulated host, or
that has to make, start or reach a simulated host, goes through here:

* :func:`select_hosts` (``doctor``, ``clean``, ``run``'s checks) and :func:`provision_plan`
  (``provision``): inventory hosts (all, or those named), else the simulated host served
  from a state directory, or one started for the command;
* :func:`sim_options`: the simulated host's options (flavor, faults, latency) parsed once,
  for ``hpc-e2e run``, ``sim serve``, ``provision`` and the plugin alike;
* :func:`per_host`: one function per host, concurrently (one transport each);
* :func:`endpoint_target`: a served simulated host's ``endpoint.json`` as a :class:`Target`;
* :func:`start_sim`, :func:`serve_sim`, :func:`write_sim_bundle`: the simulated host's own
  entry points.

The simulated host's modules are imported inside the functions that start or parse one, on
purpose: a run against real hosts (and every pytest run of an environment where the plugin is
installed) never loads the simulated host's servers (about 400 modules, a fifth of a second).
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlparse

from harness.config.files import file_kind_problem
from harness.config.inventory import load_inventory
from harness.config.secrets import Secret
from harness.config.target import Labels, RetrySettings, Target, WinRMOptions
from harness.errors import ConfigError, HarnessError
from harness.runtime.bundle import load_bundle
from harness.runtime.provision import Plan
from harness.runtime.sandbox_image import check_images_file

T = TypeVar("T")

MAX_PARALLEL_HOSTS = 8
SIM_BUNDLE_DIR = "bundle"
# A simulated host takes several concurrent pods (lease slots of the plugin's sim hosts, and
# of the bench's lab of served sim hosts, so the runs compare like with like).
SIM_MAX_LEASES = 4
# A simulated host answers in milliseconds: short pauses between retries (a real host's
# defaults are in harness/config/target.py RetrySettings).
SIM_RETRY = RetrySettings(base_delay=0.05, max_delay=2.0)


# --- the simulated host's options -------------------------------------------------------------
@dataclass(frozen=True)
class SimOptions:
    """The simulated host's options, parsed: a flavor (a built-in name or the absolute path of
    a ``.py`` file), a fault plan and a latency model (``None``: not given)."""

    flavor: str | None = None
    faults: Any = None  # harness.sim.faults.FaultPlan
    latency: Any = None  # harness.sim.latency.LatencyModel


def sim_options(*, flavor: str | None = None, faults: str | None = None,
                latency: str | None = None, flavor_flag: str = "--sim-flavor",
                faults_flag: str = "--sim-faults",
                latency_flag: str = "--sim-latency") -> SimOptions:
    """Parse the simulated host's option values; a :class:`ConfigError` naming the option
    otherwise.  The one parser of these options (the CLI's verbs and the plugin's)."""
    return SimOptions(flavor=None if flavor is None else check_flavor(flavor, option=flavor_flag),
                      faults=_parse(faults, faults_flag, "faults"),
                      latency=_parse(latency, latency_flag, "latency"))


def _parse(spec: str | None, flag: str, kind: str) -> Any:
    if spec is None:
        return None
    if kind == "faults":
        from harness.sim.faults import FaultPlan as model
    else:
        from harness.sim.latency import LatencyModel as model
    try:
        return model.parse(spec)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def check_flavor(value: str, *, option: str = "--sim-flavor") -> str:
    """A built-in flavor name, or an existing ``.py`` file that defines ``FLAVOR``, made
    absolute (harness/sim/cri/flavors.py); anything else is a :class:`ConfigError`."""
    from harness.sim.cri.flavors import BUILTIN, FlavorError, resolve_flavor

    text = str(value)
    if text in BUILTIN:
        return text
    if not text.endswith(".py"):
        raise ConfigError(f"{option}: unknown runtime flavor {text!r}",
                          hint=f"use one of {', '.join(BUILTIN)}, or the path of a .py file "
                               "defining FLAVOR (see harness/sim/cri/flavors.py)")
    problem = file_kind_problem(Path(text))
    if problem is not None:
        raise ConfigError(f"{option}: {text} {problem}")
    path = str(Path(text).expanduser().resolve())
    try:
        resolve_flavor(path)  # import it now: a broken file fails here, not mid-run
    except FlavorError as exc:
        raise ConfigError(f"{option}: {exc}") from None
    return path


# --- starting and serving simulated hosts ---------------------------------------------------
def start_sim(state_dir: Path, *, options: SimOptions | None = None,
              **profile: Any) -> Any:
    """A simulated host (WinRM over HTTPS only) started in this process from
    ``state_dir``; ``profile``: fields of its host profile (name, build, restart_seconds...).
    The caller stops it (``.stop()``); ``.endpoint`` is its endpoint.json."""
    from harness.sim.host import SimHost
    from harness.sim.hostmodel import HostProfile

    o = options or SimOptions()
    return SimHost(state_dir, ssh_port=None, profile=HostProfile(**profile), flavor=o.flavor,
                   faults=o.faults, latency=o.latency).start()


def serve_sim(state_dir: Path, *, options: SimOptions, build: int, virtualization: bool,
              elevated: bool, **listeners: Any) -> int:
    """``hpc-e2e sim serve``: a simulated host until interrupted; ``listeners``: ports and
    authentication of its servers (harness/sim/host.py ``serve``)."""
    from harness.sim.host import serve
    from harness.sim.hostmodel import HostProfile

    # No virtualization: a VM whose host exposes no virtualization extensions to it
    # (HypervisorPresent true, Hyper-V cannot be installed).
    profile = HostProfile(build=build, hyperv_capable=virtualization,
                          virtual_machine=not virtualization, elevated=elevated)
    if options.latency is not None and options.latency.restart:  # a slow restart
        profile = dataclasses.replace(
            profile, restart_seconds=options.latency.restart_seconds(profile.restart_seconds))
    return serve(state_dir, flavor=options.flavor, profile=profile, faults=options.faults,
                 latency=options.latency, **listeners) or 0


def write_sim_bundle(directory: Path, *, containerd_version: str | None = None,
                     cni_plugins: Sequence[str] | None = None) -> Path:
    """The simulated host's runtime bundle (bundle.toml and the placeholder programs it
    names) written to ``directory``; the manifest's path."""
    from harness.sim.bundle import DEFAULT_CNI_PLUGINS
    from harness.sim.bundle import write_sim_bundle as write

    return write(directory,
                 versions={"containerd": containerd_version} if containerd_version else None,
                 cni_plugins=({p: "0.3.1" for p in cni_plugins} if cni_plugins
                              else DEFAULT_CNI_PLUGINS))


# --- reaching a simulated host --------------------------------------------------------------
def endpoint_target(endpoint: Mapping[str, Any]) -> Target:
    """WinRM over HTTPS with NTLM to a simulated host, pinned to its CA.

    The way a lab VM is logged into (the harness's default, and all a stock HTTPS listener
    offers), so the suite's own runs test that path (docs/internals.md endpoint.json).
    """
    url = urlparse(endpoint["winrm_url"])
    return Target(name="sim", address=url.hostname, port=url.port, transport="winrm",
                  user=endpoint["user"], password=Secret.from_file(endpoint["password_file"]),
                  winrm=WinRMOptions(scheme="https", auth="ntlm", ca_bundle=endpoint["ca_bundle"]),
                  source="simulated host")


def sim_host_target(endpoint: Mapping[str, Any], *, name: str, build: int,
                    source: str) -> Target:
    """A simulated host of a run as the plugin leases it: :func:`endpoint_target` named
    ``name``, with the build it reports, :data:`SIM_MAX_LEASES` slots and :data:`SIM_RETRY`."""
    return endpoint_target(endpoint).model_copy(update={
        "name": name, "source": source,
        "labels": Labels(os_build=build, max_leases=SIM_MAX_LEASES), "retry": SIM_RETRY})


def served_endpoint(state_dir: Path) -> dict | None:
    """The endpoint.json of a simulated host served from ``state_dir``, if it answers."""
    try:
        endpoint = json.loads((Path(state_dir) / "endpoint.json").read_text(encoding="utf-8"))
        url = urlparse(endpoint["winrm_url"])
        with socket.create_connection((url.hostname, url.port), timeout=2.0):
            return endpoint
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def sim_target(state_dir: Path, *, flavor: str | None = None) -> tuple[Target, Any]:
    """A Target for the simulated host in ``state_dir``: the served one, or a new one
    (with ``flavor``).  Returns ``(target, started)``; ``started`` is the simulated host this
    process started (or None)."""
    endpoint = served_endpoint(Path(state_dir))
    if endpoint is not None:
        return endpoint_target(endpoint), None
    started = start_sim(Path(state_dir), options=SimOptions(flavor=flavor))
    if not started.endpoint:
        started.stop()
        raise HarnessError(f"the simulated host wrote no endpoint file in {state_dir}")
    return endpoint_target(started.endpoint), started


def per_host(targets: Sequence[Any], fn: Callable[[Any], T]) -> list[T]:
    """``fn(target)`` for every target, concurrently; results in the targets' order.

    ``fn`` must not raise for a host's own trouble: it reports it in its result, so one
    unreachable host does not hide what the others said.
    """
    if len(targets) <= 1:
        return [fn(t) for t in targets]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_HOSTS, len(targets))) as pool:
        return list(pool.map(fn, targets))


# --- choosing hosts ------------------------------------------------------------------------
def pick_hosts(targets: Sequence[Target], names: Sequence[str], *, source: str) -> list[Target]:
    """The targets named (in the order given, each once), or all of them when none is."""
    if not names:
        return list(targets)
    by_name = {t.name: t for t in targets}
    unknown = [h for h in names if h not in by_name]
    if unknown:
        raise ConfigError(f"{source}: no host named {unknown[0]!r} "
                          f"(hosts: {', '.join(sorted(by_name))})")
    return [by_name[h] for h in dict.fromkeys(names)]


@dataclass
class HostSelection:
    """The targets a command works on; a simulated host it started is stopped by close()."""

    targets: list[Target]
    sim: Any = None  # a simulated host started by this process, if any
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        if self.sim is not None:
            self.sim.stop()
            self.sim = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def select_hosts(*, inventory: Path | None, hosts: Sequence[str], sim_state_dir: Path,
                 start_sim: bool = True, flavor: str | None = None) -> HostSelection:
    """Inventory hosts (all, or those named by ``--host``), else the simulated host.

    The simulated host is the one served from ``sim_state_dir`` when it answers; otherwise a
    new one (with ``flavor``) is started for the command when ``start_sim`` (``doctor``,
    ``provision``), or the selection is empty with a note (``clean``: a host nobody serves
    has nothing to clean).
    """
    if inventory is not None:
        return HostSelection(pick_hosts(load_inventory(inventory), hosts, source=str(inventory)))
    if hosts:
        raise ConfigError("--host selects hosts from an inventory; pass --inventory too")
    if not start_sim:
        endpoint = served_endpoint(Path(sim_state_dir))
        if endpoint is None:
            note = (f"no simulated host answers from {sim_state_dir} (start one with "
                    f"`hpc-e2e sim serve --state-dir {sim_state_dir}`, or pass --inventory)")
            return HostSelection([], notes=[note])
        return HostSelection([endpoint_target(endpoint)])
    target, started = sim_target(Path(sim_state_dir), flavor=flavor)
    return HostSelection([target], started)


def provision_plan(*, inventory: Path | None, hosts: list[str], bundle: Path | None,
                   sim: bool, sim_state_dir: Path, flavor: str | None = None) -> Plan:
    """``provision``'s inputs validated and its targets picked (a simulated host started if
    one is needed, with ``flavor``); nothing contacted yet."""
    check_images_file()
    if inventory is not None and sim:
        raise ConfigError("--sim and --inventory exclude each other")
    if inventory is not None:
        targets = select_hosts(inventory=inventory, hosts=hosts,
                               sim_state_dir=sim_state_dir).targets
        if bundle is None:
            raise ConfigError("--bundle is required with --inventory",
                              hint="see fixtures/bundle.example.toml")
        return Plan(targets, load_bundle(bundle))
    if hosts:
        raise ConfigError("--host selects hosts from an inventory; pass --inventory too")
    if bundle is None:
        bundle = write_sim_bundle(Path(sim_state_dir) / SIM_BUNDLE_DIR)
    loaded = load_bundle(bundle)
    target, started = sim_target(Path(sim_state_dir), flavor=flavor)
    return Plan([target], loaded, started)


__all__ = ["SIM_MAX_LEASES", "SIM_RETRY", "HostSelection", "SimOptions",
           "check_flavor", "endpoint_target", "per_host", "pick_hosts", "provision_plan", "select_hosts",
           "serve_sim", "served_endpoint", "sim_host_target", "sim_options", "sim_target", "start_sim",
           "write_sim_bundle"]
