"""What a Windows host is, read in one round trip (``host_facts.ps1``).

The facts decide what a run can test (Hyper-V isolation needs virtualization extensions,
process isolation needs a matching image build) and go into every report, so they are a
frozen value read once, not a live view.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from harness.errors import HarnessError

# hcsshim osversion/windowsbuilds.go (docs/behaviour/ecosystem.md §4.3).
LTSC_NAMES = {17763: "ltsc2019", 20348: "ltsc2022", 26100: "ltsc2025"}

INSTALLED = "Installed"
AVAILABLE = "Available"
INSTALL_PENDING = "InstallPending"


def parse_time(text: str | None, what: str) -> datetime:
    """A script's ``yyyy-MM-ddTHH:mm:ss.fffZ`` as an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        raise HarnessError(f"the host reported {what} as {text!r}, not an ISO 8601 time",
                           hint="the host is not answering with the hpc-e2e script protocol"
                           ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class HostFacts:
    """One host's identity, OS, features, capabilities, access and clock."""

    computer_name: str
    caption: str  # Win32_OperatingSystem.Caption, e.g. "Microsoft Windows Server 2022 Datacenter"
    build: int  # CurrentBuild (docs/behaviour/ecosystem.md §4.3)
    ubr: int  # update build revision
    edition: str  # EditionID, e.g. "ServerDatacenter"
    display_version: str  # e.g. "21H2"; empty on Server 2019
    features: Mapping[str, str]  # Get-WindowsFeature name -> InstallState (§4.1)
    feature_error: str | None  # why features could not be read, if they could not
    virtualization_firmware_enabled: bool
    vm_monitor_mode_extensions: bool
    slat: bool
    hypervisor_present: bool
    system_drive: str
    free_disk_bytes: int
    disk_size_bytes: int
    elevated: bool  # the remote user's token is an elevated administrator's
    user: str
    ps_version: str
    clock: datetime  # the host's clock (UTC) when the facts were read
    boot_time: datetime  # last boot (UTC)
    clock_skew: float = 0.0  # host clock minus this machine's clock, seconds (approx.)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # --- derived ---------------------------------------------------------------------------
    @property
    def os_version(self) -> str:
        """``10.0.<build>.<UBR>``, as ``ver`` prints it."""
        return f"10.0.{self.build}.{self.ubr}"

    @property
    def ltsc(self) -> str | None:
        """The LTSC image tag matching this build (``ltsc2022``...), if it is an LTSC build."""
        return LTSC_NAMES.get(self.build)

    @property
    def extensions_offered(self) -> bool:
        """The processor shows this OS all it needs for Hyper-V: virtualization enabled in
        firmware, VM monitor mode extensions and SLAT (Win32_Processor)."""
        return (self.virtualization_firmware_enabled and self.vm_monitor_mode_extensions
                and self.slat)

    @property
    def hyperv_capable(self) -> bool:
        """Whether Hyper-V can run here: it runs already, or the processor offers what it needs.

        ``HypervisorPresent`` alone proves nothing: it is true in every guest (Hyper-V,
        Azure, VMware), with or without nested virtualization.  What tells them apart is
        whether the guest's host exposes the virtualization extensions to it (nested
        virtualization, switched on from the host: Microsoft Learn, "Run Hyper-V in a Virtual
        Machine with Nested Virtualization", Set-VMProcessor -ExposeVirtualizationExtensions);
        without it Hyper-V hides them from its guests (Microsoft Virtualization Blog, 2015,
        "Windows Insider Preview: Nested Virtualization"), and Install-WindowsFeature Hyper-V
        fails its prerequisite check (docs/behaviour/ecosystem.md §4.1).  While this machine's own
        hypervisor runs the processor properties read false as well, so "Hyper-V installed
        and a hypervisor present" counts as running.  Microsoft documents the requirement
        properties as meaningful only "if a HyperVisor is not present" (PowerShell SDK,
        ComputerInfo.HyperVRequirementVMMonitorModeExtensions); in a guest the sim and this
        rule take them as what the guest is offered (harness/sim/ASSUMPTIONS.md).
        """
        running = self.hypervisor_present and self.feature_installed("Hyper-V")
        return running or self.extensions_offered

    @property
    def vm_without_nested_virtualization(self) -> bool:
        """A guest (a hypervisor is present, not its own Hyper-V) offered no extensions."""
        return self.hypervisor_present and not self.hyperv_capable

    @property
    def free_disk_gb(self) -> float:
        return self.free_disk_bytes / (1 << 30)

    def feature_state(self, name: str) -> str | None:
        """``InstallState`` of a feature (name compared case-insensitively); None if absent."""
        for key, state in self.features.items():
            if key.lower() == name.lower():
                return state
        return None

    def feature_installed(self, name: str) -> bool:
        return self.feature_state(name) == INSTALLED

    @property
    def restart_pending(self) -> bool:
        """Some feature waits for a restart to finish installing."""
        return any(s == INSTALL_PENDING for s in self.features.values())

    def summary(self) -> str:
        """One line for logs and reports."""
        feats = ", ".join(f"{k}={v}" for k, v in sorted(self.features.items())) or \
            f"features unknown ({self.feature_error})"
        nested = " (a VM without nested virtualization)" \
            if self.vm_without_nested_virtualization else ""
        return (f"{self.computer_name}: {self.caption} {self.os_version}; {feats}; "
                f"hyper-v capable={self.hyperv_capable}{nested}; elevated={self.elevated}; "
                f"free {self.free_disk_gb:.1f} GiB on {self.system_drive}; "
                f"PowerShell {self.ps_version}")

    # --- parsing ---------------------------------------------------------------------------
    @classmethod
    def from_result(cls, value: Any, *, host: str = "host",
                    received_at: float | None = None) -> HostFacts:
        """Build from ``host_facts.ps1``'s result; a malformed answer is a clear error."""
        if not isinstance(value, Mapping):
            raise HarnessError(f"{host}: host_facts answered {type(value).__name__}, not an "
                               "object", hint="the host is not answering with the hpc-e2e "
                               "script protocol")
        try:
            features_raw = value.get("features") or {}
            if not isinstance(features_raw, Mapping):
                raise TypeError("features is not an object")
            clock = parse_time(value["clock_utc"], "its clock")
            now = received_at if received_at is not None else time.time()
            return cls(
                computer_name=str(value["computer_name"]),
                caption=str(value["caption"]),
                build=int(value["build"]),
                ubr=int(value["ubr"]),
                edition=str(value["edition"]),
                display_version=str(value.get("display_version") or ""),
                features=MappingProxyType({str(k): str(v) for k, v in features_raw.items()}),
                feature_error=(str(value["feature_error"]) if value.get("feature_error")
                               else None),
                virtualization_firmware_enabled=bool(value["virtualization_firmware_enabled"]),
                vm_monitor_mode_extensions=bool(value["vm_monitor_mode_extensions"]),
                slat=bool(value["slat"]),
                hypervisor_present=bool(value["hypervisor_present"]),
                system_drive=str(value["system_drive"]),
                free_disk_bytes=int(value["free_disk_bytes"]),
                disk_size_bytes=int(value["disk_size_bytes"]),
                elevated=bool(value["elevated"]),
                user=str(value["user"]),
                ps_version=str(value["ps_version"]),
                clock=clock,
                boot_time=parse_time(value["boot_time_utc"], "its boot time"),
                clock_skew=clock.timestamp() - now,
                raw=MappingProxyType(dict(value)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HarnessError(f"{host}: host_facts answered an object this harness cannot "
                               f"read ({type(exc).__name__}: {exc})",
                               hint="the host's host_facts.ps1 and this harness disagree; "
                                    "is the checkout consistent?") from None


__all__ = [
    "AVAILABLE",
    "INSTALLED",
    "INSTALL_PENDING",
    "LTSC_NAMES",
    "HostFacts",
    "parse_time",
]
