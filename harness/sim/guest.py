"""The guest: what a process inside a container sees, and how it gets started there.

The CRI model (:mod:`harness.sim.cri.runtime`) decides *whether* and *as what* a process
runs; this module decides *where*.  :func:`launch` takes a container and the
:class:`~harness.sim.cri.model.ProcessSpec` the shim produced and starts a
:class:`~harness.sim.process.SimProcess` whose programs see the container's world through a
:class:`ContainerView` — an object that quacks like :class:`~harness.sim.machine.Machine`
for the programs that run inside (``fs``, ``name``, ``find_program``, ``run_child`` ...), so
the sim's one ``cmd.exe`` (:mod:`harness.sim.programs.cmd`) runs built-ins, redirections and
``%VAR%`` expansion in containers unchanged.

Three worlds (docs/behaviour/runtime.md §3, §6; docs/behaviour/ecosystem.md §2.2):

* **Process-isolated HPC** (a job object on the host, ``internal/jobcontainers``): the
  host's disk with the image mounted at the container's rootfs location, the host's network
  adapters and host name.  :func:`launch` does what ``JobContainer.CreateProcess`` does
  (§3.2, §3.3): mount-point substitution, the working directory, the environment from the
  user's logon plus ``CONTAINER_SANDBOX_MOUNT_POINT`` and the PATH extension, ``cmd /c``
  when the bind filter is present, and the executable search of ``getApplicationName``
  from the *shim's* view of the disk (a bind-filtered rootfs is invisible there).
* **HPC in a utility VM**: the UVM's own small disk (built once per UVM) with the image at
  the rootfs location, no network adapter, the UVM's host name.  The process is created
  outside the silo, so its executable is looked up on the UVM disk *without* the rootfs
  mount and without cmd's built-ins (§2.5): a bare ``echo`` or a rootfs-only program fails
  with ERROR_FILE_NOT_FOUND — which the shim's ``cmd /c`` wrap exists to avoid.
* **A normal (non-HPC) container**: its rootfs is its whole ``C:`` drive.

Anything this model does not know fails loudly (:class:`LaunchError`, or a program that
says the simulated host has no model of it).  Choices where the reference marks the guest
as unverified are listed in ``harness/sim/ASSUMPTIONS.md`` ("Guest and crictl").
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.sim import winparse
from harness.sim.cri.flavors import Flavor
from harness.sim.cri.launch import LaunchError
from harness.sim.cri.model import ContainerRecord, ProcessSpec, Uvm
from harness.sim.cri.shim import effective_command_line, windows_clean
from harness.sim.filesystem import (
    ERROR_ACCESS_DENIED,
    ERROR_ALREADY_EXISTS,
    ERROR_DIRECTORY,
    ERROR_FILE_NOT_FOUND,
    ERROR_NOT_SAME_DEVICE,
    WIN_MESSAGES,
    FileStat,
    FileSystem,
    win_error,
)
from harness.sim.hostmodel import DEFAULT_UBR
from harness.sim.machine import (
    DEFAULT_PATHEXT,
    SYSTEM32,
    WINDOWS,
    Account,
    Environ,
    Launch,
    Machine,
    ProcessContext,
    Program,
    run_child_process,
)
from harness.sim.process import SimProcess

# hcsshim internal/jobcontainers/storage.go: the bind filter is "supported" when this DLL is
# a regular file (§1.4, §3.3).
BINDFLT_DLL = rf"{SYSTEM32}\bindfltapi.dll"
SANDBOX_MOUNT_POINT_ENV = "CONTAINER_SANDBOX_MOUNT_POINT"
UVM_DEFAULT_ROOTFS = "C:\\hpc\\"  # the guest's default for HV-HPC (§1.4, §8 item 8)

# Behaviour keys of the programs this module adds (placeholder files name them).
IPCONFIG_KEY = "sim:ipconfig"
PING_KEY = "sim:ping"

_PLACEHOLDER_RE = re.compile(rb"hpc-e2e-sim program=([^\r\n]+)")


def placeholder(key: str) -> bytes:
    """A placeholder executable naming behaviour ``key`` (harness/sim/machine.py)."""
    return (b"MZ\r\nhpc-e2e-sim program=" + key.encode() + b"\r\n"
            b"placeholder of the hpc-e2e simulated host; not a real executable\r\n")


def go_quote(text: str) -> str:
    """Go's ``%q`` for the ASCII-printable texts the shim quotes (paths, command lines)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# --- network -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adapter:
    """One network adapter as ``ipconfig`` shows it."""

    name: str
    ipv4: str
    mask: str
    gateway: str
    link_local: str  # with its zone index, as ipconfig prints it ("fe80::...%6")
    dns_suffix: str = ""
    kind: str = "Ethernet"  # ipconfig's heading: "<kind> adapter <name>:"


def host_adapters(machine: Machine) -> tuple[Adapter, ...]:
    """The host's adapters: one ``Ethernet`` on a lab subnet, stable for a host name.

    A plausible stand-in (ASSUMPTIONS.md): the tests only need "the host has an IPv4
    address and a gateway" and "a process-isolated HPC sees the same ones".
    """
    d = hashlib.sha256(machine.name.upper().encode()).digest()
    host = 10 + d[0] % 200
    groups = ":".join(f"{(d[i] << 8 | d[i + 1]):x}" for i in (2, 4, 6, 8))
    return (Adapter(name="Ethernet", ipv4=f"10.1.0.{host}", mask="255.255.255.0",
                    gateway="10.1.0.1", link_local=f"fe80::{groups}%6"),)


def adapters_of(system: Any) -> tuple[Adapter, ...]:
    """The adapters a process on ``system`` (a Machine or a ContainerView) sees."""
    if isinstance(system, ContainerView):
        return system.adapters
    return host_adapters(system)


def bind_filter_supported(machine: Machine) -> bool:
    """``jobcontainers.FileBindingSupported``: ``bindfltapi.dll`` exists on the host."""
    return machine.fs.is_file(BINDFLT_DLL)


