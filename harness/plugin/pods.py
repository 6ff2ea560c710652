"""The pod factory (``pods``) and the handles scenarios hold: :class:`Pod`, :class:`Container`.

A scenario asks for a pod by isolation mode and gets a handle; every handle is one crictl
call away from the runtime, so a scenario reads like the crictl session it replaces.  The
factory remembers everything it created and removes it after the test — containers first
(stop, then rm), then pods (stopp, then rmp) — pass or fail.  Refusals by the runtime are
:class:`~harness.cri.CriStageError` (``.stage``, ``.runtime_message``), raised to the test.

Pods get a log directory in the run's folder on the host and containers a log file in it,
so ``Container.logs()`` works (crictl needs a log path, ecosystem-facts.md §3.3).
"""

from __future__ import annotations

import itertools
import ntpath
import re
import uuid
from collections.abc import Mapping, Sequence

from harness.cri import ContainerSpec, ContainerStatus, ExecResult, PodSpec
from harness.cri.crictl import says_not_found
from harness.cri.status import PodStatus
from harness.errors import HarnessError
from harness.runtime.containerd_config import HYPERVISOR_HANDLER, PROCESS_HANDLER

# Isolation mode -> runtime handler of the deployed config.toml (hcsshim-hpc-behaviour.md §4.2).
HANDLERS = {"process": PROCESS_HANDLER, "hyperv": HYPERVISOR_HANDLER}
NAME_LENGTH = 40


class Container:
    """A container created in a :class:`Pod` (created, not started, until :meth:`start`)."""

    def __init__(self, pod: Pod, ref):
        self.pod = pod
        self.ref = ref  # harness.cri.ContainerRef
        self.started = False
        self.removed = False

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def name(self) -> str:
        return self.ref.spec.name

    @property
    def spec(self) -> ContainerSpec:
        return self.ref.spec

    @property
    def _crictl(self):
        return self.pod.factory.crictl

    def __repr__(self) -> str:
        return f"<Container {self.name} {self.id[:13]} in pod {self.pod.name}>"

    def start(self) -> Container:
        self._crictl.start(self.ref)
        self.started = True
        return self

    def exec(self, argv: Sequence[str], timeout: float = 60, *,
             repeatable: bool = True) -> ExecResult:
        """Run ``argv`` in the container (``crictl exec -s``); the command's own exit code.

        Scenario commands observe (``whoami``, ``dir``, ``ipconfig``, ``type``...), so an
        exec is run again after a transient failure by default; pass ``repeatable=False``
        for a command whose effect a repeat would change (it then fails on the first
        transient error, as infrastructure).
        """
        return self._crictl.exec(self.ref, argv, timeout=timeout, repeatable=repeatable)

    def inspect(self) -> ContainerStatus:
        return self._crictl.inspect(self.ref)

    def logs(self) -> str:
        """The container's log as ``crictl logs`` prints it on stdout."""
        return self._crictl.logs(self.ref).stdout

    def stop(self, timeout: int | None = None) -> None:
        """StopContainer; ``timeout`` is the grace period in seconds (crictl's default: 0)."""
        self._crictl.stop(self.ref, timeout=timeout)

    def remove(self) -> None:
        self._crictl.rm(self.ref)
        self.removed = True


