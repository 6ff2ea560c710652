"""runp/create/start under faults: looked up and reconciled, never blindly repeated.

A fake host keeps a tiny CRI state (pods, containers) and answers crictl argvs; each call
can be given a fault the way the simulated host injects them (docs: /tmp contract, issue
#6): ``drop-request`` (nothing happened, the connection broke), ``drop-answer`` (it
happened, the answer was lost), ``unavailable`` (containerd down before crictl dialled:
nothing happened, crictl exits 1 with gRPC Unavailable).  The assertions count what the
*runtime* did: exactly one pod, one container, one start, whatever the faults.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest

from harness.cri import ContainerSpec, Crictl, CriStageError, CriUnavailable, PodSpec
from harness.cri.crictl import DEFAULT_CRICTL, Launch
from harness.errors import TransportError
from harness.plugin import categories
from harness.transport.base import CommandResult
from harness.transport.retry import RetryPolicy, is_exhausted, mark_transient

RUN = "20250101-000000-abcdef"
GLOBAL_WITH_VALUE = {"--config", "--timeout", "--runtime-endpoint", "--image-endpoint"}


def logrus(msg: str) -> str:
    return 'time="2025-01-01T00:00:00Z" level=fatal msg="' + msg.replace('"', '\\"') + '"\n'


UNAVAILABLE = logrus('listing pod sandboxes: rpc error: code = Unavailable desc = connection '
                     'error: desc = "transport: Error while dialing: open '
                     '\\\\\\\\.\\\\pipe\\\\containerd-containerd: The system cannot find the '
                     'file specified."')


class FakeHost:
    """crictl on a host with a CRI state; ``faults[sub]`` is consumed one per call."""

    def __init__(self):
        self.pods: dict[str, dict] = {}
        self.containers: dict[str, dict] = {}
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = {}
        self.calls: list[str] = []
        self.executed: list[str] = []  # sub-commands the runtime actually carried out
        self.refuse: dict[str, str] = {}
        self.ids = iter(f"{i:064x}" for i in range(1, 1000))

    def fault(self, sub: str, *kinds: str) -> None:
        self.faults.setdefault(sub, []).extend(kinds)

    def put(self, local_path, remote_path, *, timeout=None):
        self.files[remote_path] = Path(local_path).read_bytes()

    def run(self, argv, *, timeout, stdin=None, check=False):
        argv = [str(a) for a in argv]
        if argv[0] != DEFAULT_CRICTL:
            return self._result(argv, 0, "", "")
        i = 1
        while argv[i].startswith("-"):
            i += 2 if argv[i] in GLOBAL_WITH_VALUE else 1
        sub, args = argv[i], argv[i + 1:]
        self.calls.append(sub)
        fault = (self.faults.get(sub) or ["ok"]).pop(0)
        if fault == "drop-request":
            raise mark_transient(TransportError("connection reset (request dropped)"))
        if fault == "unavailable":
            return self._result(argv, 1, "", UNAVAILABLE)
        rc, out, err = self._answer(sub, args)
        if fault == "drop-answer":
            raise mark_transient(TransportError("connection reset (answer dropped)"))
        return self._result(argv, rc, out, err)

    @staticmethod
    def _result(argv, rc, out, err):
        return CommandResult(command=" ".join(argv), exit_code=rc, stdout_bytes=out.encode(),
                             stderr_bytes=err.encode())

    def _answer(self, sub: str, args: list[str]) -> tuple[int, str, str]:
        if sub in self.refuse:
            self.executed.append(sub)
            return 1, "", logrus(f"{sub}: rpc error: code = Unknown desc = {self.refuse[sub]}")
        if sub == "runp":
            cfg = json.loads(self.files[args[-1]])
            meta = cfg["metadata"]
            key = f"{meta['name']}_{meta['namespace']}_{meta['uid']}_{meta['attempt']}"
            for pid, p in self.pods.items():
                if p["key"] == key:
                    return 1, "", logrus(f'run pod sandbox: rpc error: code = Unknown desc = '
                                         f'failed to reserve sandbox name "{key}": name '
                                         f'"{key}" is reserved for "{pid}"')
            pid = next(self.ids)
            self.pods[pid] = {"key": key, "meta": meta, "labels": cfg["labels"]}
            self.executed.append("runp")
            return 0, pid + "\n", ""
        if sub == "pods":
            labels = [args[j + 1] for j, a in enumerate(args) if a == "--label"]
            name = args[args.index("--name") + 1] if "--name" in args else None
            items = [{"id": pid, "metadata": p["meta"], "state": "SANDBOX_READY",
                      "labels": p["labels"]} for pid, p in self.pods.items()
                     if all(p["labels"].get(k) == v for k, v in (x.split("=") for x in labels))
                     and (name is None or name in p["meta"]["name"])]
            return 0, json.dumps({"items": items}), ""
        if sub == "create":
            pod_id, path = args[-3], args[-2]
            meta = json.loads(self.files[path])["metadata"]
            cid = next(self.ids)
            self.containers[cid] = {"pod": pod_id, "meta": meta, "state": "CONTAINER_CREATED"}
            self.executed.append("create")
            return 0, cid + "\n", ""
        if sub == "ps":
            pod = args[args.index("--pod") + 1]
            items = [{"id": cid, "podSandboxId": c["pod"], "metadata": c["meta"],
                      "state": c["state"]} for cid, c in self.containers.items()
                     if c["pod"] == pod]
            return 0, json.dumps({"containers": items}), ""
        if sub == "start":
            c = self.containers[args[-1]]
            if c["state"] != "CONTAINER_CREATED":
                return 1, "", logrus(f'starting the container "{args[-1]}": rpc error: code = '
                                     f'Unknown desc = failed to set starting state for container '
                                     f'"{args[-1]}": container is in {c["state"]} state')
            c["state"] = "CONTAINER_RUNNING"
            self.executed.append("start")
            return 0, args[-1] + "\n", ""
        if sub == "inspect":
            cid = args[-1]
            if cid not in self.containers:
                return 1, "", logrus('rpc error: code = NotFound desc = an error occurred when '
                                     f'try to find container "{cid}": not found')
            c = self.containers[cid]
            return 0, json.dumps({"status": {"id": cid, "metadata": c["meta"],
                                             "state": c["state"],
                                             "reason": c.get("reason", ""),
                                             "message": c.get("message", "")}}), ""
        if sub == "rm":
            cid = args[-1]
            if cid not in self.containers:
                return 1, "", logrus('removing container: rpc error: code = NotFound desc = '
                                     f'an error occurred when try to find container "{cid}": '
                                     'not found')
            del self.containers[cid]
            self.executed.append("rm")
            return 0, cid + "\n", ""
        if sub == "exec":
            self.executed.append("exec")
            return 0, "nt authority\\system\r\n\n", ""
        return 1, "", f"unexpected crictl command {sub}"


@pytest.fixture
def host():
    return FakeHost()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def crictl(host, sleeps):
    policy = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05, runtime_wait=0.0,
                         rng=random.Random(3), sleep=sleeps.append)
    return Crictl(host, run_id=RUN, retry=policy)


def pod_spec() -> PodSpec:
    return PodSpec("test-pod-0", host_process=True)


# --- runp -------------------------------------------------------------------------------------
def test_runp_after_a_lost_answer_reuses_the_pod_found_by_label(host, crictl, caplog):
    host.fault("runp", "drop-answer")
    with caplog.at_level(logging.INFO, logger="harness.cri"):
        ref = crictl.runp(pod_spec(), runtime_handler="runhcs-wcow-process")
    assert list(host.pods) == [ref.id]  # no duplicate pod
    assert host.executed == ["runp"] and host.calls == ["runp", "pods"]
    assert any("an earlier attempt did it" in r.getMessage() for r in caplog.records)


def test_runp_after_a_dropped_request_runs_again_once(host, crictl):
    host.fault("runp", "drop-request")
    ref = crictl.runp(pod_spec())
    assert list(host.pods) == [ref.id]
    assert host.executed == ["runp"] and host.calls == ["runp", "pods", "runp"]


def test_runp_while_containerd_restarts_looks_then_runs_again(host, crictl):
    host.fault("runp", "unavailable", "unavailable")
    host.fault("pods", "unavailable")  # the lookup itself is retried
    ref = crictl.runp(pod_spec())
    assert list(host.pods) == [ref.id]
    assert host.calls == ["runp", "pods", "pods", "runp", "pods", "runp"]


def test_runp_whose_earlier_attempt_holds_the_name_gets_that_pod(host, crictl):
    # The first attempt's answer was lost and the lookup missed the pod (still starting);
    # the repeat is refused with the name reservation, and the next lookup finds it.
    host.fault("runp", "drop-answer")
    real_answer = host._answer
    hide = {"n": 1}

    def answer(sub, args):
        if sub == "pods" and hide["n"]:
            hide["n"] -= 1
            return 0, json.dumps({"items": []}), ""
        return real_answer(sub, args)

    host._answer = answer
    ref = crictl.runp(pod_spec())
    assert list(host.pods) == [ref.id] and host.executed == ["runp"]
    assert host.calls == ["runp", "pods", "runp", "pods"]


def test_a_runtime_refusal_is_raised_at_once_with_one_attempt(host, crictl, sleeps):
    host.refuse["runp"] = "hostprocess is not supported"
    with pytest.raises(CriStageError) as info:
        crictl.runp(pod_spec())
    assert host.calls == ["runp"] and sleeps == []
    assert info.value.grpc_code == "Unknown" and not is_exhausted(info.value)
    assert categories.classify(info.value) == categories.RUNTIME_REGRESSION


def test_a_refusal_after_a_dropped_request_is_still_the_runtimes_answer(host, crictl):
    host.fault("runp", "drop-request")
    host.refuse["runp"] = "hostprocess is not supported"
    with pytest.raises(CriStageError) as info:
        crictl.runp(pod_spec())
    assert host.calls == ["runp", "pods", "runp"]
    assert categories.classify(info.value) == categories.RUNTIME_REGRESSION


def test_runp_that_never_gets_through_fails_as_infrastructure(host, crictl):
    host.fault("runp", *["drop-request"] * 6)
    with pytest.raises(TransportError) as info:
        crictl.runp(pod_spec())
    assert host.calls.count("runp") == 6 and host.pods == {}
    assert is_exhausted(info.value)
    assert categories.classify(info.value) == categories.INFRASTRUCTURE


# --- create and start -------------------------------------------------------------------------
def make_container(crictl):
    pod = crictl.runp(pod_spec())
    return pod, ContainerSpec("c0", "probe:1", host_process=True)


def test_create_after_a_lost_answer_reuses_the_container(host, crictl):
    pod, spec = make_container(crictl)
    host.fault("create", "drop-answer")
    ref = crictl.create(pod, spec)
    assert list(host.containers) == [ref.id] and host.executed.count("create") == 1


def test_create_after_a_dropped_request_creates_once(host, crictl):
    pod, spec = make_container(crictl)
    host.fault("create", "drop-request")
    ref = crictl.create(pod, spec)
    assert list(host.containers) == [ref.id] and host.calls.count("create") == 2


def test_start_after_a_lost_answer_is_not_repeated(host, crictl):
    pod, spec = make_container(crictl)
    ref = crictl.create(pod, spec)
    host.fault("start", "drop-answer")
    crictl.start(ref)
    assert host.executed.count("start") == 1 and host.calls[-2:] == ["start", "inspect"]
    assert host.containers[ref.id]["state"] == "CONTAINER_RUNNING"


def test_start_after_a_dropped_request_starts_again(host, crictl):
    pod, spec = make_container(crictl)
    ref = crictl.create(pod, spec)
    host.fault("start", "drop-request")
    crictl.start(ref)
    assert host.calls[-3:] == ["start", "inspect", "start"]
    assert host.executed.count("start") == 1


def test_a_start_refusal_lost_on_the_way_back_is_read_from_the_status(host, crictl):
    pod, spec = make_container(crictl)
    ref = crictl.create(pod, spec)
    host.fault("start", "drop-request")
    c = host.containers[ref.id]
    c.update(state="CONTAINER_EXITED", reason="StartError",
             message="failed to create shim task: hostprocess containers are not supported")
    with pytest.raises(CriStageError) as info:
        crictl.start(ref)
    assert "not supported" in info.value.runtime_message
    assert categories.classify(info.value) == categories.RUNTIME_REGRESSION


# --- a launch one call at a time (harness/cri/launch.py StepExecutor) --------------------------
def test_each_call_of_a_step_by_step_launch_has_its_own_retry_budget(host, crictl):
    """Five dropped requests on runp and five on create: each call is an operation of its
    own (six attempts each), as when runp and create were separate calls; a budget shared
    by the whole launch would give up on the sixth failure."""
    host.fault("runp", *["drop-request"] * 5)
    host.fault("create", *["drop-request"] * 5)
    plan = Launch(pod_spec(), container_spec=ContainerSpec("c0", "probe:1", host_process=True),
                  start=True)
    crictl.launch([plan])
    assert plan.started and host.executed == ["runp", "create", "start"]
    assert host.calls.count("runp") == 6 and host.calls.count("create") == 6


def test_a_step_by_step_launch_goes_on_after_a_refusal_and_raises_it_at_the_end(host, crictl):
    """Plans run in order, one call at a time; a refused plan does not stop the next one,
    and what was created is handed to the caller as it comes into existence."""
    host.refuse["create"] = "the image is not for this host"
    created = []
    first = Launch(pod_spec(), container_spec=ContainerSpec("c0", "probe:1"),
                   on_pod=created.append)
    second = Launch(PodSpec("test-pod-1", host_process=True), on_pod=created.append)
    with pytest.raises(CriStageError) as info:
        crictl.launch([first, second])
    assert info.value.stage == "create" and "not for this host" in info.value.runtime_message
    assert [p.spec.name for p in created] == ["test-pod-0", "test-pod-1"]
    assert host.calls == ["runp", "create", "runp"] and first.container is None


def test_a_lost_answer_in_a_step_by_step_launch_is_looked_up_link_by_link(host, crictl):
    host.fault("create", "drop-answer")
    host.fault("start", "drop-answer")
    plan = Launch(pod_spec(), container_spec=ContainerSpec("c0", "probe:1"), start=True)
    crictl.launch([plan])
    assert host.executed == ["runp", "create", "start"]
    assert host.calls == ["runp", "create", "ps", "start", "inspect"]
    assert plan.started and plan.container.id in host.containers


# --- repeatable steps -------------------------------------------------------------------------
def test_rm_whose_answer_was_lost_counts_not_found_as_done(host, crictl):
    pod, spec = make_container(crictl)
    ref = crictl.create(pod, spec)
    host.fault("rm", "drop-answer")
    crictl.rm(ref)
    assert host.containers == {} and host.calls[-2:] == ["rm", "rm"]


def test_rm_not_found_behind_crictls_summary_line_also_counts_as_done(host, crictl):
    pod, spec = make_container(crictl)
    ref = crictl.create(pod, spec)
    host.fault("rm", "drop-answer")
    real_answer = host._answer

    def answer(sub, args):
        rc, out, err = real_answer(sub, args)
        if sub == "rm" and rc:  # crictl rm ends with a summary after the per-id error
            err += logrus("unable to remove container(s)")
        return rc, out, err

    host._answer = answer
    crictl.rm(ref)
    assert host.containers == {}


def test_not_found_on_the_first_rm_is_the_runtimes_answer(host, crictl):
    with pytest.raises(CriStageError) as info:
        crictl.rm("f" * 64)
    assert info.value.grpc_code == "NotFound"


def test_a_repeatable_exec_survives_containerd_restarting(host, crictl):
    host.fault("exec", "unavailable", "drop-answer")
    result = crictl.exec("a" * 64, ["whoami"], repeatable=True)
    assert result.exit_code == 0 and result.stdout.strip() == "nt authority\\system"
    assert host.calls == ["exec"] * 3


def test_an_exec_not_marked_repeatable_runs_once(host, crictl):
    host.fault("exec", "drop-request")
    with pytest.raises(TransportError):
        crictl.exec("a" * 64, ["whoami"])
    assert host.calls == ["exec"]


def test_a_read_that_finds_containerd_down_every_time_is_infrastructure(host, crictl):
    host.fault("inspect", *["unavailable"] * 10)
    with pytest.raises(CriUnavailable) as info:
        crictl.inspect("a" * 64)
    assert info.value.grpc_code == "Unavailable" and host.calls == ["inspect"] * 6
    assert categories.classify(info.value) == categories.INFRASTRUCTURE
    # never mistaken for a refusal a scenario waits for with pytest.raises(CriStageError)
    assert not isinstance(info.value, CriStageError)
    assert isinstance(info.value.__cause__, CriStageError)
