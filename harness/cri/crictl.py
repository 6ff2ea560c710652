"""The CRI client: crictl on the host, driven through a :class:`~harness.transport.base.Transport`.

Each method is one crictl invocation, built as an argv (rendered by ``harness.cmdline``
in the transport) with every flag *before* the positional arguments: crictl ignores flags
after a positional argument and may print its help and exit 0 having done nothing, so an
ID is required back, never just exit 0 (docs/behaviour/ecosystem.md §7).

Timeouts (docs/behaviour/ecosystem.md §3.1, §7): crictl's own per-RPC default is 2 s, far too short
for a UVM, so ``--timeout`` (a Go duration, ``300s``) is always passed.  crictl dials with
that timeout and then RunPodSandbox gets twice it, ExecSync it plus the exec timeout,
StopContainer it plus the grace period; the transport deadline is that sum plus a margin,
so crictl's own error (which names the stage) arrives before the harness gives up.

Without batches (below), config files for ``runp``/``create`` go to a per-run folder on
the host with ``Transport.put`` (one ``mkdir`` per client, then one upload per file; the pod's file is
uploaded once and reused by every ``create`` in that pod).  Measured over WinRM against the
sim, a put of a small file is 5 WS-Man requests and the ``mkdir`` 3; a hand-made write over
stdin would need the same Command/Send/Receive/Signal exchange and lose the SHA-256 check,
so ``put`` it is.

Batches (:mod:`harness.cri.batch`): on a real transport (any
:class:`~harness.transport.base.Transport`: it runs catalog scripts) ``runp`` and ``create``
write their config file and run in *one* remote command, a container is created and started
in one (:meth:`Crictl.create_and_start`), independent pods start concurrently in one
(:meth:`Crictl.launch`), and pods are removed in one (:meth:`Crictl.rmp_many`).  Each
step of a batch is mapped exactly as a single call would be.  A duck-typed transport that
cannot run scripts (tests' fakes) gets one crictl call per step, with ``put`` uploads.

Faults (harness/transport/retry.py): reads (``pods``, ``ps``, ``inspect[p]``, ``images``,
``info``, ``version``, ``logs``, ``exec`` when the caller says the command only observes)
are repeated on a transient transport failure and when crictl finds containerd unreachable
(gRPC ``Unavailable``: a crashed containerd that the SCM restarts).  ``stop``/``rm``/
``stopp``/``rmp``/``pull`` are repeated too, and "not found" after a repeat means an
earlier attempt did the work.  ``runp``/``create``/``start`` are never blindly repeated:
after a failure that leaves it unknown whether the runtime acted, the harness *looks*
(the pod by run-id label, name and uid; the container by pod and name; the container's
state) and only runs the step again if it did not happen.  An error that carries the
runtime's answer (any other gRPC code, a shim refusal) is raised at once, never retried.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.cri.batch import (
    ID_PLACEHOLDER,
    BatchFile,
    BatchStepError,
    Step,
    StepResult,
    run_batch,
)
from harness.cri.errors import (
    CrictlOutputError,
    CriExecTimeout,
    CriStageError,
    CriUnavailable,
    crictl_error_text,
    split_grpc,
)
from harness.cri.imageref import matching
from harness.cri.spec import RUN_ID_LABEL, ContainerSpec, PodSpec, new_run_id
from harness.cri.status import (
    CONTAINER_CREATED,
    ContainerStatus,
    ContainerSummary,
    PodStatus,
    PodSummary,
    RuntimeInfo,
    RuntimeVersion,
    load_json,
    status_objects,
)
from harness.errors import CommandTimeout, HarnessError, RemoteCommandError
from harness.transport.base import Transport, run_repeatable
from harness.transport.hostfiles import WINDOWS, host_files_of
from harness.transport.retry import (
    RUNTIME_ATTEMPTS_FACTOR,
    RetryPolicy,
    is_transient,
    note_attempts,
    policy_of,
)

log = logging.getLogger("harness.cri")

DEFAULT_CRICTL = r"C:\Program Files\containerd\bin\crictl.exe"
# Beside the executable, where crictl also looks when its default is missing
# (docs/behaviour/ecosystem.md §3.1), so a person running crictl by hand gets the same settings.
DEFAULT_CONFIG = r"C:\Program Files\containerd\bin\crictl.yaml"
DEFAULT_RUNS_ROOT = WINDOWS.runs_root  # a POSIX host has its own (hostfiles.POSIX)
DEFAULT_RPC_TIMEOUT = 300.0  # a UVM boots in seconds to minutes; crictl's 2 s is no use
DEFAULT_EXEC_TIMEOUT = 120
DEFAULT_PULL_TIMEOUT = 3600.0  # Windows base images are gigabytes; PullImage has no RPC deadline
DEADLINE_MARGIN = 30.0

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*\Z")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_EXITED = re.compile(r"exited with (-?\d+)(?::\s?)?")
# k8s.io/cri-client: ``command timed out: "<argv>" timed out after 5s`` (§3.4)
_TIMED_OUT = re.compile(r"command timed out: |timed out after \d\S*\s*$")
# containerd's name registrar: an earlier RunPodSandbox/CreateContainer of ours holds the
# name (``failed to reserve sandbox name "...": name "..." is reserved for "<id>"``).
_RESERVED = re.compile(r'failed to reserve (?:sandbox|container) name .*is reserved for "')
# StartContainer while an earlier StartContainer of ours runs or has run.
_START_CONFLICT = re.compile(r"container is (?:already in starting state|in "
                             r"CONTAINER_(?:RUNNING|EXITED) state)")
# A name crictl's --name filter (a regular expression) matches literally enough.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_-]+\Z")
START_ERROR_REASON = "StartError"  # containerd's reason for a container whose start failed


def go_duration(seconds: float) -> str:
    """A Go ``time.Duration`` string for crictl's global ``--timeout`` (``300s``, ``1500ms``)."""
    if seconds <= 0:
        raise ValueError("crictl timeouts must be positive (0 means 2 s or 200 s, not 'none')")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{math.ceil(seconds * 1000)}ms"