# --- a disk with volumes mounted on folders ------------------------------------------------
@dataclass(frozen=True)
class _Mount:
    path: str  # display form, no trailing separator ("C:\hpc")
    drive: str
    parts: tuple[str, ...]  # casefolded components below the drive
    volume: FileSystem  # the volume's root is its C:\


def _split_parts(full: str) -> tuple[str, tuple[str, ...]]:
    drive, rest = full[0].upper(), full[3:]
    return drive, tuple(p for p in rest.split("\\") if p)


class ContainerFileSystem:
    """A disk as a container sees it: a base disk with volumes mounted on folders.

    It offers :class:`~harness.sim.filesystem.FileSystem`'s public interface (what cmd's
    built-ins and the other programs use) and routes each path to the base disk or to the
    volume mounted above it.  Folders that lead to a mount point exist even when the base
    disk has no such folder (a silo's bind mount of ``C:\\hpc`` needs no ``C:\\hpc`` on the
    host).  Moving an entry between the base and a volume is ERROR_NOT_SAME_DEVICE, as on
    Windows between volumes.
    """

    def __init__(self, base: FileSystem, mounts: Sequence[tuple[str, FileSystem]] = ()):
        self.base = base
        ms = []
        for path, volume in mounts:
            full = base.resolve(path).rstrip("\\")
            drive, parts = _split_parts(full + "\\")
            if not parts:
                raise ValueError(f"cannot mount a volume over the drive root {path!r}")
            ms.append(_Mount(full, drive, tuple(p.casefold() for p in parts), volume))
        # Deepest first, so a mount inside another one wins.
        self._mounts = sorted(ms, key=lambda m: -len(m.parts))

    # --- pure path operations (no disk access): the base disk's rules --------------------
    def resolve(self, path: str, cwd: str | None = None) -> str:
        return self.base.resolve(path, cwd)

    normalize = resolve

    def key(self, path: str, cwd: str | None = None) -> str:
        return self.base.key(path, cwd)

    def split(self, path: str, cwd: str | None = None) -> tuple[str, str]:
        return self.base.split(path, cwd)

    def join(self, base: str, *names: str) -> str:
        return self.base.join(base, *names)

    @property
    def drives(self) -> list[str]:
        return self.base.drives

    @property
    def lock(self) -> threading.RLock:
        return self.base.lock

    @property
    def mounts(self) -> list[str]:
        return [m.path for m in self._mounts]

    # --- routing ---------------------------------------------------------------------------
    def _route(self, path: str, cwd: str | None) -> tuple[FileSystem, str, _Mount | None]:
        full = self.base.resolve(path, cwd)
        drive, parts = _split_parts(full if len(full) > 3 else full[:2] + "\\")
        folded = tuple(p.casefold() for p in parts)
        for m in self._mounts:
            if m.drive == drive and folded[:len(m.parts)] == m.parts:
                rest = parts[len(m.parts):]
                return m.volume, "C:\\" + "\\".join(rest), m
        return self.base, full, None

    def _leads_to_mount(self, path: str, cwd: str | None) -> bool:
        """True for a folder strictly above a mount point (it exists in this view)."""
        full = self.base.resolve(path, cwd)
        drive, parts = _split_parts(full if len(full) > 3 else full[:2] + "\\")
        folded = tuple(p.casefold() for p in parts)
        return any(m.drive == drive and len(m.parts) > len(folded)
                   and m.parts[:len(folded)] == folded for m in self._mounts)

    def _is_mount_root(self, path: str, cwd: str | None) -> bool:
        _, p, m = self._route(path, cwd)
        return m is not None and p == "C:\\"

    def _mount_entries(self, folder: str) -> dict[str, str]:
        """Names (casefolded -> display) that mounts add to ``folder``'s listing."""
        drive, parts = _split_parts(folder if len(folder) > 3 else folder[:2] + "\\")
        folded = tuple(p.casefold() for p in parts)
        out: dict[str, str] = {}
        for m in self._mounts:
            if m.drive == drive and len(m.parts) > len(folded) and \
                    m.parts[:len(folded)] == folded:
                display = m.path[3:].split("\\")[len(folded)]
                out[display.casefold()] = display
        return out

    # --- queries -------------------------------------------------------------------------
    def exists(self, path: str, cwd: str | None = None) -> bool:
        fs, p, _ = self._route(path, cwd)
        return fs.exists(p) or self._leads_to_mount(path, cwd)

    def is_dir(self, path: str, cwd: str | None = None) -> bool:
        fs, p, _ = self._route(path, cwd)
        return fs.is_dir(p) or self._leads_to_mount(path, cwd)

    def is_file(self, path: str, cwd: str | None = None) -> bool:
        fs, p, _ = self._route(path, cwd)
        return fs.is_file(p)

    def stat(self, path: str, cwd: str | None = None) -> FileStat:
        fs, p, _ = self._route(path, cwd)
        try:
            return fs.stat(p)
        except FileNotFoundError:
            if self._leads_to_mount(path, cwd):
                return FileStat(0, time.time(), True, time.time())
            raise

    def real_path(self, path: str, cwd: str | None = None) -> str:
        fs, p, m = self._route(path, cwd)
        if m is None:
            try:
                return fs.real_path(p)
            except FileNotFoundError:
                if self._leads_to_mount(path, cwd):
                    return self.base.resolve(path, cwd)
                raise
        tail = m.volume.real_path(p)[3:]
        return m.path + ("\\" + tail if tail else "")

    def scandir(self, path: str, cwd: str | None = None) -> list[tuple[str, FileStat]]:
        fs, p, m = self._route(path, cwd)
        try:
            entries = fs.scandir(p)
        except FileNotFoundError:
            if not self._leads_to_mount(path, cwd):
                raise
            entries = []
        if m is not None:
            return entries
        extra = self._mount_entries(self.base.resolve(path, cwd))
        if not extra:
            return entries
        now = time.time()
        merged = {n.casefold(): (n, st) for n, st in entries}
        for folded, display in extra.items():
            merged[folded] = (merged.get(folded, (display,))[0], FileStat(0, now, True, now))
        return [merged[k] for k in sorted(merged)]

    def listdir(self, path: str, cwd: str | None = None) -> list[str]:
        return [n for n, _ in self.scandir(path, cwd)]

    def walk(self, top: str, cwd: str | None = None
             ) -> Iterator[tuple[str, list[str], list[str]]]:
        top = self.real_path(top, cwd)
        if not self.is_dir(top):
            return
        stack = [top]
        while stack:
            current = stack.pop()
            try:
                entries = self.scandir(current)
            except OSError:
                continue
            dirs = [n for n, st in entries if st.is_dir]
            yield current, dirs, [n for n, st in entries if not st.is_dir]
            stack.extend(self.join(current, d) for d in reversed(dirs))

    # --- changes -------------------------------------------------------------------------
    def mkdir(self, path: str, parents: bool = False, exist_ok: bool = False,
              cwd: str | None = None) -> None:
        if self._is_mount_root(path, cwd) or self._leads_to_mount(path, cwd):
            if exist_ok:
                return
            raise win_error(FileExistsError, ERROR_ALREADY_EXISTS, path)
        fs, p, _ = self._route(path, cwd)
        fs.mkdir(p, parents=parents, exist_ok=exist_ok)

    def makedirs(self, path: str, exist_ok: bool = True, cwd: str | None = None) -> None:
        self.mkdir(path, parents=True, exist_ok=exist_ok, cwd=cwd)

    def _refuse_mount_points(self, path: str, cwd: str | None) -> None:
        if self._is_mount_root(path, cwd) or self._leads_to_mount(path, cwd):
            raise win_error(PermissionError, ERROR_ACCESS_DENIED, path)

    def rmdir(self, path: str, cwd: str | None = None) -> None:
        self._refuse_mount_points(path, cwd)
        fs, p, _ = self._route(path, cwd)
        fs.rmdir(p)

    def rmtree(self, path: str, cwd: str | None = None) -> None:
        self._refuse_mount_points(path, cwd)
        fs, p, _ = self._route(path, cwd)
        fs.rmtree(p)

    def open(self, path: str, mode: str = "rb", cwd: str | None = None):
        fs, p, _ = self._route(path, cwd)
        return fs.open(p, mode)

    def read_bytes(self, path: str, cwd: str | None = None) -> bytes:
        fs, p, _ = self._route(path, cwd)
        return fs.read_bytes(p)

    def write_bytes(self, path: str, data: bytes, cwd: str | None = None) -> None:
        fs, p, _ = self._route(path, cwd)
        fs.write_bytes(p, data)

    def remove(self, path: str, cwd: str | None = None) -> None:
        fs, p, _ = self._route(path, cwd)
        fs.remove(p)

    def rename(self, src: str, dst: str, replace: bool = True, cwd: str | None = None) -> None:
        self._refuse_mount_points(src, cwd)
        fs1, p1, m1 = self._route(src, cwd)
        fs2, p2, m2 = self._route(dst, cwd)
        if fs1 is not fs2 or m1 != m2:
            raise win_error(OSError, ERROR_NOT_SAME_DEVICE, src, dst)
        fs1.rename(p1, p2, replace=replace)

    def copy_file(self, src: str, dst: str, cwd: str | None = None) -> int:
        data = self.read_bytes(src, cwd)
        if self.is_dir(dst, cwd):
            raise win_error(IsADirectoryError, ERROR_ACCESS_DENIED, dst)
        self.write_bytes(dst, data, cwd)
        return len(data)


