"""Admission: which HostProcess pods and containers the runtime accepts, and where it refuses.

Refusals surface at different stages (docs/behaviour/runtime.md §8 item 4): containerd's own
HostProcess equality check fails CreateContainer; the shim's checks fail RunPodSandbox (the
sandbox's annotations) or StartContainer (each container: the UVM capability gate).  Each
refusal is matched by the reference's text as a substring, since containerd adds its own
wrapping around the shim's words (§4.3).
"""

from __future__ import annotations

import pytest

from harness.plugin.api import (
    DISABLE_HOSTPROCESS_ANNOTATION,
    HOSTPROCESS_ANNOTATION,
    HYPERV,
    INHERIT_USER_ANNOTATION,
    ISOLATIONS,
    expect_refusal,
)

# Where the user is not the subject, the pod asks to inherit it: SYSTEM in both modes, set by
# the shim itself (docs/behaviour/runtime.md §2.5 in a UVM, §3.3 for a job container).
INHERIT = {INHERIT_USER_ANNOTATION: "true"}

# docs/behaviour/runtime.md §4.3 (containerd container_create.go:952-956)
HOST_PROCESS_MISMATCH = ("pod spec and all containers inside must have the HostProcess field "
                         "set to be valid")
# §1.3: the conflict text, both values as the spec carries them
DISABLE_CONFLICT = ('unable to process OCI Spec annotations: specified annotations conflict: '
                    'host process container annotations '
                    '"microsoft.com/disable-hostprocess-container" = "true" and '
                    '"microsoft.com/hostprocess-container" = "true"')
# §2.3 rule 1, §2.7
UVM_WITHOUT_CAPABILITY = "UVM does not support HostProcess containers"


@pytest.mark.reference("docs/behaviour/runtime.md §2.2")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_hpc_starts_in_an_hpc_pod(pods, isolation, placement):
    """An HPC in an HPC pod starts, on the host (process) or in the pod's UVM (hyperv).

    Pod: host_process, inherit-user.  Container: the probe image's idle command.
    Expected: the pod is ready, the container running, and where its isolation puts it
    (§2.2: a hypervisor pod boots a UVM even when it is an HPC pod; §3.4: a UVM's HPC is
    created in the UVM, a process-isolated one as a job object on the host).
    """
    pod = pods.run(isolation, annotations=INHERIT)
    state = pod.inspect().state
    assert state == "SANDBOX_READY", (
        f"{isolation}: an HPC pod must be ready after RunPodSandbox (§2.2); it is {state}")
    hpc = pods.start_long_running(pod)
    status = hpc.inspect()
    assert status.running, (
        f"{isolation}: an HPC in an HPC pod must be running (§2.2, §3.4); it is {status.state} "
        f"(exit code {status.exit_code}, {status.reason}: {status.message})")
    placement.check(hpc, isolation)


