"""The simulated containerd at the RPC level: which call fails, with which text, per flavor.

Most tests run the CRI model with a recording launcher instead of the guest model, so they
see exactly the process the shim hands over (the ``cmd /c`` wrap, the user, the working
directory) without depending on how the guest then runs it; a few run the real guest.
Expectations cite docs/behaviour/runtime.md (§) and
docs/behaviour/ecosystem.md (docs/behaviour/ecosystem.md §).
"""

from __future__ import annotations

import json
import time

import pytest

from harness.sim import guest
from harness.sim.cri import config as cfgmod
from harness.sim.cri.flavors import FlavorError, resolve_flavor
from harness.sim.cri.model import CONTAINER_EXITED, CONTAINER_RUNNING
from harness.sim.cri.runtime import CriError, CriRuntime
from harness.sim.cri.shim import effective_command_line
from harness.sim.hostmodel import HostProfile
from harness.sim.machine import ProcessContext
from harness.sim.process import SimProcess
from harness.sim.programs import standard_machine

NANO = {26100: "mcr.microsoft.com/windows/nanoserver:ltsc2025",
        20348: "mcr.microsoft.com/windows/nanoserver:ltsc2022"}
PROCESS, HYPERV = "runhcs-wcow-process", "runhcs-wcow-hypervisor"
IU = "microsoft.com/hostprocess-inherit-user"
RL = "microsoft.com/hostprocess-rootfs-location"
SYSTEM = "NT AUTHORITY\\SYSTEM"


def v2_config(*, allow: bool = True, sandbox_image: str = "registry.k8s.io/pause:3.10.2",
              extra_hv: str = "") -> str:
    """A version 2 file as the harness deploys it (both handlers, microsoft.com/* allowed)."""
    lists = ('  pod_annotations = ["microsoft.com/*", "io.microsoft.*"]\n'
             '  container_annotations = ["microsoft.com/*", "io.microsoft.*"]\n') if allow else ""
    p = 'plugins."io.containerd.grpc.v1.cri"'
    return (f'version = 2\n[{p}]\n  sandbox_image = "{sandbox_image}"\n'
            f'[{p}.containerd]\n  default_runtime_name = "{PROCESS}"\n'
            f'[{p}.containerd.runtimes.{PROCESS}]\n  runtime_type = "io.containerd.runhcs.v1"\n'
            f'{lists}'
            f'[{p}.containerd.runtimes.{HYPERV}]\n  runtime_type = "io.containerd.runhcs.v1"\n'
            f'{lists}{extra_hv}'
            f'[{p}.containerd.runtimes.{HYPERV}.options]\n  SandboxIsolation = 1\n')


