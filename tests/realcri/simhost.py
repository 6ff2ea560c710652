"""The simulated Windows host with its crictl, reached in-process, for differential tests.

:class:`MachineTransport` is a :class:`~harness.transport.base.Transport` whose commands
run on a :class:`~harness.sim.machine.Machine` (through its cmd.exe, as WinRS would) and
whose ``put`` writes the machine's file system; so the CRI client drives the simulated
crictl through the same code as any Windows host, without a WinRM server in between.
The host is set up as ``tests/test_sim_crictl.py`` sets up its own: containerd's CRI model
with config 1.7.22, a NAT CNI network, crictl at a given version.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from harness.config.target import Target
from harness.errors import CommandTimeout
from harness.sim import guest
from harness.sim.bundle import placeholder
from harness.sim.cri.config import default_config
from harness.sim.cri.runtime import CriRuntime
from harness.sim.hostmodel import HostProfile
from harness.sim.machine import Machine
from harness.sim.programs import crictl as sim_crictl
from harness.sim.programs import standard_machine
from harness.transport.base import TransferResult, Transport

CRICTL = r"C:\crictl\crictl.exe"
WORK = r"C:\work"
YAML = WORK + r"\crictl.yaml"
RUNS = r"C:\ProgramData\hpc-e2e\runs"


class MachineTransport(Transport):
    """Commands through the simulated machine's cmd.exe; files into its file system."""

    NAME = "sim-machine"

    def __init__(self, machine: Machine):
        super().__init__(Target(name="sim-cri", transport="local"))
        self.machine = machine

    def _run(self, command_line: str, *, timeout: float, stdin) -> tuple[int, bytes, bytes]:
        proc = self.machine.spawn(command_line, cwd=WORK)
        proc.write_stdin(stdin if isinstance(stdin, bytes) else b"", eof=True)
        out, err = bytearray(), bytearray()
        end = time.monotonic() + timeout
        while True:
            o, e, done = proc.read_output(1 << 20, 0.2)
            out += o
            err += e
            if done:
                return proc.wait(5) or 0, bytes(out), bytes(err)
            if time.monotonic() > end:
                proc.terminate()
                raise CommandTimeout(command_line, timeout)

    def _put(self, local_path, remote_path: str, *, timeout=None) -> TransferResult:
        data = Path(local_path).read_bytes()
        self.machine.fs.write_bytes(remote_path, data)
        return TransferResult(Path(local_path), remote_path, len(data), "", 0.0)

    def close(self) -> None:
        pass


def sim_machine(crictl_version: str) -> Machine:
    m = standard_machine(profile=HostProfile(name="LabHost01"))
    guest.install(m)
    sim_crictl.install(m)
    m.fs.write_bytes(guest.BINDFLT_DLL, b"MZ")
    for d in (WORK, r"C:\crictl", r"C:\logs", RUNS):
        m.fs.makedirs(d)
    m.fs.write_bytes(CRICTL, placeholder("sim:crictl", crictl_version))
    m.fs.write_bytes(YAML, b"runtime-endpoint: npipe:////./pipe/containerd-containerd\r\n"
                           b"image-endpoint: npipe:////./pipe/containerd-containerd\r\n")
    cni = r"C:\Program Files\containerd\cni\conf"
    m.fs.makedirs(cni)  # non-HPC pods need a CNI network (docs/behaviour/ecosystem.md §2.5)
    m.fs.write_bytes(cni + r"\0-containerd-nat.conf", json.dumps(
        {"cniVersion": "0.3.0", "name": "nat", "type": "nat",
         "ipam": {"subnet": "172.19.208.0/20"}}).encode())
    cfg = dataclasses.replace(default_config("1.7.22"),
                              sandbox_image="registry.k8s.io/pause:3.10.2")
    m.cri = CriRuntime(m, cfg, launcher=guest.launch)
    return m
