"""The simulated guest: what a process inside a container sees and how it is started.

Containers are built directly from the CRI model's dataclasses, as the runtime leaves them
at StartContainer, so each test names the world it checks: a process-isolated HPC (a job
object on the host, docs/behaviour/runtime.md §3), an HPC in a utility VM (§2.5, §6), or a
normal container.  Expectations come from the reference; where it marks the guest as
unverified the test pins the choice written in harness/sim/ASSUMPTIONS.md.
"""

from __future__ import annotations

import re
import time

import pytest

from harness.sim import guest
from harness.sim.cri.model import ContainerRecord, Image, PodRecord, ProcessSpec, Uvm
from harness.sim.filesystem import FileSystem
from harness.sim.guest import ContainerFileSystem, LaunchError
from harness.sim.hostmodel import HostProfile
from harness.sim.machine import Machine
from harness.sim.programs import standard_machine

SYSTEM = "NT AUTHORITY\\SYSTEM"
MARKER = b"hpc-e2e probe rootfs marker ltsc2025\r\n"
HELLO_CMD = b"@echo off\r\necho hello from the hpc-e2e probe rootfs\r\n"
UVM_IPCONFIG = "\r\nWindows IP Configuration\r\n\r\n"


def drain(proc, deadline: float = 20.0) -> tuple[int, str, str]:
    proc.write_stdin(b"", eof=True)
    out, err = bytearray(), bytearray()
    end = time.monotonic() + deadline
    while True:
        o, e, done = proc.read_output(1 << 20, 0.2)
        out += o
        err += e
        if done:
            return proc.wait(1), out.decode(), err.decode()
        assert time.monotonic() < end, "the process did not finish"


@pytest.fixture
def machine() -> Machine:
    m = standard_machine(profile=HostProfile(name="LabHost01"))
    guest.install(m)
    m.fs.write_bytes(guest.BINDFLT_DLL, b"MZ")  # WS2022+: the bind filter is there
    return m


def probe_image(machine: Machine) -> Image:
    """The probe image as images.toml describes it: nanoserver programs plus rootfs-only
    files (a marker, a renamed whoami, a batch file)."""
    whoami = machine.fs.read_bytes(r"C:\Windows\System32\whoami.exe")
    files = {r"Windows\System32\whoami.exe": whoami,
             r"Windows\System32\cmd.exe": machine.fs.read_bytes(r"C:\Windows\System32\cmd.exe"),
             r"hpc-e2e\marker.txt": MARKER,
             "probe-whoami.exe": whoami,
             "probe-hello.cmd": HELLO_CMD}
    return Image(ref="docker.io/hpc-e2e/probe:ltsc2025", id="sha256:" + "ab" * 32,
                 files=files, uvm_os_build=26100, user="ContainerUser")


_counter = iter(range(1, 10_000))


def container(machine: Machine, kind: str, *, uvm: Uvm | None = None,
              rootfs: str | None = "C:\\hpc\\", user: str = SYSTEM,
              image: Image | None = None) -> ContainerRecord:
    n = next(_counter)
    if kind == "uvm" and uvm is None:
        uvm = Uvm(id=f"{n:064x}@vm", os_build=26100, hpc_capable=True)
    pod = PodRecord(id=f"{n:064x}", name="p", namespace="default", uid="u", attempt=0,
              handler="h", runtime_type="io.containerd.runhcs.v1", runtime_options={},
              isolation="hyperv" if uvm else "process", host_process=kind != "normal",
              annotations={}, labels={}, config={}, sandbox_image="pause", uvm=uvm)
    return ContainerRecord(id=f"{n:x}".rjust(64, "c"), pod=pod, name="c", attempt=0,
                     image=image or probe_image(machine), image_ref="probe", annotations={},
                     labels={}, config={}, is_hpc=kind != "normal", working_dir="C:\\hpc",
                     init_process=None, user=user,  # type: ignore[arg-type]
                     uvm=uvm, host_job=kind == "job",
                     rootfs_location=rootfs if kind == "job" else None)