def image_volume(files: Mapping[str, bytes]) -> FileSystem:
    """A fresh volume holding an image's rootfs at its root (the container's scratch copy)."""
    volume = FileSystem()
    for rel, data in files.items():
        path = "C:\\" + rel.replace("/", "\\").lstrip("\\")
        parent, _ = volume.split(path)
        volume.makedirs(parent)
        volume.write_bytes(path, data)
    return volume


class SubtreeVolume:
    """A host folder or file as a mount shows it: its ``C:\\`` is ``source`` on ``disk``.

    How a container sees a CRI mount (docs/behaviour/runtime.md §9.5-§9.7): the bind
    filter's file binding (a job container), a VSMB share mapped into a UVM, or a symlink;
    each is a live view of the host's folder, so what one side writes the other reads.
    ``readonly`` refuses every change with ERROR_ACCESS_DENIED (bindflt's read-only binding,
    VSMB's ``ReadOnly`` share option).  A file mount's root is the file itself.
    """

    def __init__(self, disk: FileSystem, source: str, readonly: bool):
        self.disk = disk
        self.source = disk.resolve(source).rstrip("\\")
        self.readonly = readonly

    @property
    def lock(self) -> threading.RLock:
        return self.disk.lock

    def _host(self, path: str) -> str:
        rest = path[3:] if len(path) > 3 else ""
        return self.source + ("\\" + rest if rest else "")

    def _writable(self, path: str) -> None:
        if self.readonly:
            raise win_error(PermissionError, ERROR_ACCESS_DENIED, path)

    def exists(self, path: str) -> bool:
        return self.disk.exists(self._host(path))

    def is_dir(self, path: str) -> bool:
        return self.disk.is_dir(self._host(path))

    def is_file(self, path: str) -> bool:
        return self.disk.is_file(self._host(path))

    def stat(self, path: str) -> FileStat:
        return self.disk.stat(self._host(path))

    def real_path(self, path: str) -> str:
        real = self.disk.real_path(self._host(path))
        return "C:\\" + real[len(self.source):].lstrip("\\")

    def scandir(self, path: str) -> list[tuple[str, FileStat]]:
        return self.disk.scandir(self._host(path))

    def mkdir(self, path: str, parents: bool = False, exist_ok: bool = False) -> None:
        self._writable(path)
        self.disk.mkdir(self._host(path), parents=parents, exist_ok=exist_ok)

    def rmdir(self, path: str) -> None:
        self._writable(path)
        self.disk.rmdir(self._host(path))

    def rmtree(self, path: str) -> None:
        self._writable(path)
        self.disk.rmtree(self._host(path))

    def open(self, path: str, mode: str = "rb"):
        if any(c in mode for c in "wax+"):
            self._writable(path)
        return self.disk.open(self._host(path), mode)

    def read_bytes(self, path: str) -> bytes:
        return self.disk.read_bytes(self._host(path))

    def write_bytes(self, path: str, data: bytes) -> None:
        self._writable(path)
        self.disk.write_bytes(self._host(path), data)

    def remove(self, path: str) -> None:
        self._writable(path)
        self.disk.remove(self._host(path))

    def rename(self, src: str, dst: str, replace: bool = True) -> None:
        self._writable(src)
        self.disk.rename(self._host(src), self._host(dst), replace=replace)


