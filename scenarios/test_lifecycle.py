"""Lifecycle: stopping, removing, exec after stop, and logs of HPCs.

A killed process-isolated HPC exits with code 1 (the job object is terminated with 1,
docs/behaviour/runtime.md §3.3, tested upstream in §5.3); what a stopped HPC in a UVM reports
is not in the reference, so the profile decides.  After StopContainer containerd answers an
exec with a refusal rather than running or hanging; after RemoveContainer / RemovePodSandbox
the runtime no longer knows the object (crictl gets ``NotFound``).
"""

from __future__ import annotations

import pytest

from harness.plugin.api import INHERIT_USER_ANNOTATION, ISOLATIONS, expect_refusal

# Where the user is not the subject, the pod asks to inherit it: SYSTEM in both modes, set by
# the shim itself (docs/behaviour/runtime.md §2.5 in a UVM, §3.3 for a job container).
INHERIT = {INHERIT_USER_ANNOTATION: "true"}

# crictl's gRPC codes when it got no answer at all: a hang or a dead runtime, not a refusal
# (docs/behaviour/ecosystem.md §3.4).
NO_ANSWER = ("Unavailable", "DeadlineExceeded")


@pytest.mark.reference("docs/behaviour/runtime.md §3.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_stop_ends_a_running_hpc(pods, isolation, placement, expect):
    """StopContainer ends a running HPC with a failure exit code that stays put.

    Pod: host_process, inherit-user.  Container: the idle HPC, running.  Action: crictl stop.
    Expected: state CONTAINER_EXITED; a non-zero exit code (the process was killed, it did
    not complete: docs/behaviour/runtime.md §9.4), reason ``Error``, the same in a second
    inspect; the profile's ``<isolation>.stop.exit_code`` (1 for a job container, §3.3
    Terminate; the exact value for an HPC in a UVM is not known).
    """
    pod = pods.run(isolation, annotations=INHERIT)
    hpc = pods.start_long_running(pod)
    placement.check(hpc, isolation)
    hpc.stop()
    status = hpc.inspect()
    assert status.exited, f"{isolation}: a stopped HPC must be CONTAINER_EXITED; it is " \
                          f"{status.state}"
    assert status.exit_code != 0 and status.reason == "Error", (
        f"{isolation}: exit code lost: a stopped HPC was killed and must report a non-zero "
        f"exit code with reason Error (§9.4); it reports exit code {status.exit_code}, "
        f"reason {status.reason!r}")
    again = hpc.inspect()
    assert (again.exit_code, again.reason) == (status.exit_code, status.reason), (
        f"{isolation}: a stopped HPC's exit code must stay put (§9.4): {status.exit_code} "
        f"then {again.exit_code}")
    expect.check(f"{isolation}.stop.exit_code", status.exit_code)


@pytest.mark.reference("docs/behaviour/ecosystem.md §3.4")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_exec_after_stop_fails_cleanly(pods, isolation, placement, expect):
    """An exec into a stopped HPC is refused at once, not run and not left hanging.

    Pod: host_process, inherit-user.  Container: the idle HPC, stopped.  Command: exec ``whoami``.
    Expected: crictl exec fails with a runtime refusal (a gRPC status other than
    Unavailable / DeadlineExceeded); the refusal's text is the profile's
    ``cri.exec_after_stop.message``.
    """
    pod = pods.run(isolation, annotations=INHERIT)
    hpc = pods.start_long_running(pod)
    placement.check(hpc, isolation)
    hpc.stop()
    with expect_refusal("exec", f"{isolation}: an exec into a stopped HPC") as refused:
        hpc.exec(["whoami"], timeout=30)
    assert refused.grpc_code not in NO_ANSWER, (
        f"{isolation}: an exec into a stopped HPC must be refused, not time out "
        f"({refused.grpc_code}: {refused.runtime_message})")
    expect.check("cri.exec_after_stop.message", refused.runtime_message,
                 normalize=_exited_state)


def _exited_state(message: str) -> str:
    """containerd names the container's state in its refusal; keep only that part."""
    return "container is in CONTAINER_EXITED state" \
        if "container is in CONTAINER_EXITED state" in message else message


@pytest.mark.reference("docs/behaviour/ecosystem.md §3.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_remove_forgets_a_stopped_hpc(pods, isolation, placement):
    """RemoveContainer of a stopped HPC removes it: inspect then gets NotFound.

    Pod: host_process, inherit-user.  Container: the idle HPC, stopped, then removed.
    Expected: crictl inspect of its ID fails with gRPC NotFound; the pod is still ready.
    """
    pod = pods.run(isolation, annotations=INHERIT)
    hpc = pods.start_long_running(pod)
    placement.check(hpc, isolation)
    hpc.stop()
    hpc.remove()
    with expect_refusal("inspect", f"{isolation}: inspect of a removed HPC") as gone:
        hpc.inspect()
    assert gone.grpc_code == "NotFound", (
        f"{isolation}: a removed HPC must be unknown to the runtime (NotFound); got "
        f"{gone.grpc_code}: {gone.runtime_message}")
    state = pod.inspect().state
    assert state == "SANDBOX_READY", (
        f"{isolation}: removing a container must leave its pod ready "
        f"(docs/behaviour/ecosystem.md §3.3); the pod is {state}")


@pytest.mark.reference("docs/behaviour/ecosystem.md §3.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_stop_and_remove_an_hpc_pod(pods, isolation, placement):
    """StopPodSandbox ends the pod's HPCs; RemovePodSandbox forgets the pod.

    Pod: host_process, inherit-user, with the idle HPC running.  Actions: crictl stopp, then rmp.
    Expected: after stopp the pod is SANDBOX_NOTREADY and the HPC exited; after rmp, crictl
    inspectp of its ID fails with gRPC NotFound.
    """
    pod = pods.run(isolation, annotations=INHERIT)
    hpc = pods.start_long_running(pod)
    placement.check(hpc, isolation)
    pod.stop()
    status = pod.inspect()
    assert not status.ready, f"{isolation}: a stopped pod must be SANDBOX_NOTREADY; it is " \
                             f"{status.state}"
    assert hpc.inspect().exited, f"{isolation}: stopping the pod must end its HPCs"
    pod.remove()
    with expect_refusal("inspectp", f"{isolation}: inspectp of a removed pod") as gone:
        pod.inspect()
    assert gone.grpc_code == "NotFound", (
        f"{isolation}: a removed pod must be unknown to the runtime (NotFound); got "
        f"{gone.grpc_code}: {gone.runtime_message}")


@pytest.mark.reference("docs/behaviour/ecosystem.md §1.4")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_logs_hold_the_hpcs_output(pods, isolation, placement, wait_for_exit):
    """An HPC's standard output and standard error reach its container log.

    Pod: host_process, inherit-user.  Container: command
    ``cmd /c echo hpc-e2e to stdout & echo hpc-e2e to stderr 1>&2``.
    Expected: exit 0; crictl logs shows both lines (docs/behaviour/ecosystem.md §1.4: containerd's
    test expects ``hello\\r\\n`` from ``cmd /c echo hello``; §3.3 of the same file).
    """
    pod = pods.run(isolation, annotations=INHERIT)
    hpc = pod.container(command=["cmd", "/c", "echo", "hpc-e2e", "to", "stdout", "&",
                                 "echo", "hpc-e2e", "to", "stderr", "1>&2"])
    hpc.start()
    status = wait_for_exit(hpc)
    assert status.exit_code == 0, f"{isolation}: the logging HPC must exit 0; exited " \
                                  f"{status.exit_code} ({status.message})"
    log = hpc.logs()
    for line, stream in (("hpc-e2e to stdout", "stdout"), ("hpc-e2e to stderr", "stderr")):
        assert line in log, (
            f"{isolation}: {stream} lost: {line!r}, written to {stream}, must be in the "
            f"container log (docs/behaviour/ecosystem.md §1.4, §3.3); the log is {log!r}")
    placement.check(pod, isolation)
