"""The pod factory (``pods``) and the handles scenarios hold: :class:`Pod`, :class:`Container`.

A scenario asks for a pod by isolation mode and gets a handle; every handle is one crictl
call away from the runtime, so a scenario reads like the crictl session it replaces.  The
factory remembers every pod it created and removes them after the test, pass or fail, with
one ``crictl rmp --force`` each, all in one remote command (the pod's containers go with
it: harness/cri/crictl.py ``rmp_many``).  Refusals by the runtime are
:class:`~harness.cri.CriStageError` (``.stage``, ``.runtime_message``), raised to the test.

Round trips (issue 7): a pod's config is written and ``runp`` run in one remote command, a
long-running container is created and started in one (:meth:`PodFactory.start_long_running`),
and :meth:`PodFactory.run_many` / :meth:`PodFactory.start_long_running_many` start
independent pods concurrently in one.

Pods get a log directory in the run's folder on the host and containers a log file in it,
so ``Container.logs()`` works (crictl needs a log path, docs/behaviour/ecosystem.md §3.3).

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import itertools
import ntpath
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence

from harness.cri import ContainerSpec, ContainerStatus, ExecResult, HostMount, PodSpec
from harness.cri.crictl import Launch, says_not_found
from harness.cri.status import PodStatus
from harness.errors import HarnessError
from harness.plugin.images import DEFAULT_ROOTFS, ROOTFS_LOCATION_ANNOTATION
from harness.runtime.containerd_config import HANDLER_FOR_ISOLATION

# Isolation mode -> runtime handler of the deployed config.toml (docs/behaviour/runtime.md §4.2).
HANDLERS = HANDLER_FOR_ISOLATION  # isolation -> runtime handler (the scenarios' API name)
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
                  envs: Mapping[str, str] | None = None, name: str | None = None,
                  mounts: Sequence[HostMount] | None = None) -> Container:
        """Create a container (not started).

        Defaults: the probe image; the pod's ``host_process`` (containerd refuses a
        mismatch, so a scenario testing that passes it explicitly); no user — unlike kubelet,
        nothing of the pod's user is copied, the request carries exactly what is given (a
        process-isolated HPC needs a user or inherit-user: the shim has no default user,
        docs/behaviour/runtime.md §3.3); without ``command`` and ``args``, the idle
        command of ``hpc_images/images.toml`` (keeps running until stopped).  The image is pulled
        first, once per worker.
        """
        spec = self.container_spec(command=command, args=args, image=image,
                                   host_process=host_process, run_as_username=run_as_username,
                                   annotations=annotations, working_dir=working_dir, envs=envs,
                                   name=name, mounts=mounts)
        return self._adopt(self.factory.crictl.create(self.ref, spec))

    def _adopt(self, ref) -> Container:
        container = Container(self, ref)
        self.containers.append(container)
        self.factory.containers.append(container)
        return container

    def container_spec(self, *, command: Sequence[str] | None = None,
                       args: Sequence[str] | None = None, image: str | None = None,
                       host_process: bool | None = None, run_as_username: str | None = None,
                       annotations: Mapping[str, str] | None = None,
                       working_dir: str | None = None, envs: Mapping[str, str] | None = None,
                       name: str | None = None,
                       mounts: Sequence[HostMount] | None = None) -> ContainerSpec:
        """The spec :meth:`container` sends (same defaults); the image is pulled here."""
        return container_spec(self.factory, self.spec, command=command, args=args, image=image,
                              host_process=host_process, run_as_username=run_as_username,
                              annotations=annotations, working_dir=working_dir, envs=envs,
                              name=name, names=self._names, mounts=mounts)

    def inspect(self) -> PodStatus:
        return self.factory.crictl.inspectp(self.ref)

    def stop(self) -> None:
        self.factory.crictl.stopp(self.ref)

    def remove(self) -> None:
        self.factory.crictl.rmp(self.ref)
        self.removed = True
        for c in self.containers:
            c.removed = True


def container_spec(factory: PodFactory, pod_spec: PodSpec, *, names: Iterator[int],
                   command: Sequence[str] | None = None, args: Sequence[str] | None = None,
                   image: str | None = None, host_process: bool | None = None,
                   run_as_username: str | None = None,
                   annotations: Mapping[str, str] | None = None,
                   working_dir: str | None = None, envs: Mapping[str, str] | None = None,
                   name: str | None = None,
                   mounts: Sequence[HostMount] | None = None) -> ContainerSpec:
    """A container's spec with :meth:`Pod.container`'s defaults; its image is pulled first."""
    host = factory.host
    image = image or host.images.probe
    if command is None and args is None:
        # The idle program is the probe's own, found in the pod's rootfs folder.
        rootfs = pod_spec.annotations.get(ROOTFS_LOCATION_ANNOTATION) or DEFAULT_ROOTFS
        command = host.images.idle_command_for(rootfs=rootfs)
    cname = name or f"c{next(names)}"
    spec = ContainerSpec(
        cname, image, command=list(command) if command is not None else None,
        args=list(args) if args is not None else None, working_dir=working_dir,
        envs=dict(envs) if envs is not None else None,
        host_process=pod_spec.host_process if host_process is None else host_process,
        run_as_username=run_as_username,
        annotations=dict(annotations or {}), log_path=f"{cname}.log",
        mounts=list(mounts) if mounts is not None else None)
    host.ensure_image(image)
    return spec


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

    def _pod_spec(self, isolation: str, *, host_process: bool = True,
                  run_as_username: str | None = None,
                  annotations: Mapping[str, str] | None = None,
                  name: str | None = None) -> PodSpec:
        if isolation not in HANDLERS:
            raise ValueError(f"isolation {isolation!r}: use one of {', '.join(HANDLERS)}")
        pod_name = name or f"{self._base}-{next(self._count)}"
        uid = str(uuid.uuid4())
        return PodSpec(pod_name, uid=uid, host_process=host_process,
                       run_as_username=run_as_username, annotations=dict(annotations or {}),
                       log_directory=ntpath.join(self.crictl.remote_dir, "logs",
                                                 f"{pod_name}-{uid[:8]}"))

    def _adopt(self, ref, isolation: str) -> Pod:
        pod = Pod(self, ref, isolation)
        self.pods.append(pod)
        return pod

    def run(self, isolation: str, *, host_process: bool = True,
            run_as_username: str | None = None, annotations: Mapping[str, str] | None = None,
            name: str | None = None) -> Pod:
        """RunPodSandbox with the handler of ``isolation`` (``"process"`` or ``"hyperv"``)."""
        return self.run_many([{"isolation": isolation, "host_process": host_process,
                               "run_as_username": run_as_username,
                               "annotations": annotations, "name": name}])[0]

    def run_many(self, requests: Sequence[Mapping]) -> list[Pod]:
        """Start independent pods concurrently, in one remote command: one :meth:`run`
        keyword set (``isolation`` included) per pod, pods returned in that order.

        A refusal is raised once all are settled; the pods that did start are this
        factory's (removed after the test) all the same.
        """
        plans = []
        for req in requests:
            kw = dict(req)
            isolation = kw.pop("isolation")
            plans.append((isolation, Launch(self._pod_spec(isolation, **kw),
                                            HANDLERS[isolation])))
        return [pod for pod, _ in self._launch(plans)]

    def start_long_running(self, pod: Pod, **kw) -> Container:
        """A started container that keeps running (the idle command unless ``command=``):
        created and started in one remote command."""
        spec = pod.container_spec(**kw)
        container = None

        def created(ref) -> None:
            nonlocal container
            container = pod._adopt(ref)

        self.crictl.create_and_start(pod.ref, spec, on_created=created)
        assert container is not None
        container.started = True
        return container

    def start_long_running_many(self, requests: Sequence[Mapping]) -> list[Container]:
        """Independent pods, each with a started long-running container, all started
        concurrently in one remote command.  Each request holds :meth:`run`'s keywords
        (``isolation`` included) and, under ``container``, :meth:`start_long_running`'s."""
        plans = []
        for req in requests:
            kw = dict(req)
            isolation = kw.pop("isolation")
            ctr_kw = dict(kw.pop("container", None) or {})
            plans.append((isolation, Launch(self._pod_spec(isolation, **kw),
                                            HANDLERS[isolation], container_spec=None,
                                            start=True), ctr_kw))
        launches = []
        for isolation, plan, ctr_kw in plans:
            names = itertools.count()
            plan.container_spec = container_spec(self, plan.pod_spec, names=names, **ctr_kw)
            launches.append((isolation, plan, names))
        return [c for _, c in self._launch(launches)]

    def _launch(self, plans: Sequence[tuple]) -> list[tuple[Pod, Container | None]]:
        """Run the plans (isolation, Launch[, the container-name counter used]); every pod
        and container is adopted the moment it exists."""
        out: dict[int, list] = {i: [None, None] for i in range(len(plans))}
        for i, (isolation, plan, *names) in enumerate(plans):
            def on_pod(ref, i=i, isolation=isolation, names=names):
                out[i][0] = self._adopt(ref, isolation)
                if names:  # the pod's next container name follows the one used here
                    out[i][0]._names = names[0]

            def on_container(ref, i=i):
                out[i][1] = out[i][0]._adopt(ref)

            plan.on_pod, plan.on_container = on_pod, on_container
        self.crictl.launch([plan for _, plan, *_ in plans])
        for i, (_, plan, *_) in enumerate(plans):
            if plan.started and out[i][1] is not None:
                out[i][1].started = True
        return [(pod, ctr) for pod, ctr in out.values()]

    def cleanup(self) -> list[HarnessError]:
        """Remove every pod created here and still present, with its containers; what failed.

        One ``rmp --force`` per pod, all in one remote command; "not found" counts as
        removed (the test may have removed it by other means).  Containers the test removed
        itself are not touched, nor are other containers: they go with their pod.
        """
        pods = [p for p in reversed(self.pods) if not p.removed]
        problems = self.crictl.rmp_many([p.ref for p in pods], force=True) if pods else []
        for p in pods:
            p.removed = True
            for c in p.containers:
                c.removed = True
        return problems


def _not_found(exc: HarnessError) -> bool:
    return says_not_found(exc)


__all__ = ["HANDLERS", "Container", "Pod", "PodFactory"]
