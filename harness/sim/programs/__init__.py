"""The programs installed on the simulated host, and the one place that installs them.

Each module holds the behaviour of one program or one family of them, as callables
``program(ctx: ProcessContext) -> int``.  :func:`install_standard_programs` puts every one on
the machine's disk and registers its behaviour (:meth:`Machine.register_program`).

Windows programs: ``cmd.exe`` (:mod:`.cmd`, its built-ins in :mod:`.cmd_builtins`),
``hostname.exe``, ``whoami.exe`` and ``net.exe user`` (:mod:`.identity`), ``waitfor.exe``
(:mod:`.waitfor`, the suite's idle command), ``powershell.exe`` (:mod:`.powershell`).

The machine does not import its programs: whoever builds one hands them to it
(:func:`standard_machine`, or :func:`install_standard_programs` on a machine built
otherwise), so :mod:`harness.sim.machine` sits below every program in the import graph.

Sim-only diagnostic programs live in ``C:\\hpc-e2e-sim\\bin`` (:mod:`.simtools`); they are
not part of Windows and not on ``PATH``: tests call them by full path.
"""

from __future__ import annotations

from typing import Any

from harness.sim import guest
from harness.sim.cri.images import SOURCE_BEHAVIOUR
from harness.sim.machine import CMD_EXE, POWERSHELL_EXE, SIM_BIN, SYSTEM32, Machine
from harness.sim.programs import (
    chcp,
    cmd,
    containerd,
    crictl,
    identity,
    probe_idle,
    simtools,
    waitfor,
)
from harness.sim.programs.powershell import powershell_program


def standard_machine(*args: Any, **kwargs: Any) -> Machine:
    """A :class:`Machine` (same arguments) with every standard program installed: the
    host ``SimHost`` serves and the tests drive.  A bare ``Machine`` has no programs."""
    machine = Machine(*args, **kwargs)
    install_standard_programs(machine)
    return machine


def install_standard_programs(machine: Machine) -> None:
    machine.register_program(CMD_EXE, cmd.cmd_program)
    machine.register_program(rf"{SYSTEM32}\hostname.exe", identity.hostname_program)
    machine.register_program(rf"{SYSTEM32}\whoami.exe", identity.whoami_program)
    machine.register_program(rf"{SYSTEM32}\net.exe", identity.net_program)
    machine.register_program(rf"{SYSTEM32}\waitfor.exe", waitfor.waitfor_program)
    machine.register_program(rf"{SYSTEM32}\chcp.com", chcp.chcp_program)
    machine.register_program(POWERSHELL_EXE, powershell_program)
    # Probe programs built from C source (hpc_images/*.c) run their model wherever they are.
    machine.register_behaviour(SOURCE_BEHAVIOUR + probe_idle.SOURCE,
                               probe_idle.probe_idle_program)
    for name, program in simtools.PROGRAMS.items():
        machine.register_program(rf"{SIM_BIN}\{name}", program)
    # The runtime under test arrives as placeholder binaries (harness/sim/bundle.py) whose
    # content names these behaviours; the guest adds ipconfig/ping to System32.
    containerd.install(machine)
    crictl.install(machine)
    guest.install(machine)
    # The bind filter exists from 20H1 and on WS2022+ (docs/behaviour/runtime.md §7); the
    # shim and the guest decide PI-HPC rootfs handling by this file (§3.1).
    if machine.profile.build >= 19041:
        machine.fs.write_bytes(rf"{SYSTEM32}\bindfltapi.dll", b"MZ\r\nbind filter API (sim)\r\n")


__all__ = ["install_standard_programs", "standard_machine"]
