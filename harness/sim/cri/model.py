"""The objects the simulated CRI runtime hands around: pods, containers, images, processes.

They are plain dataclasses so that the guest model (``harness.sim.guest``) can run a
container's processes without knowing how the CRI layer or the shim decided anything: by
the time the guest sees a :class:`ContainerRecord` or a :class:`ProcessSpec`, every rule of
containerd and of hcsshim (docs/behaviour/runtime.md §1-§4) has already been applied, and the
fields say the *effective* values.  The guest must not re-derive them from annotations.

Paths inside an image (``Image.files``) are relative to the container's rootfs root, with
backslashes and their original case, no drive and no leading separator
(``Windows\\System32\\cmd.exe``, ``probe-whoami.exe``).  Executables are placeholder files
whose content names a behaviour (``hpc-e2e-sim program=<key>``), as on the host
(harness/sim/machine.py), so ``machine.program_at`` style lookups work on them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from harness.sim.process import SimProcess

Isolation = Literal["process", "hyperv"]

SANDBOX_READY = "SANDBOX_READY"
SANDBOX_NOTREADY = "SANDBOX_NOTREADY"
CONTAINER_CREATED = "CONTAINER_CREATED"
CONTAINER_RUNNING = "CONTAINER_RUNNING"
CONTAINER_EXITED = "CONTAINER_EXITED"


def now_ns() -> int:
    """Wall clock in nanoseconds, the unit CRI timestamps use."""
    return time.time_ns()


@dataclass(frozen=True)
class Image:
    """An image in containerd's store (one per reference; tags of one id share content)."""

    ref: str
    """The reference it was pulled by, normalized (``mcr.microsoft.com/windows/nanoserver:ltsc2022``)."""
    id: str
    """``sha256:<hex>``, stable for the same content (what ``crictl images`` shows)."""
    files: dict[str, bytes]
    """The rootfs: path relative to the rootfs root (backslashes, no drive) -> content.
    The guest mounts exactly these at the container's rootfs location; nothing else is in
    the image."""
    uvm_os_build: int
    """OS build of the image's base layer.  For a pause (sandbox) image this is the OS the
    utility VM boots (docs/behaviour/runtime.md §7), which decides the HPC capability."""
    user: str = ""
    """Image config ``User`` (``ContainerUser`` for nanoserver); "" when unset."""
    workdir: str = ""
    """Image config ``WorkingDir``; "" when unset."""
    env: tuple[str, ...] = ()
    """Image config ``Env`` as ``NAME=value`` strings, in order."""
    entrypoint: tuple[str, ...] = ()
    """Image config ``Entrypoint``."""
    cmd: tuple[str, ...] = ()
    """Image config ``Cmd``."""
    args_escaped: bool = False
    """Image config ``ArgsEscaped``: containerd then hands the shim a CommandLine, not Args
    (docs/behaviour/runtime.md §4.3)."""
    size: int = 0
    """Bytes, as ``crictl images`` reports."""
    tags: tuple[str, ...] = ()
    """Every reference that names this image (``repoTags``)."""
    digest: str = ""
    """Repository digest ``<repo>@sha256:...`` (``repoDigests``)."""


@dataclass
class Uvm:
    """A utility VM booted for a hypervisor-isolated pod (one per pod, §2.2)."""

    id: str
    """Compute-system id, ``<pod id>@vm`` like hcsshim names it."""
    os_build: int
    """OS build the UVM booted: the pause image's ``uvm_os_build`` (§7)."""
    hpc_capable: bool
    """Whether the guest advertised ``HostProcessContainerSupported`` (§2.7); the shim's
    capability gate reads this, the guest need not."""
    hostname: str = ""
    """The UVM's computer name as processes in it see it ("" until the guest sets one)."""
    booted_at: float = 0.0
    """time.time() when boot finished."""


