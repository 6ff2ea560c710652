"""The ``hpc-e2e`` verbs beyond argument parsing: ``run``, ``doctor``, ``clean``, ``report``.

``harness/cli.py`` only declares options; each verb's module here does the work and
returns the process exit code, so tests can drive a verb without a subprocess.  What the
verbs share lives in this module: which hosts a command talks to (an inventory, or the
simulated host), where the runtime sits on them, and running one function per host in
parallel with one transport each (a transport is not thread-safe).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

from harness.errors import ConfigError

log = logging.getLogger("harness.commands")

T = TypeVar("T")

DEFAULT_SIM_STATE_DIR = Path(".hpc-e2e/sim")
MAX_PARALLEL_HOSTS = 8


@dataclass
class HostSelection:
    """The targets a command works on; a simulated host it started is stopped by close()."""

    targets: list  # list[harness.config.target.Target]
    sim: Any = None  # a SimHost started by this process, if any
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
                 start_sim: bool = True) -> HostSelection:
    """Inventory hosts (all, or those named by ``--host``), else the simulated host.

    The simulated host is the one served from ``sim_state_dir`` when it answers; otherwise a
    new one is started for the command when ``start_sim`` (``doctor``), or the selection is
    empty with a note (``clean``: a host nobody serves has nothing to clean).
    """
    if inventory is None:
        if hosts:
            raise ConfigError("--host selects hosts from an inventory; pass --inventory too")
        from harness.runtime.provision import endpoint_target, sim_target

        if not start_sim:
            endpoint = served_endpoint(Path(sim_state_dir))
            if endpoint is None:
                note = (f"no simulated host answers from {sim_state_dir} (start one with "
                        f"`hpc-e2e sim serve --state-dir {sim_state_dir}`, or pass --inventory)")
                return HostSelection([], notes=[note])
            return HostSelection([endpoint_target(endpoint)])
        target, started = sim_target(Path(sim_state_dir))
        return HostSelection([target], started)

    from harness.config.inventory import load_inventory

    targets = load_inventory(inventory)
    if hosts:
        by_name = {t.name: t for t in targets}
        unknown = [h for h in hosts if h not in by_name]
        if unknown:
            raise ConfigError(f"{inventory}: no host named {unknown[0]!r} "
                              f"(hosts: {', '.join(sorted(by_name))})")
        targets = [by_name[h] for h in dict.fromkeys(hosts)]
    return HostSelection(targets)


def served_endpoint(state_dir: Path) -> dict | None:
    """The endpoint.json of a simulated host served from ``state_dir``, if it answers."""
    import json
    import socket
    from urllib.parse import urlparse

    try:
        endpoint = json.loads((Path(state_dir) / "endpoint.json").read_text(encoding="utf-8"))
        url = urlparse(endpoint["winrm_url"])
        with socket.create_connection((url.hostname, url.port), timeout=2.0):
            return endpoint
    except (OSError, ValueError, KeyError, TypeError):
        return None


def runtime_layout(bundle: Path | None):
    """Where the runtime is on the hosts: the bundle's layout, or the default install dir.

    ``doctor`` and ``clean`` only need paths (crictl, its config, config.toml), so without
    ``--bundle`` they assume what ``provision`` deploys by default (docs/behaviour/ecosystem.md §2.4).
    """
    from harness.runtime.layout import RuntimeLayout

    if bundle is not None:
        from harness.runtime.bundle import load_bundle

        return RuntimeLayout.for_bundle(load_bundle(bundle))
    return default_layout()


def default_layout():
    """The layout ``RuntimeLayout.for_bundle`` gives any bundle with default sources."""
    from pathlib import PureWindowsPath

    from harness.runtime.bundle import DEFAULT_INSTALL_DIR
    from harness.runtime.layout import HARNESS_DATA, RuntimeLayout

    def join(*parts: str) -> str:
        return str(PureWindowsPath(*parts))

    bin_dir = join(DEFAULT_INSTALL_DIR, "bin")
    return RuntimeLayout(
        install_dir=DEFAULT_INSTALL_DIR,
        containerd_exe=join(bin_dir, "containerd.exe"),
        shim_exe=join(bin_dir, "containerd-shim-runhcs-v1.exe"),
        crictl_exe=join(bin_dir, "crictl.exe"),
        cni_bin_dir=join(DEFAULT_INSTALL_DIR, "cni", "bin"),
        cni_conf_dir=join(DEFAULT_INSTALL_DIR, "cni", "conf"),
        config_toml=join(DEFAULT_INSTALL_DIR, "config.toml"),
        crictl_yaml=join(bin_dir, "crictl.yaml"),
        log_file=join(HARNESS_DATA, "logs", "containerd.log"))


def per_host(targets: Sequence[Any], fn: Callable[[Any], T]) -> list[T]:
    """``fn(target)`` for every target, concurrently; results in the targets' order.

    ``fn`` must not raise for a host's own trouble: it reports it in its result, so one
    unreachable host does not hide what the others said.
    """
    if len(targets) <= 1:
        return [fn(t) for t in targets]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_HOSTS, len(targets))) as pool:
        return list(pool.map(fn, targets))


def console(*, stderr: bool = False):
    """A rich console; wide when not on a terminal, so tables in logs are not wrapped.

    ``COLUMNS`` in the environment wins, as it does for other terminal programs.
    """
    import os
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    width = None if terminal or "COLUMNS" in os.environ else 160
    return Console(file=stream, width=width, soft_wrap=False,
                   highlight=False)


__all__ = ["DEFAULT_SIM_STATE_DIR", "HostSelection", "console", "default_layout", "per_host",
           "runtime_layout", "select_hosts", "served_endpoint"]
