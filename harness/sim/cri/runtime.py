"""The simulated containerd CRI service: RuntimeService and ImageService, one method per RPC.

:class:`CriRuntime` is what the simulated ``containerd.exe`` puts on ``machine.cri`` while it
runs (docs/internals.md "Runtime under test").  It applies containerd's CRI rules (annotation
allowlists, the HostProcess equality check, the ``hostprocess-container`` stamp, the working
directory, the user) and, where containerd hands over to the shim, the flavor's hcsshim rules
(:mod:`harness.sim.cri.flavors` over :mod:`harness.sim.cri.shim`).  Every refusal is a
:class:`CriError` carrying the gRPC code and containerd's message, raised by the RPC where
the real one fails (docs/behaviour/runtime.md §8 item 4):

* containerd's own checks fail the RPC that makes them (CreateContainer for the HostProcess
  mismatch);
* the shim's task create runs at RunPodSandbox (the sandbox) and StartContainer (each
  container): ``failed to create containerd task: failed to create shim task: <shim text>``;
* process creation runs at task start: ``failed to start containerd task "<id>": <text>``;
  for execs ``failed to exec in container: failed to start exec "<exec id>": <text>``.

containerd 1.7 appends ``: unknown`` to an error that crossed the shim's ttrpc without an
errdefs class (its ``errdefs.FromGRPC``); 2.x does not (``errgrpc.ToNative`` keeps the
message), and 2.x reports sandbox failures as ``failed to start sandbox "<id>": ...``.
``rpc error: code = ... desc = ...`` is crictl's rendering and not added here.

Processes run where the launcher handed in puts them (:mod:`harness.sim.cri.launch`): the
guest model, ``harness.sim.guest.launch``, given by the simulated ``containerd.exe``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from harness.sim.cri import shim
from harness.sim.cri.config import DEFAULT_ADDRESS, CriConfig, RuntimeHandler, version_tuple
from harness.sim.cri.flavors import Flavor, resolve_flavor
from harness.sim.cri.images import (
    ImageNotFound,
    ImageStore,
    InvalidReference,
    Registry,
)
from harness.sim.cri.launch import LaunchError, Launcher
from harness.sim.cri.model import (
    CONTAINER_CREATED,
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    SANDBOX_NOTREADY,
    SANDBOX_READY,
    ContainerRecord,
    ExecSyncResult,
    Image,
    Mount,
    PodRecord,
    ProcessSpec,
    Uvm,
    now_ns,
)

if TYPE_CHECKING:
    from harness.sim.machine import Machine
    from harness.sim.process import SimProcess

# containerd's start-failure bookkeeping (container_start.go: errorStartExitCode/Reason).
START_ERROR_EXIT_CODE = 128
START_ERROR_REASON = "StartError"
# Exit codes of a killed init process: the flavor's job_exit_code / guest_exit_status.
ERROR_OS_MISMATCH = ("The container operating system does not match the host operating "
                     "system.")
# An injected UVM boot failure (harness/sim/ASSUMPTIONS.md "Fault injection").
HCS_E_CONNECTION_TIMEOUT = ("The operation timed out because a response was not received "
                            "from the virtual machine or container.")
BINDFLT_DLL = "C:\\Windows\\System32\\bindfltapi.dll"  # jobcontainers/storage.go:88-101
LTSC_2022, LTSC_2025 = 20348, 26100
# Built-in local groups every Windows Server has (groupExists in jobcontainers/logon.go).
BUILTIN_GROUPS = frozenset(g.lower() for g in (
    "Administrators", "Users", "Guests", "Backup Operators", "Power Users", "Replicator",
    "Remote Desktop Users", "Network Configuration Operators", "Performance Monitor Users",
    "Performance Log Users", "Distributed COM Users", "IIS_IUSRS", "Cryptographic Operators",
    "Event Log Readers", "Certificate Service DCOM Access", "Remote Management Users",
    "Hyper-V Administrators", "Access Control Assistance Operators", "Print Operators",
    "Storage Replica Administrators"))
WIN32_TEXT = {1326: "The user name or password is incorrect.",
              1327: ("Account restrictions are preventing this user from signing in. For "
                     "example: blank passwords aren't allowed, sign-in times are limited, "
                     "or a policy restriction has been enforced."),
              1331: "This user can't sign in because this account is currently disabled."}

_STATE_NUMBERS = {"SANDBOX_READY": 0, "SANDBOX_NOTREADY": 1, "CONTAINER_CREATED": 0,
                  "CONTAINER_RUNNING": 1, "CONTAINER_EXITED": 2, "CONTAINER_UNKNOWN": 3}


class CriError(Exception):
    """A failed CRI call: the gRPC ``code`` name and containerd's ``message``."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String`` for whole seconds (``5s``, ``1m30s``, ``1h0m0s``)."""
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def _new_id() -> str:
    return secrets.token_hex(32)


def _g(d: Any, *path: str, default: Any = None) -> Any:
    """``d[path0][path1]...`` through dicts, ``default`` when any step is missing/None."""
    for key in path:
        if not isinstance(d, Mapping):
            return default
        d = d.get(key)
        if d is None:
            return default
    return d


