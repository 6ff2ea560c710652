"""Starting pods and containers: runp -> create -> start, one algorithm, two executors.

A :class:`Launch` asks for a pod (or uses one), a container in it, and its start.  Each asked
for object is a *link* of a chain; a link knows its crictl arguments given the previous
link's ID, how its output becomes an ID, and how to *find* it on the host.  These steps must
never be blindly repeated: after a failure that leaves it unknown whether the runtime acted
(a transient transport error, containerd unreachable) the :class:`Launcher` looks (the pod by
run-id label, name and uid; the container by pod and name; the container's state) and runs
again only what did not happen.  A repeat refused because an earlier attempt of ours still
holds the name or is still starting waits for it, within the link's budget.  An error that
carries the runtime's answer is final for its chain, raised (the first in plan order) once
every chain is settled.  Setbacks are counted by
:class:`~harness.transport.retry.Attempts`, the bookkeeping of
:meth:`~harness.transport.retry.RetryPolicy.call`.

Who carries the steps out is the executor's business:

* :class:`BatchExecutor`: every pending chain in one remote command (the PowerShell batch
  script on a Windows host, :mod:`harness.cri.batch`), the config files travelling with it;
  one retry budget for the whole launch, which is one remote command.
* :class:`StepExecutor`: every crictl call on its own (a POSIX host, a transport that runs no
  scripts; the real-CRI lane), config files put first; the next link of the first pending
  chain at a time, each with its own retry budget, as a repeatable call gets from
  :meth:`RetryPolicy.call`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.cri.batch import ID_PLACEHOLDER, BatchFile, Step, StepResult
from harness.cri.errors import CriStageError
from harness.cri.output import (
    RESERVED,
    START_CONFLICT,
    classify,
    expect_id,
    first_line,
    step_output,
)
from harness.cri.spec import ContainerSpec, PodSpec
from harness.cri.status import CONTAINER_CREATED, ContainerStatus, ContainerSummary, PodSummary
from harness.errors import HarnessError
from harness.transport.base import CommandResult
from harness.transport.hostfiles import HostFiles
from harness.transport.retry import RetryPolicy

log = logging.getLogger("harness.cri")

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# A name crictl's --name filter (a regular expression) matches literally enough.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_-]+\Z")
START_ERROR_REASON = "StartError"  # containerd's reason for a container whose start failed


def go_duration(seconds: float) -> str:
    """A Go ``time.Duration`` string for crictl's ``--timeout`` and ``--cancel-timeout``
    (``300s``, ``1500ms``)."""
    if seconds <= 0:
        raise ValueError("crictl timeouts must be positive (0 means 2 s or 200 s, not 'none')")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{math.ceil(seconds * 1000)}ms"


@dataclass
class PodRef:
    """A pod sandbox this client started: its ID, the spec, and where its config lives."""

    id: str
    spec: PodSpec
    runtime_handler: str | None
    config_path: str

    def __str__(self) -> str:
        return self.id


@dataclass
class ContainerRef:
    id: str
    pod: PodRef
    spec: ContainerSpec
    config_path: str

    def __str__(self) -> str:
        return self.id


def id_of(obj: PodRef | ContainerRef | str) -> str:
    return obj.id if isinstance(obj, (PodRef, ContainerRef)) else str(obj)


@dataclass
class Launch:
    """What :meth:`Crictl.launch` starts for one pod: a new pod (``pod_spec``, handler) or
    an existing one (``pod``), optionally a container in it, optionally started.

    Filled in as things come into existence: ``pod``, ``container``, ``started``; the
    callbacks are called at that moment (the caller's bookkeeping for clean-up).
    """

    pod_spec: PodSpec | None = None
    runtime_handler: str | None = None
    container_spec: ContainerSpec | None = None
    start: bool = False
    pod: PodRef | None = None
    cancel_timeout: float | None = None
    with_pull: bool = False
    on_pod: Callable[[PodRef], None] | None = None
    on_container: Callable[[ContainerRef], None] | None = None
    container: ContainerRef | None = None
    started: bool = False


class LaunchClient(Protocol):
    """What a launch needs of the CRI client (:class:`harness.cri.crictl.Crictl`)."""

    transport: object
    run_id: str
    files: HostFiles
    remote_dir: str
    retry: RetryPolicy

    @property
    def host_name(self) -> str: ...

    def argv(self, *args: str, timeout: float | None = None) -> list[str]: ...

    def deadline(self, *, rpc_factor: float = 1.0, extra: float = 0.0,
                 timeout: float | None = None) -> float: ...

    def batch(self, groups: Sequence[Sequence[Step]], *,
              files: Sequence[BatchFile] = ()) -> list[list[StepResult]]: ...

    def put_file(self, path: str, data: bytes) -> None: ...

    def pods(self, *, labels: Mapping[str, str] | None = None, all_runs: bool = False,
             name: str | None = None, state: str | None = None) -> list[PodSummary]: ...

    def ps(self, *, pod: PodRef | str | None = None, name: str | None = None
           ) -> list[ContainerSummary]: ...

    def inspect(self, container: ContainerRef | str) -> ContainerStatus: ...


@dataclass
class Link:
    """One stage of a chain: its crictl arguments given the previous stage's ID, how its
    output becomes an ID, how to find out whether it happened, which refusal of a repeat
    means an earlier attempt of ours is still at work (and how long to wait for it), and
    the config files it reads."""

    stage: str
    args: Callable[[str | None], list[str]]
    timeout: float
    object_id: str | None
    expect: Callable[[CommandResult, str | None], str]
    find: Callable[[str | None], str | None]
    in_flight: re.Pattern
    budget: float
    files: list[BatchFile] = field(default_factory=list)


@dataclass
class Chain:
    """The links of one :class:`Launch`, and how far they got (``ids``)."""

    links: list[Link]
    start_id: str | None
    on_record: Callable[[int, str], None]
    what: str
    ids: list[str] = field(default_factory=list)
    error: BaseException | None = None
    handed_out: int = 0  # links an executor was given so far: only those may have run

    @property
    def complete(self) -> bool:
        return len(self.ids) == len(self.links)

    @property
    def current(self) -> str | None:
        return self.ids[-1] if self.ids else self.start_id

    @property
    def next(self) -> Link:
        return self.links[len(self.ids)]

    @property
    def settled(self) -> int:
        return len(self.ids) + (self.error is not None)

    def record(self, object_id: str) -> None:
        index = len(self.ids)
        self.ids.append(object_id)
        self.on_record(index, object_id)

    def files(self) -> list[BatchFile]:
        """The chain's config files not yet known to be written (after a lost answer, all
        of them again: the batch that was lost may not have written them)."""
        return [f for link in self.links for f in link.files]

    def written(self) -> None:
        for link in self.links:
            link.files = []

    def steps(self, argv: Callable[..., list[str]], limit: int | None = None) -> list[Step]:
        """The remaining links (at most ``limit``) as one batch group; later ones take the
        ID printed before."""
        out = []
        remaining = self.links[len(self.ids):]
        for j, link in enumerate(remaining[:limit] if limit else remaining):
            prev = self.current if j == 0 else ID_PLACEHOLDER
            object_id = prev if link.stage == "start" and j == 0 else link.object_id
            out.append(Step(link.stage, tuple(argv(*link.args(prev))), link.timeout,
                            object_id=object_id, id_from=None if j == 0 else j - 1))
        self.handed_out = len(self.ids) + len(out)
        return out

    def take(self, results: Sequence[StepResult]) -> BaseException | None:
        """Record what the executor did for this chain; the first step's error, if any."""
        for result in results:
            link = self.next
            try:
                named = self.current if link.stage == "start" else None
                object_id = link.expect(step_output(result, object_id=named), self.current)
            except HarnessError as exc:
                return exc
            self.record(object_id)
        return None


