"""Where the CRI model hands a process over to whoever starts it: the launcher interface.

The CRI model (:mod:`harness.sim.cri.runtime`) decides whether and as what a process runs;
a *launcher* starts it where it runs.  The real one is the guest model,
``harness.sim.guest.launch``, which sits above the CRI package and is handed to
:class:`~harness.sim.cri.runtime.CriRuntime` by whoever builds it (the simulated
``containerd.exe``, or a test with a recording stand-in), so the CRI package never imports
the guest back.  A launcher that cannot create the process raises :class:`LaunchError`,
which the runtime wraps in containerd's words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.sim.cri.flavors import Flavor
    from harness.sim.cri.model import ContainerRecord, ProcessSpec
    from harness.sim.process import SimProcess


class LaunchError(Exception):
    """The compute system could not create the process.

    ``str()`` is the text the shim (PI-HPC, ``jobcontainers``) or HCS (UVM and normal
    containers) returns; the CRI model wraps it in containerd's words.  ``winerror`` is the
    Win32 code when there is one (ERROR_FILE_NOT_FOUND for a missing executable).
    """

    def __init__(self, message: str, winerror: int | None = None):
        super().__init__(message)
        self.message = message
        self.winerror = winerror


class Launcher(Protocol):
    """Starts ``process`` in ``container`` on ``machine`` and returns it running.

    ``flavor`` is the runtime's flavor (it decides the job container's rules and what the
    guest exposes); ``init`` says the process is the container's init process, not an exec.
    """

    def __call__(self, machine: Any, container: ContainerRecord, process: ProcessSpec, *,
                 flavor: Flavor, init: bool) -> SimProcess: ...


__all__ = ["LaunchError", "Launcher"]