@pytest.mark.independent_of_uvm_support
@pytest.mark.reference("docs/behaviour/runtime.md §4.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_host_process_mismatch_is_refused_at_create(pods, isolation):
    """A non-HPC container in an HPC pod is refused at CreateContainer with containerd's text.

    Pod: host_process, inherit-user.  Container: host_process false.
    Expected: crictl create fails with "pod spec and all containers inside must have the
    HostProcess field set to be valid" (§4.3; §8 item 1: containerd refuses, not the shim).
    """
    pod = pods.run(isolation, annotations=INHERIT)
    with expect_refusal("create", f"{isolation}: a non-HPC container in an HPC pod (§4.3)") \
            as refused:
        pod.container(host_process=False).start()
    assert HOST_PROCESS_MISMATCH in refused.runtime_message, (
        f"{isolation}: a HostProcess mismatch must be refused with containerd's text (§4.3); "
        f"got: {refused.runtime_message}")


@pytest.mark.independent_of_uvm_support
@pytest.mark.reference("docs/behaviour/runtime.md §1.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_disable_hostprocess_conflict_is_refused_at_run_pod_sandbox(pods, isolation):
    """An HPC pod that also says disable-hostprocess-container is refused at RunPodSandbox.

    Pod: host_process, annotation microsoft.com/disable-hostprocess-container = "true".
    Expected: crictl runp fails with the shim's conflict text, both values quoted (§1.3:
    ProcessAnnotations runs on the sandbox spec too; §8 item 4).
    """
    with expect_refusal("runp", f"{isolation}: an HPC pod that disables HostProcess (§1.3)") \
            as refused:
        pods.run(isolation, annotations={DISABLE_HOSTPROCESS_ANNOTATION: "true"})
    assert DISABLE_CONFLICT in refused.runtime_message, (
        f"{isolation}: the disable-hostprocess conflict must be refused with the shim's exact "
        f"text (§1.3); got: {refused.runtime_message}")


@pytest.mark.reference("docs/behaviour/runtime.md §2.7")
@pytest.mark.parametrize("isolation", [HYPERV])  # no isolation marker: the host is chosen here
def test_uvm_without_capability_refuses_each_hpc_at_start(uvm_without_hpc_pods, isolation):
    """A UVM without HostProcess support starts the pod but refuses each HPC at start.

    Host: one whose UVMs lack HostProcessContainerSupported (Hyper-V on a build before 26100;
    the simulated setup's Windows Server 2022 side host, ``uvm_without_hpc_pods``).
    Pod: host_process, inherit-user, hypervisor isolation.  Containers: two HPCs, each started.
    Expected: the pod is ready; each HPC is created, then StartContainer fails with "UVM does
    not support HostProcess containers" (§2.3 rule 1: the gate runs per container at the
    shim's task create; §8 items 4-5).
    """
    pods = uvm_without_hpc_pods
    pod = pods.run(isolation, annotations=INHERIT)
    state = pod.inspect().state
    assert state == "SANDBOX_READY", (
        f"HV-HPC: a hypervisor HPC pod must start even when its UVM cannot run HPCs: the gate "
        f"is per container (§8 item 5); the pod is {state}")
    for name in ("first", "second"):
        with expect_refusal("start", f"HV-HPC: capability gate: container {name!r} in a UVM "
                            f"without HostProcess support on {pods.host.name} (§2.3 rule 1, "
                            f"§2.7)") as refused:
            pod.container(name=name).start()
        assert UVM_WITHOUT_CAPABILITY in refused.runtime_message, (
            f"HV-HPC: container {name!r} must be refused with {UVM_WITHOUT_CAPABILITY!r} "
            f"(§2.3 rule 1); got: {refused.runtime_message}")


@pytest.mark.independent_of_uvm_support  # a normal pod: no HPC, in a UVM or not
@pytest.mark.reference("docs/behaviour/runtime.md §1.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_hostprocess_annotation_True_does_not_make_an_hpc(pods, isolation, pod_network):
    """``hostprocess-container: "True"`` (capital T) on a normal pod does not make an HPC.

    Pod: host_process false, annotation microsoft.com/hostprocess-container = "True".
    Container: host_process false, the same annotation, ``ping -t 127.0.0.1``.
    Expected: the runtime specs of the sandbox and of the container carry "false" (§1.3:
    only the exact string "true" makes a job container; §4.3: containerd writes the value
    from host_process after the passthrough, so a hand-written one never counts).
    """
    pod = pods.run(isolation, host_process=False, annotations={HOSTPROCESS_ANNOTATION: "True"})
    container = pod.container(host_process=False, command=["ping", "-t", "127.0.0.1"],
                              annotations={HOSTPROCESS_ANNOTATION: "True"})
    sandbox_value = pod.inspect().runtime_spec_annotations.get(HOSTPROCESS_ANNOTATION)
    container_value = container.inspect().runtime_spec_annotations.get(HOSTPROCESS_ANNOTATION)
    assert (sandbox_value, container_value) == ("false", "false"), (
        f'{isolation}: "True" must not make an HPC (§1.3, §4.3): the runtime specs carry '
        f"{HOSTPROCESS_ANNOTATION} = {sandbox_value!r} (sandbox), {container_value!r} "
        f"(container)")
