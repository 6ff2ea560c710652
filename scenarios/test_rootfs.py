"""Rootfs: where an HPC finds its image's files, and which locations the runtime refuses.

The probe image carries a marker file that exists only in its rootfs
(hpc_images/images.toml ``[probe]``: ``hpc-e2e\\marker.txt``), so finding it proves where the
rootfs is mounted.  Defaults differ by isolation (docs/behaviour/runtime.md §1.4): a
process-isolated HPC on a bind-filter host (WS2022+) has it at ``C:\\hpc\\``; for an HPC in a
UVM hcsshim sends no path at all and the guest picks its default (PR text: ``C:\\hpc``,
unverified).  A custom location comes from the pod annotation
``microsoft.com/hostprocess-rootfs-location``: a UVM HPC's value is sanitised and refused
with ``unsafe path detected`` (§2.4); a process-isolated HPC's is taken as it is (§8 item 7).
Commands here say ``cmd /c`` themselves, so a broken ``cmd /c`` wrap fails test_shell, not
this concern.
"""

from __future__ import annotations

import pytest

from harness.plugin.api import (
    HYPERV,
    INHERIT_USER_ANNOTATION,
    ISOLATIONS,
    PROCESS,
    ROOTFS_LOCATION_ANNOTATION,
    expect_refusal,
)

HYPERV_ONLY = [case for case in ISOLATIONS if HYPERV in case.values]  # with its marker
PROCESS_ONLY = [case for case in ISOLATIONS if PROCESS in case.values]  # with its marker
# Where the user is not the subject, the pod asks to inherit it: SYSTEM in both modes, set by
# the shim itself (docs/behaviour/runtime.md §2.5 in a UVM, §3.3 for a job container).
INHERIT = {INHERIT_USER_ANNOTATION: "true"}

MARKER = "hpc-e2e\\marker.txt"  # hpc_images/images.toml [probe] marker_path
MARKER_TEXT = "hpc-e2e probe rootfs marker"  # its content, before the LTSC name
DEFAULT_LOCATION = "C:\\hpc"
CUSTOM_LOCATION = "C:\\hpc-e2e-rootfs"
UNSAFE_PATH = "unsafe path detected"  # §2.4, internal/ospath/path.go:11


def marker_under(container, location: str) -> tuple[bool, str]:
    """Whether the probe's marker is at ``location``, and what ``type`` said.  Commands here
    name ``cmd /c`` themselves: this concern is where the rootfs is, not the shim's wrap."""
    result = container.exec(["cmd", "/c", "type", f"{location}\\{MARKER}"])
    found = result.exit_code == 0 and MARKER_TEXT in result.stdout
    said = result.stdout.strip() if result.exit_code == 0 else \
        f"exit {result.exit_code}: {result.stderr.strip()}"
    return found, said


@pytest.mark.reference("docs/behaviour/runtime.md §1.4")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_image_files_are_under_c_hpc_by_default(shared_hpc, isolation, placement, expect):
    """Without a rootfs location, the image's files are found under ``C:\\hpc``.

    Pod: host_process, inherit-user, no rootfs-location annotation.  Container: the shared
    idle probe HPC.
    Command: exec ``cmd /c type C:\\hpc\\hpc-e2e\\marker.txt``.
    Expected (profile ``<isolation>.rootfs.default_location``): ``C:\\hpc`` — the bind-filter
    default for PI-HPC (§1.4, storage.go:26); the guest's default for HV-HPC, which the
    reference marks [guest, unverified] (§1.4, §8 item 8).
    """
    hpc = shared_hpc
    found, said = marker_under(hpc, DEFAULT_LOCATION)
    expect.check(f"{isolation}.rootfs.default_location",
                 DEFAULT_LOCATION if found else f"not under {DEFAULT_LOCATION} ({said})")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.4")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_image_files_are_under_the_pods_rootfs_location(pods, isolation, placement):
    """The pod's rootfs-location annotation moves the image's files there.

    Pod: host_process, inherit-user, annotation microsoft.com/hostprocess-rootfs-location =
    ``C:\\hpc-e2e-rootfs``.  Container: the idle probe HPC, working_dir the same folder
    (containerd's default ``C:\\hpc`` need not exist once the rootfs is elsewhere; whether
    a UVM guest creates a missing working directory is not known, §8 item 8).
    Command: exec ``cmd /c type C:\\hpc-e2e-rootfs\\hpc-e2e\\marker.txt``.
    Expected: the marker's text (§2.4: HV-HPC sends the sanitised path as
    PrivilegedContainerRootPath; §3.1: PI-HPC binds the volume there; §2.3: the pod's value
    reaches every container).
    """
    pod = pods.run(isolation,
                   annotations={**INHERIT, ROOTFS_LOCATION_ANNOTATION: CUSTOM_LOCATION})
    hpc = pods.start_long_running(pod, working_dir=CUSTOM_LOCATION)
    found, said = marker_under(hpc, CUSTOM_LOCATION)
    assert found, (f"{isolation}: the image's files must be under the pod's rootfs location "
                   f"{CUSTOM_LOCATION} (§2.4, §3.1); type said: {said}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.4")