def strip_drive_letter(name: str) -> str:
    """``stripDriveLetter`` (internal/jobcontainers/mounts.go): ``C:`` -> ``.``,
    ``C:\\x`` -> ``\\x``."""
    if len(name) == 2 and name[1] == ":":
        return "."
    if len(name) > 2 and name[1] == ":":
        return name[2:]
    return name


def _mount_points(container: ContainerRecord, host: FileSystem, mounts: Sequence[Any], *,
                  at_destination: bool, rootfs: str | None) -> list[tuple[str, Any]]:
    """Where each mount appears: at its destination (bind filter, UVM) and, for a job
    container, also under the rootfs (``setupMounts``' backwards-compatible symlink, or
    ``fallbackMountSetup`` without the bind filter)."""
    out: list[tuple[str, Any]] = []
    for m in mounts:
        if not host.exists(m.source):
            # ApplyFileBinding / AddVSMB of a source that vanished after CreateContainer.
            raise LaunchError(f"failed to set up mount {m.source} -> {m.destination} for "
                              f"container {container.id}: "
                              f"{WIN_MESSAGES[ERROR_FILE_NOT_FOUND]}", ERROR_FILE_NOT_FOUND)
        volume = SubtreeVolume(host, m.source, m.readonly)
        if at_destination:
            out.append((m.destination, volume))
        if rootfs is not None:
            out.append((windows_clean(rootfs + "\\" + strip_drive_letter(m.destination)),
                        volume))
    return out


# --- the UVM's own disk ------------------------------------------------------------------------
_UVM_FOLDERS = (SYSTEM32, rf"{SYSTEM32}\config\systemprofile\AppData\Local\Temp",
                rf"{WINDOWS}\Temp", rf"{WINDOWS}\System", r"C:\ProgramData",
                r"C:\Program Files", r"C:\Users\Public")
# The UVM boots a minimal Windows: cmd and the tools the suite reads (waitfor.exe keeps a
# container alive without network).  No PowerShell (ASSUMPTIONS.md).  Host programs reuse
# the host's behaviour keys.
_UVM_HOST_PROGRAMS = ("cmd.exe", "whoami.exe", "hostname.exe", "waitfor.exe")
_UVM_OWN_PROGRAMS = {"ipconfig.exe": IPCONFIG_KEY, "PING.EXE": PING_KEY}


class GuestOS:
    """The Windows a utility VM boots: its disk, name and version (one per UVM)."""

    def __init__(self, machine: Machine, uvm: Uvm):
        self.fs = FileSystem()
        for folder in _UVM_FOLDERS:
            self.fs.makedirs(folder)
        for name in _UVM_HOST_PROGRAMS:
            self.fs.write_bytes(rf"{SYSTEM32}\{name}",
                                placeholder(machine.fs.key(rf"{SYSTEM32}\{name}")))
        for name, key in _UVM_OWN_PROGRAMS.items():
            self.fs.write_bytes(rf"{SYSTEM32}\{name}", placeholder(key))
        if not uvm.hostname:
            # Windows' default computer-name shape, stable for a UVM id (ASSUMPTIONS.md).
            digest = hashlib.sha256(uvm.id.encode()).hexdigest().upper()
            uvm.hostname = "WIN-" + digest[:11]
        self.hostname = uvm.hostname
        self.os_version = f"10.0.{uvm.os_build}.{DEFAULT_UBR.get(uvm.os_build, 1)}"
        self.launches: list[Launch] = []
        self.lock = threading.RLock()


_guest_lock = threading.Lock()


def guest_os(machine: Machine, uvm: Uvm) -> GuestOS:
    """The UVM's guest, created on first use and kept with the UVM object."""
    with _guest_lock:
        guest = uvm.__dict__.get("_hpc_e2e_guest")
        if guest is None:
            guest = GuestOS(machine, uvm)
            uvm.__dict__["_hpc_e2e_guest"] = guest
        return guest


# --- the view a container's programs get -------------------------------------------------------
_SERVICE_ACCOUNTS = {"SYSTEM": ("SYSTEM", r"C:\Windows\system32\config\systemprofile"),
                     "LOCAL SERVICE": ("LOCAL SERVICE",
                                       r"C:\Windows\ServiceProfiles\LocalService"),
                     "NETWORK SERVICE": ("NETWORK SERVICE",
                                         r"C:\Windows\ServiceProfiles\NetworkService")}