def run(machine: Machine, ctr: ContainerRecord, line: str, *, cwd: str = "C:\\hpc",
        env: list[str] | None = None, user: str = SYSTEM) -> tuple[int, str, str]:
    spec = ProcessSpec(args=None, command_line=line, user=user, cwd=cwd, env=env or [])
    return drain(guest.launch(machine, ctr, spec))


# --- a process-isolated HPC: the host's world, the image bound at C:\hpc ------------------
def test_job_container_sees_the_host_identity_and_network(machine):
    ctr = container(machine, "job")
    assert run(machine, ctr, "whoami")[1] == "nt authority\\system\r\n"
    assert run(machine, ctr, "hostname")[1] == "LabHost01\r\n"
    code, out, _ = run(machine, ctr, "ipconfig")
    host_ipconfig = drain(machine.spawn("ipconfig"))[1]
    assert code == 0 and out == host_ipconfig
    assert f"IPv4 Address. . . . . . . . . . . : {guest.host_adapters(machine)[0].ipv4}" in out
    code, out, _ = run(machine, ctr, "ping -n 2 10.1.0.1")
    assert code == 0 and out.count("Reply from 10.1.0.1: bytes=32 time<1ms TTL=128") == 2


def test_job_container_environment_follows_jobcontainers(machine):
    """§3.2: the mount point variable (with its trailing backslash), PATH extended with the
    rootfs and PowerShell/Wbem, %CONTAINER_SANDBOX_MOUNT_POINT% substituted in the command
    line by the shim (the location minus its last character)."""
    ctr = container(machine, "job")
    code, out, _ = run(machine, ctr, "set CONTAINER_SANDBOX_MOUNT_POINT", env=["FOO=bar"])
    assert (code, out) == (0, "CONTAINER_SANDBOX_MOUNT_POINT=C:\\hpc\\\r\n")
    out = run(machine, ctr, "set PATH")[1]
    path = re.search(r"^Path=(.*)\r$", out, re.MULTILINE).group(1)
    assert path.endswith(";C:\\hpc\\;C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\;"
                         "C:\\WINDOWS\\System32\\Wbem")
    assert run(machine, ctr, "echo %FOO%", env=["FOO=bar"])[1] == "bar\r\n"
    assert run(machine, ctr, "echo [%CONTAINER_SANDBOX_MOUNT_POINT%]")[1] == "[C:\\hpc]\r\n"


def test_job_container_rootfs_is_bound_only_inside_the_silo(machine):
    ctr = container(machine, "job")
    assert run(machine, ctr, "type hpc-e2e\\marker.txt")[1] == MARKER.decode()
    assert run(machine, ctr, "cd")[1] == "C:\\hpc\r\n"
    assert not machine.fs.exists(r"C:\hpc")  # the host's own disk has no C:\hpc
    # A file written in the rootfs stays in the container's volume.
    code, _, _ = run(machine, ctr, "echo one>note.txt&& echo two>>note.txt")
    assert code == 0
    assert run(machine, ctr, "type C:\\hpc\\note.txt")[1] == "one\r\ntwo\r\n"
    assert not machine.fs.exists(r"C:\hpc\note.txt")
    # Writes outside the rootfs go to the host's disk.
    run(machine, ctr, "echo hi> C:\\Windows\\Temp\\from-hpc.txt")
    assert machine.fs.read_bytes(r"C:\Windows\Temp\from-hpc.txt") == b"hi\r\n"


def test_job_container_runs_rootfs_programs_and_builtins_through_the_cmd_prefix(machine):
    """With the bind filter the shim always prepends ``cmd /c`` (§3.3), so built-ins and
    rootfs-only programs work even unwrapped."""
    ctr = container(machine, "job")
    assert run(machine, ctr, "probe-whoami.exe")[1] == "nt authority\\system\r\n"
    assert run(machine, ctr, "probe-hello.cmd")[1] == "hello from the hpc-e2e probe rootfs\r\n"
    assert run(machine, ctr, "echo hello")[1] == "hello\r\n"
    launches = [entry.command_line for entry in machine.launches[-3:]]
    assert launches[-1] == "cmd /c echo hello"