class Pod:
    """A pod sandbox started with the runtime handler of its isolation mode."""

    def __init__(self, factory: PodFactory, ref, isolation: str):
        self.factory = factory
        self.ref = ref  # harness.cri.PodRef
        self.isolation = isolation
        self.containers: list[Container] = []
        self.removed = False
        self._names = itertools.count()

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def name(self) -> str:
        return self.ref.spec.name

    @property
    def spec(self) -> PodSpec:
        return self.ref.spec

    @property
    def handler(self) -> str:
        return HANDLERS[self.isolation]

    def __repr__(self) -> str:
        return f"<Pod {self.name} {self.id[:13]} {self.isolation}>"

    def container(self, *, command: Sequence[str] | None = None,
                  args: Sequence[str] | None = None, image: str | None = None,
                  host_process: bool | None = None, run_as_username: str | None = None,
                  annotations: Mapping[str, str] | None = None, working_dir: str | None = None,
                  envs: Mapping[str, str] | None = None, name: str | None = None) -> Container:
        """Create a container (not started).

        Defaults: the probe image; the pod's ``host_process`` (containerd refuses a
        mismatch, so a scenario testing that passes it explicitly); no user — unlike kubelet,
        nothing of the pod's user is copied, the request carries exactly what is given (a
        process-isolated HPC needs a user or inherit-user: the shim has no default user,
        hcsshim-hpc-behaviour.md §3.3); without ``command`` and ``args``, the idle
        command of ``images/images.toml`` (keeps running until stopped).  The image is pulled
        first, once per worker.
        """
        host = self.factory.host
        image = image or host.images.probe
        if command is None and args is None:
            command = host.images.idle_command_for()
        cname = name or f"c{next(self._names)}"
        spec = ContainerSpec(
            cname, image, command=list(command) if command is not None else None,
            args=list(args) if args is not None else None, working_dir=working_dir,
            envs=dict(envs) if envs is not None else None,
            host_process=self.spec.host_process if host_process is None else host_process,
            run_as_username=run_as_username,
            annotations=dict(annotations or {}), log_path=f"{cname}.log")
        host.ensure_image(image)
        container = Container(self, self.factory.crictl.create(self.ref, spec))
        self.containers.append(container)
        self.factory.containers.append(container)
        return container

    def inspect(self) -> PodStatus:
        return self.factory.crictl.inspectp(self.ref)

    def stop(self) -> None:
        self.factory.crictl.stopp(self.ref)

    def remove(self) -> None:
        self.factory.crictl.rmp(self.ref)
        self.removed = True
        for c in self.containers:
            c.removed = True


class PodFactory:
    """``pods``: starts pods for one test and removes them afterwards (:meth:`cleanup`)."""

    def __init__(self, host, *, test_name: str):
        self.host = host  # HpcHost
        self.crictl = host.crictl
        self.pods: list[Pod] = []
        self.containers: list[Container] = []
        base = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
        self._base = base[:NAME_LENGTH].rstrip("-") or "pod"
        self._count = itertools.count()

    def run(self, isolation: str, *, host_process: bool = True,
            run_as_username: str | None = None, annotations: Mapping[str, str] | None = None,
            name: str | None = None) -> Pod:
        """RunPodSandbox with the handler of ``isolation`` (``"process"`` or ``"hyperv"``)."""
        if isolation not in HANDLERS:
            raise ValueError(f"isolation {isolation!r}: use one of {', '.join(HANDLERS)}")
        pod_name = name or f"{self._base}-{next(self._count)}"
        uid = str(uuid.uuid4())
        spec = PodSpec(pod_name, uid=uid, host_process=host_process,
                       run_as_username=run_as_username, annotations=dict(annotations or {}),
                       log_directory=ntpath.join(self.crictl.remote_dir, "logs",
                                                 f"{pod_name}-{uid[:8]}"))
        pod = Pod(self, self.crictl.runp(spec, runtime_handler=HANDLERS[isolation]), isolation)
        self.pods.append(pod)
        return pod

    def start_long_running(self, pod: Pod, **kw) -> Container:
        """A started container that keeps running (the idle command unless ``command=``)."""
        return pod.container(**kw).start()

    def cleanup(self) -> list[HarnessError]:
        """Remove every container and pod created here and still present; what failed.

        Best effort: a failed stop still tries a forced removal, and "not found" counts as
        removed (the test may have removed it by other means).
        """
        problems: list[HarnessError] = []
        for c in reversed(self.containers):
            if not (c.removed or c.pod.removed):
                _remove(problems, lambda c=c: self.crictl.stop(c.ref),
                        lambda c=c: self.crictl.rm(c.ref, force=True))
                c.removed = True
        for p in reversed(self.pods):
            if not p.removed:
                _remove(problems, lambda p=p: self.crictl.stopp(p.ref),
                        lambda p=p: self.crictl.rmp(p.ref, force=True))
                p.removed = True
        return problems


def _remove(problems: list[HarnessError], stop, remove) -> None:
    try:
        stop()
    except HarnessError as exc:
        if _not_found(exc):
            return
    try:
        remove()
    except HarnessError as exc:
        if not _not_found(exc):
            problems.append(exc)


def _not_found(exc: HarnessError) -> bool:
    return says_not_found(exc)


__all__ = ["HANDLERS", "Container", "Pod", "PodFactory"]
