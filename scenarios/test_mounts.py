"""Mounts: a host folder or file given as a CRI mount is seen inside the HPC at its path.

containerd turns each CRI mount into an OCI mount (source resolved and cleaned, ``C:`` added
to a rooted destination, option ``ro`` or ``rw``: docs/behaviour/runtime.md §9.5).  A
process-isolated HPC on a bind-filter host gets a file binding of the source at the
destination, read-only with ``ro`` (§9.6, hcsshim internal/jobcontainers/mounts.go
``setupMounts``); an HPC in a UVM gets the source shared into the UVM over VSMB (a read-only
share with ``ro``) and mapped at the destination (§9.7, hcsoci ``setupMounts`` /
``createMountsConfig``; how the guest maps it for a HostProcess container is not verified, so
the scenarios check what must hold whatever the mechanism: the content is there, a read-only
mount refuses writes, a writable one carries them to the host).  Host folders live in this
run's folder on the host, so ``hpc-e2e clean`` removes what a killed run left.
"""

from __future__ import annotations

import ntpath
import secrets

import pytest

from harness.plugin.api import INHERIT_USER_ANNOTATION, ISOLATIONS, HostMount

# Where the user is not the subject, the pod asks to inherit it: SYSTEM in both modes, set by
# the shim itself (docs/behaviour/runtime.md §2.5 in a UVM, §3.3 for a job container).
INHERIT = {INHERIT_USER_ANNOTATION: "true"}
CONTENT = "hpc-e2e mounted from the host"
WRITTEN = "hpc-e2e-written-in-the-hpc"  # one word: echo prints a spaced argument quoted
FOLDER_MOUNT = "C:\\hpc-e2e-mount"
SPACED_MOUNT = "C:\\hpc e2e mount"
FILE_MOUNT = "C:\\hpc-e2e-config\\settings.txt"


class HostFolders:
    """Folders on the host for one test (under the run's folder), removed afterwards."""

    def __init__(self, host):
        self.files = host.windows.files
        self.root = ntpath.join(host.crictl.remote_dir, "mounts", secrets.token_hex(4))
        self.made: list[str] = []

    def folder(self, name: str, files: dict[str, str]) -> str:
        path = ntpath.join(self.root, name)
        self.files.mkdir(path)
        self.made.append(path)
        for file, text in files.items():
            self.files.write_text(ntpath.join(path, file), text)
        return path

    def read(self, path: str) -> str | None:
        return self.files.read_text(path) if self.files.exists(path) else None

    def remove(self) -> None:
        if self.made:
            self.files.remove(self.root, recurse=True)


@pytest.fixture
def host_folders(hpc_host):
    folders = HostFolders(hpc_host)
    yield folders
    folders.remove()


def type_file(hpc, path: str):
    """``cmd /c type <path>`` in the HPC (an explicit cmd: this concern is the mount)."""
    return hpc.exec(["cmd", "/c", "type", path])


def mounted_hpc(pods, isolation, mounts):
    pod = pods.run(isolation, annotations=INHERIT)
    return pods.start_long_running(pod, mounts=mounts)