def test_job_container_without_bind_filter(machine):
    """No bind filter: the rootfs is C:\\hpc\\<id>\\ (visible to the shim), no cmd prefix,
    and a working directory joins the rootfs (§3.3)."""
    machine.fs.remove(guest.BINDFLT_DLL)
    ctr = container(machine, "job")
    ctr.rootfs_location = f"C:\\hpc\\{ctr.id}\\"
    code, out, _ = run(machine, ctr, "probe-whoami.exe", cwd="")
    assert (code, out) == (0, "nt authority\\system\r\n")
    with pytest.raises(LaunchError) as info:
        run(machine, ctr, "echo hi")
    assert str(info.value) == ('failed to get application name from commandline "echo hi": '
                               'failed to find executable "echo hi"')
    assert info.value.winerror == 2
    out = run(machine, ctr, "cmd /c cd", cwd="C:\\work")[1]
    assert out == f"C:\\hpc\\{ctr.id}\\work\r\n"


def test_job_container_user_comes_from_the_host(machine):
    machine.add_user("hpcuser")
    ctr = container(machine, "job", user="LABHOST01\\hpcuser")
    assert run(machine, ctr, "whoami", user="LABHOST01\\hpcuser")[1] == "labhost01\\hpcuser\r\n"
    with pytest.raises(LaunchError, match="failed to create user process token"):
        run(machine, ctr, "whoami", user="LABHOST01\\nobody")


# --- an HPC in a utility VM: its own disk, no network, the wrap matters -------------------
def test_uvm_hpc_sees_the_uvm_not_the_host(machine):
    ctr = container(machine, "uvm")
    assert run(machine, ctr, "cmd /c whoami")[1] == "nt authority\\system\r\n"
    name = run(machine, ctr, "cmd /c hostname")[1].strip()
    assert re.fullmatch(r"WIN-[0-9A-F]{11}", name) and name != machine.name
    assert ctr.uvm.hostname == name
    code, out, _ = run(machine, ctr, "cmd /c ipconfig")
    assert (code, out) == (0, UVM_IPCONFIG)


def test_uvm_has_no_network_but_loopback(machine):
    ctr = container(machine, "uvm")
    code, out, _ = run(machine, ctr, "cmd /c ping -n 2 10.1.0.1")
    assert code == 1
    assert out.count("PING: transmit failed. General failure. \r\n") == 2
    assert "Received = 0, Lost = 2 (100% loss)" in out
    code, out, _ = run(machine, ctr, "cmd /c ping -n 1 127.0.0.1")
    assert code == 0 and "Reply from 127.0.0.1" in out
    code, out, _ = run(machine, ctr, "cmd /c ping -n 1 mcr.microsoft.com")
    assert code == 1 and "could not find host mcr.microsoft.com" in out


def test_uvm_launch_outside_the_silo_needs_the_cmd_wrap(machine):
    """§2.5: unwrapped, the guest cannot see built-ins or rootfs-only programs
    (ERROR_FILE_NOT_FOUND); programs of the UVM's own System32 are found."""
    ctr = container(machine, "uvm")
    for line in ("echo hello", "probe-whoami.exe", "dir", "C:\\hpc\\probe-whoami.exe"):
        with pytest.raises(LaunchError) as info:
            run(machine, ctr, line)
        assert str(info.value) == (f"hcs::System::CreateProcess {ctr.id}: The system cannot "
                                   "find the file specified.")
        assert info.value.winerror == 2
    assert run(machine, ctr, "whoami")[1] == "nt authority\\system\r\n"
    assert run(machine, ctr, "cmd /c probe-whoami.exe")[1] == "nt authority\\system\r\n"
    assert run(machine, ctr, "cmd /c echo hello")[1] == "hello\r\n"


