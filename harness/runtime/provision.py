"""``hpc-e2e provision``: a bare Windows Server host to a running runtime under test.

Per host: facts → Windows features (Containers, and Hyper-V where the machine can run it)
→ restart if Windows asks for one, on the same connection once the host is back → deploy the
bundle (:mod:`.deploy`) → summary.  Every step is idempotent, so provisioning a provisioned
host changes nothing and says so.

All input is validated before the first remote call: the inventory, the host selection and
the bundle (local files hashed).  Without an inventory the hosts are the simulated host: the
one served from ``--sim-state-dir`` by ``hpc-e2e sim serve`` if it answers, otherwise a new
one started in this process for the duration of the command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.runtime.bundle import RuntimeBundle
from harness.runtime.deploy import CriFactory, deploy
from harness.runtime.sandbox_image import IMAGES_FILE
from harness.runtime.summary import Change, ProvisionSummary
from harness.transport import open_transport
from harness.windows import WindowsHost

log = logging.getLogger("harness.runtime")

CONTAINERS = "Containers"
HYPERV = "Hyper-V"
NO_RESTART_HYPERV_NOTE = ("Hyper-V not enabled: it needs a restart and this host may not "
                          "restart (allow_restart = false); hyperv scenarios will skip")
NO_NESTED_NOTE = ("Hyper-V not enabled: a virtual machine without nested virtualization; "
                  "hyperv scenarios will skip: no nested virtualization")


def wanted_features(facts) -> list[str]:
    """Containers always; Hyper-V when the machine can run a hypervisor (or runs one).

    A host without virtualization extensions (a VM without nested virtualization) refuses
    Hyper-V outright (docs/behaviour/ecosystem.md §4.1, §4.2); it still runs process-isolated pods.
    """
    features = [CONTAINERS]
    if _hyperv_possible(facts):
        features.append(HYPERV)
    return features


def _hyperv_possible(facts) -> bool:
    return facts.hyperv_capable or facts.feature_state(HYPERV) in ("Installed", "InstallPending")


def provision_host(host, bundle: RuntimeBundle, *, cri: CriFactory,
                   images_file: Path | None = IMAGES_FILE,
                   progress: Callable[[str], None] | None = None,
                   allow_restart: bool | None = None) -> ProvisionSummary:
    """Provision one :class:`~harness.windows.WindowsHost`; what it did.

    ``allow_restart`` (default: the target's inventory setting) false: the host is never
    restarted.  A feature that is not installed yet and would need a restart (Hyper-V) is
    left alone with a note; Containers, without which nothing runs, is installed if it can be
    without a restart, and otherwise provisioning stops saying so.
    """
    say = progress or (lambda message: log.info("%s: %s", host.name, message))
    if allow_restart is None:
        allow_restart = getattr(getattr(host.transport, "target", None), "allow_restart", True)
    facts = host.facts()
    if facts.feature_error:
        raise HarnessError(f"{host.name}: cannot read Windows features: {facts.feature_error}",
                           hint="hpc-e2e provisions Windows Server hosts (Install-WindowsFeature)")
    changes: list[Change] = []
    notes: list[str] = []
    wanted = wanted_features(facts)
    if HYPERV not in wanted:
        notes.append(NO_NESTED_NOTE if facts.vm_without_nested_virtualization else
                     "Hyper-V not enabled: this machine offers no virtualization extensions "
                     "(hypervisor-isolated scenarios will be skipped)")
    elif not allow_restart and facts.feature_state(HYPERV) != "Installed":
        wanted.remove(HYPERV)
        notes.append(NO_RESTART_HYPERV_NOTE)
    missing = [f for f in wanted if facts.feature_state(f) != "Installed"]
    restarted = False
    if missing:
        say(f"enabling Windows features {', '.join(missing)} "
            + ("(restarting if Windows asks)" if allow_restart else "(without a restart)"))
        change = host.enable_features(missing, restart=allow_restart)
        if change.restart_needed and not allow_restart:
            raise HarnessError(
                f"{host.name}: Windows features {', '.join(missing)} need a restart to finish "
                f"installing, and this host may not restart (allow_restart = false in the "
                f"inventory)", hint="restart the host yourself and provision again, or use a "
                                    "host image with the Containers feature installed")
        for feature in missing:
            changes.append(Change(f"feature {feature}", "enabled",
                                  f"was {change.before.get(feature, 'absent')}"))
        if change.restarted is not None:
            restarted = True
            changes.append(Change("host", "restarted", "to finish installing features"))
        if not change.installed:
            still = ", ".join(f"{n}={s}" for n, s in change.after.items() if s != "Installed")
            raise HarnessError(f"{host.name}: features not installed after enabling them: "
                               f"{still}", hint="look at the host's CBS log "
                                                "(C:\\Windows\\Logs\\CBS)")
        facts = host.facts()
    summary = deploy(host, bundle, cri=cri, facts=facts, images_file=images_file,
                     progress=say)
    return ProvisionSummary(
        host=host.name, os=facts.caption, build=facts.build,
        features={f: facts.feature_state(f) or "absent" for f in (CONTAINERS, HYPERV)},
        hyperv_capable=facts.hyperv_capable, restarted=restarted, deploy=summary,
        changes=changes, notes=notes)


# --- choosing hosts -----------------------------------------------------------------------
@dataclass
class Plan:
    """Everything validated, nothing contacted yet (made by :func:`harness.hosts.provision_plan`)."""

    targets: list  # list[Target]
    bundle: RuntimeBundle
    sim: object = None  # a simulated host started by this process (stopped by close())

    def close(self) -> None:
        if self.sim is not None:
            self.sim.stop()
            self.sim = None


# --- running ------------------------------------------------------------------------------
@dataclass
class HostOutcome:
    name: str
    summary: ProvisionSummary | None = None
    error: HarnessError | None = None


def run_plan(p: Plan, *, cri: CriFactory, progress: Callable[[str, str], None] | None = None,
             images_file: Path | None = IMAGES_FILE) -> list[HostOutcome]:
    """Provision every planned host, concurrently (one transport each); outcomes in order."""
    def one(target) -> HostOutcome:
        say = (lambda message: progress(target.name, message)) if progress else None
        try:
            with open_transport(target) as transport:
                host = WindowsHost(transport)
                return HostOutcome(target.name, provision_host(
                    host, p.bundle, cri=cri, progress=say, images_file=images_file))
        except HarnessError as exc:
            return HostOutcome(target.name, error=exc)

    if len(p.targets) == 1:
        return [one(p.targets[0])]
    with ThreadPoolExecutor(max_workers=min(8, len(p.targets))) as pool:
        return list(pool.map(one, p.targets))


__all__ = ["HostOutcome", "Plan", "provision_host", "run_plan", "wanted_features"]