@dataclass
class PodRecord:
    """A pod sandbox as containerd and the shim left it after RunPodSandbox (the simulated
    runtime's record; the harness's handle on a pod is ``harness.plugin.pods.Pod``)."""

    id: str
    """64 hex characters."""
    name: str
    namespace: str
    uid: str
    attempt: int
    handler: str
    """The runtime handler name given to runp (or the config's default)."""
    runtime_type: str
    """``io.containerd.runhcs.v1``."""
    runtime_options: dict
    """The handler's ``options`` table (``SandboxIsolation`` etc.), as in the config."""
    isolation: Isolation
    """"hyperv" when the handler's ``SandboxIsolation`` is 1 (§2.1 step 4), else "process"."""
    host_process: bool
    """CRI ``windows.security_context.host_process`` of the pod (= every container's)."""
    annotations: dict[str, str]
    """The sandbox spec's annotations: the allowlisted pod annotations plus containerd's
    stamped ones (``microsoft.com/hostprocess-container`` = "true"/"false", §4.3)."""
    labels: dict[str, str]
    config: dict
    """The CRI PodSandboxConfig exactly as received (snake_case)."""
    sandbox_image: str
    """The pause image reference the sandbox was created from."""
    state: str = SANDBOX_READY
    created_at: int = field(default_factory=now_ns)
    """Nanoseconds since the epoch."""
    uvm: Uvm | None = None
    """The pod's UVM for hypervisor isolation, else None.  Processes of every container in
    the pod run in it."""
    ip: str = ""
    """Pod IP: always "" for HostProcess pods (host network, §6 item 1)."""
    user: str = ""
    """The sandbox process user (pod ``run_as_username`` or the pause image user)."""


@dataclass
class ProcessSpec:
    """One process as the shim hands it to the compute system, after the shim's rewrites.

    Exactly one of ``args`` / ``command_line`` drives the launch: a non-empty
    ``command_line`` wins (hcsshim ``internal/cmd/cmd.go``, §2.5); otherwise ``args`` is
    joined with Go's EscapeArg (``harness.sim.cri.shim.effective_command_line``).

    For a container with ``host_job`` (a job object on the host) this is the process as it
    reaches ``JobContainer.CreateProcess``: the guest still applies that function's rules
    (§3.2, §3.3: mount-point substitution, ``cmd /c`` with the bind filter, the working
    directory, the token's environment).  ``user`` is then already the resolved token's
    account.  For every other container it is final.
    """

    args: list[str] | None
    """argv after the shim's ``cmd /c`` wrap, or None."""
    command_line: str | None
    """The literal command line after the wrap, or None/"" when ``args`` is used."""
    user: str
    """The user the process must run as, already resolved: ``NT AUTHORITY\\SYSTEM`` for
    inherit-user, the temporary ``<COMPUTER>\\<cid[:20]>`` for a group, the image/run_as
    name otherwise."""
    cwd: str
    """Working directory inside the container's view (``C:\\hpc`` default for HPC, §1.4)."""
    env: list[str] = field(default_factory=list)
    """``NAME=value`` entries in order; entries with an empty value are already dropped
    (§8 item 16)."""

    def env_dict(self) -> dict[str, str]:
        """The environment as a mapping (later entries win, like a process block)."""
        out: dict[str, str] = {}
        for entry in self.env:
            name, _, value = entry.partition("=")
            out[name] = value
        return out


@dataclass(frozen=True)
class Mount:
    """One OCI mount as containerd puts it in a Windows container's spec
    (``WithWindowsMounts``, docs/behaviour/runtime.md §9.5): the host's ``source`` (resolved,
    cleaned), the ``destination`` inside the container (``C:`` added to a rooted path) and
    whether it is read-only (option ``ro``, else ``rw``)."""

    source: str
    destination: str
    readonly: bool = False

    def oci(self) -> dict:
        """The spec's JSON form (what ``crictl inspect`` shows under ``runtimeSpec``)."""
        return {"destination": self.destination, "source": self.source,
                "options": ["ro" if self.readonly else "rw"]}


