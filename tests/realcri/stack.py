"""One real stack of the lane: a crictl release, a running containerd and the registry,
with the pods and containers the tests launch on it (Linux: host network, busybox)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.target import Target
from harness.cri import ContainerSpec, Crictl, PodSpec
from harness.transport.local_posix import PosixLocalTransport

from realcri.containerd import RealContainerd
from realcri.registry import Registry

# (crictl, containerd major): the oldest and newest crictl against containerd 2.x, and the
# oldest crictl against the OS package's containerd 1.x (Debian's 1.6, the runtime the
# issue's mismatches were seen with).
STACKS = [("1.34.0", "2"), ("1.37.0", "2"), ("1.34.0", "1")]
RPC_TIMEOUT = 30.0
HOST_NETWORK = {"linux": {"security_context": {"namespace_options": {"network": 2}}}}
KEEP_RUNNING = ["/bin/sh", "-c", "echo started; echo warming >&2; exec sleep 100000"]


@dataclass
class Stack:
    crictl_version: str
    crictl: str
    flavor: str  # containerd: "2", or major.minor of a 1.x ("1.6")
    containerd: RealContainerd
    registry: Registry
    folder: Path

    @property
    def busybox(self) -> str:
        return f"{self.registry.host}/hpc-e2e/busybox:1"

    @property
    def pause(self) -> str:
        return f"{self.registry.host}/hpc-e2e/pause:1"

    def client(self, **kw) -> Crictl:
        yaml = self.folder / "crictl.yaml"
        yaml.write_text(f"runtime-endpoint: {self.containerd.endpoint}\n"
                        f"image-endpoint: {self.containerd.endpoint}\n")
        transport = PosixLocalTransport(Target(name="real-cri", transport="local"))
        options = dict(crictl_path=self.crictl, config_path=str(yaml), timeout=RPC_TIMEOUT,
                       runtime_endpoint=self.containerd.endpoint,
                       image_endpoint=self.containerd.endpoint,
                       runs_root=str(self.folder / "runs"))
        options.update(kw)
        return Crictl(transport, **options)

    def pod_spec(self, name: str = "p", **kw) -> PodSpec:
        logs = self.folder / "logs" / name
        logs.mkdir(parents=True, exist_ok=True)
        return PodSpec(name=name, log_directory=str(logs), extra=HOST_NETWORK, **kw)

    def ctr_spec(self, name: str = "c", command: list[str] | None = None, **kw) -> ContainerSpec:
        return ContainerSpec(name=name, image=self.busybox, command=command or KEEP_RUNNING,
                             log_path=f"{name}.log", **kw)
