"""The harness's own CRI client against real crictl and real containerd (the real-CRI lane).

Every operation :class:`~harness.cri.Crictl` offers is run through a real crictl (the
oldest and the newest supported release) against a real containerd with runc, over a local
POSIX transport, and what the client makes of the answers is checked: parsed results,
exit codes, the error class, stage, gRPC code and the runtime's own message.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from harness.cri import RUN_ID_LABEL, CriExecTimeout, CriStageError
from harness.cri.crictl import _RESERVED, Launch
from harness.cri.errors import CriUnavailable
from harness.errors import TransportError
from harness.runtime.bundle import CONTAINERD, CRICTL
from harness.runtime.versions import parse_version_output
from harness.transport.retry import RetryPolicy, mark_transient

from realcri.registry import ImageStore, Registry

pytestmark = pytest.mark.real_cri


# --- runtime --------------------------------------------------------------------------------
def test_version(real, stack):
    v = real.version()
    assert v.runtime_name == "containerd"
    assert v.runtime_api_version == "v1"


def test_info(real):
    info = real.info()
    assert info.runtime_ready
    # no CNI config here (pods use the host's network): containerd says so
    assert not info.network_ready and "cni" in info.condition_reasons["NetworkReady"].lower()
    assert info.config, "crictl info carries containerd's CRI config"


def test_an_unreachable_runtime_is_cri_unavailable(stack):
    client = stack.client(runtime_endpoint="unix:///tmp/hpc-e2e-no-such.sock",
                          image_endpoint="unix:///tmp/hpc-e2e-no-such.sock",
                          retry=RetryPolicy(attempts=1, runtime_wait=0))
    with pytest.raises(CriUnavailable) as e:
        client.version()
    assert e.value.grpc_code == "Unavailable"


# --- images ---------------------------------------------------------------------------------
def test_pull_returns_the_image_id_and_images_lists_it(real, stack):
    ref = real.pull(stack.busybox)
    assert ref.startswith("sha256:")
    images = real.images(stack.busybox)
    assert any(stack.busybox in (i.get("repoTags") or []) for i in images)


def test_images_of_a_missing_reference_is_empty(real, stack):
    """containerd ignores the CRI image filter (ListImages: "TODO: add filters"), so the
    client filters: an image that is not there is not reported as present."""
    real.pull(stack.busybox)
    missing = f"{stack.registry.host}/hpc-e2e/not-pulled:1"
    assert real.images(missing) == []


def test_pull_of_a_missing_image_names_the_runtime_answer(real, stack):
    ref = f"{stack.registry.host}/hpc-e2e/nothere:1"
    with pytest.raises(CriStageError) as e:
        real.pull(ref)
    err = e.value
    assert err.stage == "pull"
    assert err.grpc_code is not None
    assert "pulling image" not in err.runtime_message
    assert "not found" in err.runtime_message


def test_pull_from_a_registry_that_is_down(real, stack):
    dead = Registry(ImageStore()).start()
    host = dead.host
    dead.stop()
    with pytest.raises(CriStageError) as e:
        real.pull(f"{host}/hpc-e2e/busybox:1")
    err = e.value
    assert err.grpc_code is not None
    assert "pulling image" not in err.runtime_message
    assert "connection refused" in err.runtime_message


# --- pods and containers --------------------------------------------------------------------
def wait_for_logs(client, ctr, text: str, within: float = 30.0):
    """The container's logs once ``text`` is in them: containerd copies the container's
    output to the log file on its own schedule (a wait, not a timing assertion)."""
    end = time.monotonic() + within
    while True:
        logs = client.logs(ctr)
        if text in logs.stdout + logs.stderr or time.monotonic() > end:
            return logs
        time.sleep(0.1)


def _running(real, stack, name="p", command=None):
    real.pull(stack.busybox)
    pod = real.runp(stack.pod_spec(name))
    ctr = real.create(pod, stack.ctr_spec("c", command))
    real.start(ctr)
    return pod, ctr


def test_runp_create_start_inspect(real, stack):
    pod, ctr = _running(real, stack)
    status = real.inspectp(pod)
    assert status.id == pod.id and status.state == "SANDBOX_READY"
    assert status.labels[RUN_ID_LABEL] == real.run_id
    c = real.inspect(ctr)
    assert c.id == ctr.id and c.state == "CONTAINER_RUNNING"
    assert c.labels[RUN_ID_LABEL] == real.run_id


def test_exec_success_keeps_stdout_and_stderr_apart(real, stack):
    _, ctr = _running(real, stack)
    r = real.exec(ctr, ["/bin/sh", "-c", "echo out; echo err >&2"])
    assert (r.exit_code, r.stdout, r.stderr) == (0, "out\n", "err\n")


def test_exec_success_with_stdout_only(real, stack):
    _, ctr = _running(real, stack)
    r = real.exec(ctr, ["/bin/sh", "-c", "printf 'a\\nb\\n'"])
    assert (r.exit_code, r.stdout, r.stderr) == (0, "a\nb\n", "")


def test_exec_non_zero_exit(real, stack):
    _, ctr = _running(real, stack)
    r = real.exec(ctr, ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
    assert r.exit_code == 3
    assert r.stdout_discarded and r.stdout == ""
    assert r.stderr.strip() == "err"


def test_exec_program_not_found(real, stack):
    _, ctr = _running(real, stack)
    with pytest.raises(CriStageError) as e:
        real.exec(ctr, ["/no/such/program"])
    assert e.value.stage == "exec" and e.value.grpc_code == "Unknown"
    assert "no such file or directory" in e.value.runtime_message


def test_exec_timeout(real, stack):
    _, ctr = _running(real, stack)
    with pytest.raises(CriExecTimeout) as e:
        real.exec(ctr, ["sleep", "30"], timeout=1)
    assert e.value.timeout == 1


def test_logs(real, stack):
    _, ctr = _running(real, stack)
    logs = wait_for_logs(real, ctr, "warming")
    assert "started" in logs.stdout
    assert "warming" in logs.stderr


def test_stop_rm_stopp_rmp(real, stack):
    pod, ctr = _running(real, stack)
    real.stop(ctr, timeout=0)
    assert real.inspect(ctr).state == "CONTAINER_EXITED"
    real.rm(ctr)
    assert real.ps(pod=pod) == []
    real.stopp(pod)
    assert real.inspectp(pod).state == "SANDBOX_NOTREADY"
    real.rmp(pod)
    assert real.pods() == []


MISSING = "0" * 64


# containerd 2.x answers StopContainer and StopPodSandbox of an unknown ID with success:
# "The StopContainer RPC is idempotent" (containerd v2.4.2 internal/cri/server/
# container_stop.go StopContainer; sandbox_stop.go StopPodSandbox likewise); 1.6 says NotFound.
IDEMPOTENT_BUT_ON_16 = {"stop", "stopp"}


@pytest.mark.parametrize("op", ["stop", "rm", "stopp", "rmp", "inspect", "inspectp"])
def test_operations_on_missing_objects(real, stack, op):
    if stack.flavor != "1.6" and op in IDEMPOTENT_BUT_ON_16:
        getattr(real, op)(MISSING)  # crictl prints the ID / "Stopped sandbox": accepted
        return
    with pytest.raises(CriStageError) as e:
        getattr(real, op)(MISSING)
    err = e.value
    assert err.stage == op
    assert err.grpc_code == "NotFound", err.crictl_message
    assert "not found" in err.runtime_message
    assert "unable to remove" not in err.runtime_message


def test_pods_and_ps_are_filtered_by_the_run_id(real, stack):
    other = stack.client()
    try:
        mine, _ = _running(real, stack, "mine")
        theirs = other.runp(stack.pod_spec("theirs"))
        assert [p.id for p in real.pods()] == [mine.id]
        assert [p.id for p in other.pods()] == [theirs.id]
        assert {p.id for p in real.pods(all_runs=True)} >= {mine.id, theirs.id}
        assert [c.name for c in real.ps()] == ["c"]
        assert other.ps() == []
    finally:
        other.cleanup()


def test_cleanup_removes_one_run_only(real, stack):
    other = stack.client()
    try:
        _running(real, stack, "mine")
        theirs = other.runp(stack.pod_spec("theirs"))
        assert real.cleanup() == []
        assert real.pods() == [] and real.ps() == []
        assert [p.id for p in other.pods()] == [theirs.id]
        assert not (stack.folder / "runs" / real.run_id).exists()
    finally:
        other.cleanup()


def test_launch_one_by_one(real, stack):
    real.pull(stack.busybox)
    plan = Launch(stack.pod_spec("l"), container_spec=stack.ctr_spec("c"), start=True)
    real.launch([plan])
    assert plan.started and real.inspect(plan.container).state == "CONTAINER_RUNNING"


# --- the reconcile paths: the same pod or container asked for twice -----------------------
def test_runp_repeated_with_the_same_name_and_uid_is_refused_as_reserved(real, stack):
    spec = stack.pod_spec("twice")
    pod = real.runp(spec)
    with pytest.raises(CriStageError) as e:
        real.runp(spec)
    assert _RESERVED.search(e.value.runtime_message), e.value.runtime_message
    assert pod.id in e.value.runtime_message


def test_create_repeated_with_the_same_name_is_refused_as_reserved(real, stack):
    real.pull(stack.busybox)
    pod = real.runp(stack.pod_spec())
    ctr = real.create(pod, stack.ctr_spec("same"))
    with pytest.raises(CriStageError) as e:
        real.create(pod, stack.ctr_spec("same"))
    assert _RESERVED.search(e.value.runtime_message), e.value.runtime_message
    assert ctr.id in e.value.runtime_message


class LoseAnswers:
    """Runs each command for real, then loses the answer of the first one matching
    ``sub`` (a transient transport failure after the host did the work)."""

    def __init__(self, transport, sub: str):
        self._t = transport
        self.sub = sub
        self.lost = 0

    def __getattr__(self, name):
        return getattr(self._t, name)

    def run(self, command, **kw):
        result = self._t.run(command, **kw)
        if not self.lost and isinstance(command, list) and self.sub in command:
            self.lost += 1
            raise mark_transient(TransportError("connection reset after the command ran"))
        return result


@pytest.mark.parametrize("sub", ["runp", "create", "start"])
def test_a_lost_answer_is_reconciled_by_looking_not_by_running_again(stack, sub):
    client = stack.client(retry=RetryPolicy(attempts=3, base_delay=0, max_delay=0))
    client.transport = lossy = LoseAnswers(client.transport, sub)
    try:
        pod, ctr = _running(client, stack)
        assert lossy.lost == 1
        assert [p.id for p in client.pods()] == [pod.id]
        assert [c.id for c in client.ps()] == [ctr.id]
        assert client.inspect(ctr).state == "CONTAINER_RUNNING"
    finally:
        client.transport = lossy._t
        client.cleanup()


# --- what the real programs say their version is (harness/runtime/versions.py) -------------
def test_version_output_of_the_real_programs_is_read(real_tools):
    for version, path in real_tools.crictl.items():
        out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        assert parse_version_output(CRICTL, out) == version, out
    for version, spec in real_tools.containerd.items():
        if spec.get("config_version") != 3:
            continue  # Debian's build says "1.6.20~ds1": not a release the harness deploys
        out = subprocess.run([spec["bin"], "--version"], capture_output=True, text=True).stdout
        assert parse_version_output(CONTAINERD, out).split("+")[0] == version, out
