"""Deploying a runtime bundle onto the simulated host over real WinRM.

Every expectation is read back from the host (its files, its service control manager, the
CRI answering on the pipe), never from what the harness meant to do.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from urllib.parse import urlparse

import pytest

from harness.config.secrets import Secret
from harness.cri.runtime_access import crictl_runtime_access
from harness.config.target import Target, WinRMOptions
from harness.runtime.bundle import CONTAINERD, CRICTL, SHIM, load_bundle, parse_bundle
from harness.runtime.containerd_config import HPC_ANNOTATIONS
from harness.runtime.deploy import RuntimeDeployError, deploy
from harness.runtime.layout import RuntimeLayout
from harness.cmdline import split_command_line
from harness.runtime.service import register_argv, service_matches
from harness.runtime.versions import parse_version_output
from harness.sim.bundle import write_sim_bundle
from harness.sim.host import SimHost
from harness.sim.hostmodel import HostProfile
from harness.transport.winrm import WinRMTransport
from harness.windows import WindowsHost

READY = {"Containers": "Installed", "Hyper-V": "Installed"}


def winrm_target(sim: SimHost) -> Target:
    ep = json.loads(sim.endpoint_file.read_text())
    return Target(name="sim", address="127.0.0.1", port=urlparse(ep["winrm_url"]).port,
                  transport="winrm", user=ep["user"],
                  password=Secret.from_file(ep["password_file"]),
                  winrm=WinRMOptions(scheme="https", auth="ntlm", ca_bundle=ep["ca_bundle"]))


class Counting:
    """Counts uploads through the transport, so "nothing was re-sent" is observed."""

    def __init__(self, transport):
        self.transport = transport
        self.puts: list[str] = []
        original = transport.put

        def put(local, remote, **kwargs):
            self.puts.append(remote)
            return original(local, remote, **kwargs)

        transport.put = put


@pytest.fixture
def env(tmp_path):
    """A started sim host with Containers and Hyper-V installed, a WindowsHost and uploads counted."""
    sim = SimHost(tmp_path / "sim", ssh_port=None,
                  profile=HostProfile(features=dict(READY))).start()
    transport = WinRMTransport(winrm_target(sim))
    counter = Counting(transport)
    host = WindowsHost(transport)
    try:
        yield sim, host, counter
    finally:
        transport.close()
        sim.stop()


def sim_bundle(tmp_path, name="b", **kwargs):
    return load_bundle(write_sim_bundle(tmp_path / name, **kwargs))


def host_text(sim, path) -> str:
    with sim.machine.fs.open(path, "rb") as f:
        return f.read().decode("utf-8")


def service_pid(sim, host) -> int:
    info = host.services.query("containerd")
    assert info is not None
    return info.pid


# --- a fresh host ---------------------------------------------------------------------------
def test_first_deployment_installs_registers_starts_and_reports(env, tmp_path):
    sim, host, counter = env
    bundle = sim_bundle(tmp_path)
    layout = RuntimeLayout.for_bundle(bundle)
    summary = deploy(host, bundle, cri=crictl_runtime_access)

    actions = {(c.item, c.action) for c in summary.changes}
    assert {("containerd.exe", "uploaded"), ("containerd-shim-runhcs-v1.exe", "uploaded"),
            ("crictl.exe", "uploaded"), ("nat.exe", "uploaded"), ("config.toml", "written"),
            ("crictl.yaml", "written"), ("0-containerd-nat.conf", "written"),
            ("service containerd", "registered"), ("service containerd", "started")} == actions
    assert summary.changed and summary.runtime_ready
    nat_conf = layout.cni_conf_dir + "\\0-containerd-nat.conf"
    assert sorted(counter.puts) == sorted([layout.containerd_exe, layout.shim_exe,
                                           layout.crictl_exe, layout.config_toml,
                                           layout.crictl_yaml, nat_conf,
                                           layout.cni_bin_dir + "\\nat.exe"])
    # The pod network names the host's HNS nat network (HostProfile.nat_network).
    conf = json.loads(host_text(sim, nat_conf))
    assert (conf["type"], conf["ipam"]["subnet"], conf["ipam"]["routes"]) == \
        ("nat", "172.27.96.0/20", [{"gateway": "172.27.96.1"}])
    # The programs on the host are the bundle's bytes.
    for artifact in bundle.all_artifacts():
        with sim.machine.fs.open(layout.program_path(artifact), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == artifact.sha256
    # The config on the host is version 2 with microsoft.com/* on both handlers.
    config = tomllib.loads(host_text(sim, layout.config_toml))
    assert config["version"] == 2
    runtimes = config["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
    for handler in runtimes.values():
        assert HPC_ANNOTATIONS in handler["pod_annotations"]
        assert HPC_ANNOTATIONS in handler["container_annotations"]
    assert "timeout: 300" in host_text(sim, layout.crictl_yaml)
    # The service runs our containerd with our config and a log file.
    info = host.services.query("containerd")
    assert info.running
    assert service_matches(info.binary_path, layout).ok, info.binary_path
    assert summary.service_state == "running"
    assert sim.machine.cri is not None
    # Versions come from the programs themselves.
    reported = {v.artifact: v.reported for v in summary.versions}
    assert reported == {CONTAINERD: "1.7.22", SHIM: "0.15.0", CRICTL: "1.31.1"}
    assert all(v.matches for v in summary.versions)
    data = summary.to_dict()
    assert data["changed"] is True and data["bundle_digest"] == bundle.digest
    assert data["sandbox_image"] == "registry.k8s.io/pause:3.10.2"


def test_a_second_deployment_changes_nothing_and_sends_nothing(env, tmp_path):
    sim, host, counter = env
    deploy(host, sim_bundle(tmp_path), cri=crictl_runtime_access)
    pid = service_pid(sim, host)
    counter.puts.clear()
    # A bundle written afresh elsewhere: same bytes, so the same hashes.
    again = deploy(host, sim_bundle(tmp_path, "again"), cri=crictl_runtime_access)
    assert again.changes == [] and not again.changed
    assert counter.puts == []
    assert service_pid(sim, host) == pid, "containerd was restarted for nothing"
    assert again.runtime_ready and again.to_dict()["changed"] is False


# --- partial changes ----------------------------------------------------------------------------
def test_a_new_crictl_is_the_only_thing_sent_and_containerd_keeps_running(env, tmp_path):
    sim, host, counter = env
    deploy(host, sim_bundle(tmp_path), cri=crictl_runtime_access)
    pid = service_pid(sim, host)
    counter.puts.clear()
    summary = deploy(host, sim_bundle(tmp_path, "newer", versions={CRICTL: "1.32.0"}), cri=crictl_runtime_access)
    assert [(c.item, c.action) for c in summary.changes] == [("crictl.exe", "uploaded")]
    assert counter.puts == [RuntimeLayout.for_bundle(sim_bundle(tmp_path)).crictl_exe]
    assert service_pid(sim, host) == pid
    assert {v.artifact: v.reported for v in summary.versions}[CRICTL] == "1.32.0"


def test_containerd_2_gets_config_version_3_and_a_restart(env, tmp_path):
    sim, host, counter = env
    deploy(host, sim_bundle(tmp_path), cri=crictl_runtime_access)
    pid = service_pid(sim, host)
    counter.puts.clear()
    summary = deploy(host, sim_bundle(tmp_path, "two", versions={CONTAINERD: "2.0.4"}), cri=crictl_runtime_access)
    actions = [(c.item, c.action) for c in summary.changes]
    assert ("service containerd", "stopped") in actions
    assert ("containerd.exe", "uploaded") in actions
    assert ("config.toml", "written") in actions
    assert ("service containerd", "restarted") in actions
    assert actions.index(("service containerd", "stopped")) < \
        actions.index(("containerd.exe", "uploaded"))
    layout = RuntimeLayout.for_bundle(sim_bundle(tmp_path))
    assert counter.puts == [layout.containerd_exe, layout.config_toml]  # shim, crictl unchanged
    config = tomllib.loads(host_text(sim, layout.config_toml))
    assert config["version"] == 3
    assert "io.containerd.cri.v1.runtime" in config["plugins"]
    assert service_pid(sim, host) != pid
    assert {v.artifact: v.reported for v in summary.versions}[CONTAINERD] == "2.0.4"


def test_a_config_edited_on_the_host_is_put_back_and_containerd_restarted(env, tmp_path):
    sim, host, _counter = env
    bundle = sim_bundle(tmp_path)
    deploy(host, bundle, cri=crictl_runtime_access)
    layout = RuntimeLayout.for_bundle(bundle)
    pid = service_pid(sim, host)
    sim.machine.fs.write_bytes(layout.config_toml, b"version = 2\r\n")
    summary = deploy(host, bundle, cri=crictl_runtime_access)
    assert [(c.item, c.action) for c in summary.changes] == [
        ("config.toml", "written"), ("service containerd", "restarted")]
    assert service_pid(sim, host) != pid
    assert HPC_ANNOTATIONS in host_text(sim, layout.config_toml)


def test_a_stopped_containerd_is_started(env, tmp_path):
    sim, host, counter = env
    bundle = sim_bundle(tmp_path)
    deploy(host, bundle, cri=crictl_runtime_access)
    host.services.stop("containerd")
    counter.puts.clear()
    summary = deploy(host, bundle, cri=crictl_runtime_access)
    assert [(c.item, c.action) for c in summary.changes] == [("service containerd", "started")]
    assert counter.puts == []
    assert host.services.query("containerd").running
    assert sim.machine.cri is not None


# --- stale state -------------------------------------------------------------------------------
def test_a_stale_containerd_service_is_replaced_not_tripped_over(env, tmp_path):
    sim, host, _ = env
    old = sim_bundle(tmp_path, "old")
    # A previous installation: containerd in another folder, registered with its own config.
    stale_dir = r"C:\old-containerd"
    sim.machine.fs.makedirs(stale_dir)
    sim.machine.fs.write_bytes(stale_dir + r"\containerd.exe",
                               old.containerd.source.file.read_bytes())
    sim.machine.fs.write_bytes(stale_dir + r"\config.toml", b"version = 2\r\n")
    result = host.transport.run([stale_dir + r"\containerd.exe", "--register-service",
                                 "--config", stale_dir + r"\config.toml"])
    assert result.succeeded, result.stderr
    host.services.start("containerd")
    before = host.services.query("containerd")
    assert before.running and stale_dir.lower() in before.binary_path.lower()

    bundle = sim_bundle(tmp_path)
    layout = RuntimeLayout.for_bundle(bundle)
    summary = deploy(host, bundle, cri=crictl_runtime_access)
    actions = [(c.item, c.action) for c in summary.changes]
    assert ("service containerd", "stopped") in actions
    assert ("service containerd", "unregistered") in actions
    assert ("service containerd", "registered") in actions
    reason = next(c.detail for c in summary.changes if c.action == "unregistered")
    assert stale_dir in reason
    info = host.services.query("containerd")
    assert info.running and service_matches(info.binary_path, layout).ok
    assert summary.runtime_ready


def test_a_disabled_containerd_service_is_registered_again(env, tmp_path):
    sim, host, counter = env
    bundle = sim_bundle(tmp_path)
    deploy(host, bundle, cri=crictl_runtime_access)
    host.services.stop("containerd")
    host.services.set_start_type("containerd", "Disabled")
    counter.puts.clear()
    summary = deploy(host, bundle, cri=crictl_runtime_access)
    assert [(c.item, c.action, c.detail) for c in summary.changes if c.action != "started"] == [
        ("service containerd", "unregistered", "it is disabled"),
        ("service containerd", "registered", f"log {RuntimeLayout.for_bundle(bundle).log_file}")]
    info = host.services.query("containerd")
    assert info.running and info.start_type == "Automatic"
    assert counter.puts == [] and sim.machine.cri is not None


# --- refusals ------------------------------------------------------------------------------------
def test_an_installed_artifact_with_the_wrong_hash_stops_before_any_change(env, tmp_path):
    sim, host, counter = env
    sim.machine.fs.makedirs(r"C:\tools")
    sim.machine.fs.write_bytes(r"C:\tools\crictl.exe", b"some other crictl")
    base = tmp_path / "b"
    write_sim_bundle(base)
    raw = tomllib.loads((base / "bundle.toml").read_text())
    raw["artifacts"][CRICTL]["source"] = {"installed": r"C:\tools\crictl.exe"}
    bundle = parse_bundle(raw, source="b.toml", base_dir=base)
    with pytest.raises(RuntimeDeployError) as info:
        deploy(host, bundle, cri=crictl_runtime_access)
    text = str(info.value)
    assert r"C:\tools\crictl.exe has sha256 " + hashlib.sha256(b"some other crictl").hexdigest() \
        in text and bundle.crictl.sha256 in text
    assert counter.puts == []
    assert host.services.query("containerd") is None


def test_a_url_source_is_refused_loudly_by_a_host_without_network(env, tmp_path):
    sim, host, counter = env
    base = tmp_path / "b"
    write_sim_bundle(base)
    raw = tomllib.loads((base / "bundle.toml").read_text())
    raw["artifacts"][SHIM]["source"] = {"url": "https://downloads.example.test/shim.exe"}
    bundle = parse_bundle(raw, source="b.toml", base_dir=base)
    with pytest.raises(RuntimeDeployError, match=r"could not download https://downloads\."
                                                 r"example\.test/shim\.exe: .*no network"):
        deploy(host, bundle, cri=crictl_runtime_access)
    layout = RuntimeLayout.for_bundle(bundle)
    assert not sim.machine.fs.exists(layout.shim_exe)
    assert counter.puts == [], "downloads come first, so a failed one leaves nothing half-done"


# --- pure helpers ----------------------------------------------------------------------------------
def test_service_command_lines_are_recognised(tmp_path):
    layout = RuntimeLayout.for_bundle(sim_bundle(tmp_path))
    ours = (f'"{layout.containerd_exe}" --run-service --service-name containerd '
            f'--log-file "{layout.log_file}" --config "{layout.config_toml}"')
    assert service_matches(ours, layout).ok
    assert service_matches(ours.replace("--run-service ", ""), layout).reason == \
        "its command line has no --run-service"
    eq_form = (f'"{layout.containerd_exe}" --run-service --log-file={layout.log_file} '
               f'"--config={layout.config_toml}"')
    assert service_matches(eq_form, layout).ok
    other = ours.replace(layout.config_toml, r"C:\elsewhere\config.toml")
    assert r"C:\elsewhere\config.toml" in service_matches(other, layout).reason
    assert not service_matches(r"C:\old\containerd.exe --run-service", layout).ok
    assert register_argv(layout)[:2] == [layout.containerd_exe, "--register-service"]


@pytest.mark.parametrize("line, expected", [
    (r'"C:\Program Files\x.exe" a "b c" d\\"e', [r"C:\Program Files\x.exe", "a", "b c", 'd\\e']),
    (r'x.exe "a\"b" c\d', ["x.exe", 'a"b', r"c\d"]),
    ('x.exe ""', ["x.exe", ""]),
    (r'C:\a\x.exe --flag', [r"C:\a\x.exe", "--flag"]),
])
def test_split_command_line(line, expected):
    assert split_command_line(line) == expected


@pytest.mark.parametrize("artifact, output, version", [
    (CONTAINERD, "containerd github.com/containerd/containerd v1.7.22 7f7fdf5fed64\r\n", "1.7.22"),
    (CONTAINERD, "containerd github.com/containerd/containerd/v2 v2.0.4 1a43cb6a\n", "2.0.4"),
    (SHIM, "containerd-shim-runhcs-v1 version v0.13.0\ncommit: abc\nspec: 1.1.0\n", "0.13.0"),
    (SHIM, "containerd-shim-runhcs-v1 version commit: abc\nspec: 1.1.0\n", None),
    (CRICTL, "crictl version v1.31.1\n", "1.31.1"),
    (CRICTL, "something else\n", None),
])
def test_version_output_is_parsed(artifact, output, version):
    assert parse_version_output(artifact, output) == version


def test_a_host_without_a_nat_network_gets_no_cni_config_and_a_note(tmp_path):
    sim = SimHost(tmp_path / "sim", profile=HostProfile(features=dict(READY),
                                                        nat_network=None)).start()
    transport = WinRMTransport(winrm_target(sim))
    try:
        bundle = sim_bundle(tmp_path)
        summary = deploy(WindowsHost(transport), bundle, cri=crictl_runtime_access)
        layout = RuntimeLayout.for_bundle(bundle)
        assert not sim.machine.fs.exists(layout.cni_conf_dir + "\\0-containerd-nat.conf")
        assert any("no HNS network named nat" in note for note in summary.notes), summary.notes
    finally:
        transport.close()
        sim.stop()


def test_a_bundle_without_the_nat_plugin_leaves_the_cni_conf_dir_alone(env, tmp_path):
    sim, host, _ = env
    bundle = sim_bundle(tmp_path, cni_plugins={})
    summary = deploy(host, bundle, cri=crictl_runtime_access)
    assert "0-containerd-nat.conf" not in {c.item for c in summary.changes}


@pytest.mark.parametrize(("subnet", "gateway", "says"), [
    ("172.27.96.0/20", "10.0.0.1", "is not in the subnet"),
    ("not-a-subnet", "10.0.0.1", "does not appear to be an IPv4 or IPv6 network"),
])
def test_the_nat_config_refuses_a_network_that_cannot_work(subnet, gateway, says):
    from harness.runtime.cni import nat_config

    with pytest.raises(ValueError, match=says):
        nat_config(subnet, gateway)

# --- pods and shims left on the host (issue 12, finding 5) -----------------------------------
def _left_pod(sim, name: str, labels: dict[str, str]) -> str:
    """A running HPC pod, as a --keep-on-failure run or another user leaves one."""
    return sim.machine.cri.run_pod_sandbox(
        {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "attempt": 1},
         "labels": labels, "windows": {"security_context": {"host_process": True}}},
        "runhcs-wcow-process")


def test_shims_outlive_a_containerd_stop_and_lock_their_program(env, tmp_path):
    sim, host, _ = env
    layout = RuntimeLayout.for_bundle(sim_bundle(tmp_path))
    deploy(host, sim_bundle(tmp_path), cri=crictl_runtime_access)
    pod = _left_pod(sim, "kept", {"hpc-e2e.run-id": "earlier-run"})
    host.services.stop("containerd")
    # containerd is gone, its shims are not: the running program cannot be replaced.
    fs = sim.machine.fs
    fs.write_bytes(layout.shim_exe + ".new", b"MZ other")
    with pytest.raises(PermissionError, match="denied|being used by another process"):
        fs.rename(layout.shim_exe + ".new", layout.shim_exe)
    host.services.start("containerd")
    assert pod in sim.machine.cri.pods  # containerd reconnected to the shim


def test_deploy_removes_the_harness_own_pods_before_replacing_the_shim(env, tmp_path):
    sim, host, _ = env
    deploy(host, sim_bundle(tmp_path), cri=crictl_runtime_access)
    pod = _left_pod(sim, "kept", {"hpc-e2e.run-id": "earlier-run"})
    host.services.stop("containerd")  # e.g. a failed cleanup stopped it
    summary = deploy(host, sim_bundle(tmp_path, "newshim", versions={SHIM: "0.15.1"}), cri=crictl_runtime_access)
    assert pod not in sim.machine.cri.pods
    assert any(c.item == f"pod {pod[:13]}" and c.action == "removed" for c in summary.changes), \
        summary.changes
    assert any(v.artifact == SHIM and v.reported == "0.15.1" for v in summary.versions)


def test_deploy_refuses_to_replace_the_shim_under_someone_elses_pods(env, tmp_path):
    sim, host, _ = env
    layout = RuntimeLayout.for_bundle(sim_bundle(tmp_path))
    deploy(host, sim_bundle(tmp_path), cri=crictl_runtime_access)
    before = hashlib.sha256(sim.machine.fs.read_bytes(layout.shim_exe)).hexdigest()
    ours = _left_pod(sim, "ours", {"hpc-e2e.run-id": "earlier-run"})
    theirs = _left_pod(sim, "theirs", {"app": "web"})
    with pytest.raises(RuntimeDeployError) as info:
        deploy(host, sim_bundle(tmp_path, "newshim", versions={SHIM: "0.15.1"}), cri=crictl_runtime_access)
    text = str(info.value)
    assert theirs[:13] in text and "theirs" in text and ours[:13] not in text
    assert "crictl rmp" in (info.value.hint or "")
    # Nothing of the runtime was touched; the other pod still runs.
    assert hashlib.sha256(sim.machine.fs.read_bytes(layout.shim_exe)).hexdigest() == before
    assert theirs in sim.machine.cri.pods


def test_the_containerd_log_is_read_while_containerd_writes_it(env, tmp_path):
    # containerd keeps its --log-file open for writing (Go opens it sharing read and write);
    # a reader that shares only read is refused with a sharing violation (issue 12, 8).
    sim, host, _ = env
    layout = RuntimeLayout.for_bundle(sim_bundle(tmp_path))
    deploy(host, sim_bundle(tmp_path), cri=crictl_runtime_access)
    assert host.services.query("containerd").state.lower() == "running"
    fs = sim.machine.fs
    with pytest.raises(PermissionError, match="being used by another process"):
        fs.open(layout.log_file, "rb", share="r")
    text = host.files.read_text(layout.log_file)
    assert "containerd successfully booted" in text