class ContainerView:
    """What programs inside a container get as ``ctx.machine``.

    It carries the subset of :class:`~harness.sim.machine.Machine` that programs use:
    ``fs``, ``name``/``computer_name``, ``os_version``, ``lock``, :meth:`account`,
    :meth:`find_program`, :meth:`program_at`, :meth:`run_child`; plus ``adapters`` (the
    network this process sees), ``machine`` (the real host) and ``cri`` (the host's
    containerd for a process-isolated HPC, which runs on the host; None elsewhere).
    """

    def __init__(self, machine: Machine, container: ContainerRecord, *, kind: str,
                 fs: ContainerFileSystem, launcher_fs: Any, name: str, os_version: str,
                 adapters: tuple[Adapter, ...], rootfs_location: str,
                 launches: list[Launch], guest: GuestOS | None = None):
        self.machine = machine
        self.container = container
        self.kind = kind  # "job" (PI-HPC), "uvm" (HV-HPC), "container" (not HPC)
        self.fs = fs
        self.launcher_fs = launcher_fs  # the disk as the process creator sees it
        self.name = name
        self.computer_name = name.upper()[:15]
        self.os_version = os_version
        self.adapters = adapters
        self.rootfs_location = rootfs_location
        self.launches = launches
        self.guest = guest
        self.lock = machine.lock
        self.flavor = machine.flavor

    def __repr__(self) -> str:
        return f"<ContainerView {self.kind} {self.container.id[:12]} on {self.name}>"

    @property
    def cri(self) -> Any:
        return self.machine.cri if self.kind == "job" else None

    # --- accounts ------------------------------------------------------------------------
    def account(self, user: str | None = None) -> Account:
        """The account a process runs as, in this container's world."""
        user = user or self.container.user
        if self.kind == "job":
            return self.machine.account(user)  # a job container's token is a host logon
        domain, _, name = (user or "").rpartition("\\")
        if not name:
            raise ValueError("no user for the process")
        if domain.upper() == "NT AUTHORITY" or (not domain and name.upper() == "SYSTEM"):
            entry = _SERVICE_ACCOUNTS.get(name.upper()) or \
                _SERVICE_ACCOUNTS.get(name.upper().replace("SERVICE", " SERVICE"))
            if entry is None:
                raise ValueError(f"the simulated guest has no built-in account {user!r}")
            return Account("NT AUTHORITY", *entry)
        if domain and domain not in (".",) and domain.upper() != self.computer_name:
            raise ValueError(f"the simulated guest is in no domain; cannot run as {user!r}")
        return Account(self.computer_name, name, rf"C:\Users\{name}")

    # --- programs ------------------------------------------------------------------------
    def find_program(self, name: str, *, cwd: str, env: Mapping[str, str],
                     style: str = "cmd") -> str | None:
        """Where ``name`` resolves to in this view (same rules as Machine.find_program)."""
        return _find_program(self.fs, name, cwd=cwd, env=env, style=style)

    def program_at(self, path: str) -> Program:
        return _program_in(self.machine, self.fs, path)

    def record(self, image: str, command_line: str, account: Account,
               parent: str | None) -> None:
        entry = Launch(image, command_line, account.qualified, parent, time.time())
        with self.lock:
            self.launches.append(entry)
            if self.kind == "job":  # a job container's processes are host processes
                self.machine.launches.append(entry)

    def run_child(self, parent: ProcessContext, image: str, command_line: str, *,
                  stdin=None, stdout=None, stderr=None, cwd: str | None = None,
                  env: Mapping[str, str] | None = None) -> int:
        """Run a program as a child of ``parent`` on the calling thread (cmd's externals)."""
        return run_child_process(self, parent, image, command_line, record=self.record,
                                 inherit_extra=True,
                                 where=f" (container {self.container.id[:12]})",
                                 stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, env=env)


def _find_program(fs: Any, name: str, *, cwd: str, env: Mapping[str, str],
                  style: str) -> str | None:
    name = name.strip()
    if not name:
        return None
    last = re.split(r"[\\/]", name)[-1]
    has_ext = "." in last.lstrip(".")
    has_dir = bool(re.search(r"[\\/:]", name))
    path_dirs = [e.strip().strip('"') for e in env.get("PATH", "").split(";") if e.strip()]
    if style == "cmd":
        exts = [e.strip() for e in env.get("PATHEXT", DEFAULT_PATHEXT).split(";")
                if e.strip()]
        names = ([name] if has_ext else []) + [name + e for e in exts]
        dirs = [cwd] if has_dir else [cwd, *path_dirs]
    elif style == "createprocess":
        names = [name if has_ext else name + ".exe"]
        dirs = [cwd] if has_dir else [SYSTEM32, cwd, rf"{WINDOWS}\System", WINDOWS,
                                      *path_dirs]
    else:
        raise ValueError(f"unknown search style {style!r}")
    for d in dirs:
        for candidate in names:
            try:
                path = fs.resolve(candidate, fs.resolve(d, cwd))
            except (OSError, ValueError):
                if has_dir:
                    raise
                continue
            if fs.is_file(path):
                return fs.real_path(path)
    return None


def _program_in(machine: Machine, fs: Any, path: str) -> Program:
    """The behaviour of the executable at ``path`` on ``fs`` (placeholder content)."""
    with fs.open(path, "rb") as f:
        head = f.read(512)
    m = _PLACEHOLDER_RE.search(head)
    if m is not None:
        # A placeholder names a key: a host program's path key, or a behaviour key followed
        # by data such as version=.
        program = machine.named_program(m.group(1).decode(errors="replace").strip())
        if program is not None:
            return program
    real = fs.real_path(path)

    def no_model(ctx: ProcessContext) -> int:
        ctx.stderr.line(f"the simulated host has no model of program {real} "
                        f"(command line: {ctx.command_line})")
        return 1
    return no_model


# --- views of containers ---------------------------------------------------------------------
def container_view(machine: Machine, container: ContainerRecord,
                   flavor: Flavor | None = None) -> ContainerView:
    """The container's view, built at its first process and kept with the container.
    ``flavor``'s guest hooks decide what the view exposes (today's guest when None)."""
    with _guest_lock:
        view = container.__dict__.get("_hpc_e2e_view")
        if view is not None:
            return view
    view = _build_view(machine, container, flavor or Flavor())
    with _guest_lock:
        return container.__dict__.setdefault("_hpc_e2e_view", view)


def _is_absolute_drive_path(path: str) -> bool:
    """``X:\\...``: the only form a volume can be bound at."""
    return len(path) >= 3 and path[0].isascii() and path[0].isalpha() and path[1] == ":" \
        and path[2] in "\\/"