def split_exec_output(text: str) -> tuple[str, str]:
    """``(stdout, stderr)`` from ``crictl exec -s`` output on success.

    crictl prints the command's stdout and then its stderr, each with ``fmt.Println``, both
    on its own stdout (cri-tools v1.37.0 cmd/crictl/exec.go ExecSync; docs/behaviour/ecosystem.md
    §3.4): the text is ``stdout + "\\n" + stderr + "\\n"`` and the separator is one of its
    LFs.  Programs end their lines (LF, or CRLF on Windows), so the separator is the last
    LF that leaves both parts empty or ending in a line end: ``out\\n`` and ``err\\n`` come
    back apart, and an empty stderr is always exact.  Only output with blank lines can be
    split more than one way, and then the shortest stderr is taken.  When no split leaves
    whole lines (a program that ends without a newline) the last LF not preceded by CR is
    the separator.
    """
    body = text.removesuffix("\n")
    for i in range(len(body) - 1, -1, -1):
        if body[i] != "\n":
            continue
        out, err = body[:i], body[i + 1:]
        if (not out or out.endswith("\n")) and (not err or err.endswith("\n")):
            return out, err
    i = len(body) - 1
    while i >= 0:
        if body[i] == "\n" and (i == 0 or body[i - 1] != "\r"):
            return body[:i], body[i + 1:]
        i -= 1
    return body, ""


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


@dataclass
class ExecResult:
    """What ``crictl exec -s`` learnt about one command.

    On a non-zero exit crictl discards the command's stdout (``stdout_discarded``) and
    exits 1; ``exit_code`` is the command's own, read from ``exited with N``.
    """

    exit_code: int
    stdout: str
    stderr: str
    result: object = field(repr=False)
    stdout_discarded: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass
class LogsResult:
    stdout: str
    stderr: str
    result: object = field(repr=False)


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


@dataclass
class _Link:
    """One stage of a chain: its crictl arguments given the previous stage's ID, how its
    output becomes an ID, and how to find out whether it happened."""

    stage: str
    args: Callable[[str | None], list[str]]
    timeout: float
    object_id: str | None
    expect: Callable[[object, str | None], str]
    find: Callable[[str | None], str | None]


@dataclass
class _Chain:
    """The stages of one :class:`Launch`, and how far they got (``ids``)."""

    links: list[_Link]
    start_id: str | None
    files: list[BatchFile]
    in_flight: re.Pattern
    budget: float
    on_record: Callable[[int, str], None]
    what: str
    ids: list[str] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def complete(self) -> bool:
        return len(self.ids) == len(self.links)

    @property
    def current(self) -> str | None:
        return self.ids[-1] if self.ids else self.start_id

    def record(self, object_id: str) -> None:
        index = len(self.ids)
        self.ids.append(object_id)
        self.on_record(index, object_id)

    def steps(self, crictl: Crictl) -> list[Step]:
        """The remaining stages as one batch group; later ones take the ID printed before."""
        out = []
        for j, link in enumerate(self.links[len(self.ids):]):
            prev = self.current if j == 0 else ID_PLACEHOLDER
            object_id = prev if link.stage == "start" and j == 0 else link.object_id
            out.append(Step(link.stage, tuple(crictl.argv(*link.args(prev))), link.timeout,
                            object_id=object_id, id_from=None if j == 0 else j - 1))
        return out

    def take(self, crictl: Crictl, results: Sequence[StepResult]) -> BaseException | None:
        """Record what the batch did for this chain; the first step's error, if any."""
        for result in results:
            link = self.links[len(self.ids)]
            try:
                named = self.current if link.stage == "start" else None
                object_id = link.expect(crictl.checked(result, object_id=named), self.current)
            except HarnessError as exc:
                return exc
            self.record(object_id)
        return None


def _id_of(obj: PodRef | ContainerRef | str) -> str:
    return obj.id if isinstance(obj, (PodRef, ContainerRef)) else str(obj)


