"""Command-line options of the suite (one group, ``hpc-e2e``) and their validation.

The plugin is loaded into every pytest run of the environment (entry point ``pytest11``), so
every option it registers is namespaced, by one rule: the plugin's spelling is ``--hpc-``
followed by ``hpc-e2e run``'s spelling (``--inventory`` is ``--hpc-inventory``, ``--host``
``--hpc-host``), and pytest derives each dest from it (``hpc_inventory``...).  A project
whose conftest registers ``--profile`` or ``--inventory`` (pytest-profiling does the first)
still starts with this plugin installed.

Everything is checked in ``pytest_configure``, before a test is collected or a host
contacted: a bad value is a :class:`pytest.UsageError` naming the option (a clean exit
without traceback, docs/behaviour/protocols.md §5.1).  The validated values are one
:class:`Settings` object in ``config.stash[SETTINGS]``; each xdist worker parses the same
command line and validates it again.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.config.inventory import load_inventory
from harness.cri.spec import check_label
from harness.errors import ConfigError
from harness.hosts import SimOptions, pick_hosts, sim_options
from harness.plugin.images import image_set_for
from harness.plugin.profiles import DEFAULT_PROFILE, Profile, load_profile
from harness.runtime.bundle import load_bundle

GROUP = "hpc-e2e"
SIM_BUILD = 26100
MAX_SIM_HOSTS = 16
LEASE_TIMEOUT = 1800.0  # a test on a real host takes minutes; a queue of them longer
PROVISION_TIMEOUT = 3600.0  # features, restarts (each up to 900 s) and a deployment
MAX_SECONDS = 7 * 24 * 3600.0  # a week: any longer deadline is a typo, not a plan


@dataclass(frozen=True)
class Settings:
    """The validated options (controller and workers alike)."""

    inventory: Path | None
    host_names: tuple[str, ...]
    bundle: Path | None
    profile: Profile
    keep_on_failure: bool
    run_id: str | None  # None: the controller makes one
    sim_hosts: int
    sim_flavor: str
    sim_build: int
    lease_dir: Path | None  # None: a folder of this run (see targets.py)
    lease_timeout: float
    targets: tuple = ()  # the inventory's Targets, selected; empty for simulated hosts
    sim_faults: object = None  # harness.sim.faults.FaultPlan of --hpc-sim-faults, or None
    sim_latency: object = None  # harness.sim.latency.LatencyModel of --hpc-sim-latency, or None
    provision_timeout: float = PROVISION_TIMEOUT  # provisioning's own deadline (limits.py)

    @property
    def simulated(self) -> bool:
        return self.inventory is None


SETTINGS = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "hpc-e2e: Windows HostProcess container suite")
    group.addoption("--hpc-inventory", metavar="FILE", default=None,
                    help="TOML inventory of Windows hosts (default: simulated hosts)")
    group.addoption("--hpc-host", metavar="NAME[,NAME]", action="append", default=None,
                    help="use only this host (inventory name, or sim-1, sim-2...); "
                         "repeat it or give a comma list")
    group.addoption("--hpc-bundle", metavar="FILE", default=None,
                    help="runtime bundle manifest (required with --hpc-inventory; default with "
                         "simulated hosts: the sim bundle)")
    group.addoption("--hpc-profile", metavar="NAME|FILE", default=DEFAULT_PROFILE,
                    help="expectation profile: a built-in profile's name or a .toml file "
                         "(default: %(default)s)")
    group.addoption("--hpc-keep-on-failure", action="store_true", default=False,
                    help="keep the pods and containers of a failed test for inspection")
    group.addoption("--hpc-run-id", metavar="ID", default=None,
                    help="label everything this run creates with ID (default: time + random)")
    group.addoption("--hpc-sim-hosts", metavar="N", default=None,
                    help="number of simulated hosts without --hpc-inventory (default: 1)")
    group.addoption("--hpc-sim-flavor", metavar="NAME|PATH.py", default=None,
                    help="runtime flavor of the simulated hosts: current, pre-fix, "
                         "no-capability, or a .py file defining FLAVOR (default: current)")
    group.addoption("--hpc-sim-build", metavar="N", default=None,
                    help=f"Windows build the simulated hosts report (default: {SIM_BUILD})")
    group.addoption("--hpc-sim-faults", metavar="SPEC", default=None,
                    help="inject faults into the simulated hosts: rate=R[,seed=N]"
                         "[,kinds=K1+K2] (harness/sim/faults.py)")
    group.addoption("--hpc-sim-latency", metavar="SPEC", default=None,
                    help="latency model of the simulated hosts, e.g. realistic,scale=0.05 "
                         "(harness/sim/latency.py)")
    group.addoption("--hpc-lease-dir", metavar="DIR", default=None,
                    help="folder of the host lease locks; share it between runs that share "
                         "hosts (default: a folder of this run)")
    group.addoption("--hpc-lease-timeout", metavar="SECONDS", default=None,
                    help=f"longest wait for a free host (default: {LEASE_TIMEOUT:g})")
    group.addoption("--hpc-provision-timeout", metavar="SECONDS", default=None,
                    help="deadline of a host's provisioning (features, restarts, "
                         "deployment), which runs outside the per-test limit "
                         f"(default: {PROVISION_TIMEOUT:g})")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS] = read_settings(config)


def read_settings(config: pytest.Config) -> Settings:
    """Validate the options; :class:`pytest.UsageError` naming the option otherwise."""
    opt = config.getoption
    inventory = _path_option(opt("--hpc-inventory"), "--hpc-inventory")
    names = _names(opt("--hpc-host"))
    sim_given = [flag for flag in ("--hpc-sim-hosts", "--hpc-sim-flavor", "--hpc-sim-build",
                                   "--hpc-sim-faults", "--hpc-sim-latency")
                 if opt(flag) is not None]
    if inventory is not None and sim_given:
        raise pytest.UsageError(f"{sim_given[0]}: applies to simulated hosts only; "
                                f"drop it or drop --hpc-inventory")
    sim_hosts = _int_option(opt("--hpc-sim-hosts"), "--hpc-sim-hosts", 1, 1, MAX_SIM_HOSTS)
    sim_build = _int_option(opt("--hpc-sim-build"), "--hpc-sim-build", SIM_BUILD, 17763, 99999)
    sim = _sim_options(opt)
    sim_flavor = sim.flavor or "current"
    targets: tuple = ()
    if inventory is not None:
        targets = _inventory_targets(inventory, names)
        if opt("--hpc-bundle") is None:
            raise pytest.UsageError("--hpc-bundle: required with --hpc-inventory (the runtime "
                                    "under test; see fixtures/bundle.example.toml)")
    else:
        _check_build(sim_build)
        known = [f"sim-{i}" for i in range(1, sim_hosts + 1)]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise pytest.UsageError(f"--hpc-host: no simulated host named {unknown[0]!r} "
                                    f"(hosts: {', '.join(known)})")
    bundle = _path_option(opt("--hpc-bundle"), "--hpc-bundle")
    if bundle is not None:
        _check_bundle(bundle)
    try:
        profile = load_profile(opt("--hpc-profile"))
    except ConfigError as exc:
        raise pytest.UsageError(f"--hpc-profile: {exc}") from None
    run_id = opt("--hpc-run-id")
    if run_id is not None:
        _check_run_id(run_id)
    lease_dir = opt("--hpc-lease-dir")
    if lease_dir and Path(lease_dir).expanduser().exists() and \
            not Path(lease_dir).expanduser().is_dir():
        raise pytest.UsageError(f"--hpc-lease-dir: {lease_dir} exists and is not a folder")
    timeout = opt("--hpc-lease-timeout")
    provision = opt("--hpc-provision-timeout")
    return Settings(
        inventory=inventory, host_names=names, bundle=bundle, profile=profile,
        keep_on_failure=bool(opt("--hpc-keep-on-failure")), run_id=run_id,
        sim_hosts=sim_hosts, sim_flavor=sim_flavor, sim_build=sim_build,
        lease_dir=Path(lease_dir).expanduser().resolve() if lease_dir else None,
        lease_timeout=_seconds(timeout) if timeout is not None else LEASE_TIMEOUT,
        targets=targets, sim_faults=sim.faults, sim_latency=sim.latency,
        provision_timeout=(_seconds(provision, "--hpc-provision-timeout")
                           if provision is not None else PROVISION_TIMEOUT))


def _sim_options(opt) -> SimOptions:
    """The simulated hosts' flavor, faults and latency (harness.hosts.sim_options)."""
    try:
        return sim_options(flavor=opt("--hpc-sim-flavor"), faults=opt("--hpc-sim-faults"),
                           latency=opt("--hpc-sim-latency"), flavor_flag="--hpc-sim-flavor",
                           faults_flag="--hpc-sim-faults", latency_flag="--hpc-sim-latency")
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _path_option(value: str | None, flag: str) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise pytest.UsageError(f"{flag}: {value} is not a file")
    return path


