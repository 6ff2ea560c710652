"""Enabling Windows Server features (Hyper-V, Containers) with the restart they need.

``enable_features.ps1`` installs without restarting and reports each feature's state
before and after and whether Windows asks for a restart (docs/behaviour/ecosystem.md §4.1).  The
restart is then ours (:mod:`harness.windows.restart`), so it is bounded and survived on the
same transport, and the states are read again afterwards: a feature still pending after a
restart is an error, not a silent success.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from harness.errors import HarnessError
from harness.transport.base import Transport
from harness.windows.catalog import SCRIPTS, call
from harness.windows.errors import FeatureInstallError, HostScriptError
from harness.windows.facts import INSTALL_PENDING, INSTALLED
from harness.windows.restart import RestartResult

INSTALL_TIMEOUT = 1800.0  # Install-WindowsFeature of Hyper-V takes minutes on a real host

_PREREQUISITE_HINT = (
    "this machine offers no virtualization extensions to Windows; on a Hyper-V VM turn them "
    "on with the VM off: Set-VMProcessor -VMName <vm> -ExposeVirtualizationExtensions $true "
    "(docs/behaviour/ecosystem.md §4.2), or enable virtualization in the firmware; process-isolated "
    "scenarios need only the Containers feature")


@dataclass(frozen=True)
class FeatureChange:
    """What enabling features did.

    ``before``/``after`` map each requested feature to its ``InstallState``; ``after`` is
    read after the restart when there was one.  ``restart_needed`` is true while a
    restart is *still* needed (Windows asked for one and it has not happened);
    ``restarted`` says the harness restarted the host.
    """

    names: tuple[str, ...]
    before: Mapping[str, str]
    after: Mapping[str, str]
    exit_code: str  # Install-WindowsFeature's ExitCode: Success, SuccessRestartRequired, ...
    windows_requested_restart: bool
    restart_needed: bool
    restarted: RestartResult | None = None

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if self.before.get(n) != self.after.get(n))

    @property
    def installed(self) -> bool:
        return all(self.after.get(n) == INSTALLED for n in self.names)


def _parse(value: Any, names: Sequence[str], host: str) -> tuple[dict, dict, str, bool]:
    try:
        before, after = {}, {}
        for item in value["features"]:
            before[str(item["name"])] = str(item["before"])
            after[str(item["name"])] = str(item["after"])
        exit_code = str(value["exit_code"])
        asked = str(value["restart_needed"]).lower() in ("yes", "maybe", "true")
    except (KeyError, TypeError, ValueError) as exc:
        raise HarnessError(f"{host}: enable_features answered an object this harness cannot "
                           f"read ({type(exc).__name__}: {exc})") from None
    return before, after, exit_code, asked


def _by_request(states: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """Key by the names as the caller spelled them."""
    lower = {k.lower(): v for k, v in states.items()}
    return {n: lower.get(n.lower(), "absent") for n in names}


def install(transport: Transport, names: Sequence[str], *,
            timeout: float = INSTALL_TIMEOUT) -> tuple[dict, dict, str, bool]:
    """Run ``enable_features.ps1``; (before, after, exit code, Windows asks for a restart)."""
    host = transport.target.name
    try:
        value = call(transport, "enable_features", {"names": list(names)}, timeout=timeout,
                     catalog=SCRIPTS, what=f"enable Windows features {', '.join(names)}")
    except HostScriptError as exc:
        hint = _PREREQUISITE_HINT if "prerequisite check" in exc.text.lower() or \
            "virtualization" in exc.text.lower() else \
            "look at Install-WindowsFeature's log on the host (C:\\Windows\\Logs\\CBS)"
        raise FeatureInstallError(f"{host}: Windows refused to enable "
                                  f"{', '.join(names)}: {exc.text}", hint=hint) from None
    before, after, exit_code, asked = _parse(value, names, host)
    return _by_request(before, names), _by_request(after, names), exit_code, asked


def enable(transport: Transport, names: Sequence[str], *, restart: bool, timeout: float,
           restart_fn) -> FeatureChange:
    """Install ``names``; restart (with ``restart_fn(timeout)``) when Windows asks for it."""
    names = tuple(dict.fromkeys(str(n) for n in names))
    if not names:
        raise ValueError("enable_features needs at least one feature name")
    host = transport.target.name
    before, after, exit_code, asked = install(transport, names, timeout=timeout)
    pending = asked or any(s == INSTALL_PENDING for s in after.values())
    restarted = None
    if pending and restart:
        restarted = restart_fn(timeout)
        # Again, to read the states after the restart; it changes nothing that is installed.
        _, after, _, asked_again = install(transport, names, timeout=timeout)
        still = [n for n, s in after.items() if s != INSTALLED]
        if still or asked_again:
            raise FeatureInstallError(
                f"{host}: {', '.join(still) or ', '.join(names)} still not installed after "
                f"a restart (states: {after})",
                hint="Windows may need a second restart, or the installation failed at "
                     "boot; look at C:\\Windows\\Logs\\CBS\\CBS.log on the host")
        pending = False
    return FeatureChange(names, MappingProxyType(before), MappingProxyType(after), exit_code,
                         asked, pending, restarted)


__all__ = ["INSTALL_TIMEOUT", "FeatureChange", "enable", "install"]
