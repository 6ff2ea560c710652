"""The CRI client end to end against the simulated host, over WinRM, in both isolation modes.

The runtime is deployed exactly as on a lab host (the sim bundle through
``harness.runtime.deploy``), then every stage of a pod's life goes through crictl.exe on the
host.  Expectations come from reference/: HostProcess pods are host-network, so the CRI
shows no IP (docs/behaviour/ecosystem.md §0.4, §2.2); containerd stamps
``microsoft.com/hostprocess-container`` from the pod's ``host_process`` (§0.3); ``exec -s``
reports the command's exit code in its error text (§3.4); each refusal surfaces at the
stage docs/behaviour/runtime.md §8.4 names, with containerd's or the shim's text.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlparse

import pytest

from harness.config.secrets import Secret
from harness.config.target import Target, WinRMOptions
from harness.cri import (
    HOSTPROCESS_ANNOTATION,
    RUN_ID_LABEL,
    ContainerSpec,
    Crictl,
    CriExecTimeout,
    CriStageError,
    PodSpec,
)
from harness.transport.winrm import WinRMTransport

IMAGE = "mcr.microsoft.com/windows/nanoserver:ltsc2025"
PROCESS = "runhcs-wcow-process"
HYPERVISOR = "runhcs-wcow-hypervisor"
ISOLATIONS = [pytest.param(PROCESS, id="process"), pytest.param(HYPERVISOR, id="hypervisor")]
# docs/behaviour/runtime.md §4.3 (containerd container_create.go:952-956)
HPC_MISMATCH = "pod spec and all containers inside must have the HostProcess field set to be valid"
# docs/behaviour/runtime.md §8.7
UNSAFE_PATH = "unsafe path detected"
# docs/behaviour/runtime.md §2.2 / §8.5
UVM_GATE = "UVM does not support HostProcess containers"
# A process-isolated HPC logs on as its user; nanoserver's image user has no password to
# log on with, so name a service account (docs/behaviour/ecosystem.md §2.1; docs/behaviour/runtime.md §8.11).
SYSTEM = "NT AUTHORITY\\SYSTEM"
KEEP_RUNNING = ["cmd", "/c", "ping", "-t", "127.0.0.1"]  # docs/behaviour/ecosystem.md §2.1's container


def _target(host) -> Target:
    ep = json.loads(host.endpoint_file.read_text())
    return Target(name="sim-cri", address="127.0.0.1", port=urlparse(ep["winrm_url"]).port,
                  transport="winrm", user=ep["user"],
                  password=Secret.from_file(ep["password_file"]),
                  winrm=WinRMOptions(scheme="https", auth="ntlm", ca_bundle=ep["ca_bundle"]))


def _deployed(tmp_path_factory, flavor=None):
    """A simulated WS2025 host with Containers and Hyper-V, the sim bundle deployed."""
    from harness.runtime.bundle import load_bundle
    from harness.cri.runtime_access import crictl_runtime_access
    from harness.runtime.deploy import deploy
    from harness.runtime.layout import RuntimeLayout
    from harness.sim.bundle import write_sim_bundle
    from harness.sim.host import SimHost
    from harness.sim.hostmodel import HostProfile
    from harness.windows import WindowsHost

    profile = HostProfile(features={"Hyper-V": "Installed", "Containers": "Installed"},
                          hypervisor_present=True)
    bundle = load_bundle(write_sim_bundle(tmp_path_factory.mktemp("bundle")))
    with SimHost(tmp_path_factory.mktemp("sim"), ssh_port=None, profile=profile,
                 flavor=flavor) as host, WinRMTransport(_target(host)) as transport:
        deploy(WindowsHost(transport), bundle, cri=crictl_runtime_access)
        layout = RuntimeLayout.for_bundle(bundle)
        # create does not pull (pull-image-on-create: false; docs/behaviour/ecosystem.md §3.2)
        Crictl(transport, crictl_path=layout.crictl_exe, config_path=layout.crictl_yaml).pull(IMAGE)
        yield transport, layout


def _client(runtime):
    transport, layout = runtime
    client = Crictl(transport, crictl_path=layout.crictl_exe, config_path=layout.crictl_yaml)
    yield client
    problems = client.cleanup()
    assert not problems, f"cleanup of run {client.run_id} failed: {problems}"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    yield from _deployed(tmp_path_factory)


@pytest.fixture(scope="module")
def no_capability_runtime(tmp_path_factory):
    yield from _deployed(tmp_path_factory, flavor="no-capability")


@pytest.fixture
def crictl(runtime):
    yield from _client(runtime)


@pytest.fixture
def no_capability_crictl(no_capability_runtime):
    yield from _client(no_capability_runtime)


def hpc_pod(name: str, **kw) -> PodSpec:
    kw.setdefault("run_as_username", SYSTEM)
    return PodSpec(name, host_process=True, **kw)


def hpc_container(name: str = "c0", **kw) -> ContainerSpec:
    kw.setdefault("command", KEEP_RUNNING)
    kw.setdefault("run_as_username", SYSTEM)
    return ContainerSpec(name, IMAGE, host_process=True, **kw)


def test_runtime_answers_through_crictl(crictl):
    version = crictl.version()
    assert version.runtime_name == "containerd"
    assert version.runtime_version.lstrip("v").startswith("1.7.")
    info = crictl.info()
    assert info.runtime_ready


@pytest.mark.parametrize("handler", ISOLATIONS)
def test_full_pod_lifecycle(crictl, handler):
    assert crictl.pull(IMAGE).startswith("sha256:")

    pod = crictl.runp(hpc_pod("life"), runtime_handler=handler)
    status = crictl.inspectp(pod)
    assert status.id == pod.id and status.ready
    assert status.runtime_handler == handler
    assert status.labels[RUN_ID_LABEL] == crictl.run_id
    assert status.ip == "" and status.additional_ips == []  # host network: §0.4
    assert status.runtime_spec_annotations[HOSTPROCESS_ANNOTATION] == "true"  # §0.3

    ctr = crictl.create(pod, hpc_container())
    assert crictl.inspect(ctr).state == "CONTAINER_CREATED"
    crictl.start(ctr)
    running = crictl.inspect(ctr)
    assert running.running and running.started_at is not None and running.finished_at is None
    assert running.sandbox_id == pod.id
    assert running.runtime_spec_annotations[HOSTPROCESS_ANNOTATION] == "true"

    hello = crictl.exec(ctr, ["cmd", "/c", "echo", "hello"])
    assert (hello.exit_code, hello.stdout, hello.stderr) == (0, "hello\r\n", "")
    failed = crictl.exec(ctr, ["cmd", "/c", "exit", "3"])
    assert failed.exit_code == 3 and failed.stdout_discarded

    assert [p.id for p in crictl.pods()] == [pod.id]
    assert [c.id for c in crictl.ps()] == [ctr.id]

    crictl.stop(ctr, timeout=0)
    stopped = crictl.inspect(ctr)
    assert stopped.exited and stopped.finished_at is not None
    crictl.rm(ctr)
    assert crictl.ps() == []
    with pytest.raises(CriStageError) as gone:
        crictl.inspect(ctr)
    assert gone.value.stage == "inspect"

    crictl.stopp(pod)
    assert crictl.inspectp(pod).state == "SANDBOX_NOTREADY"
    crictl.rmp(pod)
    assert crictl.pods() == []


@pytest.mark.parametrize("handler", ISOLATIONS)
def test_host_process_mismatch_is_refused_at_create(crictl, handler):
    pod = crictl.runp(hpc_pod("mismatch"), runtime_handler=handler)
    with pytest.raises(CriStageError) as refused:
        crictl.create(pod, ContainerSpec("plain", IMAGE, command=KEEP_RUNNING))
    assert refused.value.stage == "create"
    assert HPC_MISMATCH in refused.value.runtime_message
    assert refused.value.result.exit_code == 1


def test_empty_rootfs_location_is_refused_at_start_in_a_uvm(crictl):
    # docs/behaviour/runtime.md §8.7 (the text) and §8.4 (StartContainer, not create)
    pod = crictl.runp(hpc_pod("rootfs", annotations={
        "microsoft.com/hostprocess-rootfs-location": ""}), runtime_handler=HYPERVISOR)
    ctr = crictl.create(pod, hpc_container())
    with pytest.raises(CriStageError) as refused:
        crictl.start(ctr)
    assert refused.value.stage == "start"
    assert UNSAFE_PATH in refused.value.runtime_message
    assert refused.value.object_id == ctr.id


def test_uvm_without_the_capability_refuses_each_hpc_at_start(no_capability_crictl):
    crictl = no_capability_crictl
    # §8.5: the pod starts fine, each container start then fails, the shim's text inside
    # containerd's "failed to create containerd task" (§4.3)
    pod = crictl.runp(hpc_pod("gate"), runtime_handler=HYPERVISOR)
    assert crictl.inspectp(pod).ready
    ctr = crictl.create(pod, hpc_container())
    with pytest.raises(CriStageError) as refused:
        crictl.start(ctr)
    assert refused.value.stage == "start"
    assert UVM_GATE in refused.value.runtime_message
    assert refused.value.runtime_message.startswith("failed to create containerd task")
    # process isolation has no UVM and no gate
    host_pod = crictl.runp(hpc_pod("gate-host"), runtime_handler=PROCESS)
    host_ctr = crictl.create(host_pod, hpc_container())
    crictl.start(host_ctr)
    assert crictl.inspect(host_ctr).running


@pytest.mark.parametrize("handler", ISOLATIONS)
def test_exec_reports_the_commands_own_exit_code(crictl, handler):
    pod = crictl.runp(hpc_pod("exit"), runtime_handler=handler)
    ctr = crictl.create(pod, hpc_container())
    crictl.start(ctr)
    missing = crictl.exec(ctr, ["no-such-program.exe"])
    # the shim wraps execs in cmd /c, so a missing binary is cmd's 9009 (§8.9)
    assert missing.exit_code == 9009
    assert "is not recognized" in missing.stderr
    echoed = crictl.exec(ctr, ["cmd", "/c", "echo out& echo err 1>&2"])
    assert echoed.exit_code == 0 and echoed.stdout == "out\r\n" and echoed.stderr == "err \r\n"


def test_exec_timeout_is_a_timeout(crictl):
    pod = crictl.runp(hpc_pod("slow"), runtime_handler=PROCESS)
    ctr = crictl.create(pod, hpc_container())
    crictl.start(ctr)
    with pytest.raises(CriExecTimeout) as late:
        crictl.exec(ctr, KEEP_RUNNING, timeout=1)
    assert late.value.stage == "exec" and late.value.timeout == 1
    assert crictl.exec(ctr, ["cmd", "/c", "echo", "still-here"]).stdout == "still-here\r\n"


def test_exec_in_a_stopped_container_is_refused_at_exec(crictl):
    pod = crictl.runp(hpc_pod("stopped"), runtime_handler=PROCESS)
    ctr = crictl.create(pod, hpc_container())
    crictl.start(ctr)
    crictl.stop(ctr, timeout=0)
    with pytest.raises(CriStageError) as refused:
        crictl.exec(ctr, ["cmd", "/c", "echo", "x"])
    assert refused.value.stage == "exec"
    assert refused.value.grpc_code is not None and refused.value.runtime_message


def test_unknown_handler_is_refused_at_runp(crictl):
    with pytest.raises(CriStageError) as refused:
        crictl.runp(hpc_pod("nohandler"), runtime_handler="no-such-handler")
    assert refused.value.stage == "runp"
    assert "no-such-handler" in refused.value.runtime_message
    assert crictl.pods() == []


def test_init_output_reaches_the_log(crictl):
    pod = crictl.runp(hpc_pod("logs", log_directory=crictl.remote_dir + "\\logs"),
                      runtime_handler=PROCESS)
    ctr = crictl.create(pod, hpc_container(command=["cmd", "/c", "echo", "from-init"],
                                           log_path="c0.log"))
    crictl.start(ctr)
    deadline = time.monotonic() + 30
    while (status := crictl.inspect(ctr)).running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status.exited and status.exit_code == 0
    assert "from-init" in crictl.logs(ctr).stdout


def test_everything_created_carries_the_run_label(crictl):
    pod = crictl.runp(hpc_pod("labels", labels={"suite": "cri"}), runtime_handler=PROCESS)
    ctr = crictl.create(pod, hpc_container(labels={"suite": "cri"}))
    assert crictl.inspectp(pod).labels == {"suite": "cri", RUN_ID_LABEL: crictl.run_id}
    assert crictl.inspect(ctr).labels == {"suite": "cri", RUN_ID_LABEL: crictl.run_id}
    assert [p.id for p in crictl.pods(labels={"suite": "cri"})] == [pod.id]
    assert crictl.pods(labels={"suite": "other"}) == []
    other = Crictl(crictl.transport, crictl_path=crictl.crictl_path,
                   config_path=crictl.config_path)
    assert other.pods() == [] and other.ps() == []
    assert pod.id in [p.id for p in other.pods(all_runs=True)]