@pytest.mark.reference("docs/behaviour/runtime.md §9.6")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_read_only_folder_is_readable_and_refuses_writes(pods, isolation, placement,
                                                         host_folders):
    """A read-only host folder shows its files in the HPC and refuses writes.

    Pod: host_process, inherit-user.  Container: the idle probe HPC with a read-only mount of
    a host folder holding ``hello.txt`` at ``C:\\hpc-e2e-mount``.
    Commands: exec ``cmd /c type C:\\hpc-e2e-mount\\hello.txt``; exec
    ``cmd /c echo ... > C:\\hpc-e2e-mount\\new.txt``.
    Expected: the file's text; the write fails and nothing appears in the host folder (§9.5
    option ``ro``; §9.6 read-only file binding; §9.7 read-only VSMB share).
    """
    source = host_folders.folder("read-only", {"hello.txt": CONTENT})
    hpc = mounted_hpc(pods, isolation, [HostMount(source, FOLDER_MOUNT, readonly=True)])
    read = type_file(hpc, f"{FOLDER_MOUNT}\\hello.txt")
    assert read.exit_code == 0 and read.stdout.strip() == CONTENT, (
        f"{isolation}: mount missing: the read-only host folder {source} must be seen at "
        f"{FOLDER_MOUNT} (§9.6, §9.7); type printed {read.stdout.strip()!r} (exit "
        f"{read.exit_code}: {read.stderr.strip()})")
    # (an exec repeated after a transient failure writes the same file again)
    wrote = hpc.exec(["cmd", "/c", "echo", WRITTEN, ">", f"{FOLDER_MOUNT}\\new.txt"])
    on_host = host_folders.read(ntpath.join(source, "new.txt"))
    assert wrote.exit_code != 0 and on_host is None, (
        f"{isolation}: read-only mount written: a write into the read-only mount "
        f"{FOLDER_MOUNT} must fail (§9.5 ro), yet it exited {wrote.exit_code} and the host "
        f"folder holds new.txt = {on_host!r}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §9.6")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_read_write_folder_carries_writes_both_ways(pods, hpc_host, isolation, placement,
                                                   host_folders):
    """A writable host folder carries the HPC's writes to the host and the host's to the HPC.

    Pod: host_process, inherit-user.  Container: the idle probe HPC with a read-write mount
    of an empty host folder at ``C:\\hpc-e2e-mount``.
    Commands: exec ``cmd /c echo hpc-e2e-written-in-the-hpc > C:\\hpc-e2e-mount\\from-hpc.txt``;
    the host then writes ``from-host.txt``; exec ``cmd /c type`` of it.
    Expected: the host reads what the HPC wrote, the HPC reads what the host wrote after
    it started (§9.6 a file binding, §9.7 a VSMB share: both are live views of the folder).
    """
    source = host_folders.folder("read-write", {})
    hpc = mounted_hpc(pods, isolation, [HostMount(source, FOLDER_MOUNT)])
    # (an exec repeated after a transient failure writes the same file again)
    wrote = hpc.exec(["cmd", "/c", "echo", WRITTEN, ">", f"{FOLDER_MOUNT}\\from-hpc.txt"])
    on_host = host_folders.read(ntpath.join(source, "from-hpc.txt"))
    assert wrote.exit_code == 0 and (on_host or "").strip() == WRITTEN, (
        f"{isolation}: mount not shared: what the HPC writes into {FOLDER_MOUNT} must reach "
        f"the host folder {source} (§9.6, §9.7); echo exited {wrote.exit_code} "
        f"({wrote.stderr.strip()}), the host reads {on_host!r}")
    hpc_host.windows.files.write_text(ntpath.join(source, "from-host.txt"), CONTENT)
    read = type_file(hpc, f"{FOLDER_MOUNT}\\from-host.txt")
    assert read.exit_code == 0 and read.stdout.strip() == CONTENT, (
        f"{isolation}: mount not live: a file the host writes after the start must be seen "
        f"at {FOLDER_MOUNT} (§9.6, §9.7); type printed {read.stdout.strip()!r} (exit "
        f"{read.exit_code}: {read.stderr.strip()})")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §9.6")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_host_file_is_mounted_at_its_path(pods, isolation, placement, host_folders):
    """A single host file mounted into the HPC is read at the container path.

    Pod: host_process, inherit-user.  Container: the idle probe HPC with a mount of the host
    file ``settings.txt`` at ``C:\\hpc-e2e-config\\settings.txt``.
    Command: exec ``cmd /c type C:\\hpc-e2e-config\\settings.txt``.
    Expected: the file's text (§9.6: the bind filter binds files as well as folders; §9.7:
    VSMB shares a single file).
    """
    folder = host_folders.folder("file", {"settings.txt": CONTENT})
    source = ntpath.join(folder, "settings.txt")
    hpc = mounted_hpc(pods, isolation, [HostMount(source, FILE_MOUNT, readonly=True)])
    read = type_file(hpc, FILE_MOUNT)
    assert read.exit_code == 0 and read.stdout.strip() == CONTENT, (
        f"{isolation}: mount missing: the host file {source} must be seen at {FILE_MOUNT} "
        f"(§9.6, §9.7); type printed {read.stdout.strip()!r} (exit {read.exit_code}: "
        f"{read.stderr.strip()})")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §9.5")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_paths_with_spaces_are_mounted(pods, isolation, placement, host_folders):
    """A host folder whose path has spaces mounts at a container path with spaces.

    Pod: host_process, inherit-user.  Container: the idle probe HPC with a read-only mount of
    the host folder ``...\\folder with spaces`` at ``C:\\hpc e2e mount``.
    Command: exec ``cmd /c type "C:\\hpc e2e mount\\hello.txt"``.
    Expected: the file's text (§9.5: paths travel as JSON strings and are only cleaned, never
    split).
    """
    source = host_folders.folder("folder with spaces", {"hello.txt": CONTENT})
    hpc = mounted_hpc(pods, isolation, [HostMount(source, SPACED_MOUNT, readonly=True)])
    read = type_file(hpc, f"{SPACED_MOUNT}\\hello.txt")
    assert read.exit_code == 0 and read.stdout.strip() == CONTENT, (
        f"{isolation}: mount missing: the host folder {source!r} must be seen at "
        f"{SPACED_MOUNT!r} (§9.5); type printed {read.stdout.strip()!r} (exit "
        f"{read.exit_code}: {read.stderr.strip()})")
    placement.check(hpc, isolation)