def test_uvm_cmd_builtins_and_rootfs(machine):
    ctr = container(machine, "uvm")
    code, out, _ = run(machine, ctr, "cmd /c dir /b")
    assert code == 0 and out.split("\r\n")[:3] == ["hpc-e2e", "probe-hello.cmd",
                                                  "probe-whoami.exe"]
    assert run(machine, ctr, "cmd /c type hpc-e2e\\marker.txt")[1] == MARKER.decode()
    assert run(machine, ctr, "cmd /c probe-hello.cmd")[1] == \
        "hello from the hpc-e2e probe rootfs\r\n"
    # A succeeding built-in leaves ERRORLEVEL alone: cmd /c still ends with 9009.
    code, out, _ = run(machine, ctr, "cmd /c nosuch || echo fallback")
    assert (code, out) == (9009, "fallback\r\n")
    code, _, err = run(machine, ctr, "cmd /c nosuch")
    assert code == 9009 and "'nosuch' is not recognized" in err
    assert run(machine, ctr, "cmd /c exit 7")[0] == 7
    assert run(machine, ctr, "cmd /c echo %X%", env=["X=from-spec"])[1] == "from-spec\r\n"
    # The jobcontainers-only variable is not there in a UVM (ASSUMPTIONS.md).
    code, _, err = run(machine, ctr, "cmd /c set CONTAINER_SANDBOX_MOUNT_POINT")
    assert code == 1 and "not defined" in err


def test_uvm_disk_is_shared_by_the_pod_and_separate_from_the_host(machine):
    a = container(machine, "uvm")
    b = container(machine, "uvm", uvm=a.uvm)
    run(machine, a, "cmd /c echo shared>C:\\Windows\\Temp\\x.txt&& echo mine>own.txt")
    assert run(machine, b, "cmd /c type C:\\Windows\\Temp\\x.txt")[1] == "shared\r\n"
    code, _, err = run(machine, b, "cmd /c type own.txt")
    assert code == 1 and "cannot find the file" in err
    assert not machine.fs.exists(r"C:\Windows\Temp\x.txt")
    c = container(machine, "uvm")  # another pod, another UVM
    assert run(machine, c, "cmd /c hostname")[1] != run(machine, a, "cmd /c hostname")[1]


def test_uvm_custom_rootfs_location_and_user(machine):
    ctr = container(machine, "uvm")
    ctr.rootfs_location = "C:\\custom\\root"
    assert run(machine, ctr, "cmd /c cd", cwd="C:\\custom\\root")[1] == "C:\\custom\\root\r\n"
    listing = run(machine, ctr, "cmd /c dir /b C:\\custom\\root\\hpc-e2e", cwd="C:\\")[1]
    assert listing == "marker.txt\r\n"
    who = run(machine, ctr, "cmd /c whoami", cwd="C:\\custom\\root", user="ContainerUser")[1]
    assert who == f"{ctr.uvm.hostname.lower()}\\containeruser\r\n"
    with pytest.raises(LaunchError, match="The directory name is invalid"):
        run(machine, ctr, "cmd /c cd", cwd="C:\\nowhere")


def test_ping_forever_runs_until_terminated(machine):
    ctr = container(machine, "uvm")
    proc = guest.launch(machine, ctr, ProcessSpec(args=["cmd", "/c", "ping", "-t", "127.0.0.1"],
                                                  command_line=None, user=SYSTEM,
                                                  cwd="C:\\hpc"))
    got = b""
    end = time.monotonic() + 5
    while b"Reply from" not in got and time.monotonic() < end:
        got += proc.read_output(4096, 0.2)[0]
    assert b"Reply from 127.0.0.1" in got
    assert not proc.done
    proc.terminate()
    assert proc.wait(5) is not None


# --- a normal container ----------------------------------------------------------------------
def test_normal_container_sees_its_image_as_c(machine):
    ctr = container(machine, "normal")
    code, out, _ = run(machine, ctr, "cmd /c dir /b C:\\", cwd="C:\\")
    assert code == 0 and "probe-whoami.exe" in out and "Users" not in out
    who = run(machine, ctr, "cmd /c whoami", cwd="C:\\", user="ContainerUser")[1]
    assert who == f"{ctr.id[:12].lower()}\\containeruser\r\n"
    with pytest.raises(LaunchError):  # ipconfig is not in this image
        run(machine, ctr, "ipconfig", cwd="C:\\")