def _check_bundle(bundle: Path) -> None:
    """The whole manifest, hashes included, before any host is contacted (a bad bundle
    must change nothing on a host)."""
    try:
        load_bundle(bundle)
    except ConfigError as exc:
        raise pytest.UsageError(f"--hpc-bundle: {exc}") from None


def _names(values: list[str] | None) -> tuple[str, ...]:
    """``--hpc-host`` given once or more, each a name or a comma list; duplicates dropped."""
    if values is None:
        return ()
    names = tuple(dict.fromkeys(n.strip() for value in values for n in value.split(",")
                                if n.strip()))
    if not names:
        raise pytest.UsageError("--hpc-host: give at least one host name")
    return names


def _int_option(value: str | None, flag: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise pytest.UsageError(f"{flag}: {value!r} is not a whole number") from None
    if not low <= number <= high:
        raise pytest.UsageError(f"{flag}: {number} is out of range ({low}-{high})")
    return number


def _seconds(value: str, flag: str = "--hpc-lease-timeout") -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise pytest.UsageError(f"{flag}: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise pytest.UsageError(f"{flag}: must be more than 0 seconds (got {value})")
    if seconds > MAX_SECONDS:
        raise pytest.UsageError(f"{flag}: {value} seconds is more than a week "
                                f"({MAX_SECONDS:g} s)")
    return seconds


def _check_run_id(run_id: str) -> None:
    # The run id becomes a label value and a folder name on the host (harness/cri/spec.py).
    try:
        check_label("hpc-e2e.run-id", run_id)
    except ConfigError:
        raise pytest.UsageError(f"--hpc-run-id: {run_id!r} is not usable as a label value "
                                f"(at most 63 characters of A-Z a-z 0-9 . _ -, starting and ending "
                                f"alphanumeric)") from None
    if not run_id:
        raise pytest.UsageError("--hpc-run-id: must not be empty")


def _inventory_targets(inventory: Path, names: tuple[str, ...]) -> tuple:
    try:
        targets = load_inventory(inventory)
    except ConfigError as exc:
        raise pytest.UsageError(f"--hpc-inventory: {exc}") from None
    try:
        return tuple(pick_hosts(targets, names, source=f"--hpc-host: {inventory.name}"))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_build(build: int) -> None:
    """images.toml covers the simulated hosts' build."""
    try:
        image_set_for(build)
    except ConfigError as exc:
        raise pytest.UsageError(f"--hpc-sim-build: {exc}") from None


__all__ = ["GROUP", "LEASE_TIMEOUT", "SETTINGS", "SIM_BUILD", "Settings", "read_settings"]
