"""``WindowsHost``: the operations the harness needs on a Windows host, over any transport.

Everything goes through the named script catalog (:mod:`harness.windows.catalog`) and the
transport's bootstrap, so the same code drives a lab machine over WinRM or SSH and the
simulated host.  Nothing here keeps state about the host beyond the transport itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.transport.base import Transport
from harness.transport.powershell import ScriptCatalog
from harness.windows import features as _features
from harness.windows import restart as _restart
from harness.windows.catalog import SCRIPTS, call
from harness.windows.facts import HostFacts
from harness.windows.features import FeatureChange
from harness.windows.files import Files
from harness.windows.restart import RestartResult
from harness.windows.services import Services

FACTS_TIMEOUT = 120.0  # Get-WindowsFeature alone can take tens of seconds on a real host


class WindowsHost:
    """One Windows host behind one transport (not thread-safe, like the transport)."""

    def __init__(self, transport: Transport, *, catalog: ScriptCatalog | None = None,
                 restart_delay: int = _restart.RESTART_DELAY,
                 restart_attempt_timeout: float = _restart.ATTEMPT_TIMEOUT,
                 restart_poll: float = _restart.POLL_INTERVAL):
        self.transport = transport
        self.catalog = catalog or SCRIPTS
        self.restart_delay = restart_delay
        self.restart_attempt_timeout = restart_attempt_timeout
        self.restart_poll = restart_poll
        self.services = Services(transport)
        self.files = Files(transport)

    @property
    def name(self) -> str:
        return self.transport.target.name

    def __repr__(self) -> str:
        return f"<WindowsHost {self.name} via {type(self.transport).__name__}>"

    # --- scripts ---------------------------------------------------------------------------
    def script(self, name: str, args: Mapping[str, Any] | None = None, *,
               timeout: float = 120.0, what: str | None = None,
               stdin_chunks: Iterable[bytes] | None = None) -> Any:
        """Run a catalog script by name; its result value (errors as in :func:`catalog.call`)."""
        return call(self.transport, name, args, timeout=timeout, catalog=self.catalog,
                    what=what, stdin_chunks=stdin_chunks)

    # --- facts -----------------------------------------------------------------------------
    def facts(self, *, timeout: float = FACTS_TIMEOUT) -> HostFacts:
        """Everything :class:`HostFacts` holds, in one round trip."""
        sent = time.time()
        value = call(self.transport, "host_facts", timeout=timeout, catalog=self.catalog,
                     what="read the host's facts", repeatable=True)
        # The clock was read somewhere inside the round trip; its middle is the best guess.
        return HostFacts.from_result(value, host=self.name,
                                     received_at=(sent + time.time()) / 2)

    def nat_network(self, *, timeout: float = FACTS_TIMEOUT) -> tuple[str, str] | None:
        """``(subnet, gateway)`` of the host's HNS ``nat`` network, or None without one."""
        value = call(self.transport, "nat_network", timeout=timeout, catalog=self.catalog,
                     what="read the HNS nat network", repeatable=True)
        if not isinstance(value, dict) or not value.get("found"):
            return None
        subnet, gateway = value.get("subnet"), value.get("gateway")
        if not isinstance(subnet, str) or not isinstance(gateway, str) or not subnet:
            return None
        return subnet, gateway

    def boot_time(self):
        """The last boot time (UTC datetime)."""
        return _restart.boot_time(self.transport, timeout=self.restart_attempt_timeout)

    # --- features and restarts ---------------------------------------------------------------
    def enable_features(self, names: Sequence[str] | str, *, restart: bool = True,
                        timeout: float = 900.0) -> FeatureChange:
        """Install Windows features (e.g. ``["Containers", "Hyper-V"]``).

        With ``restart`` the host is restarted when Windows asks for it and the states are
        read again afterwards; without, ``FeatureChange.restart_needed`` says one is due.
        ``timeout`` bounds the installation and, separately, the restart.
        """
        if isinstance(names, str):
            names = [names]
        return _features.enable(self.transport, list(names), restart=restart, timeout=timeout,
                                restart_fn=lambda t: self.restart(timeout=t))

    def restart(self, timeout: float = 900.0) -> RestartResult:
        """Restart the host and wait, at most ``timeout`` seconds, until it answers again on
        this transport with a new boot time (:class:`RestartTimeout` otherwise)."""
        return _restart.restart_and_wait(self.transport, timeout=timeout,
                                         delay=self.restart_delay,
                                         attempt_timeout=self.restart_attempt_timeout,
                                         poll_interval=self.restart_poll)


__all__ = ["FACTS_TIMEOUT", "WindowsHost"]