class BatchExecutor:
    """Every pending chain in one remote command: a batch group per chain, the groups
    running concurrently on the host, the config files written by the same command."""

    budget_per_step = False  # the launch is one remote command: one retry budget

    def __init__(self, client: LaunchClient):
        self.client = client

    def scope(self, pending: Sequence[Chain]) -> list[Chain]:
        return list(pending)

    def prepare(self, chains: Sequence[Chain]) -> None:
        """Nothing: the files travel with the batch."""

    def run(self, chains: Sequence[Chain]) -> list[list[StepResult]]:
        files: dict[str, BatchFile] = {}
        for c in chains:
            for f in c.files():
                files.setdefault(f.path.lower(), f)
        outcome = self.client.batch([c.steps(self.client.argv) for c in chains],
                                    files=list(files.values()))
        for c in chains:
            c.written()  # the batch verified them; a repeat need not write them again
        return outcome


class StepExecutor:
    """Every crictl call on its own: the next link of the first pending chain, its config
    files put on the host first (each once per client)."""

    budget_per_step = True  # each call is its own operation, as RetryPolicy.call counts

    def __init__(self, client: LaunchClient):
        self.client = client
        self.put: set[str] = set()  # paths this client has put

    def forget(self) -> None:
        """The run folder is gone (clean-up): files must be put again."""
        self.put.clear()

    def scope(self, pending: Sequence[Chain]) -> list[Chain]:
        return list(pending[:1])

    def prepare(self, chains: Sequence[Chain]) -> None:
        for chain in chains:
            for f in chain.next.files:
                if f.path not in self.put:
                    self.client.put_file(f.path, f.data)
                    self.put.add(f.path)

    def run(self, chains: Sequence[Chain]) -> list[list[StepResult]]:
        out = []
        for chain in chains:
            (step,) = chain.steps(self.client.argv, limit=1)
            result = self.client.transport.run(list(step.argv), timeout=step.timeout)
            out.append([StepResult(step, 0, 0, result=result)])
        return out


