"""What a simulated host *is*: its profile (fixed at creation) and its live facts.

A :class:`HostProfile` says which Windows the sim pretends to be (build, edition, whether
the CPU offers virtualization extensions, whether the remote user is an elevated
administrator, how long a restart takes).  :class:`HostFacts` is the mutable state the
catalog scripts read and change: feature install states, boot time, pending restart.
Feature states and their names follow docs/behaviour/ecosystem.md §4.1 (``Available``,
``Installed``, ``InstallPending``); build numbers follow §4.3.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

AVAILABLE = "Available"
INSTALLED = "Installed"
INSTALL_PENDING = "InstallPending"
FEATURE_STATES = (AVAILABLE, INSTALLED, INSTALL_PENDING)

# Features every modelled Server SKU lists (docs/behaviour/ecosystem.md §4.1); the profile may add more.
DEFAULT_FEATURES = {"Hyper-V": AVAILABLE, "Containers": AVAILABLE}

# Feature -> whether installing it needs a restart on Windows Server.  Both do (§4.1: the
# documented flow installs them with -Restart / reboots afterwards).
RESTART_NEEDED = {"hyper-v": True, "containers": True}

# hcsshim osversion/windowsbuilds.go (docs/behaviour/ecosystem.md §4.3).
CAPTIONS = {
    17763: "Microsoft Windows Server 2019",
    20348: "Microsoft Windows Server 2022",
    26100: "Microsoft Windows Server 2025",
}
EDITION_NAMES = {
    "ServerDatacenter": "Datacenter",
    "ServerStandard": "Standard",
    "ServerDatacenterCor": "Datacenter",
    "ServerStandardCor": "Standard",
}
DEFAULT_UBR = {17763: 6893, 20348: 2340, 26100: 1742}


@dataclass(frozen=True)
class HostProfile:
    """The fixed properties of a simulated host (one per sim host, chosen by the test)."""

    name: str = "SIMHOST"
    build: int = 26100
    ubr: int | None = None  # None: a plausible UBR for the build
    edition: str = "ServerDatacenter"  # the EditionID registry value
    # Virtualization extensions offered to this machine: enabled in firmware on hardware; on a
    # virtual machine, nested virtualization exposed by its host (Set-VMProcessor
    # -ExposeVirtualizationExtensions $true).
    hyperv_capable: bool = True
    # A guest of some hypervisor (Hyper-V, Azure, VMware): Win32_ComputerSystem
    # .HypervisorPresent is true from the first boot, whether or not Hyper-V could run inside.
    virtual_machine: bool = False
    elevated: bool = True  # the remote user's token is an elevated administrator's
    features: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FEATURES))
    restart_seconds: float = 1.0  # how long the host is unreachable during a restart
    free_disk_gb: float = 64.0
    disk_size_gb: float = 127.0
    ps_version: str | None = None  # None: "5.1.<build>.<n>" as Windows PowerShell reports
    hypervisor_present: bool = False  # a hypervisor runs already (Hyper-V installed at boot)
    # The HNS "nat" network that HNS creates once the Containers feature is installed and the
    # host restarted (ASSUMPTIONS.md "The nat network"); None: a host without one.
    nat_network: tuple[str, str] | None = ("172.27.96.0/20", "172.27.96.1")  # subnet, gateway

    def __post_init__(self) -> None:
        for name, state in self.features.items():
            if state not in FEATURE_STATES:
                raise ValueError(f"feature {name}: state {state!r} is not one of "
                                 f"{', '.join(FEATURE_STATES)}")
        if self.restart_seconds < 0:
            raise ValueError("restart_seconds must not be negative")

    @property
    def revision(self) -> int:
        return self.ubr if self.ubr is not None else DEFAULT_UBR.get(self.build, 1)

    @property
    def os_version(self) -> str:
        """``10.0.<build>.<UBR>``, what ``ver`` prints (docs/behaviour/ecosystem.md §4.3)."""
        return f"10.0.{self.build}.{self.revision}"

    @property
    def caption(self) -> str:
        """``Win32_OperatingSystem.Caption``, e.g. "Microsoft Windows Server 2022 Datacenter"."""
        base = CAPTIONS.get(self.build, f"Microsoft Windows Server (build {self.build})")
        return f"{base} {EDITION_NAMES.get(self.edition, self.edition)}"

    @property
    def powershell_version(self) -> str:
        return self.ps_version or f"5.1.{self.build}.1"

    @classmethod
    def from_os_version(cls, name: str, os_version: str, **kwargs) -> HostProfile:
        """A profile from ``10.0.<build>.<ubr>`` (the older ``Machine(os_version=)`` form)."""
        parts = os_version.split(".")
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise ValueError(f"os_version {os_version!r} is not 10.0.<build>.<ubr>")
        return cls(name=name, build=int(parts[2]), ubr=int(parts[3]), **kwargs)


class HostFacts:
    """The live, mutable facts of one simulated host; every access holds its lock.

    Feature names compare case-insensitively and keep their spelling, as
    ``Get-WindowsFeature`` does.
    """

    def __init__(self, profile: HostProfile):
        self.profile = profile
        self.computer_name = profile.name.upper()[:15]
        self.lock = threading.RLock()
        self._features: dict[str, tuple[str, str]] = {
            n.lower(): (n, s) for n, s in profile.features.items()}
        self.boot_time = time.time()
        self.boot_count = 1
        self.restarting = False
        self.free_disk_bytes = int(profile.free_disk_gb * (1 << 30))
        self.disk_size_bytes = int(profile.disk_size_gb * (1 << 30))
        self.hypervisor_present = profile.hypervisor_present or profile.virtual_machine or \
            self.hyperv_running

    @property
    def hyperv_running(self) -> bool:
        """This machine's own Hyper-V hypervisor runs (installed at boot, and able to)."""
        return self.feature_state("Hyper-V") == INSTALLED and self.profile.hyperv_capable

    # --- features --------------------------------------------------------------------------
    def feature_state(self, name: str) -> str | None:
        """The install state of ``name``; ``None`` if this host has no such feature."""
        with self.lock:
            entry = self._features.get(name.lower())
            return entry[1] if entry else None

    def feature_name(self, name: str) -> str | None:
        with self.lock:
            entry = self._features.get(name.lower())
            return entry[0] if entry else None

    def features(self) -> dict[str, str]:
        with self.lock:
            return {n: s for n, s in self._features.values()}

    def set_feature(self, name: str, state: str) -> None:
        if state not in FEATURE_STATES:
            raise ValueError(f"feature state {state!r} is not one of {FEATURE_STATES}")
        with self.lock:
            entry = self._features.get(name.lower())
            self._features[name.lower()] = (entry[0] if entry else name, state)

    def pending_restart(self) -> bool:
        with self.lock:
            return any(s == INSTALL_PENDING for _, s in self._features.values())

    # --- restart ---------------------------------------------------------------------------
    def boot(self) -> list[str]:
        """What a restart completes: pending features become installed, a new boot time.

        Returns the features that were completed.
        """
        with self.lock:
            done = [n for n, s in self._features.values() if s == INSTALL_PENDING]
            for n in done:
                self._features[n.lower()] = (n, INSTALLED)
            if self.hyperv_running:
                self.hypervisor_present = True
            # Strictly later than the previous boot even on a coarse clock.
            self.boot_time = max(time.time(), self.boot_time + 0.001)
            self.boot_count += 1
            return done

    def snapshot(self) -> dict[str, object]:
        """Everything a caller can observe, as plain data (for tests and diagnostics)."""
        p = self.profile
        with self.lock:
            return {
                "computer_name": self.computer_name,
                "caption": p.caption,
                "build": p.build,
                "ubr": p.revision,
                "edition": p.edition,
                "hyperv_capable": p.hyperv_capable,
                "virtual_machine": p.virtual_machine,
                "hypervisor_present": self.hypervisor_present,
                "elevated": p.elevated,
                "features": self.features(),
                "ps_version": p.powershell_version,
                "free_disk_bytes": self.free_disk_bytes,
                "boot_time": self.boot_time,
                "restarting": self.restarting,
            }


__all__ = [
    "AVAILABLE",
    "FEATURE_STATES",
    "INSTALLED",
    "INSTALL_PENDING",
    "RESTART_NEEDED",
    "HostFacts",
    "HostProfile",
]