@dataclass
class ContainerRecord:
    """A container as containerd created it and (after start) the shim configured it (the
    simulated runtime's record, not the harness's handle on one)."""

    id: str
    pod: PodRecord
    name: str
    attempt: int
    image: Image
    image_ref: str
    """The image reference as the CRI config named it."""
    annotations: dict[str, str]
    """The OCI spec annotations containerd built (allowlisted pod + container annotations,
    then ``hostprocess-container`` stamped from the pod).  What ``inspect`` shows."""
    labels: dict[str, str]
    config: dict
    """The CRI ContainerConfig exactly as received."""
    is_hpc: bool
    """Runs as a HostProcess container (``hostprocess-container`` == "true" exactly): what
    containerd asked for at create, then what the shim's task decided (the annotations the
    shim kept), so a shim that drops it starts a normal container."""
    working_dir: str
    """The OCI process cwd containerd chose: config, then image, then ``C:\\hpc`` for HPC."""
    init_process: ProcessSpec
    """Before start: containerd's process.  After start: the shim-rewritten process the
    guest launched."""
    user: str
    """Effective user of the container's processes (see ProcessSpec.user).  Set at start."""
    uvm: Uvm | None = None
    """Where the container's processes run: the pod's UVM, or None for the host.  Set at
    start.  A hypervisor pod's HPC runs in the UVM with today's shim (§3.4) but on the host
    with the pre-fix flavor (harness/sim/cri/flavors.py)."""
    host_job: bool = False
    """True when the shim runs the container as a job object on the host (§3): PI-HPC, or
    an HPC under the pre-fix flavor.  Its processes see the host's disk, network and host
    name, with the image rootfs bound at ``rootfs_location``.  Set at start."""
    rootfs_location: str | None = None
    """Where the image rootfs appears for an HPC: ``C:\\hpc\\`` (bind filter),
    ``C:\\hpc\\<id>\\`` (no bind filter), or the (for a UVM: sanitised) custom value.
    None for a normal (non-HPC) container, whose rootfs is its own ``C:\\``, and for an
    HPC in a UVM without ``hostprocess-rootfs-location``: the shim sends no path and the
    guest picks its default (§1.4).  Set at start."""
    shim_annotations: dict[str, str] = field(default_factory=dict)
    """The annotations after the shim's passthrough/inherit-user rules (set at start)."""
    shim_mounts: list[Mount] = field(default_factory=list)
    """The mounts the shim set up for the container (set with the task)."""
    task_process: ProcessSpec | None = None
    """The shim-rewritten init process once the task exists (created at CreateContainer or
    StartContainer, as the flavor's ``task_create_stage`` says)."""
    state: str = CONTAINER_CREATED
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    log: bytearray = field(default_factory=bytearray)
    """Everything the init process wrote (stdout and stderr interleaved), as crictl logs."""
    log_path: str = ""
    created_at: int = field(default_factory=now_ns)
    started_at: int = 0
    finished_at: int = 0
    process: SimProcess | None = None
    """The running init process (from guest.launch), None before start."""
    mounts: list[Mount] = field(default_factory=list)
    """The OCI mounts containerd built from the CRI ``mounts`` (§9.5); what the shim and
    the guest set up is the flavor's ``container_mounts`` / ``guest_mounts`` of these."""
    reserved_name: str = ""
    """The name containerd reserved for it (``<name>_<pod>_<namespace>_<uid>_<attempt>``),
    released when it is removed."""
    killed: bool = False
    """Its init process was ended by StopContainer (the flavor's exit code rules tell a
    killed process from one that ended by itself)."""
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)


@dataclass
class ExecSyncResult:
    """What the ExecSync RPC returns (the CRI's ExecSyncResponse)."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


__all__ = [
    "CONTAINER_CREATED",
    "CONTAINER_EXITED",
    "CONTAINER_RUNNING",
    "SANDBOX_NOTREADY",
    "SANDBOX_READY",
    "ContainerRecord",
    "ExecSyncResult",
    "Image",
    "Isolation",
    "Mount",
    "PodRecord",
    "ProcessSpec",
    "Uvm",
    "now_ns",
]
