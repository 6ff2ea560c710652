"""How the harness reaches a Windows host: one contract, three backends.

``run(command, timeout=, stdin=)`` / ``put`` / ``get`` / ``close`` — see :mod:`.base`.
Backends are imported lazily by :func:`open_transport` so that paramiko or pywinrm are
only loaded when a host uses them (the testinfra backend-registry pattern,
docs/behaviour/protocols.md §2.2).
"""

from __future__ import annotations

import importlib

from harness.transport.base import CommandResult, TransferResult, Transport

BACKENDS = {
    "winrm": "harness.transport.winrm:WinRMTransport",
    "ssh": "harness.transport.ssh:SSHTransport",
    "local": "harness.transport.local:LocalTransport",
}


def open_transport(target) -> Transport:
    """Build the transport a :class:`~harness.config.target.Target` asks for (not yet connected)."""
    module, _, cls = BACKENDS[target.transport].partition(":")
    return getattr(importlib.import_module(module), cls)(target)


__all__ = ["BACKENDS", "CommandResult", "TransferResult", "Transport", "open_transport"]