def test_hpc_without_placement_fails_loudly(machine):
    ctr = container(machine, "job")
    ctr.host_job = False
    with pytest.raises(LaunchError, match="neither as a host job nor in a UVM"):
        run(machine, ctr, "whoami")


# --- the mount view ------------------------------------------------------------------------
def test_container_filesystem_mounts():
    base, volume = FileSystem(), FileSystem()
    base.makedirs(r"C:\Windows")
    volume.write_bytes(r"C:\a.txt", b"A")
    view = ContainerFileSystem(base, [("C:\\hpc\\x\\", volume)])
    assert view.listdir("C:\\") == ["hpc", "Windows"]
    assert view.is_dir(r"C:\hpc") and view.is_dir(r"C:\HPC\X")
    assert view.real_path(r"c:\HPC\x\A.TXT") == r"C:\hpc\x\a.txt"
    assert view.read_bytes("a.txt", cwd=r"C:\hpc\x") == b"A"
    with pytest.raises(OSError) as info:
        view.rename(r"C:\hpc\x\a.txt", r"C:\Windows\a.txt")
    assert info.value.winerror == 17  # ERROR_NOT_SAME_DEVICE
    with pytest.raises(PermissionError):
        view.rmdir(r"C:\hpc\x")
    view.makedirs(r"C:\hpc\x\sub")
    assert volume.is_dir(r"C:\sub") and not base.exists(r"C:\hpc")
    assert [root for root, _, _ in view.walk("C:\\hpc")] == ["C:\\hpc", "C:\\hpc\\x",
                                                             "C:\\hpc\\x\\sub"]


def test_batch_files_on_the_host(machine):
    """cmd's batch support (used by the probe's .cmd) also runs host batch files."""
    machine.fs.makedirs(r"C:\tools")
    machine.fs.write_bytes(r"C:\tools\b.cmd",
                           b"@echo off\r\nrem a comment\r\n:: another\r\n"
                           b"echo [%1] [%2] 100%%\r\nset X=%~1\r\n")
    code, out, err = drain(machine.spawn(r"C:\tools\b.cmd one two", cwd=r"C:\tools"))
    assert out == "[one] [two] 100%\r\n"
    assert code == 1 and "does not support batch parameter modifiers" in err
    machine.fs.write_bytes(r"C:\tools\e.cmd", b"echo visible\r\n")
    out = drain(machine.spawn(r"e.cmd", cwd=r"C:\tools"))[1]
    assert out == "\r\nC:\\tools>echo visible\r\nvisible\r\n"


@pytest.mark.parametrize("kind", ["job", "uvm"])
def test_the_idle_program_ships_in_the_probe_not_in_system32(machine, monkeypatch, kind):
    # images.toml's idle command runs probe-idle.exe from the container's rootfs: it works
    # on a host and in a UVM that have no waitfor.exe (issue 12, finding 7).
    from harness.sim.cri.images import Registry, normalize_ref
    from hpc_images.model import load_spec

    monkeypatch.setattr(guest, "_UVM_HOST_PROGRAMS",
                        tuple(p for p in guest._UVM_HOST_PROGRAMS if p != "waitfor.exe"))
    machine.fs.remove(r"C:\Windows\System32\waitfor.exe")
    files = load_spec()
    image = Registry(machine, files).resolve(normalize_ref(files.probe_ref(26100)), 26100)
    ctr = container(machine, kind, image=image)
    idle = list(files_idle_command())
    assert run(machine, ctr, "cmd /c " + idle[0] + " /?")[0] == 0
    proc = guest.launch(machine, ctr, ProcessSpec(args=["cmd", "/c", *idle], command_line=None,
                                                  user=SYSTEM, cwd="C:\\hpc"))
    assert proc.read_output(4096, 0.5) == (b"", b"", False)  # idling, not failed
    proc.terminate()
    assert proc.wait(5) is not None


def files_idle_command() -> list[str]:
    import tomllib

    from hpc_images.model import IMAGES_TOML

    raw = tomllib.loads(IMAGES_TOML.read_text(encoding="utf-8"))["probe"]["idle_command"]
    return [a.replace("{token}", "0123abcd").replace("{rootfs}", "C:\\hpc\\") for a in raw]