@pytest.mark.parametrize("location", [
    pytest.param("C:\\Windows\\hpc-e2e", id="under-windows"),
    pytest.param("C:\\foo\\..\\Windows", id="windows-after-clean"),
    pytest.param("c:\\windows\\System32", id="windows-any-case"),
    pytest.param("hpc-e2e\\rootfs", id="relative"),
    pytest.param("C:hpc-e2e", id="drive-relative"),
    pytest.param("\\\\server\\share", id="unc"),
    pytest.param("", id="empty"),
])
@pytest.mark.parametrize("isolation", HYPERV_ONLY)
def test_unsafe_rootfs_location_is_refused_in_a_uvm(pods, isolation, location):
    """An unsafe rootfs location for an HPC in a UVM is refused at start: ``unsafe path detected``.

    Pod: host_process, inherit-user, hypervisor isolation, rootfs-location = the location under test
    (under ``C:\\Windows``, relative, drive-relative, UNC, or present but empty).
    Container: the idle probe HPC, started.
    Expected: StartContainer fails with ``unsafe path detected`` (§2.4 ospath.Sanitize table;
    §8 item 7: an empty value is refused, not the default; §8 item 4: at StartContainer).
    """
    pod = pods.run(isolation, annotations={**INHERIT, ROOTFS_LOCATION_ANNOTATION: location})
    with expect_refusal("start", f"HV-HPC: unsafe rootfs location {location!r} (§2.4)") \
            as refused:
        pod.container().start()
    assert UNSAFE_PATH in refused.runtime_message, (
        f"HV-HPC: rootfs location {location!r} must be refused with {UNSAFE_PATH!r} (§2.4); "
        f"got: {refused.runtime_message}")


@pytest.mark.reference("docs/behaviour/runtime.md §1.3")
@pytest.mark.parametrize("isolation", PROCESS_ONLY)
def test_empty_rootfs_location_means_the_default_for_a_process_isolated_hpc(pods, isolation):
    """For a process-isolated HPC an empty rootfs location means the default ``C:\\hpc``.

    Pod: host_process, inherit-user, rootfs-location present but empty.
    Container: the idle probe HPC.
    Command: exec ``cmd /c type C:\\hpc\\hpc-e2e\\marker.txt``.
    Expected: the marker's text (§1.3: PI-HPC checks ``loc != ""``; §8 item 7 contrasts
    this with a UVM HPC, where the same value is refused).
    """
    pod = pods.run(isolation, annotations={**INHERIT, ROOTFS_LOCATION_ANNOTATION: ""})
    hpc = pods.start_long_running(pod)
    found, said = marker_under(hpc, DEFAULT_LOCATION)
    assert found, (f"PI-HPC: an empty rootfs location must mean the default "
                   f"{DEFAULT_LOCATION} (§1.3); type said: {said}")


@pytest.mark.reference("docs/behaviour/runtime.md §1.4")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_default_working_directory_is_c_hpc(shared_hpc, isolation, placement):
    """Without a working directory of its own, an HPC's commands start in ``C:\\hpc``.

    Pod: host_process, inherit-user.  Container: the idle probe HPC, no working_dir (the
    probe image sets none).  Command: exec ``cmd /c cd`` (prints the current directory).
    Expected: ``C:\\hpc`` (§1.4 [ctrd]: containerd sets it for HPCs; §4.4 step 2).
    """
    hpc = shared_hpc
    result = hpc.exec(["cmd", "/c", "cd"])
    assert result.exit_code == 0 and result.stdout.strip().lower() == DEFAULT_LOCATION.lower(), (
        f"{isolation}: an HPC's default working directory must be {DEFAULT_LOCATION} (§1.4 "
        f"[ctrd]); cd printed {result.stdout.strip()!r} (exit {result.exit_code})")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §3.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_working_directory_inside_the_rootfs(pods, isolation, placement):
    """A working directory inside the rootfs is where commands start and relative paths resolve.

    Pod: host_process, inherit-user, rootfs-location ``C:\\hpc-e2e-rootfs``.
    Container: the idle probe HPC with working_dir ``C:\\hpc-e2e-rootfs\\hpc-e2e``.
    Commands: exec ``cmd /c cd``; exec ``cmd /c type marker.txt`` (relative).
    Expected: ``cd`` prints that folder and ``type`` finds the marker there (§3.3 working
    directory; §2.4 rootfs location).
    """
    workdir = f"{CUSTOM_LOCATION}\\hpc-e2e"
    pod = pods.run(isolation,
                   annotations={**INHERIT, ROOTFS_LOCATION_ANNOTATION: CUSTOM_LOCATION})
    hpc = pods.start_long_running(pod, working_dir=workdir)
    cwd = hpc.exec(["cmd", "/c", "cd"]).stdout.strip()
    assert cwd.lower() == workdir.lower(), (
        f"{isolation}: commands must start in the container's working directory {workdir} "
        f"(§3.3); cd printed {cwd!r}")
    relative = hpc.exec(["cmd", "/c", "type", "marker.txt"])
    assert relative.exit_code == 0 and MARKER_TEXT in relative.stdout, (
        f"{isolation}: a relative path must resolve in the working directory {workdir}; "
        f"type marker.txt: exit {relative.exit_code} {relative.stderr.strip()}")
    placement.check(hpc, isolation)