def _build_view(machine: Machine, container: ContainerRecord, flavor: Flavor) -> ContainerView:
    """Where the container's processes run, as the runtime decided at start
    (``ContainerRecord.host_job`` / ``ContainerRecord.uvm``), exposed as the flavor's guest says."""
    volume = image_volume(container.image.files)
    if container.host_job:
        if not container.rootfs_location:
            raise LaunchError(f"the simulated guest got job container {container.id} "
                              "without a rootfs location (the runtime sets it at start)")
        location = flavor.guest_rootfs_location("job", container.rootfs_location)
        if location is not None and not _is_absolute_drive_path(location):
            # PI-HPC takes the location verbatim, unsanitised (§8.7); binding a volume at a
            # relative path cannot work.  The text is the sim's guess (ASSUMPTIONS.md).
            raise LaunchError(f"failed to bind the container's rootfs at {location!r}: "
                              "The filename, directory name, or volume label syntax is "
                              "incorrect.", winerror=123)
        bindflt = bind_filter_supported(machine)
        mounts = flavor.guest_mounts("job", list(container.shim_mounts))
        # With the bind filter a mount is bound at its destination and linked under the
        # rootfs; without it, only linked under the rootfs (§9.6, mounts.go).
        points = _mount_points(container, machine.fs, mounts, at_destination=bindflt,
                               rootfs=location)
        fs = ContainerFileSystem(machine.fs, ([(location, volume)] if location else [])
                                 + points)
        # Without the bind filter the volume is mounted on a host folder the shim can see;
        # with it, only processes inside the silo see it (§3.3, path.go comment).
        launcher = machine.fs if bindflt else fs
        return ContainerView(machine, container, kind="job", fs=fs, launcher_fs=launcher,
                             name=flavor.guest_hostname("job", machine.name,
                                                        host_name=machine.name),
                             os_version=machine.os_version,
                             adapters=tuple(flavor.guest_adapters(
                                 "job", host_adapters(machine),
                                 host_adapters=host_adapters(machine))),
                             rootfs_location=container.rootfs_location, launches=[])
    if container.uvm is not None:
        guest = guest_os(machine, container.uvm)
        if container.is_hpc:
            location = container.rootfs_location or UVM_DEFAULT_ROOTFS
            shown = flavor.guest_rootfs_location("uvm", location)
            mounts = flavor.guest_mounts("uvm", list(container.shim_mounts))
            # VSMB shares mapped at each destination (§9.7); no rootfs link in a UVM.
            points = _mount_points(container, machine.fs, mounts, at_destination=True,
                                   rootfs=None)
            fs = ContainerFileSystem(guest.fs, ([(shown, volume)] if shown else []) + points)
            return ContainerView(machine, container, kind="uvm", fs=fs, launcher_fs=guest.fs,
                                 name=flavor.guest_hostname("uvm", guest.hostname,
                                                            host_name=machine.name),
                                 os_version=guest.os_version,
                                 adapters=tuple(flavor.guest_adapters(
                                     "uvm", (), host_adapters=host_adapters(machine))),
                                 rootfs_location=location,
                                 launches=guest.launches, guest=guest)
        return _normal_view(machine, container, volume, guest.os_version, flavor)
    if container.is_hpc:
        raise LaunchError(f"the simulated guest got HostProcess container {container.id} "
                          "that runs neither as a host job nor in a UVM")
    return _normal_view(machine, container, volume, machine.os_version, flavor)


def _normal_view(machine: Machine, container: ContainerRecord, volume: FileSystem,
                 os_version: str, flavor: Flavor) -> ContainerView:
    """A Windows Server container: the image is its C: drive; the pod IP its only address."""
    pod = container.pod
    hostname = (pod.config.get("hostname") or "") if isinstance(pod.config, dict) else ""
    adapters: tuple[Adapter, ...] = ()
    if pod.ip:
        prefix = pod.ip.rsplit(".", 1)[0]
        adapters = (Adapter(name=f"vEthernet ({container.id[:12]})", ipv4=pod.ip,
                            mask="255.255.240.0", gateway=f"{prefix}.1",
                            link_local="fe80::1%30"),)
    fs = ContainerFileSystem(volume)
    return ContainerView(machine, container, kind="container", fs=fs, launcher_fs=fs,
                         name=flavor.guest_hostname("container",
                                                    hostname or container.id[:12].upper(),
                                                    host_name=machine.name),
                         os_version=os_version,
                         adapters=tuple(flavor.guest_adapters(
                             "container", adapters, host_adapters=host_adapters(machine))),
                         rootfs_location="C:\\", launches=[])


# --- process creation ------------------------------------------------------------------------
def launch(machine: Machine, container: ContainerRecord, process: ProcessSpec, *,
           codepage: int = 65001, flavor: Flavor | None = None,
           init: bool = False) -> SimProcess:
    """Start ``process`` in ``container``; raises :class:`LaunchError` as HCS/the shim would.

    ``process`` is the shim's final process (after the §2.5 wrap and user rules) as it
    reaches the compute system: for a process-isolated HPC this function then applies
    ``JobContainer.CreateProcess`` (§3.2, §3.3); for a UVM it is the guest's process
    creation.  The returned process's stdout/stderr are the container's pipes.
    ``flavor`` (today's when None) decides the job container's rules and what the guest
    exposes; ``init`` says the process is the container's init process, not an exec.
    """
    register_behaviours(machine)
    flavor = flavor or Flavor()
    view = container_view(machine, container, flavor)
    if view.kind == "job":
        return _launch_job_process(view, process, codepage, flavor, init)
    return _launch_compute_system_process(view, process, codepage)


def _launch_job_process(view: ContainerView, process: ProcessSpec, codepage: int,
                        flavor: Flavor, init: bool) -> SimProcess:
    machine, location = view.machine, view.rootfs_location
    bindflt = bind_filter_supported(machine)
    workdir = flavor.job_working_dir(process.cwd or "", location, bindflt, init=init)
    try:
        view.fs.makedirs(workdir)  # MkdirAll (jobcontainer.go 256-261)
        workdir = view.fs.real_path(workdir)
    except OSError as exc:
        raise LaunchError(f"mkdir {workdir}: {exc.strerror or exc}",
                          getattr(exc, "winerror", None)) from None
    try:
        account = view.account(process.user)
        default_block = [f"{k}={v}" for k, v in machine.environment_for(process.user).items()]
    except ValueError as exc:
        raise LaunchError("failed to create user process token: failed to logon user: "
                          f"{exc}") from None
    env = Environ()
    for entry in flavor.job_environment(default_block, list(process.env), location,
                                        init=init):
        name, sep, value = entry.partition("=")
        if sep and name:
            env[name] = value
    original = effective_command_line(process)
    command_line = flavor.job_command_line(original, location, bindflt, init=init)
    image, command_line = _application_name(view, original, command_line, workdir,
                                            env.get("PATH", ""))
    return _start(view, image, command_line, env, workdir, account, codepage)