class Crictl:
    """crictl on one host, for one run (the run id labels everything it creates)."""

    def __init__(self, transport, *, run_id: str | None = None,
                 crictl_path: str = DEFAULT_CRICTL, config_path: str = DEFAULT_CONFIG,
                 timeout: float = DEFAULT_RPC_TIMEOUT, runtime_endpoint: str | None = None,
                 image_endpoint: str | None = None, runs_root: str | None = None,
                 margin: float = DEADLINE_MARGIN, retry: RetryPolicy | None = None,
                 batch: bool | None = None):
        go_duration(timeout)  # validates
        self.transport = transport
        self.run_id = run_id or new_run_id()
        self.crictl_path = crictl_path
        self.config_path = config_path
        self.timeout = float(timeout)
        self.runtime_endpoint = runtime_endpoint
        self.image_endpoint = image_endpoint
        # The host's path rules and file commands (Windows unless the transport says
        # otherwise): harness/transport/hostfiles.py.
        self.files = host_files_of(transport)
        self.remote_dir = self.files.join(runs_root or self.files.runs_root, self.run_id)
        self.margin = margin
        self.retry = retry or policy_of(transport)
        self._dir_ready = False
        self._pod_files: dict[str, str] = {}  # pod uid -> uploaded config path
        self._files = 0
        # Batches need the PowerShell bootstrap, which every Transport backend to a
        # Windows host runs.
        self.batching = (self.files.batches and isinstance(transport, Transport)) \
            if batch is None else bool(batch)

    # --- plumbing -------------------------------------------------------------------
    def global_flags(self, timeout: float | None = None) -> list[str]:
        flags = ["--config", self.config_path, "--timeout", go_duration(timeout or self.timeout)]
        if self.runtime_endpoint:
            flags += ["--runtime-endpoint", self.runtime_endpoint]
        if self.image_endpoint:
            flags += ["--image-endpoint", self.image_endpoint]
        return flags

    def argv(self, *args: str, timeout: float | None = None) -> list[str]:
        return [self.crictl_path, *self.global_flags(timeout), *args]

    def deadline(self, *, rpc_factor: float = 1.0, extra: float = 0.0,
                 timeout: float | None = None) -> float:
        """Transport deadline: crictl's dial plus its RPC deadline plus a margin."""
        t = timeout or self.timeout
        return t + rpc_factor * t + extra + self.margin

    def run(self, stage: str, *args: str, object_id: str | None = None,
            rpc_factor: float = 1.0, extra: float = 0.0, deadline: float | None = None,
            check: bool = True, repeatable: bool = False):
        """Run one crictl sub-command; a non-zero exit raises :class:`CriStageError`.

        ``repeatable=True`` repeats the whole call on a transient transport failure and
        while containerd is unreachable (then also with ``check=False``); every attempt is
        a separate ``transport.run`` (one report step each).
        """
        argv = self.argv(*args)
        timeout = deadline or self.deadline(rpc_factor=rpc_factor, extra=extra)

        def once():
            result = self.transport.run(argv, timeout=timeout)
            if result.exit_code != 0 and (check or repeatable):
                err = CriStageError.from_result(stage, result, object_id=object_id)
                if check or err.grpc_code == "Unavailable":
                    raise err
            return result

        try:
            if not repeatable:
                return once()
            return self.retry.call(once, what=f"crictl {stage}", host=self._host,
                                   classify=self._classify)
        except CriStageError as exc:
            if exc.grpc_code == "Unavailable":
                raise CriUnavailable(exc) from exc
            raise

    @property
    def _host(self) -> str:
        return getattr(getattr(self.transport, "target", None), "name", "")

    @staticmethod
    def _classify(exc: BaseException) -> str | None:
        """``runtime``: containerd unreachable; ``transient``: the way to the host; else final."""
        if isinstance(exc, CriUnavailable):
            return "runtime"
        if isinstance(exc, CriStageError):
            return "runtime" if exc.grpc_code == "Unavailable" else None
        return "transient" if is_transient(exc) else None

    def _run_to_completion(self, stage: str, *args: str, object_id: str,
                           **kw) -> object | None:
        """A repeatable step whose "not found" after a repeat means an earlier attempt,
        whose answer was lost, already did it: returns None then."""
        attempts = 0

        def once():
            nonlocal attempts
            attempts += 1
            try:
                return self.run(stage, *args, object_id=object_id, **kw)
            except CriStageError as exc:
                if attempts > 1 and says_not_found(exc):
                    log.info("%s: crictl %s %s: not found on attempt %d; an earlier attempt "
                             "did it", self._host, stage, object_id, attempts)
                    return None
                raise

        return self.retry.call(once, what=f"crictl {stage}", host=self._host,
                               classify=self._classify)

    def _reconciled(self, stage: str, what: str, attempt: Callable[[], str],
                    find: Callable[[], str | None], *, in_flight: re.Pattern,
                    budget: float) -> str:
        """Run a step that must not happen twice (runp/create/start).

        After a failure that leaves it unknown whether the runtime acted (a transient
        transport error, containerd unreachable), ``find()`` looks at the host: what it
        finds is the result; only when nothing is found is the step run again.  A repeat
        refused because an earlier attempt of ours holds the name or is still starting
        (``in_flight``) waits for that attempt, at most ``budget`` seconds.  Any other
        error is the runtime's answer and is raised at once.
        """
        policy = self.retry
        started = time.monotonic()
        failures = waits = 0
        while True:
            try:
                return attempt()
            except Exception as exc:
                kind = self._classify(exc)
                if kind is None:
                    if not (failures and isinstance(exc, CriStageError)
                            and in_flight.search(exc.runtime_message)):
                        raise
                    waits += 1
                    if time.monotonic() - started > budget or \
                            waits >= RUNTIME_ATTEMPTS_FACTOR * policy.attempts:
                        note_attempts(exc, failures + waits, what)
                        raise
                    reason = "an earlier attempt is still at work"
                else:
                    failures += 1
                    elapsed = time.monotonic() - started
                    if not (failures < policy.attempts
                            or (kind == "runtime" and elapsed < policy.runtime_wait
                                and failures < RUNTIME_ATTEMPTS_FACTOR * policy.attempts)):
                        note_attempts(exc, failures, what)
                        raise
                    reason = _first_line(exc)
                pause = policy.delay(max(1, failures))
                log.info("%s: %s failed on attempt %d/%d (%s); looking whether it happened, "
                         "in %.2fs", self._host, what, failures, policy.attempts, reason, pause)
                policy.sleep(pause)
            found = find()
            if found is not None:
                log.info("%s: %s: an earlier attempt did it (%s); not running it again",
                         self._host, what, found)
                return found
            log.info("%s: %s: it did not happen; running it again", self._host, what)

    def _expect_id(self, stage: str, result, expected: str | None = None) -> str:
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        got = lines[-1] if lines else ""
        if len(lines) != 1 or not _ID.match(got) or (expected is not None and got != expected):
            raise CrictlOutputError(stage, f"ID{f' {expected}' if expected else ''}", result)
        return got

    # --- batches ------------------------------------------------------------------------
    def batch(self, groups: Sequence[Sequence[Step]], *, files: Sequence[BatchFile] = (),
              repeatable: bool = False) -> list[list[StepResult]]:
        """Run groups of crictl steps (and write ``files`` first) in one remote command.

        Groups run concurrently on the host, a group's steps in order until one fails.
        Step failures come back in the results (map them with :meth:`checked`); what is
        raised is the transport's error (it is then unknown which steps ran) or the script's
        own failure (a file that did not verify: no step ran).
        """
        outcome = run_batch(self.transport, groups, files=files, repeatable=repeatable)
        if any(self.files.is_under(f.path, self.remote_dir) for f in files):
            self._dir_ready = True  # the batch made the run folder: cleanup() removes it
        return outcome.groups

    def step(self, stage: str, *args: str, object_id: str | None = None,
             rpc_factor: float = 1.0, extra: float = 0.0, id_from: int | None = None) -> Step:
        """A batch step running ``crictl <global flags> <args>`` with the same deadline as a
        single call of this stage."""
        return Step(stage, tuple(self.argv(*args)), self.deadline(rpc_factor=rpc_factor,
                                                                  extra=extra),
                    object_id=object_id, id_from=id_from)

    @staticmethod
    def checked(result: StepResult, *, object_id: str | None = None):
        """A batch step's CommandResult when it exited 0; else the error a single call of the
        same stage raises (``CriStageError``, ``CriUnavailable``), or the batch's own.
        ``object_id`` names the object in the error when the step could not know it (a
        ``start`` of the container its group created)."""
        step = result.step
        if result.result is None:
            raise HarnessError(f"crictl {step.stage} did not run: an earlier step of its "
                               "batch group failed")
        if result.start_error:
            raise BatchStepError(f"crictl {step.stage} could not be started on the host: "
                                 f"{result.start_error}",
                                 hint="check the crictl path of the runtime layout")
        if result.timed_out:
            raise CommandTimeout(result.command_line or step.command_line, step.timeout)
        if result.result.exit_code != 0:
            err = CriStageError.from_result(step.stage, result.result,
                                            object_id=object_id or step.object_id)
            if err.grpc_code == "Unavailable":
                raise CriUnavailable(err) from err
            raise err
        return result.result

    def _run_chains(self, chains: list[_Chain], *, what: str) -> None:
        """Run each chain's links (runp -> create -> start) as one batch group per chain,
        all chains in one batch, and reconcile what an ambiguous failure left open.

        After a transport error (or containerd unreachable) it is unknown how far a chain
        got: each of its remaining links is *looked up* (``find``) in order and only what
        did not happen is run again, in the next batch.  A refusal by the runtime ends that
        chain (raised once every chain is settled, the first in order); a repeat refused
        because an earlier attempt of ours still holds the name waits for it.
        """
        policy = self.retry
        started = time.monotonic()
        failures = waits = 0
        unsure: list[_Chain] = []
        while True:
            for chain in unsure:
                self._advance(chain)
            unsure = []
            pending = [c for c in chains if c.error is None and not c.complete]
            if not pending:
                break
            files: dict[str, BatchFile] = {}
            for c in pending:
                for f in c.files:
                    files.setdefault(f.path.lower(), f)
            retry_exc: BaseException | None = None
            runtime = in_flight_only = False
            try:
                outcome = self.batch([c.steps(self) for c in pending], files=list(files.values()))
            except Exception as exc:  # classified right here: only a final error is raised
                kind = self._classify(exc)
                if kind is None:
                    raise
                retry_exc, runtime, unsure = exc, kind == "runtime", list(pending)
            else:
                for c in pending:
                    c.files = []
                for c, results in zip(pending, outcome):
                    exc = c.take(self, results)
                    if exc is None:
                        continue
                    kind = self._classify(exc)
                    if kind is not None:
                        retry_exc, runtime = exc, runtime or kind == "runtime"
                        unsure.append(c)
                    elif (failures and isinstance(exc, CriStageError)
                          and c.in_flight.search(exc.runtime_message)):
                        unsure.append(c)
                        if retry_exc is None:
                            retry_exc, in_flight_only = exc, True
                    else:
                        c.error = exc
            if retry_exc is None:
                continue
            elapsed = time.monotonic() - started
            if in_flight_only:
                waits += 1
                budget = max(c.budget for c in unsure)
                if elapsed > budget or waits >= RUNTIME_ATTEMPTS_FACTOR * policy.attempts:
                    note_attempts(retry_exc, failures + waits, what)
                    raise retry_exc
                reason = "an earlier attempt is still at work"
            else:
                failures += 1
                if not (failures < policy.attempts
                        or (runtime and elapsed < policy.runtime_wait
                            and failures < RUNTIME_ATTEMPTS_FACTOR * policy.attempts)):
                    note_attempts(retry_exc, failures, what)
                    raise retry_exc
                reason = _first_line(retry_exc)
            pause = policy.delay(max(1, failures))
            log.info("%s: %s failed on attempt %d/%d (%s); looking what happened, in %.2fs",
                     self._host, what, failures, policy.attempts, reason, pause)
            policy.sleep(pause)
        for c in chains:
            if c.error is not None:
                raise c.error

    def _advance(self, chain: _Chain) -> None:
        """Look up how far ``chain`` got before its answer was lost."""
        while not chain.complete:
            link = chain.links[len(chain.ids)]
            try:
                found = link.find(chain.current)
            except HarnessError as exc:
                if self._classify(exc) is not None:
                    raise
                chain.error = exc  # the runtime's answer, kept where the runtime put it
                return
            if found is None:
                log.info("%s: crictl %s %s: it did not happen; running it again", self._host,
                         link.stage, link.object_id or "")
                return
            log.info("%s: crictl %s %s: an earlier attempt did it (%s); not running it again",
                     self._host, link.stage, link.object_id or "", found)
            chain.record(found)

    def _pod_file(self, spec: PodSpec) -> tuple[str, list[BatchFile]]:
        """The pod's config path, and the file to write unless a batch already wrote it."""
        path = self._pod_files.get(spec.uid or "")
        if path is not None:
            return path, []
        name = _SAFE_NAME.sub("_", f"pod-{spec.name}-{(spec.uid or '')[:8]}.json")
        path = self.files.join(self.remote_dir, name)
        return path, [BatchFile(path, spec.render(self.run_id))]

    def _ctr_file(self, pod_spec: PodSpec, spec: ContainerSpec) -> tuple[str, BatchFile]:
        self._files += 1
        path = self.files.join(self.remote_dir, _SAFE_NAME.sub(
            "_", f"ctr-{pod_spec.name}-{spec.name}-{self._files}.json"))
        return path, BatchFile(path, spec.render(self.run_id))

    def _runp_link(self, spec: PodSpec, runtime_handler: str | None,
                   cancel_timeout: float | None, path: str) -> _Link:
        args = ["runp"]
        if runtime_handler:
            args += ["--runtime", runtime_handler]
        if cancel_timeout:
            args += ["--cancel-timeout", go_duration(cancel_timeout)]
        return _Link("runp", lambda _prev: [*args, path], self.deadline(rpc_factor=2.0),
                     spec.name, lambda result, _prev: self._expect_id("runp", result),
                     lambda _prev: self._find_pod(spec))

    def _create_link(self, pod_spec: PodSpec, spec: ContainerSpec, path: str, pod_path: str,
                     with_pull: bool = False) -> _Link:
        pull = ["--with-pull"] if with_pull else []
        return _Link("create", lambda pod_id: ["create", *pull, pod_id, path, pod_path],
                     self.deadline(), spec.name,
                     lambda result, _pod: self._expect_id("create", result),
                     lambda pod_id: self._find_container(pod_id, spec))

    def _start_link(self, spec: ContainerSpec) -> _Link:
        return _Link("start", lambda cid: ["start", cid], self.deadline(), spec.name,
                     lambda result, cid: self._expect_id("start", result, cid),
                     self._find_started)

    def _find_pod(self, spec: PodSpec) -> str | None:
        # The uid is unique to this spec: a pod with it is the one this call asked for.
        name = spec.name if _PLAIN_NAME.match(spec.name) else None
        for pod in self.pods(name=name):
            if pod.uid == spec.uid and pod.name == spec.name:
                return pod.id
        return None

    def _find_container(self, pod_id: str, spec: ContainerSpec) -> str | None:
        # Container names are unique within a pod while the container exists.
        name = spec.name if _PLAIN_NAME.match(spec.name) else None
        for c in self.ps(pod=pod_id, name=name):
            if c.name == spec.name and c.attempt == spec.attempt:
                return c.id
        return None

    def _find_started(self, cid: str) -> str | None:
        status = self.inspect(cid)
        if status.state == CONTAINER_CREATED:
            return None  # the start did not happen
        if status.exited and status.reason == START_ERROR_REASON:
            # The runtime refused the start; its answer was lost on the way back, and
            # containerd kept it in the container's status.
            raise CriStageError("start", status.message or status.reason, object_id=cid,
                                grpc_code="Unknown")
        return cid

    def launch(self, plans: Sequence[Launch]) -> None:
        """Start independent pods (and a container in each, optionally started)
        concurrently, in one remote command; see :class:`Launch`.

        Every plan's ``pod``/``container`` is set as soon as that object exists, and its
        ``on_pod``/``on_container`` is called then, so a caller can clean up what was
        created even when another step of the same plan (or another plan) is refused; the
        first refusal is raised once every plan is settled.
        """
        if not self.batching:
            self._launch_one_by_one(plans)
            return
        chains = [self._chain_for(plan) for plan in plans]
        if chains:
            self._run_chains(chains, what="crictl " + ", ".join(c.what for c in chains))

    def _launch_one_by_one(self, plans: Sequence[Launch]) -> None:
        """:meth:`launch` without batches: one crictl call per step, plans in order."""
        first: HarnessError | None = None
        for plan in plans:
            try:
                if plan.pod is None:
                    if plan.pod_spec is None:
                        raise ValueError("a launch plan needs a pod spec or a started pod")
                    plan.pod = self.runp(plan.pod_spec, runtime_handler=plan.runtime_handler,
                                         cancel_timeout=plan.cancel_timeout)
                    if plan.on_pod is not None:
                        plan.on_pod(plan.pod)
                if plan.container_spec is not None:
                    plan.container = self.create(plan.pod, plan.container_spec,
                                                 with_pull=plan.with_pull)
                    if plan.on_container is not None:
                        plan.on_container(plan.container)
                    if plan.start:
                        self.start(plan.container)
                        plan.started = True
            except HarnessError as exc:
                first = first or exc
        if first is not None:
            raise first

    def _chain_for(self, plan: Launch) -> _Chain:
        links: list[_Link] = []
        files: list[BatchFile] = []
        if plan.pod is None:
            if plan.pod_spec is None:
                raise ValueError("a launch plan needs a pod spec or a started pod")
            pod_spec = plan.pod_spec.with_run_id(self.run_id)
            plan.pod_spec = pod_spec
        else:
            pod_spec = plan.pod.spec
        pod_path, pod_files = self._pod_file(pod_spec)
        files += pod_files
        if plan.pod is None:
            links.append(self._runp_link(pod_spec, plan.runtime_handler, plan.cancel_timeout,
                                         pod_path))
        ctr_spec = ctr_path = None
        if plan.container_spec is not None:
            ctr_spec = plan.container_spec.with_run_id(self.run_id)
            ctr_path, ctr_file = self._ctr_file(pod_spec, ctr_spec)
            files.append(ctr_file)
            links.append(self._create_link(pod_spec, ctr_spec, ctr_path, pod_path,
                                           plan.with_pull))
            if plan.start:
                links.append(self._start_link(ctr_spec))
        if not links:
            raise ValueError("a launch plan with a started pod needs a container spec")

        def recorded(index: int, object_id: str) -> None:
            stage = links[index].stage
            if stage == "runp":
                plan.pod = PodRef(object_id, pod_spec, plan.runtime_handler, pod_path)
                self._pod_files[pod_spec.uid or ""] = pod_path
                if plan.on_pod is not None:
                    plan.on_pod(plan.pod)
            elif stage == "create":
                self._pod_files[pod_spec.uid or ""] = pod_path
                plan.container = ContainerRef(object_id, plan.pod, ctr_spec, ctr_path)
                if plan.on_container is not None:
                    plan.on_container(plan.container)
            elif stage == "start":
                plan.started = True

        what = "+".join(link.stage for link in links) + " " + (
            f"{ctr_spec.name} in {pod_spec.name}" if ctr_spec is not None else pod_spec.name)
        return _Chain(links, plan.pod.id if plan.pod is not None else None, files,
                      _RESERVED, self.deadline(rpc_factor=2.0), recorded, what)

    def _ensure_dir(self) -> None:
        if self._dir_ready:
            return
        # Repeatable: a second mkdir answers "already exists", which is accepted.
        result = run_repeatable(self.transport, self.files.mkdir(self.remote_dir),
                                timeout=60.0 + self.margin)
        if result.exit_code != 0 and \
                self.files.exists_message not in (result.stderr + result.stdout):
            raise RemoteCommandError(result, hint=f"the harness keeps CRI config files in "
                                                  f"{self.remote_dir}; check that it can be created")
        self._dir_ready = True

    def upload(self, name: str, data: bytes) -> str:
        """Put ``data`` in this run's folder on the host; returns the remote path."""
        self._ensure_dir()
        remote = self.files.join(self.remote_dir, _SAFE_NAME.sub("_", name))
        fd, local = tempfile.mkstemp(prefix="hpc-e2e-cri-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self.transport.put(local, remote)
        finally:
            os.unlink(local)
        return remote

    def _pod_config(self, spec: PodSpec) -> str:
        path = self._pod_files.get(spec.uid or "")
        if path is None:
            path = self.upload(f"pod-{spec.name}-{(spec.uid or '')[:8]}.json",
                               spec.render(self.run_id))
            self._pod_files[spec.uid or ""] = path
        return path

    # --- images ---------------------------------------------------------------------
    def pull(self, image: str, *, timeout: float = DEFAULT_PULL_TIMEOUT) -> str:
        """Pull ``image``; returns the image reference the runtime reports."""
        result = self.run("pull", "pull", image, object_id=image, deadline=timeout + self.margin,
                          repeatable=True)
        m = re.search(r"Image is up to date for (\S+)", result.stdout)
        if not m:
            raise CrictlOutputError("pull", "image reference", result)
        return m.group(1)

    def images(self, ref: str | None = None) -> list[dict]:
        """ListImages (``crictl images -o json``): the runtime's image records; with
        ``ref``, only the image it names.

        containerd ignores the CRI image filter and lists every image, so the filtering is
        done here (:mod:`harness.cri.imageref`): a short name matches after Docker
        normalisation, so a locally imported image is found under its name.
        """
        # REF still goes to crictl: a runtime that honours the filter answers with less.
        args = ["images", "-o", "json"] + ([ref] if ref else [])
        result = self.run("images", *args, object_id=ref, repeatable=True)
        data = load_json("images", result)
        if not isinstance(data, dict) or not isinstance(data.get("images", []), list):
            raise CrictlOutputError("images", "JSON object with an images list", result)
        records = data.get("images") or []
        return matching(records, ref) if ref else records

    # --- pods -----------------------------------------------------------------------
    def runp(self, spec: PodSpec, *, runtime_handler: str | None = None,
             cancel_timeout: float | None = None) -> PodRef:
        """RunPodSandbox with ``runtime_handler`` (``runhcs-wcow-process`` / ``-hypervisor``)."""
        if self.batching:
            plan = Launch(spec, runtime_handler, cancel_timeout=cancel_timeout)
            self.launch([plan])
            assert plan.pod is not None
            return plan.pod
        spec = spec.with_run_id(self.run_id)
        path = self._pod_config(spec)
        args = ["runp"]
        if runtime_handler:
            args += ["--runtime", runtime_handler]
        if cancel_timeout:
            args += ["--cancel-timeout", go_duration(cancel_timeout)]

        def attempt() -> str:
            result = self.run("runp", *args, path, object_id=spec.name, rpc_factor=2.0)
            return self._expect_id("runp", result)

        # The same look-up as a batched launch (_runp_link): one reconcile rule, not two.
        pod_id = self._reconciled("runp", f"crictl runp {spec.name}", attempt,
                                  lambda: self._find_pod(spec),
                                  in_flight=_RESERVED, budget=self.deadline(rpc_factor=2.0))
        return PodRef(pod_id, spec, runtime_handler, path)

    def stopp(self, pod: PodRef | str) -> None:
        pod_id = _id_of(pod)
        result = self._run_to_completion("stopp", "stopp", pod_id, object_id=pod_id)
        if result is not None and f"Stopped sandbox {pod_id}" not in result.stdout:
            raise CrictlOutputError("stopp", f"'Stopped sandbox {pod_id}'", result)

    def rmp(self, pod: PodRef | str, *, force: bool = False) -> None:
        pod_id = _id_of(pod)
        args = ["rmp"] + (["--force"] if force else []) + [pod_id]
        # PodSandboxStatus, (StopPodSandbox when forced), RemovePodSandbox
        result = self._run_to_completion("rmp", *args, object_id=pod_id,
                                         rpc_factor=3.0 if force else 2.0)
        if result is not None and f"Removed sandbox {pod_id}" not in result.stdout:
            raise CrictlOutputError("rmp", f"'Removed sandbox {pod_id}'", result)

    def inspectp(self, pod: PodRef | str) -> PodStatus:
        statuses = self.inspectp_many([pod])
        if len(statuses) != 1:
            raise HarnessError(f"crictl inspectp {_id_of(pod)} returned {len(statuses)} pods")
        return statuses[0]

    def inspectp_many(self, pods: Sequence[PodRef | str]) -> list[PodStatus]:
        ids = [_id_of(p) for p in pods]
        if not ids:
            return []
        result = self.run("inspectp", "inspectp", "--output", "json", *ids,
                          object_id=" ".join(ids), repeatable=True)
        data = load_json("inspectp", result)
        try:
            return [PodStatus.from_json(o) for o in status_objects(data)]
        except ValueError:
            raise CrictlOutputError("inspectp", "pod status", result) from None

    def pods(self, *, labels: Mapping[str, str] | None = None, all_runs: bool = False,
             name: str | None = None, state: str | None = None) -> list[PodSummary]:
        """Pods with these labels; only this run's unless ``all_runs``."""
        args = ["pods", "--output", "json", *self._label_flags(labels, all_runs)]
        if name:
            args += ["--name", name]
        if state:
            args += ["--state", state]
        result = self.run("pods", *args, repeatable=True)
        data = load_json("pods", result)
        if not isinstance(data, dict):
            raise CrictlOutputError("pods", "{\"items\": [...]}", result)
        return [PodSummary.from_json(o) for o in data.get("items") or []]

    def _label_flags(self, labels: Mapping[str, str] | None, all_runs: bool) -> list[str]:
        wanted = dict(labels or {})
        if not all_runs:
            wanted.setdefault(RUN_ID_LABEL, self.run_id)
        flags: list[str] = []
        for k, v in wanted.items():
            flags += ["--label", f"{k}={v}"]
        return flags

    # --- containers -----------------------------------------------------------------
    def create(self, pod: PodRef, spec: ContainerSpec, *, with_pull: bool = False) -> ContainerRef:
        """CreateContainer in ``pod`` (crictl sends the pod's config along)."""
        if self.batching:
            plan = Launch(pod=pod, container_spec=spec, with_pull=with_pull)
            self.launch([plan])
            assert plan.container is not None
            return plan.container
        spec = spec.with_run_id(self.run_id)
        pod_path = self._pod_config(pod.spec)
        self._files += 1
        path = self.upload(f"ctr-{pod.spec.name}-{spec.name}-{self._files}.json",
                           spec.render(self.run_id))
        args = ["create"] + (["--with-pull"] if with_pull else []) + [pod.id, path, pod_path]

        def attempt() -> str:
            return self._expect_id("create", self.run("create", *args, object_id=spec.name))

        cid = self._reconciled("create", f"crictl create {spec.name} in {pod.id}", attempt,
                               lambda: self._find_container(pod.id, spec),
                               in_flight=_RESERVED, budget=self.deadline())
        return ContainerRef(cid, pod, spec, path)

    def create_and_start(self, pod: PodRef, spec: ContainerSpec, *,
                         on_created: Callable[[ContainerRef], None] | None = None
                         ) -> ContainerRef:
        """CreateContainer then StartContainer: one remote command with the config file
        when batching.  ``on_created`` gets the container as soon as it exists (also when
        its start is then refused: the refusal is raised as ``CriStageError`` stage
        ``start``, as :meth:`start` raises it)."""
        if not self.batching:
            ref = self.create(pod, spec)
            if on_created is not None:
                on_created(ref)
            self.start(ref)
            return ref
        plan = Launch(pod=pod, container_spec=spec, start=True, on_container=on_created)
        self.launch([plan])
        assert plan.container is not None
        return plan.container

    def start(self, container: ContainerRef | str) -> None:
        cid = _id_of(container)

        def attempt() -> str:
            return self._expect_id("start", self.run("start", "start", cid, object_id=cid), cid)

        self._reconciled("start", f"crictl start {cid}", attempt,
                         lambda: self._find_started(cid),
                         in_flight=_START_CONFLICT, budget=self.deadline())

    def exec(self, container: ContainerRef | str, argv: Sequence[str], *,
             timeout: float = DEFAULT_EXEC_TIMEOUT, repeatable: bool = False) -> ExecResult:
        """ExecSync ``argv``; the command's own exit code comes back, not crictl's 1.

        A command that outlives ``timeout`` (whole seconds, crictl's ``exec --timeout``)
        raises :class:`CriExecTimeout`; a refusal by the runtime raises
        :class:`CriStageError` with stage ``exec``.  ``repeatable=True`` (a command that
        only observes: running it twice changes nothing) runs it again after a transient
        failure or while containerd is unreachable; a command with an effect must not be.
        """
        cid = _id_of(container)
        argv = [str(a) for a in argv]
        if not argv:
            raise ValueError("exec needs a command")
        seconds = max(1, math.ceil(timeout))
        result = self.run("exec", "exec", "--sync", "--timeout", str(seconds), cid, *argv,
                          object_id=cid, extra=seconds, check=False, repeatable=repeatable)
        if result.exit_code == 0:
            out, err = split_exec_output(result.stdout)
            return ExecResult(0, out, err, result)
        text = crictl_error_text(result.stderr)
        code, stderr = self._exited(text, argv)
        if code is not None:
            return ExecResult(code, "", stderr, result, stdout_discarded=True)
        if _TIMED_OUT.search(text):
            raise CriExecTimeout(cid, argv, seconds, result=result, crictl_message=text)
        raise CriStageError.from_result("exec", result, object_id=cid)

    @staticmethod
    def _exited(text: str, argv: Sequence[str]) -> tuple[int | None, str]:
        """Read ``command '<argv>' exited with N: <stderr>`` (docs/behaviour/ecosystem.md §3.4).

        The CRI client joins the argv with spaces, so the exact prefix is known and the
        command's stderr cannot be mistaken for it; a looser match is the fallback, and
        only when no gRPC status is in the text (then the RPC itself failed).
        """
        prefix = f"command '{' '.join(argv)}' exited with "
        at = text.find(prefix)
        if at >= 0:
            m = re.match(r"(-?\d+)(?::\s?)?", text[at + len(prefix):])
            if m:
                return int(m.group(1)), text[at + len(prefix) + m.end():]
        grpc_code, _ = split_grpc(text)
        if grpc_code is not None:
            return None, ""
        m = _EXITED.search(text)
        if m:
            return int(m.group(1)), text[m.end():]
        return None, ""

    def inspect(self, container: ContainerRef | str) -> ContainerStatus:
        statuses = self.inspect_many([container])
        if len(statuses) != 1:
            raise HarnessError(f"crictl inspect {_id_of(container)} returned "
                               f"{len(statuses)} containers")
        return statuses[0]

    def inspect_many(self, containers: Sequence[ContainerRef | str]) -> list[ContainerStatus]:
        ids = [_id_of(c) for c in containers]
        if not ids:
            return []
        result = self.run("inspect", "inspect", "--output", "json", *ids,
                          object_id=" ".join(ids), repeatable=True)
        data = load_json("inspect", result)
        try:
            return [ContainerStatus.from_json(o) for o in status_objects(data)]
        except ValueError:
            raise CrictlOutputError("inspect", "container status", result) from None

    def ps(self, *, pod: PodRef | str | None = None, labels: Mapping[str, str] | None = None,
           all_runs: bool = False, all_states: bool = True, name: str | None = None,
           state: str | None = None) -> list[ContainerSummary]:
        """Containers with these labels (exited ones too unless ``all_states=False``)."""
        args = ["ps", "--output", "json"] + (["--all"] if all_states else [])
        if pod is not None:
            args += ["--pod", _id_of(pod)]
        args += self._label_flags(labels, all_runs)
        if name:
            args += ["--name", name]
        if state:
            args += ["--state", state]
        result = self.run("ps", *args, repeatable=True)
        data = load_json("ps", result)
        if not isinstance(data, dict):
            raise CrictlOutputError("ps", "{\"containers\": [...]}", result)
        return [ContainerSummary.from_json(o) for o in data.get("containers") or []]

    def logs(self, container: ContainerRef | str, *, tail: int | None = None) -> LogsResult:
        """The container's log (stdout and stderr streams as crictl splits them)."""
        cid = _id_of(container)
        args = ["logs"] + (["--tail", str(tail)] if tail is not None else []) + [cid]
        result = self.run("logs", *args, object_id=cid, repeatable=True)
        return LogsResult(result.stdout, result.stderr, result)

    def stop(self, container: ContainerRef | str, *, timeout: int | None = None) -> None:
        """StopContainer; ``timeout`` is the grace period in whole seconds (``stop -t``)."""
        cid = _id_of(container)
        args = ["stop"] + (["--timeout", str(int(timeout))] if timeout is not None else []) + [cid]
        result = self._run_to_completion("stop", *args, object_id=cid,
                                         extra=float(timeout or 0))
        if result is not None:
            self._expect_id("stop", result, cid)

    def rm(self, container: ContainerRef | str, *, force: bool = False) -> None:
        cid = _id_of(container)
        args = ["rm"] + (["--force"] if force else []) + [cid]
        # ContainerStatus, (StopContainer when forced), RemoveContainer
        result = self._run_to_completion("rm", *args, object_id=cid,
                                         rpc_factor=3.0 if force else 2.0)
        if result is not None:
            self._expect_id("rm", result, cid)

    # --- runtime --------------------------------------------------------------------
    def info(self) -> RuntimeInfo:
        result = self.run("info", "info", "--output", "json", repeatable=True)
        data = load_json("info", result)
        if not isinstance(data, dict):
            raise CrictlOutputError("info", "runtime status", result)
        return RuntimeInfo.from_json(data)

    def version(self) -> RuntimeVersion:
        result = self.run("version", "version", repeatable=True)
        v = RuntimeVersion.from_text(result.stdout)
        if not v.runtime_name:
            raise CrictlOutputError("version", "runtime version", result)
        return v

    def rmp_many(self, pods: Sequence[PodRef | str], *, force: bool = True
                 ) -> list[HarnessError]:
        """Remove pods (``rmp --force``, docs/behaviour/ecosystem.md §3.2: crictl stops the pod, and
        RemovePodSandbox removes the pod's containers with it, running or not — the CRI
        contract of that RPC), all in one remote command when batching.

        "Not found" counts as removed.  Steps that met a transient failure or an
        unreachable containerd are repeated (removal is idempotent); what the runtime
        refused is returned, not raised.
        """
        ids = list(dict.fromkeys(_id_of(p) for p in pods))
        problems: list[HarnessError] = []
        if not self.batching:
            for pod_id in ids:
                try:
                    self.rmp(pod_id, force=force)
                except HarnessError as exc:
                    if not says_not_found(exc):
                        problems.append(exc)
            return problems
        args = ["rmp"] + (["--force"] if force else [])
        rpc = 3.0 if force else 2.0
        left = ids

        def once() -> None:
            nonlocal left
            groups = [[self.step("rmp", *args, pod_id, object_id=pod_id, rpc_factor=rpc)]
                      for pod_id in left]
            again: list[str] = []
            retry_exc: BaseException | None = None
            for pod_id, (result,) in zip(left, self.batch(groups)):
                try:
                    out = self.checked(result)
                    if f"Removed sandbox {pod_id}" not in out.stdout:
                        raise CrictlOutputError("rmp", f"'Removed sandbox {pod_id}'", out)
                except HarnessError as exc:
                    if says_not_found(exc):
                        continue
                    if self._classify(exc) is not None:
                        again.append(pod_id)
                        retry_exc = exc
                    else:
                        problems.append(exc)
            left = again
            if retry_exc is not None:
                raise retry_exc

        if left:
            try:
                self.retry.call(once, what=f"crictl rmp of {len(ids)} pods", host=self._host,
                                classify=self._classify)
            except HarnessError as exc:
                problems.append(exc)
        return problems

    # --- clean-up -------------------------------------------------------------------
    def cleanup(self) -> list[HarnessError]:
        """Remove every pod of this run (containers go with their pod) and its files.

        Best effort: returns what failed instead of raising, so a fixture's teardown can
        report it without hiding the test's own outcome.
        """
        problems: list[HarnessError] = []
        try:
            problems += self.rmp_many([pod.id for pod in self.pods()], force=True)
        except HarnessError as exc:
            problems.append(exc)
        if self._dir_ready:
            try:
                result = run_repeatable(self.transport, self.files.remove_tree(self.remote_dir),
                                        timeout=60.0 + self.margin)
                if result.exit_code != 0:
                    problems.append(RemoteCommandError(result))
            except HarnessError as exc:
                problems.append(exc)
            self._pod_files.clear()
        return problems


_NOT_FOUND = re.compile(r"rpc error: code = NotFound desc = ")


def says_not_found(exc: BaseException) -> bool:
    """The runtime does not know the object: gRPC NotFound in crictl's error, also when
    crictl ends with a summary (``rm``: "unable to remove container(s)") after the
    per-object error that carries the code."""
    if not isinstance(exc, CriStageError):
        return False
    if exc.grpc_code == "NotFound":
        return True
    result = exc.result
    return exc.grpc_code is None and result is not None and \
        bool(_NOT_FOUND.search(result.stderr or ""))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= 200 else line[:199] + "…"