class Recorder:
    """A launcher standing in for the guest: records each process; an init process runs
    until terminated, an exec prints ``<user>|<command line>|<cwd>`` and exits 0."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __call__(self, machine, container, process, *, flavor, init):
        self.calls.append((container, process))
        is_init = process is container.init_process

        def factory(stdin, stdout, stderr, cancel):
            return ProcessContext(machine=machine, command_line="", argv=[], env={},
                                  cwd="C:\\", stdin=stdin, stdout=stdout, stderr=stderr,
                                  cancelled=cancel)

        def program(ctx):
            if is_init:
                ctx.stdout.write("init started\r\n")
                ctx.sleep(3600)
                return 0
            if process.args and process.args[-1] == "hang":
                ctx.sleep(3600)
            ctx.stdout.write(f"{process.user}|{effective_command_line(process)}|"
                             f"{process.cwd}\r\n")
            return 0
        return SimProcess(factory, program, "recorded")


def make(config_text: str | None = None, *, build: int = 26100, version: str = "1.7.22",
         flavor=None, launcher=None, bindflt: bool = True):
    machine = standard_machine(profile=HostProfile(build=build))
    if bindflt:
        machine.fs.write_bytes("C:\\Windows\\System32\\bindfltapi.dll", b"MZ")
    loaded = cfgmod.load(config_text, "C:\\cfg\\config.toml", version)
    rec = launcher if launcher is not None else Recorder()
    rt = CriRuntime(machine, loaded.cri, version=version, flavor=flavor,
                    plugin_error=loaded.plugin_error, launcher=rec)
    return rt, rec


def pod_config(name="p", *, hpc=True, annotations=None, run_as=""):
    sc = {"host_process": hpc}
    if run_as:
        sc["run_as_username"] = run_as
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "attempt": 1},
            "annotations": annotations or {}, "labels": {"suite": "hpc-e2e"},
            "windows": {"security_context": sc}}


def ctr_config(image, *, hpc=True, command=("ping", "-t", "127.0.0.1"), annotations=None,
               run_as="", working_dir=""):
    sc = {"host_process": hpc}
    if run_as:
        sc["run_as_username"] = run_as
    cfg = {"metadata": {"name": "c0"}, "image": {"image": image}, "command": list(command),
           "annotations": annotations or {}, "windows": {"security_context": sc}}
    if working_dir:
        cfg["working_dir"] = working_dir
    return cfg


def run(rt, handler, *, pod=None, ctr=None, build=26100, start=True):
    """Pull, runp, create (and start); returns (pod id, container id)."""
    image = NANO[build]
    rt.pull_image(image)
    pod = pod or pod_config()
    pod_id = rt.run_pod_sandbox(pod, handler)
    cid = rt.create_container(pod_id, ctr or ctr_config(image), pod)
    if start:
        rt.start_container(cid)
    return pod_id, cid


def with_cni(rt):
    """A nat network config, as non-HPC pods need one (docs/behaviour/ecosystem.md §2.5)."""
    rt.machine.fs.makedirs(rt.config.cni_conf_dir)
    rt.machine.fs.write_bytes(rt.config.cni_conf_dir + "\\0-containerd-nat.conf", json.dumps(
        {"cniVersion": "0.2.0", "name": "nat", "type": "nat",
         "ipam": {"subnet": "172.19.208.0/20"}}).encode())


def exec_line(rt, cid, argv):
    result = rt.exec_sync(cid, argv, 10)
    assert result.exit_code == 0, result
    return result.stdout.decode().strip().split("|")


# --- images ---------------------------------------------------------------------------------
def test_pull_list_and_inspect_images():
    rt, _ = make(v2_config())
    for ref in ("mcr.microsoft.com/windows/nanoserver:ltsc2022",
                "mcr.microsoft.com/windows/servercore:ltsc2025", "hpc-e2e/probe:ltsc2025"):
        image_id = rt.pull_image(ref)
        assert image_id.startswith("sha256:")
    refs = {tag for i in rt.list_images() for tag in i["repoTags"]}
    assert "docker.io/hpc-e2e/probe:ltsc2025" in refs  # docker reference normalization
    status = rt.image_status("hpc-e2e/probe:ltsc2025")
    assert status["image"]["username"] == "ContainerUser"
    assert rt.image_status("mcr.microsoft.com/windows/nanoserver:1809") is None


def test_probe_image_holds_marker_and_rootfs_only_programs():
    from hpc_images.model import load_spec

    rt, _ = make(v2_config())
    rt.pull_image("hpc-e2e/probe:ltsc2022")
    image = rt.images.get("hpc-e2e/probe:ltsc2022")
    spec = load_spec()
    assert image.files[spec.marker_path] == spec.marker_bytes(20348)
    assert b"ltsc2022" in image.files[spec.marker_path]
    assert image.files["probe-whoami.exe"] == image.files["Windows\\System32\\whoami.exe"]
    assert image.files["probe-hello.cmd"].startswith(b"@echo off")
    assert image.uvm_os_build == 20348


def test_unknown_image_pull_is_not_found():
    rt, _ = make(v2_config())
    with pytest.raises(CriError) as info:
        rt.pull_image("busybox")
    assert info.value.code == "NotFound"
    assert info.value.message == (
        'failed to pull and unpack image "docker.io/library/busybox:latest": failed to '
        'resolve reference "docker.io/library/busybox:latest": '
        "docker.io/library/busybox:latest: not found")


@pytest.mark.parametrize("tag,build,uvm_build", [
    ("3.10.2", 26100, 26100), ("3.10.1", 26100, 20348), ("3.10.2", 20348, 20348)])
def test_pause_image_decides_the_uvm_build(tag, build, uvm_build):
    # §7 / docs/behaviour/ecosystem.md §4.4: pause 3.10.2 is the first with a WS2025 manifest
    rt, _ = make(v2_config(sandbox_image=f"registry.k8s.io/pause:{tag}"), build=build)
    pod_id = rt.run_pod_sandbox(pod_config(), HYPERV)
    uvm = rt.pods[pod_id].uvm
    assert uvm.os_build == uvm_build
    assert uvm.hpc_capable is (uvm_build >= 26100)  # [inference §2.7]


# --- RunPodSandbox --------------------------------------------------------------------------
@pytest.mark.parametrize("handler,isolation", [(PROCESS, "process"), (HYPERV, "hyperv")])
def test_hpc_pod_has_no_ip_and_stamped_annotation(handler, isolation):
    rt, _ = make(v2_config())
    pod_id = rt.run_pod_sandbox(pod_config(), handler)
    status = rt.pod_sandbox_status(pod_id)
    assert status["status"]["network"] == {"ip": "", "additionalIps": []}  # §6, docs/behaviour/ecosystem.md §0.4
    assert status["status"]["state"] == "SANDBOX_READY"
    assert status["info"]["cniResult"] is None
    assert status["info"]["runtimeSpec"]["annotations"][
        "microsoft.com/hostprocess-container"] == "true"
    assert rt.pods[pod_id].isolation == isolation
    assert (rt.pods[pod_id].uvm is not None) == (isolation == "hyperv")
    assert status["info"]["runtimeOptions"].get("SandboxIsolation") == (
        1 if isolation == "hyperv" else None)


def test_non_hpc_pod_needs_cni():
    rt, _ = make(v2_config())
    with pytest.raises(CriError) as info:
        rt.run_pod_sandbox(pod_config(hpc=False), PROCESS)
    assert info.value.message.startswith('failed to setup network for sandbox "')
    assert "cni plugin not initialized" in info.value.message
    assert rt.status()["status"]["conditions"][1]["status"] is False
    with_cni(rt)
    pod_id = rt.run_pod_sandbox(pod_config(hpc=False), PROCESS)  # same name: released
    assert rt.pod_sandbox_status(pod_id)["status"]["network"]["ip"].startswith("172.19.")


def test_pod_name_is_reserved():
    rt, _ = make(v2_config())
    first = rt.run_pod_sandbox(pod_config(), PROCESS)
    with pytest.raises(CriError) as info:
        rt.run_pod_sandbox(pod_config(), PROCESS)
    assert info.value.message == (f'failed to reserve sandbox name "p_default_uid-p_1": name '
                                  f'"p_default_uid-p_1" is reserved for "{first}"')


@pytest.mark.parametrize("version,message", [
    ("1.7.22", 'failed to get sandbox runtime: no runtime for "nope" is configured'),
    ("2.0.4", ('unable to get OCI runtime for sandbox "{id}": no runtime for "nope" is '
              "configured"))])
def test_unknown_handler(version, message):
    rt, _ = make(None, version=version)
    with pytest.raises(CriError) as info:
        rt.run_pod_sandbox(pod_config(), "nope")
    assert info.value.message.startswith(message.split("{id}")[0])
    assert info.value.message.endswith('no runtime for "nope" is configured')


@pytest.mark.parametrize("version,prefix,suffix", [
    ("1.7.22", "failed to create containerd task: failed to create shim task: ", ": unknown"),
    ("2.1.0", 'failed to start sandbox "', '"microsoft.com/hostprocess-container" = "true"')])
def test_disable_annotation_on_hpc_pod_fails_run_pod_sandbox(version, prefix, suffix):
    # §1.3: ProcessAnnotations also runs for the sandbox spec; §8 item 4: RunPodSandbox
    text = v2_config() if version.startswith("1.") else v2_config().replace(
        "version = 2", "version = 2")  # containerd 2.x migrates a version 2 file
    rt, _ = make(text, version=version)
    pod = pod_config(annotations={"microsoft.com/disable-hostprocess-container": "1"})
    with pytest.raises(CriError) as info:
        rt.run_pod_sandbox(pod, PROCESS)
    msg = info.value.message
    assert info.value.code == "Unknown"
    assert msg.startswith(prefix) and msg.endswith(suffix)
    assert ('unable to process OCI Spec annotations: specified annotations conflict: host '
            'process container annotations "microsoft.com/disable-hostprocess-container" = "1" '
            'and "microsoft.com/hostprocess-container" = "true"') in msg
    assert rt.list_pod_sandboxes() == []


def test_disable_unsafe_operations_expands_at_start_container():
    rt, _ = make(v2_config())
    image = NANO[26100]
    ctr = ctr_config(image, annotations={"io.microsoft.disable-unsafe-operations": "true"})
    _, cid = run(rt, HYPERV, ctr=ctr, start=False)  # CreateContainer succeeds
    with pytest.raises(CriError) as info:
        rt.start_container(cid)
    assert info.value.message == (
        "failed to create containerd task: failed to create shim task: unable to process OCI "
        "Spec annotations: specified annotations conflict: host process container annotations "
        '"microsoft.com/disable-hostprocess-container" = "true" and '
        '"microsoft.com/hostprocess-container" = "true": unknown')


# --- CreateContainer --------------------------------------------------------------------------
@pytest.mark.parametrize("pod_hpc,ctr_hpc", [(True, False), (False, True)])
def test_host_process_mismatch_fails_create_container(pod_hpc, ctr_hpc):
    # §4.3: containerd's own check, at CreateContainer (§8 item 1)
    rt, _ = make(v2_config())
    with_cni(rt)
    rt.pull_image(NANO[26100])
    pod = pod_config(hpc=pod_hpc)
    pod_id = rt.run_pod_sandbox(pod, HYPERV)
    with pytest.raises(CriError) as info:
        rt.create_container(pod_id, ctr_config(NANO[26100], hpc=ctr_hpc), pod)
    assert info.value.message.startswith('failed to generate container "')
    assert info.value.message.endswith('" spec: pod spec and all containers inside must have '
                                       "the HostProcess field set to be valid")
    assert rt.list_containers() == []


def test_create_container_errors():
    rt, _ = make(v2_config())
    with pytest.raises(CriError) as info:
        rt.create_container("feedface", ctr_config(NANO[26100]), pod_config())
    assert (info.value.code, info.value.message) == (
        "NotFound", 'failed to find sandbox id "feedface": not found')
    pod_id = rt.run_pod_sandbox(pod_config(), PROCESS)
    with pytest.raises(CriError) as info:
        rt.create_container(pod_id, ctr_config(NANO[26100]), pod_config())
    assert info.value.message == f'failed to resolve image "{NANO[26100]}": not found'


def test_hostprocess_annotation_cannot_be_set_by_hand():
    # docs/behaviour/ecosystem.md §0.3: containerd stamps hostprocess-container from the pod, after passthrough
    rt, rec = make(v2_config())
    rt.pull_image(NANO[26100])
    with_cni(rt)
    pod = pod_config(hpc=False, annotations={"microsoft.com/hostprocess-container": "true"})
    pod_id = rt.run_pod_sandbox(pod, HYPERV)
    ctr = ctr_config(NANO[26100], hpc=False,
                     annotations={"microsoft.com/hostprocess-container": "true"})
    cid = rt.create_container(pod_id, ctr, pod)
    assert rt.containers[cid].annotations["microsoft.com/hostprocess-container"] == "false"
    rt.start_container(cid)
    assert rt.containers[cid].is_hpc is False
    assert rec.calls[0][1].args == ["ping", "-t", "127.0.0.1"]  # not wrapped


@pytest.mark.parametrize("working_dir,hpc,expected", [
    ("", True, "C:\\hpc"), ("C:\\work", True, "C:\\work")])
def test_working_dir_default_for_hpc(working_dir, hpc, expected):
    # §1.4 [ctrd]: config, then image, then C:\hpc for an HPC
    rt, _ = make(v2_config())
    _, cid = run(rt, HYPERV, ctr=ctr_config(NANO[26100], working_dir=working_dir),
                 start=False)
    assert rt.containers[cid].working_dir == expected
    assert rt.container_status(cid)["info"]["runtimeSpec"]["process"]["cwd"] == expected


# --- annotation allowlists --------------------------------------------------------------------
@pytest.mark.parametrize("allow,user", [(False, "ContainerUser"), (True, SYSTEM)])
def test_allowlist_decides_whether_inherit_user_arrives(allow, user):
    # §4.3 / §8 item 2: without microsoft.com/* the annotation is silently dropped
    text = v2_config(allow=allow)
    rt, rec = make(text)
    pod = pod_config(annotations={IU: "true"})
    pod_id, cid = run(rt, HYPERV, pod=pod)
    assert (IU in rt.pods[pod_id].annotations) is allow
    assert rec.calls[0][1].user == user
    assert exec_line(rt, cid, ["whoami"])[0] == user


def test_builtin_defaults_drop_microsoft_annotations():
    rt, _ = make(None)  # no config file: containerd's Windows defaults (§4.3)
    ann = {IU: "true", RL: "C:\\x", "io.microsoft.virtualmachine.computetopology.processor."
           "count": "2"}
    pod_id = rt.run_pod_sandbox(pod_config(annotations=ann), HYPERV)
    kept = rt.pods[pod_id].annotations
    assert IU not in kept and RL not in kept
    assert kept["io.microsoft.virtualmachine.computetopology.processor.count"] == "2"


# --- StartContainer: the shim's rules and their stage -----------------------------------------
def test_hv_hpc_init_and_exec_are_wrapped():
    # §2.5: init and every exec; cmd itself is not wrapped again
    rt, rec = make(v2_config())
    _, cid = run(rt, HYPERV)
    init = rec.calls[0][1]
    assert init.args == ["cmd", "/c", "ping", "-t", "127.0.0.1"]
    assert exec_line(rt, cid, ["whoami"])[1] == "cmd /c whoami"
    assert exec_line(rt, cid, ["CMD.EXE", "/c", "echo", "hi"])[1] == "CMD.EXE /c echo hi"
    assert exec_line(rt, cid, ["probe-hello.cmd"])[1] == "cmd /c probe-hello.cmd"
    c = rt.containers[cid]
    assert c.uvm is rt.pods[c.pod.id].uvm and not c.host_job
    assert c.rootfs_location is None  # the guest picks its default (§1.4)


def test_pi_hpc_goes_to_the_host_job_unwrapped_by_the_shim():
    # §3.4: PI-HPC is a job container on the host; its cmd /c comes from jobcontainers
    rt, rec = make(v2_config())
    pod = pod_config(annotations={IU: "true"})
    _, cid = run(rt, PROCESS, pod=pod)
    c = rt.containers[cid]
    assert c.host_job and c.uvm is None and c.rootfs_location == "C:\\hpc\\"
    assert rec.calls[0][1].args == ["ping", "-t", "127.0.0.1"]
    assert rec.calls[0][1].user == SYSTEM  # the shim's own token (§3.3)


def test_exec_user_follows_inherit_user_and_run_as():
    rt, _ = make(v2_config())
    ctr = ctr_config(NANO[26100], run_as="NT AUTHORITY\\Local service")
    _, cid = run(rt, HYPERV, ctr=ctr)
    assert exec_line(rt, cid, ["whoami"])[0] == "NT AUTHORITY\\Local service"
    rt2, _ = make(v2_config())
    ctr = ctr_config(NANO[26100], run_as="someone", annotations={IU: "true"})
    _, cid = run(rt2, HYPERV, ctr=ctr)
    assert exec_line(rt2, cid, ["whoami"])[0] == SYSTEM  # overrides (§2.5 table)


def test_pod_rootfs_location_wins_and_is_sanitised():
    rt, _ = make(v2_config())
    pod = pod_config(annotations={RL: "C:/custom/rootfs/"})
    ctr = ctr_config(NANO[26100], annotations={RL: "C:\\ignored"})
    _, cid = run(rt, HYPERV, pod=pod, ctr=ctr)
    assert rt.containers[cid].rootfs_location == "C:\\custom\\rootfs"  # Clean'ed (§2.4)


@pytest.mark.parametrize("value", ["", "C:\\Windows\\hpc", "\\\\server\\share", "rel\\dir"])
def test_unsafe_rootfs_fails_start_not_create(value):
    # §2.4, §8 items 4 and 7
    rt, _ = make(v2_config())
    pod = pod_config(annotations={RL: value})
    pod_id, cid = run(rt, HYPERV, pod=pod, start=False)
    with pytest.raises(CriError) as info:
        rt.start_container(cid)
    assert info.value.message == ("failed to create containerd task: failed to create shim "
                                  "task: unsafe path detected: unknown")
    status = rt.container_status(cid)["status"]
    assert (status["state"], status["exitCode"], status["reason"]) == (
        CONTAINER_EXITED, 128, "StartError")
    assert status["message"] == info.value.message
    assert rt.pod_sandbox_status(pod_id)["status"]["state"] == "SANDBOX_READY"


def test_pi_hpc_rootfs_location_is_not_sanitised():
    rt, _ = make(v2_config())
    pod = pod_config(annotations={IU: "true", RL: "C:\\Windows\\x"})
    _, cid = run(rt, PROCESS, pod=pod)
    assert rt.containers[cid].rootfs_location == "C:\\Windows\\x"
    rt2, _ = make(v2_config())
    _, cid = run(rt2, PROCESS, pod=pod_config(annotations={IU: "true", RL: ""}))
    assert rt2.containers[cid].rootfs_location == "C:\\hpc\\"  # empty means default


def test_pi_hpc_relative_rootfs_location_fails_start_loudly():
    # Not sanitised (§8.7), but a volume cannot be bound at a relative path: the start fails
    # with a modelled error (ASSUMPTIONS.md), never a sim crash.
    rt, _ = make(v2_config(), launcher=guest.launch)
    pod = pod_config(annotations={IU: "true", RL: "hpc-e2e\\rootfs"})
    _, cid = run(rt, PROCESS, pod=pod, start=False)
    with pytest.raises(CriError) as info:
        rt.start_container(cid)
    assert "volume label syntax is incorrect" in info.value.message
    assert "internal error" not in info.value.message


def test_capability_gate_fails_each_start_but_not_the_pod():
    # §8 item 5: ltsc2022 pause -> UVM without the capability; per container, not per pod
    rt, _ = make(v2_config(sandbox_image="registry.k8s.io/pause:3.10.1"))
    pod_id, cid = run(rt, HYPERV, start=False)
    assert rt.pods[pod_id].uvm.hpc_capable is False
    ctr = ctr_config(NANO[26100])
    ctr["metadata"]["name"] = "c1"
    second = rt.create_container(pod_id, ctr, pod_config())
    for container_id in (cid, second):
        with pytest.raises(CriError) as info:
            rt.start_container(container_id)
        assert info.value.message == ("failed to create containerd task: failed to create "
                                      "shim task: UVM does not support HostProcess containers: "
                                      "unknown")
    assert rt.pod_sandbox_status(pod_id)["status"]["state"] == "SANDBOX_READY"


def test_containerd_2_does_not_append_unknown():
    rt, _ = make(None, version="2.1.0")
    rt.pull_image(NANO[26100])
    rt.config.handlers[HYPERV]  # built-ins merged
    pod_id, cid = run(rt, HYPERV, start=False, pod=pod_config())
    rt.pods[pod_id].uvm.hpc_capable = False
    with pytest.raises(CriError) as info:
        rt.start_container(cid)
    assert info.value.message == ("failed to create containerd task: failed to create shim "
                                  "task: UVM does not support HostProcess containers")


# --- PI-HPC users (§3.3) ------------------------------------------------------------------------
def test_pi_hpc_without_inherit_user_logs_on_the_image_user():
    rt, _ = make(v2_config())
    _, cid = run(rt, PROCESS, start=False)
    with pytest.raises(CriError) as info:
        rt.start_container(cid)
    # the stage is task Start, not task create
    assert info.value.message == (
        f'failed to start containerd task "{cid}": failed to create user process token: '
        "failed to logon user: The user name or password is incorrect.: unknown")


@pytest.mark.parametrize("run_as,account", [
    ("NT AUTHORITY\\Local service", "NT AUTHORITY\\LOCAL SERVICE"),
    ("NT AUTHORITY\\System", SYSTEM)])
def test_pi_hpc_service_accounts(run_as, account):
    # [ctrd] containerd's test: these two succeed (§3.3)
    rt, _rec = make(v2_config())
    _, cid = run(rt, PROCESS, ctr=ctr_config(NANO[26100], run_as=run_as))
    assert rt.containers[cid].user == account
    assert exec_line(rt, cid, ["whoami"])[0] == account  # execs reuse the token


@pytest.mark.parametrize("run_as,text", [
    ("Guest", "This user can't sign in because this account is currently disabled."),
    ("nt authority\\system", "The user name or password is incorrect.")])
def test_pi_hpc_logon_failures(run_as, text):
    rt, _ = make(v2_config())
    _, cid = run(rt, PROCESS, ctr=ctr_config(NANO[26100], run_as=run_as), start=False)
    with pytest.raises(CriError) as info:
        rt.start_container(cid)
    assert info.value.message.endswith(f"failed to logon user: {text}: unknown")


def test_pi_hpc_group_gets_a_temporary_user():
    rt, _ = make(v2_config())
    _, cid = run(rt, PROCESS, ctr=ctr_config(NANO[26100], run_as="Administrators"))
    assert rt.containers[cid].user == f"{rt.machine.computer_name}\\{cid[:20]}"
    assert cid[:20] in rt.machine.users


# --- ExecSync, stop, remove --------------------------------------------------------------------
def test_exec_errors_and_timeout():
    rt, _ = make(v2_config())
    _, cid = run(rt, HYPERV)
    with pytest.raises(CriError) as info:
        rt.exec_sync("0000", ["whoami"], 5)
    assert (info.value.code, info.value.message) == (
        "NotFound", ('failed to exec in container: failed to find container "0000" in store: '
                    "not found"))
    started = time.monotonic()
    with pytest.raises(CriError) as info:
        rt.exec_sync(cid, ["hang"], 1)
    assert time.monotonic() - started < 5
    assert (info.value.code, info.value.message) == (
        "DeadlineExceeded",
        "failed to exec in container: timeout 1s exceeded: context deadline exceeded")
    rt.stop_container(cid, 0)
    with pytest.raises(CriError) as info:
        rt.exec_sync(cid, ["whoami"], 5)
    assert info.value.message == ("failed to exec in container: container is in "
                                  "CONTAINER_EXITED state")


@pytest.mark.parametrize("handler,code", [(PROCESS, 1), (HYPERV, 1067)])
def test_stop_exit_codes_and_removal(handler, code):
    # §3.3: killing a job container's init process gives exit code 1
    rt, _ = make(v2_config())
    pod = pod_config(annotations={IU: "true"})
    pod_id, cid = run(rt, handler, pod=pod)
    assert rt.container_status(cid)["status"]["state"] == CONTAINER_RUNNING
    with pytest.raises(CriError, match="container is still running, to stop first"):
        rt.remove_container(cid)
    rt.stop_container(cid, 0)
    status = rt.container_status(cid)["status"]
    assert (status["state"], status["exitCode"]) == (CONTAINER_EXITED, code)
    assert b"init started" in rt.container_log(cid)
    rt.stop_pod_sandbox(pod_id)
    rt.remove_pod_sandbox(pod_id)
    rt.remove_pod_sandbox(pod_id)  # idempotent
    rt.stop_container(cid, 0)
    assert rt.list_containers() == [] and rt.list_pod_sandboxes() == []


def test_list_filters():
    rt, _ = make(v2_config())
    pod_id, cid = run(rt, HYPERV)
    assert [p["id"] for p in rt.list_pod_sandboxes({"label_selector": {"suite": "hpc-e2e"}})] \
        == [pod_id]
    assert rt.list_pod_sandboxes({"label_selector": {"suite": "other"}}) == []
    assert [c["id"] for c in rt.list_containers({"pod_sandbox_id": pod_id[:8]})] == [cid]
    assert rt.list_containers({"state": {"state": "CONTAINER_EXITED"}}) == []


# --- flavors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("flavor,user", [("pre-fix", "NT AUTHORITY\\LOCAL SERVICE"),
                                          ("current", SYSTEM)])
def test_pre_fix_runs_a_hypervisor_hpc_on_the_host(flavor, user):
    # b07af140d^: createContainer sends every job container to jobcontainers.Create, and a
    # hypervisor pod re-applies no pod annotation (containerd's copy loses to the container's)
    rt, rec = make(v2_config(), flavor=flavor)
    pod = pod_config(annotations={IU: "true"})
    ctr = ctr_config(NANO[26100], run_as="NT AUTHORITY\\Local service",
                     annotations={IU: "false"})
    _, cid = run(rt, HYPERV, pod=pod, ctr=ctr)
    c = rt.containers[cid]
    if flavor == "pre-fix":
        assert c.host_job and c.uvm is None and c.rootfs_location == "C:\\hpc\\"
        assert rec.calls[0][1].args == ["ping", "-t", "127.0.0.1"]  # no wrap
        assert exec_line(rt, cid, ["whoami"])[:2] == [user, "whoami"]
    else:
        assert not c.host_job and c.uvm is not None
        assert exec_line(rt, cid, ["whoami"])[:2] == [user, "cmd /c whoami"]
    assert c.shim_annotations[IU] == ("false" if flavor == "pre-fix" else "true")


def test_pre_fix_has_no_capability_gate_and_no_sanitise():
    rt, _ = make(v2_config(sandbox_image="registry.k8s.io/pause:3.10.1"), flavor="pre-fix")
    pod = pod_config(annotations={RL: ""})
    _, cid = run(rt, HYPERV, pod=pod, ctr=ctr_config(NANO[26100], annotations={IU: "true"}))
    assert rt.containers[cid].state == CONTAINER_RUNNING


def test_no_capability_flavor():
    rt, _ = make(v2_config(), flavor="no-capability")
    pod_id, cid = run(rt, HYPERV, start=False)
    assert rt.pods[pod_id].uvm.os_build == 26100 and not rt.pods[pod_id].uvm.hpc_capable
    with pytest.raises(CriError, match="UVM does not support HostProcess containers"):
        rt.start_container(cid)
    rt2, _ = make(v2_config(), flavor="no-capability")
    _, cid = run(rt2, PROCESS, pod=pod_config(annotations={IU: "true"}))  # PI-HPC unaffected
    assert rt2.containers[cid].state == CONTAINER_RUNNING


def test_flavor_from_a_file(tmp_path):
    path = tmp_path / "nowrap.py"
    path.write_text(
        "from harness.sim.cri.flavors import Flavor\n"
        "class NoWrap(Flavor):\n"
        "    name = 'no-wrap'\n"
        "    def isolated_job_process(self, task_annotations, process, *, init):\n"
        "        return process\n"
        "FLAVOR = NoWrap()\n")
    rt, _ = make(v2_config(), flavor=str(path))
    assert rt.flavor.name == "no-wrap"
    _, cid = run(rt, HYPERV)
    assert exec_line(rt, cid, ["whoami"])[1] == "whoami"
    bad = tmp_path / "bad.py"
    bad.write_text("FLAVOR = 1\n")
    with pytest.raises(FlavorError, match="must define FLAVOR"):
        resolve_flavor(str(bad))
    with pytest.raises(FlavorError, match="unknown runtime flavor"):
        resolve_flavor("newest")


def test_a_runtime_without_a_launcher_fails_the_start_loudly():
    # The guest is handed to the CRI model (harness/sim/cri/launch.py); a runtime built
    # without one must not look as if its containers ran.
    rt, _ = make(v2_config())
    rt._launcher = None
    _, cid = run(rt, PROCESS, pod=pod_config(annotations={IU: "true"}), start=False)
    with pytest.raises(CriError) as info:
        rt.start_container(cid)
    assert "no guest model" in info.value.message
    assert rt.container_status(cid)["status"]["state"] != CONTAINER_RUNNING


def test_machine_flavor_is_used():
    machine = standard_machine(profile=HostProfile(build=26100), flavor="pre-fix")
    rt = CriRuntime(machine, cfgmod.default_config("1.7.22"), launcher=Recorder())
    assert rt.flavor.name == "pre-fix"


# --- config.toml --------------------------------------------------------------------------------
def test_v2_file_replaces_builtin_handlers_on_1_7():
    text = ('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.'
            'runhcs-wcow-process]\n  runtime_type = "io.containerd.runhcs.v1"\n')
    cri = cfgmod.load(text, "c.toml", "1.7.22").cri
    assert list(cri.handlers) == [PROCESS]
    cri2 = cfgmod.load(text.replace("version = 2", "version = 3").replace(
        '"io.containerd.grpc.v1.cri"', "'io.containerd.cri.v1.runtime'"), "c.toml", "2.0.4").cri
    assert set(cri2.handlers) == {PROCESS, HYPERV}  # merged with the built-ins on 2.x


def test_v3_merges_fields_of_a_builtin_handler():
    text = ("version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes."
            "runhcs-wcow-hypervisor]\n  pod_annotations = ['microsoft.com/*']\n"
            "[plugins.'io.containerd.cri.v1.images'.pinned_images]\n"
            "  sandbox = 'registry.k8s.io/pause:3.10.2'\n")
    cri = cfgmod.load(text, "c.toml", "2.1.0").cri
    h = cri.handlers[HYPERV]
    assert h.pod_annotations == ("microsoft.com/*",) and h.hypervisor
    assert cri.sandbox_image == "registry.k8s.io/pause:3.10.2"


def test_config_version_rules():
    with pytest.raises(cfgmod.ConfigError) as info:
        cfgmod.load("version = 3\n", "C:\\c.toml", "1.7.22")
    assert str(info.value) == "failed to load TOML from C:\\c.toml: unsupported config version `3`"
    with pytest.raises(cfgmod.ConfigError, match="expected containerd config version equal to "
                                                  "or less than `3`, got `4`"):
        cfgmod.load("version = 4\n", "C:\\c.toml", "2.0.0")
    with pytest.raises(cfgmod.ConfigError, match='invalid plugin key URI "cri"'):
        cfgmod.load("version = 2\n[plugins.cri]\n", "c", "1.7.22")
    # docs/behaviour/ecosystem.md §7: without version the file is version 1 and the v2 table is ignored
    loaded = cfgmod.load('[plugins."io.containerd.grpc.v1.cri".containerd]\n'
                         'default_runtime_name = "x"\n', "c", "1.7.22")
    assert loaded.cri.default_runtime_name == PROCESS and loaded.warnings


def test_bad_default_runtime_disables_cri_but_not_containerd():
    text = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n' \
           'default_runtime_name = "missing"\n'
    loaded = cfgmod.load(text, "c", "1.7.22")
    assert loaded.cri is None and "default_runtime_name" in loaded.plugin_error
    rt, _ = make(text)
    with pytest.raises(CriError) as info:
        rt.run_pod_sandbox(pod_config(), PROCESS)
    assert (info.value.code, info.value.message) == (
        "Unimplemented", "unknown service runtime.v1.RuntimeService")
    with pytest.raises(CriError, match="runtime.v1.ImageService"):
        rt.pull_image(NANO[26100])


def test_options_only_by_go_field_name():
    # docs/behaviour/ecosystem.md §7: sandbox_isolation is dropped, so the handler stays process-isolated
    text = v2_config().replace("SandboxIsolation = 1", "sandbox_isolation = 1")
    rt, _ = make(text)
    pod_id = rt.run_pod_sandbox(pod_config(), HYPERV)
    assert rt.pods[pod_id].isolation == "process" and rt.pods[pod_id].uvm is None


def test_syntax_and_type_errors():
    with pytest.raises(cfgmod.ConfigError) as info:
        cfgmod.load("version = 2\n[plugins\n", "C:\\c.toml", "1.7.22")
    assert str(info.value).startswith("failed to load TOML: C:\\c.toml: (2, ")
    assert not info.value.at_plugin_init
    with pytest.raises(cfgmod.ConfigError) as info:
        cfgmod.load('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.'
                    'x]\npod_annotations = "microsoft.com/*"\n', "c", "1.7.22")
    assert info.value.at_plugin_init


# --- the containerd.exe program -----------------------------------------------------------------
def _containerd_machine(version="1.7.22", config_text=None):
    from harness.sim.bundle import placeholder
    from harness.sim.programs import containerd as prog

    machine = standard_machine(profile=HostProfile(build=26100))
    prog.install(machine)
    machine.fs.makedirs("C:\\ctrd")
    machine.fs.write_bytes("C:\\ctrd\\containerd.exe", placeholder("sim:containerd", version))
    machine.fs.write_bytes("C:\\ctrd\\containerd-shim-runhcs-v1.exe",
                           placeholder("sim:containerd-shim-runhcs-v1", "0.15.0"))
    if config_text is not None:
        machine.fs.write_bytes("C:\\ctrd\\config.toml", config_text.encode())
    return machine


def _run(machine, line, timeout=5):
    p = machine.spawn(line, shell=False)
    out, err = b"", b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        o, e, done = p.read_output(65536, 0.2)
        out, err = out + o, err + e
        if done:
            break
    return p.exit_code, out.decode(), err.decode()


@pytest.mark.parametrize("version,package", [
    ("1.7.22", "github.com/containerd/containerd"),
    ("2.0.4", "github.com/containerd/containerd/v2")])
def test_containerd_version_output(version, package):
    code, out, _ = _run(_containerd_machine(version), "C:\\ctrd\\containerd.exe --version")
    assert code == 0
    parts = out.split()
    assert parts[:3] == ["containerd", package, f"v{version}"]
    assert len(parts[3]) == 40 and out.endswith("\n")


def test_shim_version_output():
    from harness.runtime.versions import parse_version_output

    code, out, _ = _run(_containerd_machine(),
                        "C:\\ctrd\\containerd-shim-runhcs-v1.exe --version")
    assert code == 0 and out.startswith("containerd-shim-runhcs-v1 version v0.15.0\n")
    assert parse_version_output("containerd-shim-runhcs-v1", out) == "0.15.0"


def test_register_run_stop_and_unregister_service():
    machine = _containerd_machine(config_text=v2_config())
    line = ("C:\\ctrd\\containerd.exe --register-service --log-file C:\\ctrd\\containerd.log "
            "--config C:\\ctrd\\config.toml")
    assert _run(machine, line)[0] == 0
    svc = machine.services.query("containerd")
    assert svc.display_name == "Containerd" and svc.start_type == "Automatic"
    assert svc.binary_path == ("C:\\ctrd\\containerd.exe --run-service --log-file "
                               "C:\\ctrd\\containerd.log --config C:\\ctrd\\config.toml")
    code, _, err = _run(machine, line)
    assert code == 1 and "The specified service already exists." in err
    machine.services.start("containerd")
    machine.services.wait("containerd", "Running", 5)
    assert machine.cri is not None and machine.cri.config.handlers[HYPERV].hypervisor
    machine.services.stop("containerd")
    machine.services.wait("containerd", "Stopped", 5)
    assert machine.cri is None
    log = machine.fs.read_bytes("C:\\ctrd\\containerd.log").decode()
    assert 'level=info msg="starting containerd"' in log and "version=v1.7.22" in log
    assert _run(machine, "C:\\ctrd\\containerd.exe --unregister-service")[0] == 0
    assert not machine.services.exists("containerd")


def test_bad_config_refuses_to_start():
    machine = _containerd_machine(config_text="version = 2\n[plugins\n")
    code, _, err = _run(machine, "C:\\ctrd\\containerd.exe --config C:\\ctrd\\config.toml")
    assert code == 1
    assert err.startswith("containerd: failed to load TOML: C:\\ctrd\\config.toml: (2, ")
    assert machine.cri is None
    code, _, err = _run(machine, "C:\\ctrd\\containerd.exe --config C:\\ctrd\\missing.toml")
    assert code == 1 and "The system cannot find the file specified." in err


def test_foreground_containerd_serves_until_terminated():
    machine = _containerd_machine(config_text=v2_config())
    p = machine.spawn("C:\\ctrd\\containerd.exe --config C:\\ctrd\\config.toml", shell=False)
    deadline = time.monotonic() + 5
    while machine.cri is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert machine.cri is not None and machine.cri.version()["runtimeVersion"] == "v1.7.22"
    p.terminate()
    p.wait(5)
    assert machine.cri is None


def test_unknown_flag_fails_loudly():
    code, _, err = _run(_containerd_machine(), "C:\\ctrd\\containerd.exe --frobnicate")
    assert code == 1 and "flag provided but not defined: -frobnicate" in err


# --- with the real guest ------------------------------------------------------------------------
def test_real_guest_hv_hpc_whoami_and_no_network():
    machine = standard_machine(profile=HostProfile(build=26100))
    guest.install(machine)
    rt = CriRuntime(machine, cfgmod.load(v2_config(), "c", "1.7.22").cri, launcher=guest.launch)
    pod = pod_config(annotations={IU: "true"})
    _, cid = run(rt, HYPERV, pod=pod)
    result = rt.exec_sync(cid, ["whoami"], 10)
    assert result.stdout.decode().strip().lower() == "nt authority\\system"
    assert rt.exec_sync(cid, ["hostname"], 10).stdout.decode().strip() != machine.name
    echo = rt.exec_sync(cid, ["echo", "hello"], 10)  # a builtin works thanks to the wrap
    assert echo.stdout == b"hello\r\n"
    rt.close()


def test_grpc_address_comes_from_the_file():
    loaded = cfgmod.load('version = 2\n[grpc]\n  address = "\\\\\\\\.\\\\pipe\\\\other"\n', "c",
                         "1.7.22")
    assert loaded.address == "\\\\.\\pipe\\other"
    assert cfgmod.load("version = 2\n", "c", "1.7.22").address is None


@pytest.mark.parametrize("file_version,containerd", [(2, "1.7.22"), (3, "2.1.0")])
def test_the_harness_config_loads_with_hpc_annotations_allowed(file_version, containerd):
    rendering = pytest.importorskip("harness.runtime.containerd_config")
    from harness.runtime.layout import RuntimeLayout

    layout = RuntimeLayout(install_dir="C:\\p", containerd_exe="C:\\p\\containerd.exe",
                           shim_exe="C:\\p\\shim.exe", crictl_exe="C:\\p\\crictl.exe",
                           cni_bin_dir="C:\\p\\cni\\bin", cni_conf_dir="C:\\p\\cni\\conf",
                           config_toml="C:\\p\\config.toml", crictl_yaml="C:\\p\\crictl.yaml",
                           log_file="C:\\p\\containerd.log")
    text = rendering.ContainerdConfig(file_version, layout,
                                      "registry.k8s.io/pause:3.10.2").render()
    loaded = cfgmod.load(text, layout.config_toml, containerd)
    assert loaded.plugin_error is None
    for name in (PROCESS, HYPERV):
        h = loaded.cri.handlers[name]
        assert "microsoft.com/*" in h.pod_annotations + h.container_annotations
    assert loaded.cri.handlers[HYPERV].hypervisor and not loaded.cri.handlers[PROCESS].hypervisor