_SPLIT_ARGS = re.compile(r'[^\t\n\f\r "]+|"[^"]*"')  # jobcontainer.go splitArgs


def _application_name(view: ContainerView, original: str, command_line: str, workdir: str,
                      path_env: str) -> tuple[str, str]:
    """``getApplicationName`` (jobcontainers/path.go) on the shim's view of the disk."""
    fs = view.launcher_fs
    dirs = [workdir, *[p for p in path_env.split(";") if p],
            SYSTEM32, rf"{WINDOWS}\System", WINDOWS]
    prefix = f"failed to get application name from commandline {go_quote(original)}: "

    def search(name: str) -> str | None:
        last = re.split(r"[\\/]", name)[-1]
        candidate = name if "." in last.lstrip(".") else name + ".exe"
        absolute = bool(re.match(r"[A-Za-z]:[\\/]|[\\/]", candidate))
        for d in ([None] if absolute else dirs):
            try:
                path = fs.resolve(candidate, d) if d else fs.resolve(candidate)
            except (OSError, ValueError):
                continue
            if fs.is_dir(path):
                raise LaunchError(prefix + "found directory instead of executable "
                                  + go_quote(path))
            if fs.is_file(path):
                return fs.real_path(path)
        return None

    if command_line.startswith('"'):
        end = command_line.find('"', 1)
        if end == -1:
            raise LaunchError(prefix + "no ending quotation mark found in command")
        found = search(command_line[1:end])
        if found is None:
            raise LaunchError(prefix + WIN_MESSAGES[ERROR_FILE_NOT_FOUND],
                              ERROR_FILE_NOT_FOUND)
        return found, command_line
    args = _SPLIT_ARGS.findall(command_line)
    trial = ""
    for i, arg in enumerate(args):
        trial += arg
        found = search(trial)
        if found is not None:
            if i == 0:
                return found, command_line
            adjusted = f'"{trial}" ' + " ".join(args[i + 1:])
            return found, adjusted.strip()
        trial += " "
    raise LaunchError(prefix + f"failed to find executable {go_quote(command_line)}",
                      ERROR_FILE_NOT_FOUND)


def _launch_compute_system_process(view: ContainerView, process: ProcessSpec,
                                   codepage: int) -> SimProcess:
    """HCS ``CreateProcess`` in a UVM (HV-HPC, outside the silo) or a server container."""
    cid = view.container.id
    command_line = effective_command_line(process)
    try:
        account = view.account(process.user)
    except ValueError as exc:
        raise LaunchError(f"hcs::System::CreateProcess {cid}: the simulated guest cannot "
                          f"run as {process.user!r}: {exc}") from None
    env = _guest_environment(view, account)
    for entry in process.env:
        name, sep, value = entry.partition("=")
        if sep and name and value:
            env[name] = value
    cwd = process.cwd or "C:\\"
    if not view.fs.is_dir(cwd):
        raise LaunchError(f"hcs::System::CreateProcess {cid}: "
                          f"{WIN_MESSAGES[ERROR_DIRECTORY]}", ERROR_DIRECTORY)
    cwd = view.fs.real_path(cwd)
    token, _ = winparse.program_token(command_line, style="createprocess")
    # The creator's own view: a UVM's disk without the rootfs, the system PATH (§2.5).
    launcher_env = {"PATH": rf"{SYSTEM32};{WINDOWS};{SYSTEM32}\Wbem"} \
        if view.kind == "uvm" else env
    launcher_cwd = SYSTEM32 if view.kind == "uvm" else cwd
    try:
        image = _find_program(view.launcher_fs, token, cwd=launcher_cwd, env=launcher_env,
                              style="createprocess") if token else None
    except OSError:
        image = None
    if image is None:
        raise LaunchError(f"hcs::System::CreateProcess {cid}: "
                          f"{WIN_MESSAGES[ERROR_FILE_NOT_FOUND]}", ERROR_FILE_NOT_FOUND)
    return _start(view, image, command_line, env, cwd, account, codepage)


def _guest_environment(view: ContainerView, acct: Account) -> Environ:
    """A logon environment inside a UVM or a server container (no host-only entries)."""
    system = acct.domain == "NT AUTHORITY"
    profile = acct.profile
    temp = rf"{WINDOWS}\TEMP" if system else rf"{profile}\AppData\Local\Temp"
    env = Environ()
    for k, v in [
        ("ALLUSERSPROFILE", r"C:\ProgramData"),
        ("APPDATA", rf"{profile}\AppData\Roaming"),
        ("COMPUTERNAME", view.computer_name),
        ("ComSpec", r"C:\Windows\system32\cmd.exe"),
        ("LOCALAPPDATA", rf"{profile}\AppData\Local"),
        ("NUMBER_OF_PROCESSORS", "2"),
        ("OS", "Windows_NT"),
        ("Path", r"C:\Windows\system32;C:\Windows;C:\Windows\System32\Wbem"),
        ("PATHEXT", DEFAULT_PATHEXT),
        ("PROCESSOR_ARCHITECTURE", "AMD64"),
        ("ProgramData", r"C:\ProgramData"),
        ("ProgramFiles", r"C:\Program Files"),
        ("PROMPT", "$P$G"),
        ("PUBLIC", r"C:\Users\Public"),
        ("SystemDrive", "C:"),
        ("SystemRoot", WINDOWS),
        ("TEMP", temp),
        ("TMP", temp),
        ("USERDOMAIN", "WORKGROUP" if system else view.computer_name),
        ("USERNAME", f"{view.computer_name}$" if system else acct.name),
        ("USERPROFILE", profile),
        ("windir", WINDOWS),
    ]:
        env[k] = v
    return env