class CriRuntime:
    """containerd's CRI plugin, as the ``containerd.exe`` service program runs it.

    ``config`` is None when the CRI plugin failed to load (``plugin_error`` says why): the
    process runs, every RPC answers ``Unimplemented`` as a containerd without CRI does.
    ``launcher`` starts the containers' processes (:class:`~harness.sim.cri.launch.Launcher`):
    the guest model, ``harness.sim.guest.launch``, or a test's stand-in.  Without one, every
    container start fails loudly.
    """

    def __init__(self, machine: Machine, config: CriConfig | None, *,
                 version: str = "1.7.22", revision: str = "",
                 address: str = DEFAULT_ADDRESS, flavor: object = None,
                 shim_account: str = shim.NT_AUTHORITY_SYSTEM,
                 plugin_error: str | None = None,
                 registry: Registry | None = None,
                 logger: Callable[[str, str, Mapping[str, object]], None] | None = None,
                 launcher: Launcher | None = None,
                 uvm_boot_seconds: float | None = None):
        self.machine = machine
        self.config = config
        self.version_string = version.lstrip("v")
        self.revision = revision
        self.address = address
        self.flavor: Flavor = resolve_flavor(flavor if flavor is not None
                                             else getattr(machine, "flavor", None))
        self.shim_account = shim_account
        self.plugin_error = plugin_error if config is None else None
        self._registry = registry
        self._images: ImageStore | None = None
        self._logger = logger
        self._launcher = launcher
        # Set by the simulated containerd.exe that serves this state (programs/containerd.py):
        # the event its crash fault sets, and the SCM service it runs as (None otherwise).
        self.crash_requested: threading.Event | None = None
        self.service_name: str | None = None
        self.uvm_boot_seconds = (self.flavor.uvm_boot_seconds if uvm_boot_seconds is None
                                 else uvm_boot_seconds)
        self.lock = threading.RLock()
        self.pods: dict[str, PodRecord] = {}
        self.containers: dict[str, ContainerRecord] = {}
        self._pod_names: dict[str, str] = {}
        self._container_names: dict[str, str] = {}
        self._shim_pod_annotations: dict[str, dict[str, str]] = {}
        self._specs: dict[str, dict] = {}  # id -> the OCI spec containerd built
        self._temp_users: dict[str, str] = {}  # container id -> temporary local user
        self._ip_next = 2
        self._closed = False
        # The shim program containerd starts; each running sandbox's shim process holds
        # it open, so it can be neither replaced nor deleted while one runs (Windows keeps
        # a running image locked: ERROR_SHARING_VIOLATION).
        self.shim_image: str | None = None
        self._shim_handles: dict[str, Any] = {}

    # --- plumbing -----------------------------------------------------------------------
    @property
    def two(self) -> bool:
        """containerd 2.x (else 1.7)."""
        return version_tuple(self.version_string)[0] >= 2

    @property
    def host_build(self) -> int:
        profile = getattr(self.machine, "profile", None)
        if profile is not None:
            return int(profile.build)
        return int(str(self.machine.os_version).split(".")[2])

    @property
    def images(self) -> ImageStore:
        if self._images is None:
            self._images = ImageStore(self._registry or Registry(self.machine),
                                      self.host_build)
        return self._images

    def _log(self, level: str, msg: str, **fields: object) -> None:
        if self._logger is not None:
            self._logger(level, msg, fields)

    def _latency(self, rpc: str, pod: PodRecord) -> None:
        """The latency model's delay for one RPC (harness/sim/latency.py); no lock held."""
        model = getattr(self.machine, "latency", None)
        if model is not None:
            model.on_cri(rpc, pod.isolation)

    def _require_cri(self, service: str = "RuntimeService") -> CriConfig:
        if self.config is None:
            raise CriError("Unimplemented", f"unknown service runtime.v1.{service}")
        return self.config

    def _shim_text(self, text: str) -> str:
        """A shim error as containerd's client sees it after ttrpc (§4.3, module doc)."""
        return text if self.two else f"{text}: unknown"

    def _launch(self, container: ContainerRecord, process: ProcessSpec, *,
                init: bool) -> SimProcess:
        if self._launcher is None:
            raise CriError("Unknown", "the simulated host has no guest model (this CRI "
                           "runtime was built without a launcher)")
        return self._launcher(self.machine, container, process, flavor=self.flavor, init=init)

    @staticmethod
    def _where(c: ContainerRecord) -> str:
        """The flavor hooks' ``where`` for a started container."""
        return "job" if c.host_job else ("uvm" if c.is_hpc and c.uvm is not None
                                         else "container")

    def _exit_code(self, c: ContainerRecord, code: int, *, killed: bool, init: bool) -> int:
        if c.host_job:
            return self.flavor.job_exit_code(code, killed=killed, init=init)
        return self.flavor.guest_exit_status(self._where(c), code, killed=killed, init=init)

    @staticmethod
    def _launch_error_text(exc: BaseException) -> str | None:
        if isinstance(exc, LaunchError):
            return exc.message
        if isinstance(exc, OSError):
            return exc.strerror or str(exc)
        return None

    def reattach(self, logger: Callable[[str, str, Mapping[str, object]], None] | None) -> None:
        """A restarted containerd took this state over after a crash (faults.py); its log."""
        with self.lock:
            self._logger = logger

    def close(self) -> None:
        """The shims end (a host restart, or a containerd that cannot take them over): end
        every container process."""
        with self.lock:
            self._closed = True
            running = [c for c in self.containers.values() if c.process is not None]
            handles, self._shim_handles = list(self._shim_handles.values()), {}
        for c in running:
            c.process.terminate()
        for h in handles:
            h.close()

    def _shim_started(self, pod_id: str) -> None:
        if not self.shim_image:
            return
        try:
            handle = self.machine.fs.open(self.shim_image, "rb")
        except OSError:
            return  # no shim program at that path in this model: nothing to lock
        with self.lock:
            old = self._shim_handles.pop(pod_id, None)
            self._shim_handles[pod_id] = handle
        if old is not None:
            old.close()

    def _shim_ended(self, pod_id: str) -> None:
        with self.lock:
            handle = self._shim_handles.pop(pod_id, None)
        if handle is not None:
            handle.close()

    # --- RuntimeService: version / status -------------------------------------------------
    def version(self) -> dict:
        self._require_cri()
        return {"version": "0.1.0", "runtimeName": "containerd",
                "runtimeVersion": "v" + self.version_string, "runtimeApiVersion": "v1"}

    def status(self) -> dict:
        """``crictl info``: conditions, the effective CRI config, the CNI load status."""
        cfg = self._require_cri()
        cni_ok, cni_err = self._cni_status()
        net = {"type": "NetworkReady", "status": cni_ok, "reason": "", "message": ""}
        if not cni_ok:
            net.update(reason="NetworkPluginNotReady",
                       message="Network plugin returns error: cni plugin not initialized")
        return {
            "status": {"conditions": [
                {"type": "RuntimeReady", "status": True, "reason": "", "message": ""}, net]},
            "info": {
                "config": self._config_info(cfg),
                "golang": "go1.22.7",
                "lastCNILoadStatus": "OK" if cni_ok else cni_err,
                "lastCNILoadStatus.default": "OK" if cni_ok else cni_err,
            },
        }

    def _config_info(self, cfg: CriConfig) -> dict:
        runtimes = {}
        for name, h in cfg.handlers.items():
            runtimes[name] = {"runtimeType": h.runtime_type,
                              "PodAnnotations": list(h.pod_annotations) or None,
                              "ContainerAnnotations": list(h.container_annotations) or None,
                              "options": dict(h.options) or None}
        return {"containerd": {"defaultRuntimeName": cfg.default_runtime_name,
                               "runtimes": runtimes, "snapshotter": "windows"},
                "cni": {"binDirs" if self.two else "binDir":
                        list(cfg.cni_bin_dirs) if self.two else cfg.cni_bin_dirs[0],
                        "confDir": cfg.cni_conf_dir},
                "sandboxImage": cfg.sandbox_image,
                "containerdVersion": "v" + self.version_string}

    def _cni_status(self) -> tuple[bool, str]:
        cfg = self._require_cri()
        conf = self._cni_network()
        if conf is not None:
            return True, "OK"
        return False, (f"cni config load failed: no network config found in "
                       f"{cfg.cni_conf_dir}: cni plugin not initialized: failed to load cni "
                       "config")

    def _cni_network(self) -> dict | None:
        """The first valid network config in the CNI conf dir (max_conf_num = 1), or None."""
        cfg = self._require_cri()
        fs = self.machine.fs
        try:
            names = sorted(fs.listdir(cfg.cni_conf_dir), key=str.lower)
        except OSError:
            return None
        for name in names:
            if not name.lower().endswith((".conf", ".conflist", ".json")):
                continue
            try:
                data = json.loads(fs.read_bytes(f"{cfg.cni_conf_dir}\\{name}").decode())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and (data.get("type") or data.get("plugins")):
                return data
        return None

    # --- ImageService ------------------------------------------------------------------------
    def pull_image(self, ref: str) -> str:
        """PullImage; returns the image id (crictl: ``Image is up to date for <id>``)."""
        self._require_cri("ImageService")
        try:
            image = self.images.pull(ref)
        except InvalidReference as exc:
            raise CriError("Unknown", f'failed to parse image reference "{ref}": {exc}') from None
        except ImageNotFound as exc:
            norm = str(exc.args[0])
            raise CriError("NotFound", f'failed to pull and unpack image "{norm}": failed to '
                           f'resolve reference "{norm}": {norm}: not found') from None
        self._log("info", f'PullImage "{ref}" returns image reference "{image.id}"')
        return image.id

    def list_images(self) -> list[dict]:
        self._require_cri("ImageService")
        return [self._image_dict(i) for i in sorted(self.images.list(), key=lambda i: i.ref)]

    def image_status(self, ref: str) -> dict | None:
        """ImageStatus: ``{"image": ..., "info": ...}`` or None when absent."""
        self._require_cri("ImageService")
        image = self.images.get(ref)
        if image is None:
            return None
        return {"image": self._image_dict(image),
                "info": {"imageSpec": {"os": "windows", "architecture": "amd64",
                                       "os.version": f"10.0.{image.uvm_os_build}.1",
                                       "config": {"User": image.user,
                                                  "Cmd": list(image.cmd) or None,
                                                  "Entrypoint": list(image.entrypoint) or None,
                                                  "Env": list(image.env) or None,
                                                  "WorkingDir": image.workdir,
                                                  "ArgsEscaped": image.args_escaped}}}}

    def remove_image(self, ref: str) -> None:
        self._require_cri("ImageService")
        self.images.remove(ref)  # RemoveImage is idempotent

    def _image_dict(self, image: Image) -> dict:
        pinned = self.config is not None and image.id == getattr(
            self.images.get(self.config.sandbox_image), "id", None)
        return {"id": image.id, "repoTags": list(image.tags),
                "repoDigests": [image.digest] if image.digest else [],
                "size": str(image.size), "uid": None, "username": image.user,
                "spec": None, "pinned": pinned}

    # --- RunPodSandbox ----------------------------------------------------------------------
    def run_pod_sandbox(self, config: dict, handler: str = "") -> str:
        cfg = self._require_cri()
        meta = config.get("metadata") if isinstance(config, Mapping) else None
        if not meta:
            raise CriError("Unknown", "sandbox config must include metadata")
        pod_id = _new_id()
        name = "_".join([str(meta.get("name", "")), str(meta.get("namespace", "")),
                         str(meta.get("uid", "")), str(int(meta.get("attempt") or 0))])
        with self.lock:
            if name in self._pod_names:
                raise CriError("Unknown", f'failed to reserve sandbox name "{name}": name '
                               f'"{name}" is reserved for "{self._pod_names[name]}"')
            self._pod_names[name] = pod_id
        try:
            pod = self._create_pod(cfg, pod_id, config, handler)
        except CriError as exc:
            with self.lock:
                self._pod_names.pop(name, None)
            self._log("error", f"RunPodSandbox for {_meta_text(meta)} failed",
                      error=exc.message)
            raise
        self._latency("RunPodSandbox", pod)
        self._shim_started(pod.id)
        self._log("info", f'RunPodSandbox for {_meta_text(meta)} returns sandbox id "{pod_id}"')
        return pod.id

    def _create_pod(self, cfg: CriConfig, pod_id: str, config: dict, handler: str) -> PodRecord:
        meta = config["metadata"]
        runtime_handler = handler or cfg.default_runtime_name

        def no_runtime() -> CriError:
            text = f'no runtime for "{runtime_handler}" is configured'
            return CriError("Unknown", f'unable to get OCI runtime for sandbox "{pod_id}": {text}'
                            if self.two else f"failed to get sandbox runtime: {text}")

        h = cfg.handler(runtime_handler)
        if h is None and self.two:
            raise no_runtime()
        sandbox_image = self._ensure_image(cfg.sandbox_image, pod_id)
        if h is None:
            raise no_runtime()
        host_process = bool(_g(config, "windows", "security_context", "host_process",
                               default=False))
        user = _g(config, "windows", "security_context", "run_as_username",
                  default="") or sandbox_image.user
        annotations = shim.passthrough_annotations(config.get("annotations"),
                                                   h.pod_annotations)
        annotations[shim.HOSTPROCESS_CONTAINER] = "true" if host_process else "false"
        annotations.update({
            "io.kubernetes.cri.sandbox-id": pod_id,
            "io.kubernetes.cri.sandbox-namespace": str(meta.get("namespace", "")),
            "io.kubernetes.cri.sandbox-uid": str(meta.get("uid", "")),
            "io.kubernetes.cri.sandbox-name": str(meta.get("name", "")),
            "io.kubernetes.cri.sandbox-log-directory": str(config.get("log_directory") or ""),
            shim.CONTAINER_TYPE: "sandbox",
        })
        ip = ""
        cni_result = None
        if not host_process:  # hostNetwork() is host_process on Windows (§6 item 1)
            ip, cni_result = self._setup_network(pod_id)
        spec = {"ociVersion": "1.1.0",
                "process": {"user": {"uid": 0, "gid": 0, "username": user},
                            "args": list(sandbox_image.entrypoint + sandbox_image.cmd),
                            "cwd": sandbox_image.workdir or "C:\\"},
                "hostname": config.get("hostname") or "",
                "annotations": dict(annotations),
                "windows": {"network": {"networkNamespace": "" if host_process
                                        else f"ns-{pod_id[:12]}"}}}
        isolation = "hyperv" if h.hypervisor else "process"
        uvm: Uvm | None = None
        try:  # the shim's task create for the sandbox (§2.1, §2.2)
            shim_ann = shim.merge_default_annotations(annotations, h.shim_options)
            shim_ann = self.flavor.process_annotations(shim_ann)
            if self.host_build < 17763:
                raise shim.ShimError("pod support is not available on Windows versions "
                                     "previous to RS5 (17763): failed precondition")
            if isolation == "hyperv":
                uvm = self._boot_uvm(pod_id, sandbox_image)
            elif not shim.is_job_container(shim_ann):
                self._check_process_compat(pod_id, sandbox_image.uvm_os_build)
        except shim.ShimError as exc:
            text = "failed to create containerd task: failed to create shim task: " + \
                self._shim_text(exc.message)
            if self.two:
                text = f'failed to start sandbox "{pod_id}": {text}'
            raise CriError("Unknown", text) from None
        pod = PodRecord(id=pod_id, name=str(meta.get("name", "")),
                  namespace=str(meta.get("namespace", "")), uid=str(meta.get("uid", "")),
                  attempt=int(meta.get("attempt") or 0), handler=runtime_handler,
                  runtime_type=h.runtime_type, runtime_options=dict(h.options),
                  isolation=isolation, host_process=host_process, annotations=annotations,
                  labels=dict(config.get("labels") or {}), config=copy.deepcopy(config),
                  sandbox_image=cfg.sandbox_image, uvm=uvm, ip=ip, user=user)
        with self.lock:
            self.pods[pod_id] = pod
            self._shim_pod_annotations[pod_id] = shim_ann
            self._specs[pod_id] = spec
            self._specs[pod_id + "#cni"] = {"cniResult": cni_result}
        return pod

    def _ensure_image(self, ref: str, pod_id: str) -> Image:
        image = self.images.get(ref)
        if image is not None:
            return image
        try:
            self.pull_image(ref)
        except CriError as exc:
            raise CriError(exc.code, f'failed to get sandbox image "{ref}": failed to pull '
                           f'image "{ref}": {exc.message}') from None
        image = self.images.get(ref)
        assert image is not None
        return image

    def _boot_uvm(self, pod_id: str, sandbox_image: Image) -> Uvm:
        """Create and start the pod's UVM from the pause image's OS (§2.2, §7)."""
        build = sandbox_image.uvm_os_build
        injector = getattr(self.machine, "faults", None)  # harness/sim/faults.py
        if injector is not None and injector.roll("cri:RunPodSandbox", ("uvm-boot-failure",),
                                                  detail=f"pod {pod_id}"):
            raise shim.ShimError(f"hcs::System::Start {pod_id}@vm: {HCS_E_CONNECTION_TIMEOUT}")
        if self.uvm_boot_seconds:
            time.sleep(self.uvm_boot_seconds)
        uvm = Uvm(id=f"{pod_id}@vm", os_build=build,
                  hpc_capable=self.flavor.uvm_hpc_capable(build), booted_at=time.time())
        self._log("info", "created and started utility VM", uvm=uvm.id, build=build,
                  hostProcessContainerSupported=uvm.hpc_capable)
        return uvm

    def _check_process_compat(self, cid: str, image_build: int) -> None:
        """Process isolation needs a compatible image build (§7 osversion compatibility)."""
        host = self.host_build
        if host < LTSC_2022:
            ok = image_build == host
        else:
            prev = max([b for b in (LTSC_2022, LTSC_2025) if b < host] or [LTSC_2022])
            ok = prev <= image_build <= host
        if not ok:
            raise shim.ShimError(f"hcs::CreateComputeSystem {cid}: {ERROR_OS_MISMATCH}")

    def _setup_network(self, pod_id: str) -> tuple[str, dict | None]:
        net = self._cni_network()
        if net is None:
            _, err = self._cni_status()
            raise CriError("Unknown", f'failed to setup network for sandbox "{pod_id}": {err}')
        subnet = str(_g(net, "ipam", "subnet", default="172.19.208.0/20"))
        base = subnet.split("/")[0].split(".")
        with self.lock:
            n = self._ip_next
            self._ip_next += 1
        ip = ".".join(base[:2] + [str(int(base[2]) + n // 254), str(n % 254 + 1)])
        result = {"Interfaces": {"eth0": {"IPConfigs": [{"IP": ip, "Gateway": ""}]}},
                  "DNS": [{}], "Routes": None}
        return ip, result

    # --- CreateContainer ----------------------------------------------------------------------
    def create_container(self, pod_id: str, config: dict, sandbox_config: dict) -> str:
        cfg = self._require_cri()
        pod = self._find_pod(pod_id)
        if pod is None:
            raise CriError("NotFound", f'failed to find sandbox id "{pod_id}": not found')
        if pod.state != SANDBOX_READY:
            raise CriError("NotFound", "failed to get sandbox container task: no running task "
                           f"found: task {pod.id} not found: not found")
        self._latency("CreateContainer", pod)
        meta = config.get("metadata") if isinstance(config, Mapping) else None
        if not meta:
            raise CriError("Unknown", "container config must include metadata")
        smeta = (sandbox_config or {}).get("metadata") or {}
        cid = _new_id()
        name = "_".join([str(meta.get("name", "")), str(smeta.get("name", "")),
                         str(smeta.get("namespace", "")), str(smeta.get("uid", "")),
                         str(int(meta.get("attempt") or 0))])
        with self.lock:
            if name in self._container_names:
                raise CriError("Unknown", f'failed to reserve container name "{name}": name '
                               f'"{name}" is reserved for "{self._container_names[name]}"')
            self._container_names[name] = cid
        try:
            container = self._build_container(cfg, pod, cid, config, sandbox_config or {})
            if self.flavor.task_create_stage() == "create":
                container.task_process = self._create_task(container)
        except CriError as exc:
            with self.lock:
                self._container_names.pop(name, None)
            self._log("error", f"CreateContainer within sandbox \"{pod.id}\" for "
                      f"{_meta_text(meta, container=True)} failed", error=exc.message)
            raise
        with self.lock:
            self.containers[cid] = container
            container.reserved_name = name
        self._log("info", f'CreateContainer within sandbox "{pod.id}" for '
                  f'{_meta_text(meta, container=True)} returns container id "{cid}"')
        return cid

    def _build_container(self, cfg: CriConfig, pod: PodRecord, cid: str, config: dict,
                         sandbox_config: dict) -> ContainerRecord:
        image_ref = str(_g(config, "image", "image", default=""))
        image = self.images.get(image_ref)
        if image is None:
            raise CriError("NotFound", f'failed to resolve image "{image_ref}": not found')
        h = cfg.handler(pod.handler) or RuntimeHandler(pod.handler)
        spec_err = f'failed to generate container "{cid}" spec: '
        # buildWindowsSpec (container_create_windows.go; §4.3)
        ctr_hpc = bool(_g(config, "windows", "security_context", "host_process", default=False))
        sandbox_hpc = bool(_g(sandbox_config, "windows", "security_context", "host_process",
                              default=False))
        if ctr_hpc != sandbox_hpc:
            raise CriError("Unknown", spec_err + "pod spec and all containers inside must "
                           "have the HostProcess field set to be valid")
        process = self._oci_process(image, config, spec_err)
        if config.get("working_dir"):
            cwd = str(config["working_dir"])
        elif image.workdir:
            cwd = image.workdir
        elif ctr_hpc:
            cwd = "C:\\hpc"
        else:
            cwd = ""
        env = list(image.env) + [f"{e.get('key', '')}={e.get('value', '')}"
                                 for e in (config.get("envs") or [])]
        user = _g(config, "windows", "security_context", "run_as_username",
                  default="") or image.user
        annotations = shim.passthrough_annotations(sandbox_config.get("annotations"),
                                                   h.pod_annotations)
        annotations.update(shim.passthrough_annotations(config.get("annotations"),
                                                        h.container_annotations))
        annotations[shim.HOSTPROCESS_CONTAINER] = "true" if sandbox_hpc else "false"
        smeta = sandbox_config.get("metadata") or {}
        annotations.update({
            "io.kubernetes.cri.sandbox-id": pod.id,
            "io.kubernetes.cri.sandbox-namespace": str(smeta.get("namespace", "")),
            "io.kubernetes.cri.sandbox-uid": str(smeta.get("uid", "")),
            "io.kubernetes.cri.sandbox-name": str(smeta.get("name", "")),
            "io.kubernetes.cri.container-name": str(config["metadata"].get("name", "")),
            "io.kubernetes.cri.image-name": image_ref,
            shim.CONTAINER_TYPE: "container",
        })
        mounts = [self._oci_mount(m, spec_err) for m in (config.get("mounts") or [])]
        init = ProcessSpec(args=process.get("args"), command_line=process.get("commandLine"),
                           user=user, cwd=cwd, env=env)
        spec = {"ociVersion": "1.1.0",
                "process": {"user": {"uid": 0, "gid": 0, "username": user}, **process,
                            "env": env, "cwd": cwd},
                "hostname": sandbox_config.get("hostname") or "",
                "annotations": dict(annotations),
                "mounts": [m.oci() for m in mounts],
                "windows": {"network": {"networkNamespace": "" if sandbox_hpc
                                        else f"ns-{pod.id[:12]}"}}}
        log_dir = str(sandbox_config.get("log_directory") or "")
        log_path = str(config.get("log_path") or "")
        container = ContainerRecord(
            id=cid, pod=pod, name=str(config["metadata"].get("name", "")),
            attempt=int(config["metadata"].get("attempt") or 0), image=image,
            image_ref=image_ref, annotations=annotations,
            labels=dict(config.get("labels") or {}), config=copy.deepcopy(config),
            is_hpc=shim.is_job_container(annotations), working_dir=cwd, init_process=init,
            user=user, log_path=f"{log_dir}\\{log_path}" if log_dir and log_path else log_path,
            mounts=mounts)
        with self.lock:
            self._specs[cid] = spec
        return container

    def _oci_mount(self, mount: Any, spec_err: str) -> Mount:
        """``WithWindowsMounts`` / ``parseMount`` (docs/behaviour/runtime.md §9.5): the
        source must exist on the host and is cleaned; a rooted destination gets ``C:``;
        ``readonly`` becomes option ``ro``, else ``rw``."""
        src = str(_g(mount, "host_path", default=""))
        dst = str(_g(mount, "container_path", default=""))
        if not src or not dst:
            raise CriError("Unknown", spec_err + "invalid OCI spec - a mount must have both "
                           f"source and a destination: {src!r} -> {dst!r}")
        fs = self.machine.fs
        if not src.startswith("\\\\.\\pipe\\"):
            if not fs.exists(src):
                raise CriError("Unknown", spec_err + f'failed to stat "{src}": '
                               "CreateFile " + src + ": The system cannot find the file "
                               "specified.")
            src = fs.real_path(src)
            if len(dst) == 2 and dst[1] == ":":
                if dst[0] in "cC":
                    raise CriError("Unknown", spec_err + "destination path can not be C drive")
            else:
                dst = shim.windows_clean(dst)
                if dst.startswith("\\"):
                    dst = "C:" + dst
        return Mount(source=src, destination=dst, readonly=bool(mount.get("readonly")))

    @staticmethod
    def _oci_process(image: Image, config: dict, spec_err: str) -> dict:
        """``WithProcessCommandLineOrArgsForWindows`` and ``getArgs`` (spec_windows.go)."""
        ctr_entry = list(config.get("command") or [])
        ctr_cmd = list(config.get("args") or [])
        first_from_img = False
        entrypoint, cmd = ctr_entry, ctr_cmd
        if not entrypoint:
            if not cmd:
                cmd = list(image.cmd)
                first_from_img = bool(image.cmd)
            entrypoint = list(image.entrypoint)
            if image.entrypoint or not ctr_cmd:
                first_from_img = True
        args = entrypoint + cmd
        if not args:
            raise CriError("Unknown", spec_err + "no command specified")
        if image.args_escaped:
            if first_from_img:
                line = args[0] + ("" if len(args) == 1 else " " + shim.escape_args(args[1:]))
            else:
                line = shim.escape_args(args)
            return {"commandLine": line}
        return {"args": args}

    # --- StartContainer ----------------------------------------------------------------------
    def start_container(self, container_id: str) -> None:
        self._require_cri()
        c = self._find_container(container_id)
        if c is None:
            raise CriError("NotFound", "an error occurred when try to find container "
                           f'"{container_id}": not found')
        self._latency("StartContainer", c.pod)
        with c.lock:
            if c.state != CONTAINER_CREATED:
                raise CriError("Unknown", f'failed to set starting state for container '
                               f'"{c.id}": container is in {c.state} state')
            if c.pod.state != SANDBOX_READY:
                raise CriError("Unknown", f'sandbox container "{c.pod.id}" is not running')
            try:
                process = c.task_process or self._create_task(c)
                self._start_task(c, process)
            except CriError as exc:
                c.state, c.exit_code = CONTAINER_EXITED, START_ERROR_EXIT_CODE
                c.reason, c.message = START_ERROR_REASON, exc.message
                c.finished_at = now_ns()
                self._release_temp_user(c)
                self._log("error", f'StartContainer for "{c.id}" failed', error=exc.message)
                raise
        self._log("info", f'StartContainer for "{c.id}" returns successfully')

    def _create_task(self, c: ContainerRecord) -> ProcessSpec:
        """The shim's task create for a workload container (§2.1, §2.3-§2.5, §3.4)."""
        pod = c.pod
        h = (self.config.handler(pod.handler) if self.config else None) or \
            RuntimeHandler(pod.handler)
        isolated = pod.isolation == "hyperv"  # the shim sets Windows.HyperV (§2.1 step 4)
        try:
            ann = shim.merge_default_annotations(c.annotations, h.shim_options)
            ann = self.flavor.process_annotations(ann)
            pod_ann = self._shim_pod_annotations.get(pod.id, pod.annotations)
            pod_job = shim.is_job_container(pod_ann) and pod.uvm is None
            ann = self.flavor.update_container_annotations(
                pod_ann, isolated, pod_job, ann, isolated,
                None if pod.uvm is None else pod.uvm.hpc_capable)
            is_job = shim.is_job_container(ann)
            host_job = self.flavor.job_container_on_host(is_job, isolated)
            where = "job" if host_job else ("uvm" if is_job and isolated else "container")
            mounts = self.flavor.container_mounts(where, list(c.mounts))
            process = dataclasses.replace(c.init_process,
                                          env=[e for e in c.init_process.env
                                               if e.partition("=")[2] != ""])
            rootfs: str | None = None
            if host_job:
                rootfs = self.flavor.job_rootfs_location(c.id, ann, self._bind_filter())
            elif is_job and isolated:
                process = self.flavor.isolated_job_process(ann, process, init=True)
                rootfs = self.flavor.isolated_rootfs_path(ann)
            elif isolated:
                if c.image.uvm_os_build > (pod.uvm.os_build if pod.uvm else self.host_build):
                    raise shim.ShimError(f"hcs::CreateComputeSystem {c.id}: "
                                         f"{ERROR_OS_MISMATCH}")
            else:
                self._check_process_compat(c.id, c.image.uvm_os_build)
        except shim.ShimError as exc:
            raise CriError("Unknown", "failed to create containerd task: failed to create "
                           "shim task: " + self._shim_text(exc.message)) from None
        c.shim_annotations = ann
        c.shim_mounts = mounts
        c.is_hpc = is_job
        c.host_job = host_job
        c.uvm = None if host_job else pod.uvm
        c.rootfs_location = rootfs
        return process

    def _bind_filter(self) -> bool:
        return self.machine.fs.is_file(BINDFLT_DLL)

    def _start_task(self, c: ContainerRecord, process: ProcessSpec) -> None:
        """Task start: the init process's token (job containers) and its creation."""
        start_err = f'failed to start containerd task "{c.id}": '
        if c.host_job:
            try:
                job_user = self._job_user(c, process.user)
            except shim.ShimError as exc:
                raise CriError("Unknown", start_err + self._shim_text(exc.message)) from None
            process = dataclasses.replace(process, user=job_user.account)
        c.user = process.user
        c.init_process = process
        try:
            proc = self._launch(c, process, init=True)
        except CriError:
            raise
        except Exception as exc:
            text = self._launch_error_text(exc)
            if text is None:
                raise
            if c.host_job and not text.startswith("failed to"):
                text = "failed to start host process: " + text
            raise CriError("Unknown", start_err + self._shim_text(text)) from None
        c.process = proc
        c.state = CONTAINER_RUNNING
        c.started_at = now_ns()
        proc.write_stdin(b"", eof=True)
        threading.Thread(target=self._monitor, args=(c, proc), daemon=True,
                         name=f"sim-ctr-{c.id[:12]}").start()

    def _monitor(self, c: ContainerRecord, proc: SimProcess) -> None:
        """The task exit monitor: the container's log, then its exit (§3.3 exit codes)."""
        where = self._where(c)
        while True:
            out, err, done = proc.read_output(1 << 16, 0.2)
            if out or err:
                out, err = self.flavor.guest_streams(where, out, err, init=True)
                with c.lock:
                    c.log += out + err
            if done:
                break
        code = proc.exit_code if proc.exit_code is not None else 1
        with c.lock:
            code = self._exit_code(c, code, killed=c.killed,
                                   init=True)
            c.exit_code = code
            c.state = CONTAINER_EXITED
            c.finished_at = now_ns()
            c.reason = "Completed" if code == 0 else "Error"
        self._release_temp_user(c)
        self._log("info", f'TaskExit event container_id:"{c.id}" exit_status:{code}')

    # --- PI-HPC tokens (§3.3) ----------------------------------------------------------------
    def _job_user(self, c: ContainerRecord, username: str) -> shim.JobUser:
        return self.flavor.job_user(
            username, c.id, inherit_user=shim.inherit_user_is_set(c.shim_annotations),
            resolve=lambda name, inherit: self._resolve_job_user(c, name, inherit))

    def _resolve_job_user(self, c: ContainerRecord, username: str,
                          inherit_user: bool) -> shim.JobUser:
        machine = self.machine

        def group_exists(name: str) -> bool:
            extra = getattr(machine, "local_groups", None)
            extra_names = {g.lower() for g in (extra() if callable(extra) else extra or ())}
            return name.lower() in BUILTIN_GROUPS or name.lower() in extra_names

        def create_group_user(name: str, group: str) -> str:
            if name.upper() in (u.upper() for u in machine.users):
                raise shim.LogonFailure(2224, "The account already exists.")
            machine.add_user(name, secrets.token_urlsafe(24))
            add_member = getattr(machine, "add_group_member", None)
            if callable(add_member):
                add_member(group, name)
            self._temp_users[c.id] = name
            return f"{machine.computer_name}\\{name}"

        def logon(domain: str, user: str, logon_type: str) -> str:
            if logon_type == "service":
                if user.upper() in ("SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE"):
                    return machine.account(f"NT AUTHORITY\\{user}").qualified
                raise shim.LogonFailure(1326, WIN32_TEXT[1326])
            local = domain in ("", ".") or domain.upper() in (machine.computer_name,
                                                               machine.name.upper())
            if local and user.lower() == "guest":
                raise shim.LogonFailure(1331, WIN32_TEXT[1331])
            if local and user.upper() in (u.upper() for u in machine.users):
                # LogonUser with a nil password: a set password is wrong, a blank one is
                # refused outside the console (ASSUMPTIONS.md).
                ok = machine.check_password(user, "")
                raise shim.LogonFailure(1327 if ok else 1326,
                                        WIN32_TEXT[1327 if ok else 1326])
            raise shim.LogonFailure(1326, WIN32_TEXT[1326])

        return shim.resolve_job_container_user(
            username, c.id, inherit_user=inherit_user, shim_account=self.shim_account,
            group_exists=group_exists,
            create_group_user=create_group_user, logon=logon)

    def _release_temp_user(self, c: ContainerRecord) -> None:
        """``JobContainer.Close`` deletes the group user (§3.3)."""
        name = self._temp_users.pop(c.id, None)
        remove = getattr(self.machine, "remove_user", None)
        if name is not None and callable(remove) and self.flavor.delete_temporary_user(name):
            remove(name)

    # --- ExecSync -----------------------------------------------------------------------------
    def exec_sync(self, container_id: str, argv: list[str], timeout: float = 0) -> ExecSyncResult:
        """ExecSync: run ``argv`` in the container and collect its output (§2.5, §4.3)."""
        self._require_cri()
        prefix = "failed to exec in container: "
        c = self._find_container(container_id)
        if c is None:
            raise CriError("NotFound", prefix + f'failed to find container "{container_id}" '
                           "in store: not found")
        if c.state != CONTAINER_RUNNING:
            raise CriError("Unknown", prefix + f"container is in {c.state} state")
        self._latency("ExecSync", c.pod)
        exec_id = _new_id()
        # The exec inherits the spec's process with Args replaced, CommandLine cleared.
        process = ProcessSpec(args=list(argv), command_line=None,
                              user=self._specs[c.id]["process"]["user"]["username"],
                              cwd=c.working_dir,
                              env=[e for e in self._specs[c.id]["process"]["env"]
                                   if e.partition("=")[2] != ""])
        if c.host_job:  # the init process's token is reused (§3.3)
            process.user = self.flavor.job_exec_user(c.user, process.user)
        elif c.is_hpc and c.uvm is not None:
            process = self.flavor.isolated_job_process(c.shim_annotations, process, init=False)
        try:
            proc = self._launch(c, process, init=False)
        except CriError:
            raise
        except Exception as exc:
            text = self._launch_error_text(exc)
            if text is None:
                raise
            raise CriError("Unknown", prefix + f'failed to start exec "{exec_id}": '
                           + self._shim_text(text)) from None
        proc.write_stdin(b"", eof=True)
        deadline = None if not timeout or timeout <= 0 else time.monotonic() + timeout
        out, err = bytearray(), bytearray()
        while True:
            wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            o, e, done = proc.read_output(1 << 16, wait)
            out += o
            err += e
            if done:
                break
            if deadline is not None and time.monotonic() >= deadline:
                proc.terminate()
                raise CriError("DeadlineExceeded", prefix + f"timeout {go_duration(timeout)} "
                               "exceeded: context deadline exceeded")
        code = proc.exit_code if proc.exit_code is not None else 1
        code = self._exit_code(c, code, killed=False, init=False)
        stdout, stderr = self.flavor.guest_streams(self._where(c), bytes(out), bytes(err),
                                                   init=False)
        self._log("info", f'ExecSync for "{c.id}" returns with exit code {code}')
        return ExecSyncResult(code, stdout, stderr)

    # --- stop / remove ------------------------------------------------------------------------
    def stop_container(self, container_id: str, timeout: float = 0) -> None:
        """StopContainer (idempotent for an unknown id, as containerd is)."""
        self._require_cri()
        c = self._find_container(container_id)
        if c is None:
            return
        self._latency("StopContainer", c.pod)
        self._kill(c)

    def _kill(self, c: ContainerRecord) -> None:
        with c.lock:
            proc = c.process
            if c.state != CONTAINER_RUNNING or proc is None:
                return
            c.killed = True
        proc.terminate()
        proc.wait(10)
        deadline = time.monotonic() + 10
        while c.state == CONTAINER_RUNNING and time.monotonic() < deadline:
            time.sleep(0.01)

    def remove_container(self, container_id: str) -> None:
        self._require_cri()
        c = self._find_container(container_id)
        if c is None:
            return
        self._latency("RemoveContainer", c.pod)
        with c.lock:
            if c.state == CONTAINER_RUNNING:
                raise CriError("Unknown", f'failed to set removing state for container '
                               f'"{c.id}": container is still running, to stop first')
        with self.lock:
            self.containers.pop(c.id, None)
            self._specs.pop(c.id, None)
            self._container_names.pop(c.reserved_name, None)
        self._release_temp_user(c)

    def stop_pod_sandbox(self, pod_id: str) -> None:
        self._require_cri()
        pod = self._find_pod(pod_id)
        if pod is None:
            return
        if pod.state == SANDBOX_READY:  # not again inside RemovePodSandbox after a stop
            self._latency("StopPodSandbox", pod)
        for c in self._pod_containers(pod):
            self._kill(c)
        with self.lock:
            pod.state = SANDBOX_NOTREADY
        self._shim_ended(pod.id)  # the sandbox task is gone, and its shim process with it

    def remove_pod_sandbox(self, pod_id: str) -> None:
        self._require_cri()
        pod = self._find_pod(pod_id)
        if pod is None:
            return
        self._latency("RemovePodSandbox", pod)
        self.stop_pod_sandbox(pod.id)
        for c in self._pod_containers(pod):
            self.remove_container(c.id)
        with self.lock:
            self.pods.pop(pod.id, None)
            self._shim_pod_annotations.pop(pod.id, None)
            self._specs.pop(pod.id, None)
            self._specs.pop(pod.id + "#cni", None)
            for name, pid in list(self._pod_names.items()):
                if pid == pod.id:
                    del self._pod_names[name]

    # --- status / list ------------------------------------------------------------------------
    def pod_sandbox_status(self, pod_id: str) -> dict:
        """``crictl inspectp -o json``: ``{"status": PodSandboxStatus, "info": SandboxInfo}``."""
        self._require_cri()
        pod = self._find_pod(pod_id)
        if pod is None:
            raise CriError("NotFound", "an error occurred when try to find sandbox: not found")
        status = {**self._pod_summary(pod),
                  "network": {"ip": pod.ip, "additionalIps": []},
                  "linux": None, "containersStatuses": []}
        h = self.config.handler(pod.handler) if self.config else None
        info = {"pid": 0 if pod.host_process else 4000 + int(pod.id[:4], 16) % 1000,
                "processStatus": "running" if pod.state == SANDBOX_READY else "stopped",
                "netNamespaceClosed": pod.state != SANDBOX_READY or pod.host_process,
                "image": pod.sandbox_image, "snapshotKey": pod.id, "snapshotter": "windows",
                "runtimeHandler": pod.handler,
                "runtimeType": pod.runtime_type,
                "runtimeOptions": dict(h.shim_options) if h else {},
                "config": copy.deepcopy(pod.config),
                "runtimeSpec": copy.deepcopy(self._specs.get(pod.id)),
                "cniResult": (self._specs.get(pod.id + "#cni") or {}).get("cniResult"),
                "sandboxMetadata": {"ID": pod.id, "Name": "_".join(
                    [pod.name, pod.namespace, pod.uid, str(pod.attempt)]),
                    "RuntimeHandler": pod.handler, "IP": pod.ip}}
        return {"status": status, "info": info}

    def _pod_summary(self, pod: PodRecord) -> dict:
        return {"id": pod.id,
                "metadata": {"name": pod.name, "uid": pod.uid, "namespace": pod.namespace,
                             "attempt": pod.attempt},
                "state": pod.state, "createdAt": str(pod.created_at),
                "labels": dict(pod.labels),
                "annotations": dict(pod.config.get("annotations") or {}),
                "runtimeHandler": pod.handler}

    def container_status(self, container_id: str) -> dict:
        """``crictl inspect -o json``: ``{"status": ContainerStatus, "info": ...}``."""
        self._require_cri()
        c = self._find_container(container_id)
        if c is None:
            raise CriError("NotFound", "an error occurred when try to find container "
                           f'"{container_id}": not found')
        with c.lock:
            status = {**self._container_summary(c),
                      "startedAt": str(c.started_at), "finishedAt": str(c.finished_at),
                      "exitCode": c.exit_code or 0, "reason": c.reason,
                      "message": c.message, "mounts": _cri_mounts(c.config),
                      "logPath": c.log_path,
                      "resources": None}
            h = self.config.handler(c.pod.handler) if self.config else None
            info = {"sandboxID": c.pod.id,
                    "pid": 0 if c.process is None else 5000 + int(c.id[:4], 16) % 1000,
                    "removing": False, "snapshotKey": c.id, "snapshotter": "windows",
                    "runtimeType": c.pod.runtime_type,
                    "runtimeOptions": dict(h.shim_options) if h else {},
                    "config": copy.deepcopy(c.config),
                    "runtimeSpec": copy.deepcopy(self._specs.get(c.id))}
        return {"status": status, "info": info}

    def _container_summary(self, c: ContainerRecord) -> dict:
        return {"id": c.id, "podSandboxId": c.pod.id,
                "metadata": {"name": c.name, "attempt": c.attempt},
                "image": {"image": c.image_ref, "annotations": {},
                          "userSpecifiedImage": "", "runtimeHandler": ""},
                "imageRef": c.image.id, "imageId": c.image.id,
                "state": c.state, "createdAt": str(c.created_at),
                "labels": dict(c.labels),
                "annotations": dict(c.config.get("annotations") or {})}

    def list_pod_sandboxes(self, filter: Mapping | None = None) -> list[dict]:
        self._require_cri()
        f = filter or {}
        with self.lock:
            pods = sorted(self.pods.values(), key=lambda p: p.created_at)
        out = []
        for p in pods:
            if f.get("id") and not p.id.startswith(str(f["id"])):
                continue
            if not _state_matches(p.state, _g(f, "state", "state")):
                continue
            if not _labels_match(p.labels, f.get("label_selector")):
                continue
            out.append(self._pod_summary(p))
        return out

    def list_containers(self, filter: Mapping | None = None) -> list[dict]:
        self._require_cri()
        f = filter or {}
        with self.lock:
            ctrs = sorted(self.containers.values(), key=lambda c: c.created_at)
        out = []
        for c in ctrs:
            if f.get("id") and not c.id.startswith(str(f["id"])):
                continue
            if f.get("pod_sandbox_id") and not c.pod.id.startswith(str(f["pod_sandbox_id"])):
                continue
            if not _state_matches(c.state, _g(f, "state", "state")):
                continue
            if not _labels_match(c.labels, f.get("label_selector")):
                continue
            out.append(self._container_summary(c))
        return out

    def container_log(self, container_id: str) -> bytes:
        self._require_cri()
        c = self._find_container(container_id)
        if c is None:
            raise CriError("NotFound", "an error occurred when try to find container "
                           f'"{container_id}": not found')
        with c.lock:
            return bytes(c.log)

    # --- lookups (truncated ids work, as containerd's truncindex) ----------------------------
    def _find_pod(self, pod_id: str) -> PodRecord | None:
        with self.lock:
            if pod_id in self.pods:
                return self.pods[pod_id]
            hits = [p for i, p in self.pods.items() if pod_id and i.startswith(pod_id)]
            return hits[0] if len(hits) == 1 else None

    def _find_container(self, cid: str) -> ContainerRecord | None:
        with self.lock:
            if cid in self.containers:
                return self.containers[cid]
            hits = [c for i, c in self.containers.items() if cid and i.startswith(cid)]
            return hits[0] if len(hits) == 1 else None

    def _pod_containers(self, pod: PodRecord) -> list[ContainerRecord]:
        with self.lock:
            return [c for c in self.containers.values() if c.pod is pod]


def _cri_mounts(config: Mapping) -> list[dict]:
    """ContainerStatus.mounts: the CRI mounts as configured, in crictl's JSON."""
    return [{"containerPath": str(m.get("container_path", "")),
             "hostPath": str(m.get("host_path", "")), "readonly": bool(m.get("readonly")),
             "selinuxRelabel": False, "propagation": "PROPAGATION_PRIVATE"}
            for m in (config.get("mounts") or []) if isinstance(m, Mapping)]


def _state_matches(state: str, wanted: object) -> bool:
    if wanted is None or wanted == "":
        return True
    if isinstance(wanted, int):
        return _STATE_NUMBERS.get(state) == wanted
    return state == str(wanted)


def _labels_match(labels: Mapping[str, str], selector: object) -> bool:
    if not selector:
        return True
    return all(labels.get(k) == v for k, v in dict(selector).items())  # type: ignore[arg-type]


def _meta_text(meta: Mapping, container: bool = False) -> str:
    """containerd logs metadata with Go's %v of the protobuf message."""
    if container:
        return f"&ContainerMetadata{{Name:{meta.get('name', '')},Attempt:{meta.get('attempt') or 0},}}"
    return (f"&PodSandboxMetadata{{Name:{meta.get('name', '')},Uid:{meta.get('uid', '')},"
            f"Namespace:{meta.get('namespace', '')},Attempt:{meta.get('attempt') or 0},}}")


__all__ = ["START_ERROR_EXIT_CODE", "CriError", "CriRuntime", "go_duration"]
