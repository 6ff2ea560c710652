"""The programs installed on the simulated host, and the one place that installs them.

Each module holds the behaviour of one program or one family of them, as callables
``program(ctx: ProcessContext) -> int``.  :func:`install_standard_programs` puts every one on
the machine's disk and registers its behaviour (:meth:`Machine.register_program`).

Windows programs: ``cmd.exe`` (:mod:`.cmd`, its built-ins in :mod:`.cmd_builtins`),
``hostname.exe``, ``whoami.exe`` and ``net.exe user`` (:mod:`.identity`), ``waitfor.exe``
(:mod:`.waitfor`, the suite's idle command), ``powershell.exe``
(:mod:`.powershell`, imported only when it runs, so the machine works without it).

Sim-only diagnostic programs live in ``C:\\hpc-e2e-sim\\bin`` (:mod:`.simtools`); they are
not part of Windows and not on ``PATH``: tests call them by full path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.sim.process import ProcessContext

if TYPE_CHECKING:
    from harness.sim.machine import Machine


def _powershell(ctx: ProcessContext) -> int:
    try:
        from harness.sim.programs.powershell import powershell_program
    except ImportError as exc:
        ctx.stderr.line("the simulated host has no model of powershell.exe "
                        f"(harness.sim.programs.powershell cannot be imported: {exc})")
        return 1
    return powershell_program(ctx)


def install_standard_programs(machine: Machine) -> None:
    from harness.sim.machine import CMD_EXE, POWERSHELL_EXE, SIM_BIN, SYSTEM32
    from harness.sim.cri.images import SOURCE_BEHAVIOUR
    from harness.sim.programs import chcp, cmd, identity, probe_idle, simtools, waitfor

    machine.register_program(CMD_EXE, cmd.cmd_program)
    machine.register_program(rf"{SYSTEM32}\hostname.exe", identity.hostname_program)
    machine.register_program(rf"{SYSTEM32}\whoami.exe", identity.whoami_program)
    machine.register_program(rf"{SYSTEM32}\net.exe", identity.net_program)
    machine.register_program(rf"{SYSTEM32}\waitfor.exe", waitfor.waitfor_program)
    machine.register_program(rf"{SYSTEM32}\chcp.com", chcp.chcp_program)
    machine.register_program(POWERSHELL_EXE, _powershell)
    # Probe programs built from C source (hpc_images/*.c) run their model wherever they are.
    machine.register_behaviour(SOURCE_BEHAVIOUR + probe_idle.SOURCE,
                               probe_idle.probe_idle_program)
    for name, program in simtools.PROGRAMS.items():
        machine.register_program(rf"{SIM_BIN}\{name}", program)
    # The runtime under test arrives as placeholder binaries (harness/sim/bundle.py) whose
    # content names these behaviours; the guest adds ipconfig/ping to System32.
    from harness.sim import guest
    from harness.sim.programs import containerd, crictl

    containerd.install(machine)
    crictl.install(machine)
    guest.install(machine)
    # The bind filter exists from 20H1 and on WS2022+ (docs/behaviour/runtime.md §7); the
    # shim and the guest decide PI-HPC rootfs handling by this file (§3.1).
    if machine.profile.build >= 19041:
        machine.fs.write_bytes(rf"{SYSTEM32}\bindfltapi.dll", b"MZ\r\nbind filter API (sim)\r\n")
