"""Runtime flavors: the same simulated machine behaving like another build of the runtime.

The suite proves it catches regressions by running against flavors whose behaviour differs
from today's (DESIGN.md "The simulated host").  A flavor is a :class:`Flavor` object; the
simulated containerd (:class:`harness.sim.cri.runtime.CriRuntime`) asks it at each point
where hcsshim's HostProcess behaviour is decided, and nothing else differs.

Built-in flavors (``resolve_flavor(name)``):

``current``
    hcsshim with PR #2531 (commit ``b07af140d``), as hcsshim-hpc-behaviour.md describes.
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
docstring says when it runs and what it must return or raise.  Errors are
:class:`~harness.sim.cri.shim.ShimError` with the shim's text; containerd's wrapping and the
stage (RunPodSandbox / StartContainer / ExecSync) are added by the runtime.  Example::

    from harness.sim.cri.flavors import Flavor

    class NoWrap(Flavor):
        name = "no-wrap"
        def isolated_job_process(self, task_annotations, process):
            return process  # forget the cmd /c wrap and the SYSTEM user

    FLAVOR = NoWrap()

Where the flavor is chosen: ``Machine(flavor=...)`` (a name, a path or a Flavor); the
simulated containerd resolves it when it starts.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

from harness.sim.cri import shim
from harness.sim.cri.model import ProcessSpec

WS2025_BUILD = 26100


class Flavor:
    """Today's hcsshim.  Subclass and override hooks to model another build."""

    name = "current"
    description = "hcsshim with hypervisor-isolated HostProcess support (PR #2531)"
    uvm_boot_seconds = 0.0
    """How long creating a UVM takes (RunPodSandbox of a hypervisor pod blocks this long)."""

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
        pod (the shim's ``p.jobContainer``)."""
        out = shim.update_config_for_host_process_container(
            pod_annotations, pod_isolated, container_annotations, container_isolated,
            uvm_supports_hpc)
        return out if out is not None else {}

    def job_container_on_host(self, is_job_container: bool, is_isolated: bool) -> bool:
        """``createContainer``'s dispatch (§3.4): True sends the container to
        ``jobcontainers.Create`` (a job object on the host)."""
        return is_job_container and not is_isolated

    def isolated_job_process(self, task_annotations: Mapping[str, str],
                             process: ProcessSpec) -> ProcessSpec:
        """An HPC process inside a UVM (init and every exec, §2.5): the ``cmd /c`` wrap
        and the inherit-user SYSTEM rule.  Return the process to launch."""
        result = shim.handle_process_args_for_isolated_job_container(task_annotations, process)
        assert result is not None
        return result

    def isolated_rootfs_path(self, annotations: Mapping[str, str]) -> str | None:
        """``PrivilegedContainerRootPath`` for an HPC in a UVM (§2.4), None for the guest
        default; raise ShimError("unsafe path detected") to refuse."""
        return shim.isolated_rootfs_path(annotations)

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

    def isolated_job_process(self, task_annotations, process):
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


__all__ = ["BUILTIN", "Flavor", "FlavorError", "NoCapabilityFlavor", "PreFixFlavor",
           "load_flavor_file", "resolve_flavor"]
