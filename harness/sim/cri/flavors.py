"""Runtime flavors: the same simulated machine behaving like another build of the runtime.

The suite proves it catches regressions by running against flavors whose behaviour differs
from today's (docs/internals.md "The simulated host").  A flavor is a :class:`Flavor` object; the
simulated containerd (:class:`harness.sim.cri.runtime.CriRuntime`) asks it at each point
where hcsshim's HostProcess behaviour is decided, and nothing else differs.

Built-in flavors (``resolve_flavor(name)``):

``current``
    hcsshim with PR #2531 (commit ``b07af140d``), as docs/behaviour/runtime.md describes.
``pre-fix``
    hcsshim before that commit (``b07af140d^``, read from the source): no ``cmd /c`` wrap,
    no ``NT AUTHORITY\\SYSTEM``, no capability gate, no pod→container passthrough and no
    forced inherit-user ``"false"`` in hypervisor pods; the mixing error lacks
    `` running on host`` (§8 item 14).  ``createContainer`` then sent *every* job container
    to ``jobcontainers.Create``, so an HPC in a hypervisor pod ran as a job object **on the
    host**, outside the UVM (host network, host name, PI-HPC user rules).
``no-capability``
    today's shim with a UVM that does not advertise ``HostProcessContainerSupported``
    (§2.7): HPC pods start, every HPC container start fails.

A flavor from a file: ``resolve_flavor("path/to/flavor.py")`` (any value ending in ``.py``)
imports the file as a module, which must define ``FLAVOR``, an instance of a
:class:`Flavor` subclass.  Override only the hooks whose behaviour you change; each hook's
docstring says when it runs and what it must return or raise.  The hooks cover containerd's
and the shim's decisions (annotations, dispatch, the stage a refusal surfaces at, the UVM
capability, the ``cmd /c`` wrap and user of every UVM process, told init from exec), a
process-isolated HPC's (token, exec user, rootfs location, command line, working directory,
environment, exit code, temporary-user clean-up) and what the guest exposes (host name,
adapters, rootfs mount, mounts, output streams, exit status); whether a container is a
HostProcess container is what the shim's annotations say at task create, so a flavor can
start an HPC as a normal container.  ``tests/regression_flavors/`` holds single-rule
regressions written this way, each caught by the suite (tests/test_regression_self_test.py).
Errors are :class:`~harness.sim.cri.shim.ShimError` with the shim's text; containerd's
wrapping and the stage (RunPodSandbox, StartContainer or CreateContainer as
:meth:`Flavor.task_create_stage` says, ExecSync) are added by the runtime.  Example::

    from harness.sim.cri.flavors import Flavor

    class NoWrap(Flavor):
        name = "no-wrap"
        def isolated_job_process(self, task_annotations, process, *, init):
            return process  # forget the cmd /c wrap and the SYSTEM user

    FLAVOR = NoWrap()

Where the flavor is chosen: ``Machine(flavor=...)`` (a name, a path or a Flavor); the
simulated containerd resolves it when it starts.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from harness.sim.cri import shim
from harness.sim.cri.model import Mount, ProcessSpec

WS2025_BUILD = 26100


Where = Literal["job", "uvm", "container"]
"""Where a container's processes run: ``job`` (a job object on the host: a process-isolated
HPC, or any HPC under a shim that sends it there), ``uvm`` (an HPC inside the pod's utility
VM) or ``container`` (a normal, non-HostProcess container)."""


class Flavor:
    """Today's hcsshim.  Subclass and override hooks to model another build.

    Hooks come in three groups, each hook one decision of the real code (the docstring says
    which function and when it runs).  A hook gets what that function gets and returns what
    it returns; ``init`` says whether the process is the container's init process (True) or
    an exec (False).  Errors are :class:`~harness.sim.cri.shim.ShimError`.

    * containerd and the shim's task: :meth:`process_annotations`,
      :meth:`update_container_annotations`, :meth:`job_container_on_host`,
      :meth:`task_create_stage`, :meth:`uvm_hpc_capable`, :meth:`isolated_job_process`,
      :meth:`isolated_rootfs_path`, :meth:`container_mounts`;
    * a process-isolated HPC (``internal/jobcontainers``): :meth:`job_rootfs_location`,
      :meth:`job_user`, :meth:`job_exec_user`, :meth:`job_command_line`,
      :meth:`job_working_dir`, :meth:`job_environment`, :meth:`job_exit_code`,
      :meth:`delete_temporary_user`;
    * what the guest exposes to the container's processes: :meth:`guest_hostname`,
      :meth:`guest_adapters`, :meth:`guest_rootfs_location`, :meth:`guest_mounts`,
      :meth:`guest_streams`, :meth:`guest_exit_status`.
    """

    name = "current"
    description = "hcsshim with hypervisor-isolated HostProcess support (PR #2531)"
    uvm_boot_seconds = 0.0
    """How long creating a UVM takes (RunPodSandbox of a hypervisor pod blocks this long)."""

    # --- containerd and the shim's task ---------------------------------------------------
    def uvm_hpc_capable(self, os_build: int) -> bool:
        """Whether a UVM booted with ``os_build`` advertises ``HostProcessContainerSupported``
        (§2.7: the guest OS decides; the PR says WS2025+, [inference] none before)."""
        return os_build >= WS2025_BUILD

    def process_annotations(self, annotations: Mapping[str, str]) -> dict[str, str]:
        """Every task create (pod sandbox and container): expansion and the disable-HPC
        conflict (§1.3).  Return the spec annotations or raise ShimError."""
        return shim.process_annotations(annotations)

    def update_container_annotations(self, pod_annotations: Mapping[str, str],
                                     pod_isolated: bool, pod_job_container: bool,
                                     container_annotations: Mapping[str, str],
                                     container_isolated: bool,
                                     uvm_supports_hpc: bool | None) -> dict[str, str]:
        """``pod.CreateTask`` before the task is built (§2.3): return the container's
        annotations after the HostProcess rules, or raise ShimError.  ``uvm_supports_hpc``
        is None for a pod without a UVM; ``pod_job_container`` says the pod is a PI-HPC
        pod (the shim's ``p.jobContainer``).  Whether the container then *is* a HostProcess
        container is read from the returned annotations (``hostprocess-container`` exactly
        "true"), so dropping it starts the container as a normal one."""
        out = shim.update_config_for_host_process_container(
            pod_annotations, pod_isolated, container_annotations, container_isolated,
            uvm_supports_hpc)
        return out if out is not None else {}

    def job_container_on_host(self, is_job_container: bool, is_isolated: bool) -> bool:
        """``createContainer``'s dispatch (§3.4): True sends the container to
        ``jobcontainers.Create`` (a job object on the host)."""
        return is_job_container and not is_isolated

    def task_create_stage(self) -> Literal["create", "start"]:
        """The CRI call during which the shim's task create for a workload container runs,
        and so where its refusals surface (§8 item 4): ``"start"`` (StartContainer, as
        containerd creates the task there) or ``"create"`` (CreateContainer)."""
        return "start"

    def isolated_job_process(self, task_annotations: Mapping[str, str],
                             process: ProcessSpec, *, init: bool) -> ProcessSpec:
        """An HPC process inside a UVM (init and every exec, §2.5): the ``cmd /c`` wrap
        and the inherit-user SYSTEM rule.  Return the process to launch (its ``env`` is
        the CRI ``envs`` plus the image's, its ``user`` what the guest runs it as)."""
        result = shim.handle_process_args_for_isolated_job_container(task_annotations, process)
        assert result is not None
        return result

    def isolated_rootfs_path(self, annotations: Mapping[str, str]) -> str | None:
        """``PrivilegedContainerRootPath`` for an HPC in a UVM (§2.4), None for the guest
        default; raise ShimError("unsafe path detected") to refuse."""
        return shim.isolated_rootfs_path(annotations)

    def container_mounts(self, where: Where, mounts: list[Mount]) -> list[Mount]:
        """The OCI mounts the shim sets up for a container (``jobcontainers`` bind filter
        for a job container, VSMB shares plus MappedDirectories for a UVM; docs/behaviour/
        runtime.md §9.5-§9.7).  Return the mounts to set up."""
        return list(mounts)

    # --- a process-isolated HPC (internal/jobcontainers) ----------------------------------
    def job_rootfs_location(self, container_id: str, annotations: Mapping[str, str],
                            bind_filter: bool) -> str:
        """Where a job container's rootfs appears on the host (§1.4, storage.go)."""
        return shim.job_container_rootfs_location(container_id, annotations, bind_filter)

    def job_user(self, username: str, container_id: str, *, inherit_user: bool,
                 resolve: Callable[[str, bool], shim.JobUser]) -> shim.JobUser:
        """The init process's token (§3.3 ``processToken``).  ``resolve(username,
        inherit_user)`` does what the shim does (logon, temporary group user, the shim's
        own token for inherit-user) and raises ShimError like it."""
        return resolve(username, inherit_user)

    def job_exec_user(self, init_user: str, requested_user: str) -> str:
        """The account an exec into a job container runs as: the init process's token is
        reused (§3.3), whatever the exec's spec names."""
        return init_user

    def job_command_line(self, command_line: str, rootfs_location: str, bind_filter: bool,
                         *, init: bool) -> str:
        """``JobContainer.CreateProcess``'s command line (§3.3): mount-point substitution,
        ``cmd /c`` with the bind filter."""
        return shim.job_container_command_line(command_line, rootfs_location, bind_filter)

    def job_working_dir(self, requested: str, rootfs_location: str, bind_filter: bool, *,
                        init: bool) -> str:
        """The working directory ``CreateProcess`` uses (§3.3)."""
        return shim.job_container_working_dir(requested, rootfs_location, bind_filter)

    def job_environment(self, default_block: list[str], spec_env: list[str],
                        rootfs_location: str, *, init: bool) -> list[str]:
        """The process environment (§3.2): the token's block, the spec's ``env`` (CRI
        ``envs`` included), the mount point and the PATH extension."""
        return shim.job_container_env(default_block, spec_env, rootfs_location)

    def job_exit_code(self, code: int, *, killed: bool, init: bool) -> int:
        """The exit code a job container's process reports: 1 when the job object was
        terminated (StopContainer, §3.3), else the process's own."""
        return 1 if killed else code

    def delete_temporary_user(self, name: str) -> bool:
        """Whether ``JobContainer.Close`` deletes the temporary user made for a group
        (§3.3); True does."""
        return True

    # --- what the guest exposes -------------------------------------------------------------
    def guest_hostname(self, where: Where, name: str, *, host_name: str) -> str:
        """The host name the container's processes see (``name``): the host's for a job
        container, the UVM's own for an HPC in a UVM (docs/behaviour/runtime.md §9.1).
        ``host_name`` is the host's, whatever ``where`` is."""
        return name

    def guest_adapters(self, where: Where, adapters: tuple, *, host_adapters: tuple) -> tuple:
        """The network adapters the processes see (§6): the host's for a job container,
        none in a UVM, the pod's endpoint for a normal container.  ``host_adapters`` are the
        host's, whatever ``where`` is."""
        return adapters

    def guest_rootfs_location(self, where: Where, location: str | None) -> str | None:
        """Where the image's rootfs is mounted in the processes' view (§1.4, §2.4); None
        mounts it nowhere."""
        return location

    def guest_mounts(self, where: Where, mounts: list[Mount]) -> list[Mount]:
        """The mounts the processes see, as the guest applied them (§9.5-§9.7)."""
        return list(mounts)

    def guest_streams(self, where: Where, stdout: bytes, stderr: bytes, *,
                      init: bool) -> tuple[bytes, bytes]:
        """What reaches the caller of each output stream: ``crictl exec`` (exec) or the
        container log (init, one chunk at a time)."""
        return stdout, stderr

    def guest_exit_status(self, where: Where, code: int, *, killed: bool, init: bool) -> int:
        """The exit status a UVM or normal container's process reports: ERROR_PROCESS_ABORTED
        (1067) when it was killed by StopContainer, else the process's own
        (docs/behaviour/runtime.md §9.4 for an HPC in a UVM)."""
        return 1067 if killed else code

    def __repr__(self) -> str:
        return f"<flavor {self.name}>"


class PreFixFlavor(Flavor):
    """hcsshim before b07af140d (see the module docstring)."""

    name = "pre-fix"
    description = "hcsshim before hypervisor-isolated HostProcess support"

    def uvm_hpc_capable(self, os_build: int) -> bool:
        return False  # the guest capability did not exist in this shim's schema

    def update_container_annotations(self, pod_annotations, pod_isolated, pod_job_container,
                                     container_annotations, container_isolated,
                                     uvm_supports_hpc):
        out = shim.update_config_pre_fix(pod_annotations, pod_job_container,
                                         container_annotations)
        return out if out is not None else {}

    def job_container_on_host(self, is_job_container: bool, is_isolated: bool) -> bool:
        return is_job_container  # b07af140d^ task_hcs.go createContainer

    def isolated_job_process(self, task_annotations, process, *, init):
        return process

    def isolated_rootfs_path(self, annotations):
        return None


class NoCapabilityFlavor(Flavor):
    """Today's shim; the UVM never advertises HostProcess support."""

    name = "no-capability"
    description = "UVM without the HostProcessContainerSupported capability"

    def uvm_hpc_capable(self, os_build: int) -> bool:
        return False


BUILTIN = {f.name: f for f in (Flavor, PreFixFlavor, NoCapabilityFlavor)}


class FlavorError(ValueError):
    """A flavor name or file that cannot be used; the message says why."""


def load_flavor_file(path: str | Path) -> Flavor:
    """Import ``path`` and return its ``FLAVOR``."""
    path = Path(path)
    if not path.is_file():
        raise FlavorError(f"flavor file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"hpc_e2e_flavor_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise FlavorError(f"cannot import flavor file {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise FlavorError(f"flavor file {path} failed to import: {exc!r}") from exc
    flavor = getattr(module, "FLAVOR", None)
    if not isinstance(flavor, Flavor):
        raise FlavorError(f"flavor file {path} must define FLAVOR, an instance of a "
                          "harness.sim.cri.flavors.Flavor subclass")
    return flavor


def resolve_flavor(value: object) -> Flavor:
    """None → current; a Flavor → itself; a built-in name; or a ``.py`` path."""
    if value is None:
        return Flavor()
    if isinstance(value, Flavor):
        return value
    if isinstance(value, (str, Path)):
        text = str(value)
        if text in BUILTIN:
            return BUILTIN[text]()
        if text.endswith(".py"):
            return load_flavor_file(text)
    raise FlavorError(f"unknown runtime flavor {value!r}: use one of "
                      f"{', '.join(BUILTIN)} or the path of a .py file defining FLAVOR")


__all__ = ["BUILTIN", "Flavor", "Where", "FlavorError", "NoCapabilityFlavor", "PreFixFlavor",
           "load_flavor_file", "resolve_flavor"]
