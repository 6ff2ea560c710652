"""A lab of simulated hosts for the suite benchmarks, prepared the way the nightly job prepares
real hosts.

The nightly job (.github/workflows/hpc-e2e-windows.yml, ci/azure-pipelines.yml) provisions
its hosts, checks them with ``hpc-e2e doctor``, imports the probe images, and only then runs
the suite against the inventory.  Measuring the suite with the sims the plugin starts inside
``hpc-e2e run`` instead made every run pay a host's whole setup (features, a restart, the
deployment) inside its first tests, so the makespan measured provisioning, and every sim
shared the controller's interpreter with xdist.  Here each host is its own
``hpc-e2e sim serve`` process (:mod:`.simproc`), named in one inventory, provisioned once
with ``hpc-e2e provision``, and given its images; every grid point then runs
``hpc-e2e run --inventory ... --host ...`` against hosts that are ready.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

from harness.bench.simproc import SimProcess
from harness.config.inventory import load_inventory
from harness.cri import Crictl
from harness.errors import HarnessError
from harness.hosts import SIM_MAX_LEASES, SIM_RETRY, write_sim_bundle
from harness.plugin.images import image_set_for
from harness.runtime import RuntimeLayout, load_bundle
from harness.transport import open_transport

DEFAULT_BUILD = 26100  # `hpc-e2e sim serve`'s default build
PROVISION_TIMEOUT = 600.0


def host_names(count: int) -> list[str]:
    return [f"sim-{i}" for i in range(1, count + 1)]


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string (same escapes)


def inventory_text(hosts: list[tuple[str, dict]], *, build: int = DEFAULT_BUILD) -> str:
    """The TOML inventory of served sim hosts: ``(name, endpoint.json)`` pairs.

    WinRM over HTTPS with Basic auth and the sim's CA, as ``endpoint_target`` reaches a served
    sim (docs/internals.md "The simulated host"); lease slots and retry pauses as the plugin
    gives its own sim hosts (harness/hosts.py), so the runs compare like with like.
    """
    lines = ["# written by hpc-e2e bench: simulated hosts served by `hpc-e2e sim serve`", "",
             "[defaults]", 'transport = "winrm"', ""]
    for name, endpoint in hosts:
        url = endpoint["winrm_url"]
        hostport = url.split("://", 1)[1].split("/", 1)[0]
        address, port = hostport.rsplit(":", 1)
        lines += [f"[hosts.{name}]",
                  f"address = {_toml_str(address)}",
                  f"port = {int(port)}",
                  f"user = {_toml_str(endpoint['user'])}",
                  f"password_file = {_toml_str(endpoint['password_file'])}",
                  f"[hosts.{name}.winrm]",
                  'scheme = "https"',
                  'auth = "ntlm"',  # what a stock HTTPS listener offers
                  f"ca_bundle = {_toml_str(endpoint['ca_bundle'])}",
                  f"[hosts.{name}.labels]",
                  f"os_build = {build}",
                  f"max_leases = {SIM_MAX_LEASES}",
                  f"[hosts.{name}.retry]",
                  f"base_delay = {SIM_RETRY.base_delay:g}",
                  f"max_delay = {SIM_RETRY.max_delay:g}",
                  ""]
    return "\n".join(lines)


class Lab:
    """``hosts`` served sims with one latency model, an inventory and the sim bundle.

    ``start()`` serves them and writes ``inventory.toml`` and the bundle; ``prepare()`` runs
    ``hpc-e2e provision`` and ``hpc-e2e doctor`` on the inventory and imports the suite's
    images; ``stop()`` ends the sim processes.  Timings of the preparation are kept
    (``prepare_seconds``) and reported beside the suite's, never inside it.
    """

    def __init__(self, directory: Path, *, hosts: int, latency: str | None,
                 build: int = DEFAULT_BUILD):
        if hosts < 1:
            raise ValueError("a lab has at least one host")
        self.directory = Path(directory).resolve()
        self.latency = latency
        self.build = build
        self.names = host_names(hosts)
        self.sims: dict[str, SimProcess] = {}
        self.inventory = self.directory / "inventory.toml"
        self.bundle: Path | None = None
        self.prepare_seconds: dict[str, float] = {}

    def start(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            for name in self.names:
                self.sims[name] = SimProcess(self.directory / name, latency=self.latency,
                                             build=self.build).start()
        except BaseException:
            self.stop()
            raise
        self.bundle = write_sim_bundle(self.directory / "bundle")
        self.inventory.write_text(
            inventory_text([(n, self.sims[n].endpoint) for n in self.names], build=self.build),
            encoding="utf-8")
        return self

    def _cli(self, verb: str, *args: str, log: str) -> float:
        argv = [sys.executable, "-m", "harness", verb, "--inventory", str(self.inventory),
                "--bundle", str(self.bundle), *args]
        t0 = time.perf_counter()
        with open(self.directory / log, "wb") as out:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=PROVISION_TIMEOUT,
                                  cwd=self.directory, check=False)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = (self.directory / log).read_text(errors="replace").strip().splitlines()
            raise HarnessError(f"bench: `hpc-e2e {verb}` of the lab exited {proc.returncode}: "
                               f"{tail[-1] if tail else '(no output)'}",
                               hint=f"see {self.directory / log}")
        return seconds

    def prepare(self) -> Self:
        """provision -> doctor -> images, as the nightly job does before `hpc-e2e run`."""
        self.prepare_seconds["provision"] = self._cli("provision", log="provision.log")
        self.prepare_seconds["doctor"] = self._cli("doctor", log="doctor.log")
        t0 = time.perf_counter()
        self.import_images()
        self.prepare_seconds["images"] = time.perf_counter() - t0
        return self

    def import_images(self) -> None:
        """Put the suite's images on every host before the runs, as the nightly job imports
        the probe image it built (images/build.ps1) before ``hpc-e2e run``: the sim's
        registry is reached with ``crictl pull``."""
        assert self.bundle is not None, "start() first"
        layout = RuntimeLayout.for_bundle(load_bundle(self.bundle))
        images = image_set_for(self.build)
        for target in load_inventory(self.inventory):
            with open_transport(target) as transport:
                crictl = Crictl(transport, run_id="hpc-e2e-bench-lab",
                                crictl_path=layout.crictl_exe, config_path=layout.crictl_yaml)
                for image in dict.fromkeys((images.probe, images.nanoserver,
                                            images.servercore, images.pause)):
                    if not crictl.images(image):
                        crictl.pull(image)

    def run_argv(self, hosts: int) -> list[str]:
        """``hpc-e2e run`` options naming the first ``hosts`` hosts of this lab."""
        if not 1 <= hosts <= len(self.names):
            raise ValueError(f"the lab has {len(self.names)} host(s), not {hosts}")
        argv = ["--inventory", str(self.inventory), "--bundle", str(self.bundle)]
        for name in self.names[:hosts]:
            argv += ["--host", name]
        return argv

    def cpu_seconds(self, hosts: int | None = None) -> float:
        """CPU seconds the first ``hosts`` sim processes have used so far."""
        return sum(self.sims[n].cpu_seconds() for n in self.names[:hosts])

    def stop(self) -> None:
        sims, self.sims = self.sims, {}
        for sim in sims.values():
            sim.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["DEFAULT_BUILD", "Lab", "host_names", "inventory_text"]