def _start(view: ContainerView, image: str, command_line: str, env: Environ, cwd: str,
           account: Account, codepage: int) -> SimProcess:
    program = view.program_at(image)
    view.record(image, command_line, account, None)

    def factory(stdin, stdout, stderr, cancel) -> ProcessContext:
        return ProcessContext(machine=view, command_line=command_line,
                              argv=winparse.split_argv(command_line), env=env, cwd=cwd,
                              stdin=stdin, stdout=stdout, stderr=stderr, cancelled=cancel,
                              codepage=codepage,
                              extra={"account": account, "image": image,
                                     "container": view.container})

    name = view.fs.split(image)[1]
    return SimProcess(factory, program, f"{name}@{view.container.id[:12]}",
                      codepage=codepage)


# --- programs: ipconfig and ping ------------------------------------------------------------
def ipconfig_program(ctx: ProcessContext) -> int:
    """``ipconfig`` without options: the adapters this process sees (none in a UVM)."""
    if len(ctx.argv) > 1:
        ctx.stderr.line(f"the simulated host does not model ipconfig {ctx.argv[1]}")
        return 1
    out = ctx.stdout
    out.line()
    out.line("Windows IP Configuration")
    out.line()
    for a in adapters_of(ctx.machine):
        out.line()
        out.line(f"{a.kind} adapter {a.name}:")
        out.line()
        out.line(f"   Connection-specific DNS Suffix  . : {a.dns_suffix}")
        out.line(f"   Link-local IPv6 Address . . . . . : {a.link_local}")
        out.line(f"   IPv4 Address. . . . . . . . . . . : {a.ipv4}")
        out.line(f"   Subnet Mask . . . . . . . . . . . : {a.mask}")
        out.line(f"   Default Gateway . . . . . . . . . : {a.gateway}")
    return 0


_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
PING_INTERVAL_T = 1.0  # seconds between echo requests of ``ping -t`` (as Windows)


def ping_program(ctx: ProcessContext) -> int:
    """``ping [-t] [-n N] [-w ms] [-l size] [-4] target``.

    Loopback always answers.  Elsewhere a process with an adapter reaches every IPv4
    address (the lab network answers); with no adapter (a UVM) the send fails with
    "General failure".  Names other than ``localhost`` and the own host name are not
    resolved (there is no DNS model).  See ASSUMPTIONS.md.
    """
    args = ctx.argv[1:]
    count, forever, size, v4 = 4, False, 32, False
    target = None
    i = 0
    while i < len(args):
        a = args[i]
        low = a.lower()
        if low in ("-t", "/t"):
            forever = True
        elif low in ("-4", "/4"):
            v4 = True
        elif low in ("-n", "/n", "-w", "/w", "-l", "/l") and i + 1 < len(args) \
                and args[i + 1].isdigit():
            value = int(args[i + 1])
            if low[1] == "n":
                count = value
            elif low[1] == "l":
                size = value
            i += 1
        elif low.startswith(("-", "/")) and len(a) > 1:
            ctx.stderr.line(f"the simulated host does not model ping option {a}")
            return 1
        elif target is None:
            target = a
        else:
            ctx.stderr.line(f"the simulated host does not model ping with several "
                            f"targets ({target}, {a})")
            return 1
        i += 1
    if target is None:
        ctx.stderr.line("the simulated host does not model ping's usage text (no target)")
        return 1
    adapters = adapters_of(ctx.machine)
    own_name = getattr(ctx.machine, "name", "")
    display = target
    if _IPV4.match(target) and all(int(p) < 256 for p in _IPV4.match(target).groups()):
        address = target
    elif target.lower() == "localhost" or target.lower() == own_name.lower():
        display = own_name
        address = "127.0.0.1" if v4 else "::1"
        if target.lower() != "localhost" and adapters:
            address = adapters[0].ipv4
    else:
        ctx.stdout.line(f"Ping request could not find host {target}. Please check the "
                        "name and try again.")
        return 1
    loopback = address == "::1" or address.startswith("127.")
    reachable = loopback or bool(adapters)
    shown = f"{display} [{address}]" if display != address else address
    out = ctx.stdout
    out.line()
    out.line(f"Pinging {shown} with {size} bytes of data:")
    sent = received = 0
    while forever or sent < count:
        if sent:
            ctx.sleep(PING_INTERVAL_T if forever else 0)
        sent += 1
        if reachable:
            received += 1
            if ":" in address:
                out.line(f"Reply from {address}: time<1ms ")
            else:
                out.line(f"Reply from {address}: bytes={size} time<1ms TTL=128")
        else:
            out.line("PING: transmit failed. General failure. ")
    lost = sent - received
    out.line()
    out.line(f"Ping statistics for {address}:")
    out.line(f"    Packets: Sent = {sent}, Received = {received}, Lost = {lost} "
             f"({lost * 100 // sent if sent else 0}% loss),")
    if received:
        out.line("Approximate round trip times in milli-seconds:")
        out.line("    Minimum = 0ms, Maximum = 0ms, Average = 0ms")
    return 0 if received else 1


GUEST_BEHAVIOURS: dict[str, Program] = {IPCONFIG_KEY: ipconfig_program,
                                        PING_KEY: ping_program}
_installed: weakref.WeakSet[Machine] = weakref.WeakSet()


def install(machine: Machine) -> None:
    """Register the guest's behaviours on ``machine`` and put ``ipconfig.exe`` and
    ``PING.EXE`` into the host's System32 (a process-isolated HPC runs the host's)."""
    register_behaviours(machine)
    for name, key in _UVM_OWN_PROGRAMS.items():
        path = rf"{SYSTEM32}\{name}"
        if not machine.fs.exists(path):
            machine.fs.write_bytes(path, placeholder(key))


def register_behaviours(machine: Machine) -> None:
    """Register the behaviour keys only (no file on the host's disk); idempotent."""
    with _guest_lock:
        if machine in _installed:
            return
        _installed.add(machine)
    for key, program in GUEST_BEHAVIOURS.items():
        machine.register_behaviour(key, program)


__all__ = [
    "BINDFLT_DLL",
    "Adapter",
    "ContainerFileSystem",
    "ContainerView",
    "GuestOS",
    "LaunchError",
    "adapters_of",
    "bind_filter_supported",
    "container_view",
    "guest_os",
    "host_adapters",
    "image_volume",
    "install",
    "ipconfig_program",
    "launch",
    "ping_program",
    "placeholder",
    "register_behaviours",
]
