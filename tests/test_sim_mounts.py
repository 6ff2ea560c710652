"""CRI mounts in the simulated host: containerd's translation and each isolation's view.

docs/behaviour/runtime.md §9.5 (containerd ``WithWindowsMounts``), §9.6 (a job container:
``jobcontainers.setupMounts`` binds at the destination and links under the rootfs;
``fallbackMountSetup`` only links without the bind filter), §9.7 (a UVM: VSMB share mapped
at the destination).
"""

from __future__ import annotations

import pytest

from harness.sim import guest
from harness.sim.cri.runtime import CriError
from tests.test_sim_cri_runtime import HYPERV, IU, NANO, PROCESS, ctr_config, make, \
    pod_config, run, v2_config

INHERIT = {IU: "true"}
BINDFLT = "C:\\Windows\\System32\\bindfltapi.dll"


def started(isolation: str, mounts: list[dict], *, bindflt: bool = True):
    rt, _ = make(v2_config(), bindflt=bindflt)
    rt._launcher = guest.launch  # the real guest
    if not bindflt and rt.machine.fs.exists(BINDFLT):  # a host model ships it (WS2022+)
        rt.machine.fs.remove(BINDFLT)
    rt.machine.fs.makedirs("C:\\data\\in")
    rt.machine.fs.write_bytes("C:\\data\\in\\a.txt", b"from host")
    cfg = ctr_config(NANO[26100], command=("waitfor", "hpce2eidle"))
    cfg["mounts"] = mounts
    handler = PROCESS if isolation == "process" else HYPERV
    _, cid = run(rt, handler, pod=pod_config(annotations=INHERIT), ctr=cfg)
    return rt, cid


def test_containerd_cleans_the_destination_and_keeps_ro_in_the_spec():
    rt, cid = started("process", [{"host_path": "C:/data/in", "container_path": "\\m",
                                   "readonly": True}])
    spec = rt.container_status(cid)["info"]["runtimeSpec"]
    assert spec["mounts"] == [{"destination": "C:\\m", "source": "C:\\data\\in",
                               "options": ["ro"]}]
    status = rt.container_status(cid)["status"]["mounts"]
    assert status[0]["containerPath"] == "\\m" and status[0]["readonly"] is True


def test_a_missing_source_or_a_c_drive_destination_is_refused_at_create():
    rt, _ = make(v2_config())
    rt.pull_image(NANO[26100])
    pod = pod_config(annotations=INHERIT)
    pod_id = rt.run_pod_sandbox(pod, PROCESS)
    for mount, text in (({"host_path": "C:\\nowhere", "container_path": "C:\\m"},
                         'failed to stat "C:\\nowhere"'),
                        ({"host_path": "C:\\Windows", "container_path": "c:"},
                         "destination path can not be C drive")):
        cfg = ctr_config(NANO[26100])
        cfg["mounts"] = [mount]
        with pytest.raises(CriError) as refused:
            rt.create_container(pod_id, cfg, pod)
        assert text in refused.value.message


@pytest.mark.parametrize("isolation", ["process", "hyperv"])
def test_mount_is_seen_at_its_destination_and_read_only_refuses(isolation):
    rt, cid = started(isolation, [{"host_path": "C:\\data\\in", "container_path": "C:\\m",
                                   "readonly": True}])
    read = rt.exec_sync(cid, ["cmd", "/c", "type", "C:\\m\\a.txt"], 10)
    assert read.stdout.strip() == b"from host"
    wrote = rt.exec_sync(cid, ["cmd", "/c", "echo", "x", ">", "C:\\m\\b.txt"], 10)
    assert wrote.exit_code != 0 and not rt.machine.fs.exists("C:\\data\\in\\b.txt")


def test_a_job_container_also_links_the_mount_under_its_rootfs():
    rt, cid = started("process", [{"host_path": "C:\\data\\in", "container_path": "C:\\m"}])
    read = rt.exec_sync(cid, ["cmd", "/c", "type", "C:\\hpc\\m\\a.txt"], 10)
    assert read.stdout.strip() == b"from host"


def test_without_the_bind_filter_a_job_container_sees_the_mount_only_under_its_rootfs():
    rt, cid = started("process", [{"host_path": "C:\\data\\in", "container_path": "C:\\m"}],
                      bindflt=False)
    root = rt.containers[cid].rootfs_location
    assert rt.exec_sync(cid, ["cmd", "/c", "type", f"{root}m\\a.txt"], 10).exit_code == 0
    assert rt.exec_sync(cid, ["cmd", "/c", "type", "C:\\m\\a.txt"], 10).exit_code != 0
