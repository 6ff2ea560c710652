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

Starting pods and containers is :mod:`harness.cri.launch` (one algorithm, two executors);
what crictl's output means is :mod:`harness.cri.output`.

Batches (:mod:`harness.cri.batch`): on a real transport (any
:class:`~harness.transport.base.Transport`: it runs catalog scripts) ``runp`` and ``create``
write their config file and run in *one* remote command, a container is created and started
in one (:meth:`Crictl.create_and_start`), independent pods start concurrently in one
(:meth:`Crictl.launch`), and pods are removed in one (:meth:`Crictl.rmp_many`).  Each
step of a batch is mapped exactly as a single call would be.  A duck-typed transport that
cannot run scripts (tests' fakes), and a POSIX host, get one crictl call per step, with
``put`` uploads.  A batch's steps reach the report through the
:class:`~harness.cri.reporter.CriReporter` the client is given (none by default).

Faults (harness/transport/retry.py): reads (``pods``, ``ps``, ``inspect[p]``, ``images``,
``info``, ``version``, ``logs``, ``exec`` when the caller says the command only observes)
are repeated on a transient transport failure and when crictl finds containerd unreachable
(gRPC ``Unavailable``: a crashed containerd that the SCM restarts).  ``stop``/``rm``/
``stopp``/``rmp``/``pull`` are repeated too, and "not found" after a repeat means an
earlier attempt did the work.  ``runp``/``create``/``start`` are never blindly repeated:
after a failure that leaves it unknown whether the runtime acted, the harness *looks*
(the pod by run-id label, name and uid; the container by pod and name; the container's
state) and only runs the step again if it did not happen (:mod:`harness.cri.launch`).  An
error that carries the runtime's answer (any other gRPC code, a shim refusal) is raised at
once, never retried.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.cri.batch import BatchFile, Step, StepResult, run_batch
from harness.cri.errors import (
    CrictlOutputError,
    CriExecTimeout,
    CriStageError,
    CriUnavailable,
    crictl_error_text,
)
from harness.cri.imageref import matching
from harness.cri.launch import (
    START_ERROR_REASON,
    BatchExecutor,
    ContainerRef,
    Launch,
    Launcher,
    PodRef,
    StepExecutor,
    go_duration,
    id_of,
)
from harness.cri.output import (
    RESERVED,
    classify,
    exec_exit,
    exec_timed_out,
    expect_id,
    says_not_found,
    split_exec_output,
    step_output,
)
from harness.cri.reporter import NO_REPORTER, CriReporter
from harness.cri.spec import RUN_ID_LABEL, ContainerSpec, PodSpec, new_run_id
from harness.cri.status import (
    ContainerStatus,
    ContainerSummary,
    PodStatus,
    PodSummary,
    RuntimeInfo,
    RuntimeVersion,
    load_json,
    status_objects,
)
from harness.errors import HarnessError, RemoteCommandError
from harness.transport.base import Transport, run_repeatable
from harness.transport.hostfiles import WINDOWS, host_files_of
from harness.transport.retry import RetryPolicy, policy_of

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
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# The name tests import for containerd's "name is reserved" refusal (harness.cri.output).
_RESERVED = RESERVED


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


class Crictl:
    """crictl on one host, for one run (the run id labels everything it creates)."""

    def __init__(self, transport, *, run_id: str | None = None,
                 crictl_path: str = DEFAULT_CRICTL, config_path: str = DEFAULT_CONFIG,
                 timeout: float = DEFAULT_RPC_TIMEOUT, runtime_endpoint: str | None = None,
                 image_endpoint: str | None = None, runs_root: str | None = None,
                 margin: float = DEADLINE_MARGIN, retry: RetryPolicy | None = None,
                 batch: bool | None = None, reporter: CriReporter | None = None):
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
        self.reporter = reporter or NO_REPORTER
        self._dir_ready = False
        # Batches need the PowerShell bootstrap, which every Transport backend to a
        # Windows host runs.
        self.batching = (self.files.batches and isinstance(transport, Transport)) \
            if batch is None else bool(batch)
        # runp/create/start: one algorithm (harness/cri/launch.py), carried out in batches
        # or one call at a time.
        self._launcher = Launcher(self)
        self._batches = BatchExecutor(self)
        self._one_by_one = StepExecutor(self)

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
            return self.retry.call(once, what=f"crictl {stage}", host=self.host_name,
                                   classify=classify)
        except CriStageError as exc:
            if exc.grpc_code == "Unavailable":
                raise CriUnavailable(exc) from exc
            raise

    @property
    def host_name(self) -> str:
        """The host's name for log lines (a duck-typed transport may have no target)."""
        return getattr(getattr(self.transport, "target", None), "name", "")

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
                             "did it", self.host_name, stage, object_id, attempts)
                    return None
                raise

        return self.retry.call(once, what=f"crictl {stage}", host=self.host_name,
                               classify=classify)

    # --- batches ------------------------------------------------------------------------
    def batch(self, groups: Sequence[Sequence[Step]], *, files: Sequence[BatchFile] = (),
              repeatable: bool = False) -> list[list[StepResult]]:
        """Run groups of crictl steps (and write ``files`` first) in one remote command.

        Groups run concurrently on the host, a group's steps in order until one fails.
        Step failures come back in the results (map them with :meth:`checked`); what is
        raised is the transport's error (it is then unknown which steps ran) or the script's
        own failure (a file that did not verify: no step ran).
        """
        outcome = run_batch(self.transport, groups, files=files, repeatable=repeatable,
                            reporter=self.reporter)
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
        same stage raises (:func:`harness.cri.output.step_output`)."""
        return step_output(result, object_id=object_id)

    def launch(self, plans: Sequence[Launch]) -> None:
        """Start independent pods (and a container in each, optionally started); see
        :class:`Launch`.  Batching, concurrently in one remote command; else one crictl call
        at a time, plans in order (:mod:`harness.cri.launch`: the same algorithm).

        Every plan's ``pod``/``container`` is set as soon as that object exists, and its
        ``on_pod``/``on_container`` is called then, so a caller can clean up what was
        created even when another step of the same plan (or another plan) is refused; the
        first refusal is raised once every plan is settled.
        """
        self._launcher.launch(plans, self._batches if self.batching else self._one_by_one)

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
        remote = self.files.join(self.remote_dir, _SAFE_NAME.sub("_", name))
        self.put_file(remote, data)
        return remote

    def put_file(self, path: str, data: bytes) -> None:
        """Put ``data`` at ``path`` in this run's folder (made first, once)."""
        self._ensure_dir()
        fd, local = tempfile.mkstemp(prefix="hpc-e2e-cri-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self.transport.put(local, path)
        finally:
            os.unlink(local)

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
        plan = Launch(spec, runtime_handler, cancel_timeout=cancel_timeout)
        self.launch([plan])
        assert plan.pod is not None
        return plan.pod

    def stopp(self, pod: PodRef | str) -> None:
        pod_id = id_of(pod)
        result = self._run_to_completion("stopp", "stopp", pod_id, object_id=pod_id)
        if result is not None and f"Stopped sandbox {pod_id}" not in result.stdout:
            raise CrictlOutputError("stopp", f"'Stopped sandbox {pod_id}'", result)

    def rmp(self, pod: PodRef | str, *, force: bool = False) -> None:
        pod_id = id_of(pod)
        args = ["rmp"] + (["--force"] if force else []) + [pod_id]
        # PodSandboxStatus, (StopPodSandbox when forced), RemovePodSandbox
        result = self._run_to_completion("rmp", *args, object_id=pod_id,
                                         rpc_factor=3.0 if force else 2.0)
        if result is not None and f"Removed sandbox {pod_id}" not in result.stdout:
            raise CrictlOutputError("rmp", f"'Removed sandbox {pod_id}'", result)

    def inspectp(self, pod: PodRef | str) -> PodStatus:
        statuses = self.inspectp_many([pod])
        if len(statuses) != 1:
            raise HarnessError(f"crictl inspectp {id_of(pod)} returned {len(statuses)} pods")
        return statuses[0]

    def inspectp_many(self, pods: Sequence[PodRef | str]) -> list[PodStatus]:
        ids = [id_of(p) for p in pods]
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
        plan = Launch(pod=pod, container_spec=spec, with_pull=with_pull)
        self.launch([plan])
        assert plan.container is not None
        return plan.container

    def create_and_start(self, pod: PodRef, spec: ContainerSpec, *,
                         on_created: Callable[[ContainerRef], None] | None = None
                         ) -> ContainerRef:
        """CreateContainer then StartContainer: one remote command with the config file
        when batching.  ``on_created`` gets the container as soon as it exists (also when
        its start is then refused: the refusal is raised as ``CriStageError`` stage
        ``start``, as :meth:`start` raises it)."""
        plan = Launch(pod=pod, container_spec=spec, start=True, on_container=on_created)
        self.launch([plan])
        assert plan.container is not None
        return plan.container

    def start(self, container: ContainerRef | str) -> None:
        """StartContainer: one crictl call, also when batching (no file goes with it)."""
        self._launcher.start(id_of(container), self._one_by_one)

    def exec(self, container: ContainerRef | str, argv: Sequence[str], *,
             timeout: float = DEFAULT_EXEC_TIMEOUT, repeatable: bool = False) -> ExecResult:
        """ExecSync ``argv``; the command's own exit code comes back, not crictl's 1.

        A command that outlives ``timeout`` (whole seconds, crictl's ``exec --timeout``)
        raises :class:`CriExecTimeout`; a refusal by the runtime raises
        :class:`CriStageError` with stage ``exec``.  ``repeatable=True`` (a command that
        only observes: running it twice changes nothing) runs it again after a transient
        failure or while containerd is unreachable; a command with an effect must not be.
        """
        cid = id_of(container)
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
        code, stderr = exec_exit(text, argv)
        if code is not None:
            return ExecResult(code, "", stderr, result, stdout_discarded=True)
        if exec_timed_out(text):
            raise CriExecTimeout(cid, argv, seconds, result=result, crictl_message=text)
        raise CriStageError.from_result("exec", result, object_id=cid)

    def inspect(self, container: ContainerRef | str) -> ContainerStatus:
        statuses = self.inspect_many([container])
        if len(statuses) != 1:
            raise HarnessError(f"crictl inspect {id_of(container)} returned "
                               f"{len(statuses)} containers")
        return statuses[0]

    def inspect_many(self, containers: Sequence[ContainerRef | str]) -> list[ContainerStatus]:
        ids = [id_of(c) for c in containers]
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
            args += ["--pod", id_of(pod)]
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
        cid = id_of(container)
        args = ["logs"] + (["--tail", str(tail)] if tail is not None else []) + [cid]
        result = self.run("logs", *args, object_id=cid, repeatable=True)
        return LogsResult(result.stdout, result.stderr, result)

    def stop(self, container: ContainerRef | str, *, timeout: int | None = None) -> None:
        """StopContainer; ``timeout`` is the grace period in whole seconds (``stop -t``)."""
        cid = id_of(container)
        args = ["stop"] + (["--timeout", str(int(timeout))] if timeout is not None else []) + [cid]
        result = self._run_to_completion("stop", *args, object_id=cid,
                                         extra=float(timeout or 0))
        if result is not None:
            expect_id("stop", result, cid)

    def rm(self, container: ContainerRef | str, *, force: bool = False) -> None:
        cid = id_of(container)
        args = ["rm"] + (["--force"] if force else []) + [cid]
        # ContainerStatus, (StopContainer when forced), RemoveContainer
        result = self._run_to_completion("rm", *args, object_id=cid,
                                         rpc_factor=3.0 if force else 2.0)
        if result is not None:
            expect_id("rm", result, cid)

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
        ids = list(dict.fromkeys(id_of(p) for p in pods))
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
                    if classify(exc) is not None:
                        again.append(pod_id)
                        retry_exc = exc
                    else:
                        problems.append(exc)
            left = again
            if retry_exc is not None:
                raise retry_exc

        if left:
            try:
                self.retry.call(once, what=f"crictl rmp of {len(ids)} pods",
                                host=self.host_name, classify=classify)
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
            self._launcher.forget()
            self._one_by_one.forget()
        return problems



# Names other modules and tests import from here (the client's module before the split).
__all__ = ["DEFAULT_CONFIG", "DEFAULT_CRICTL", "DEFAULT_EXEC_TIMEOUT", "DEFAULT_PULL_TIMEOUT",
           "DEFAULT_RPC_TIMEOUT", "DEFAULT_RUNS_ROOT", "START_ERROR_REASON", "ContainerRef",
           "Crictl", "ExecResult", "Launch", "LogsResult", "PodRef", "go_duration",
           "says_not_found", "split_exec_output"]