Executor = BatchExecutor | StepExecutor


class Launcher:
    """The launch algorithm for one client: chains built from plans, carried out by an
    executor, reconciled by looking at the host after an ambiguous failure."""

    def __init__(self, client: LaunchClient):
        self.client = client
        self.pod_files: dict[str, str] = {}  # pod uid -> config path a launch wrote
        self._ctr_files = 0

    def forget(self) -> None:
        """The run folder is gone (clean-up): config files must be written again."""
        self.pod_files.clear()

    # --- the algorithm ----------------------------------------------------------------
    def launch(self, plans: Sequence[Launch], executor: Executor) -> None:
        """Start every plan; see :class:`Launch`.  Every plan's ``pod``/``container`` is
        set as soon as that object exists, and its ``on_pod``/``on_container`` is called
        then, so a caller can clean up what was created even when another step of the same
        plan (or another plan) is refused; the first refusal is raised once every plan is
        settled."""
        chains = [self.chain_for(plan) for plan in plans]
        if chains:
            self.run(chains, executor, what="crictl " + ", ".join(c.what for c in chains))

    def start(self, cid: str, executor: Executor) -> None:
        """StartContainer of a created container."""
        link = Link("start", lambda prev: ["start", prev], self.client.deadline(), cid,
                    lambda result, prev: expect_id("start", result, prev), self.find_started,
                    START_CONFLICT, self.client.deadline())
        self.run([Chain([link], cid, lambda _i, _id: None, f"start {cid}")], executor,
                 what=f"crictl start {cid}")

    def run(self, chains: list[Chain], executor: Executor, *, what: str) -> None:
        """Carry out the chains' links with ``executor`` and reconcile what an ambiguous
        failure left open.

        After a transport error (or containerd unreachable) it is unknown how far a chain
        in that round got: each of its remaining links is *looked up* (``find``) in order
        and only what did not happen is run again.  A refusal by the runtime ends that
        chain (raised once every chain is settled, the first in order); a repeat refused
        because an earlier attempt of ours is still at work waits for it.  Attempts used up
        raise that round's error at once.
        """
        client = self.client
        policy = client.retry
        tries = policy.attempts_for(what)
        progress = 0
        unsure: list[Chain] = []
        while True:
            for chain in unsure:
                self._advance(chain)
            unsure = []
            settled = sum(c.settled for c in chains)
            if executor.budget_per_step and settled != progress:
                tries, progress = policy.attempts_for(what), settled
            pending = [c for c in chains if c.error is None and not c.complete]
            if not pending:
                break
            scope = executor.scope(pending)
            executor.prepare(scope)  # a file that cannot be put is not the step's failure
            retry_exc: BaseException | None = None
            runtime = in_flight_only = False
            try:
                outcome = executor.run(scope)
            except Exception as exc:  # classified right here: only a final error is raised
                kind = classify(exc)
                if kind is None:
                    raise
                retry_exc, runtime, unsure = exc, kind == "runtime", list(scope)
            else:
                for c, results in zip(scope, outcome):
                    exc = c.take(results)
                    if exc is None:
                        continue
                    kind = classify(exc)
                    if kind is not None:
                        retry_exc, runtime = exc, runtime or kind == "runtime"
                        unsure.append(c)
                    elif (tries.failures and isinstance(exc, CriStageError)
                          and c.next.in_flight.search(exc.runtime_message)):
                        unsure.append(c)
                        if retry_exc is None:
                            retry_exc, in_flight_only = exc, True
                    else:
                        c.error = exc
            if retry_exc is None:
                continue
            if in_flight_only:
                pause = tries.waited(retry_exc, max(c.next.budget for c in unsure))
                reason = "an earlier attempt is still at work"
            else:
                pause = tries.failed(retry_exc, "runtime" if runtime else "transient")
                reason = first_line(retry_exc)
            if pause is None:
                raise retry_exc
            log.info("%s: %s failed on attempt %d/%d (%s); looking what happened, in %.2fs",
                     client.host_name, what, tries.failures, policy.attempts, reason, pause)
            policy.sleep(pause)
        for c in chains:
            if c.error is not None:
                raise c.error

    def _advance(self, chain: Chain) -> None:
        """Look up how far ``chain`` got before its answer was lost (the links its executor
        was given; later ones cannot have run)."""
        host = self.client.host_name
        while len(chain.ids) < chain.handed_out:
            link = chain.next
            try:
                found = link.find(chain.current)
            except HarnessError as exc:
                if classify(exc) is not None:
                    raise
                chain.error = exc  # the runtime's answer, kept where the runtime put it
                return
            if found is None:
                log.info("%s: crictl %s %s: it did not happen; running it again", host,
                         link.stage, link.object_id or "")
                return
            log.info("%s: crictl %s %s: an earlier attempt did it (%s); not running it again",
                     host, link.stage, link.object_id or "", found)
            chain.record(found)

    # --- chains -------------------------------------------------------------------------
    def chain_for(self, plan: Launch) -> Chain:
        client = self.client
        links: list[Link] = []
        if plan.pod is None:
            if plan.pod_spec is None:
                raise ValueError("a launch plan needs a pod spec or a started pod")
            pod_spec = plan.pod_spec.with_run_id(client.run_id)
            plan.pod_spec = pod_spec
        else:
            pod_spec = plan.pod.spec
        pod_path, pod_files = self._pod_file(pod_spec)
        if plan.pod is None:
            links.append(self._runp_link(pod_spec, plan.runtime_handler, plan.cancel_timeout,
                                         pod_path, pod_files))
            pod_files = []
        ctr_spec = ctr_path = None
        if plan.container_spec is not None:
            ctr_spec = plan.container_spec.with_run_id(client.run_id)
            ctr_path, ctr_file = self._ctr_file(pod_spec, ctr_spec)
            links.append(self._create_link(ctr_spec, ctr_path, pod_path, plan.with_pull,
                                           [*pod_files, ctr_file]))
            if plan.start:
                links.append(self._start_link(ctr_spec))
        if not links:
            raise ValueError("a launch plan with a started pod needs a container spec")

        def recorded(index: int, object_id: str) -> None:
            stage = links[index].stage
            if stage == "runp":
                plan.pod = PodRef(object_id, pod_spec, plan.runtime_handler, pod_path)
                self.pod_files[pod_spec.uid or ""] = pod_path
                if plan.on_pod is not None:
                    plan.on_pod(plan.pod)
            elif stage == "create":
                self.pod_files[pod_spec.uid or ""] = pod_path
                plan.container = ContainerRef(object_id, plan.pod, ctr_spec, ctr_path)
                if plan.on_container is not None:
                    plan.on_container(plan.container)
            elif stage == "start":
                plan.started = True

        what = "+".join(link.stage for link in links) + " " + (
            f"{ctr_spec.name} in {pod_spec.name}" if ctr_spec is not None else pod_spec.name)
        return Chain(links, plan.pod.id if plan.pod is not None else None, recorded, what)

    def _pod_file(self, spec: PodSpec) -> tuple[str, list[BatchFile]]:
        """The pod's config path, and the file to write unless a launch already wrote it."""
        path = self.pod_files.get(spec.uid or "")
        if path is not None:
            return path, []
        name = _SAFE_NAME.sub("_", f"pod-{spec.name}-{(spec.uid or '')[:8]}.json")
        path = self.client.files.join(self.client.remote_dir, name)
        return path, [BatchFile(path, spec.render(self.client.run_id))]

    def _ctr_file(self, pod_spec: PodSpec, spec: ContainerSpec) -> tuple[str, BatchFile]:
        self._ctr_files += 1
        path = self.client.files.join(self.client.remote_dir, _SAFE_NAME.sub(
            "_", f"ctr-{pod_spec.name}-{spec.name}-{self._ctr_files}.json"))
        return path, BatchFile(path, spec.render(self.client.run_id))

    def _runp_link(self, spec: PodSpec, runtime_handler: str | None,
                   cancel_timeout: float | None, path: str, files: list[BatchFile]) -> Link:
        args = ["runp"]
        if runtime_handler:
            args += ["--runtime", runtime_handler]
        if cancel_timeout:
            args += ["--cancel-timeout", go_duration(cancel_timeout)]
        budget = self.client.deadline(rpc_factor=2.0)
        return Link("runp", lambda _prev: [*args, path], budget, spec.name,
                    lambda result, _prev: expect_id("runp", result),
                    lambda _prev: self.find_pod(spec), RESERVED, budget, files)

    def _create_link(self, spec: ContainerSpec, path: str, pod_path: str, with_pull: bool,
                     files: list[BatchFile]) -> Link:
        pull = ["--with-pull"] if with_pull else []
        deadline = self.client.deadline()
        return Link("create", lambda pod_id: ["create", *pull, pod_id, path, pod_path],
                    deadline, spec.name, lambda result, _pod: expect_id("create", result),
                    lambda pod_id: self.find_container(pod_id, spec), RESERVED, deadline, files)

    def _start_link(self, spec: ContainerSpec) -> Link:
        deadline = self.client.deadline()
        return Link("start", lambda cid: ["start", cid], deadline, spec.name,
                    lambda result, cid: expect_id("start", result, cid), self.find_started,
                    START_CONFLICT, deadline)

    # --- looking ------------------------------------------------------------------------
    def find_pod(self, spec: PodSpec) -> str | None:
        # The uid is unique to this spec: a pod with it is the one this call asked for.
        name = spec.name if _PLAIN_NAME.match(spec.name) else None
        for pod in self.client.pods(name=name):
            if pod.uid == spec.uid and pod.name == spec.name:
                return pod.id
        return None

    def find_container(self, pod_id: str, spec: ContainerSpec) -> str | None:
        # Container names are unique within a pod while the container exists.
        name = spec.name if _PLAIN_NAME.match(spec.name) else None
        for c in self.client.ps(pod=pod_id, name=name):
            if c.name == spec.name and c.attempt == spec.attempt:
                return c.id
        return None

    def find_started(self, cid: str) -> str | None:
        status = self.client.inspect(cid)
        if status.state == CONTAINER_CREATED:
            return None  # the start did not happen
        if status.exited and status.reason == START_ERROR_REASON:
            # The runtime refused the start; its answer was lost on the way back, and
            # containerd kept it in the container's status.
            raise CriStageError("start", status.message or status.reason, object_id=cid,
                                grpc_code="Unknown")
        return cid


__all__ = ["BatchExecutor", "Chain", "ContainerRef", "Launch", "LaunchClient", "Launcher",
           "Link", "PodRef", "StepExecutor", "go_duration", "id_of"]
