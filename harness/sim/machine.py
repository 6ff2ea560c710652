"""The one machine model behind the simulated host's WinRM and SSH servers.

A :class:`Machine` is a Windows host reduced to what the harness can observe: a disk
(:class:`~harness.sim.filesystem.FileSystem`), accounts, a default environment, and the
programs installed on it.  The servers start processes with :meth:`Machine.spawn`, which
behaves like WinRS and Windows OpenSSH do: the command line goes to ``cmd.exe /c``
(docs/internals.md "The simulated host"; docs/behaviour/ecosystem.md §4.5 for OpenSSH's default
shell).

A program is an executable *file on the simulated disk* whose behaviour is a Python callable
registered for it, so program lookup (cwd, ``PATH``, ``PATHEXT``) follows the files and a
deleted or never-installed program is not found.  Registered programs get a placeholder
file that names the behaviour, so a copy of ``hostname.exe`` still behaves like hostname;
a file that exists but has no registered behaviour fails loudly when run.

The host's identity and Windows-level state (build, edition, features, elevation, boot time)
come from a :class:`~harness.sim.hostmodel.HostProfile` and live in ``machine.facts``;
services in ``machine.services`` (:mod:`harness.sim.services`); a restart is requested with
:meth:`Machine.request_restart` and carried out by whoever listens (``SimHost`` drops and
refuses connections meanwhile; docs/internals.md "Sim machine extensions").
"""

from __future__ import annotations

import hmac
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from harness.sim import winparse
from harness.sim.filesystem import ERROR_DIRECTORY, ERROR_FILE_NOT_FOUND, FileSystem, win_error
from harness.sim.hostmodel import HostFacts, HostProfile
from harness.sim.process import (
    EXIT_TERMINATED,
    Console,
    OutputWriter,
    ProgramNotFoundError,
    SimProcess,
    StdinReader,
    Terminated,
)
from harness.sim.services import ServiceManager

WINDOWS = r"C:\Windows"
SYSTEM32 = r"C:\Windows\System32"
CMD_EXE = r"C:\Windows\System32\cmd.exe"
POWERSHELL_EXE = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
SIM_BIN = r"C:\hpc-e2e-sim\bin"  # sim-only diagnostic programs; never on PATH
DEFAULT_PATHEXT = ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC"

_PLACEHOLDER_MARK = b"hpc-e2e-sim program="
_PLACEHOLDER_RE = re.compile(rb"hpc-e2e-sim program=([^\r\n]+)")


class Environ(MutableMapping[str, str]):
    """A Windows environment block: names compare case-insensitively and keep their case."""

    def __init__(self, data: Mapping[str, str] | Iterable[tuple[str, str]] = ()):
        self._data: dict[str, tuple[str, str]] = {}
        self.update(data)

    def __getitem__(self, name: str) -> str:
        return self._data[name.upper()][1]

    def __setitem__(self, name: str, value: str) -> None:
        old = self._data.get(name.upper())
        self._data[name.upper()] = (old[0] if old else name, str(value))

    def __delitem__(self, name: str) -> None:
        del self._data[name.upper()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.upper() in self._data

    def __iter__(self) -> Iterator[str]:
        return iter([k for k, _ in self._data.values()])

    def __len__(self) -> int:
        return len(self._data)

    def copy(self) -> Environ:
        return Environ(self.items())

    def sorted_items(self) -> list[tuple[str, str]]:
        """Items in the order ``set`` lists them (case-insensitive by name)."""
        return sorted(self.items(), key=lambda kv: kv[0].upper())

    def __repr__(self) -> str:
        return f"Environ({dict(self.items())!r})"


@dataclass(frozen=True)
class Account:
    """Who a process runs as."""

    domain: str  # COMPUTERNAME for local accounts, "NT AUTHORITY" for built-in ones
    name: str
    profile: str

    @property
    def qualified(self) -> str:
        return f"{self.domain}\\{self.name}"


@dataclass(frozen=True)
class Launch:
    """One process creation, as recorded in :attr:`Machine.launches`."""

    image: str
    command_line: str
    account: str
    parent: str | None  # image of the creating process, None for a server's spawn
    time: float


@dataclass
class ProcessContext:
    """Everything a simulated program may touch."""

    machine: Machine  # inside a container: its view (harness.sim.guest.ContainerView)
    command_line: str  # the full command line, as CreateProcess received it
    argv: list[str]  # parsed with the MSVCRT rules
    env: dict[str, str]  # case-insensitive lookups via machine helpers
    cwd: str
    stdin: StdinReader
    stdout: OutputWriter
    stderr: OutputWriter
    cancelled: threading.Event
    codepage: int = 65001
    extra: dict = field(default_factory=dict)
    console: Console | None = None  # shared with the children; chcp changes it

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Terminated()

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early (with :class:`Terminated`) if the process is terminated."""
        if self.cancelled.wait(seconds):
            raise Terminated()


Program = Callable[[ProcessContext], int]


def _no_model(path: str) -> Program:
    def program(ctx: ProcessContext) -> int:
        ctx.stderr.line(f"the simulated host has no model of program {path} "
                        f"(command line: {ctx.command_line})")
        return 1
    return program


class Machine:
    """A simulated Windows host: disk, accounts, environment, programs, processes."""

    def __init__(self, name: str | None = None, *,
                 users: Mapping[str, object] | Iterable[str] | None = None,
                 flavor: object = None, os_version: str | None = None,
                 profile: HostProfile | None = None):
        if profile is None:
            # Without a profile: LTSC 2022 by default (docs/behaviour/ecosystem.md §4.3).
            profile = HostProfile.from_os_version(name or "SIMHOST",
                                                  os_version or "10.0.20348.2340")
        elif (name is not None and name != profile.name) or \
                (os_version is not None and os_version != profile.os_version):
            raise ValueError("Machine(name=, os_version=) disagree with profile=; "
                             "give the profile only")
        self.profile = profile
        self.facts = HostFacts(profile)  # live: features, boot time (harness.sim.hostmodel)
        self.name = profile.name
        self.flavor = flavor  # the runtime flavor, for the runtime models (docs/internals.md)
        self.os_version = profile.os_version  # what `ver` reports
        # NetBIOS names are at most 15 characters: COMPUTERNAME is truncated, hostname is
        # not (docs/behaviour/ecosystem.md §2 table, test 1).
        self.computer_name = self.name.upper()[:15]
        self.cri: Any = None  # the running containerd's CriRuntime, set by its service program
        self.cri_state: Any = None  # CRI state a crashed containerd left (programs/containerd.py)
        self.faults: Any = None  # harness.sim.faults.FaultInjector, set by SimHost
        self.latency: Any = None  # harness.sim.latency.LatencyModel, set by SimHost
        self._restart_listeners: list[Callable[[str], None]] = []
        self._restart_lock = threading.Lock()
        self._restart_thread: threading.Thread | None = None
        self.restart_cancelled = threading.Event()
        self.fs = FileSystem()
        self.lock = threading.RLock()  # for state that concurrent processes touch
        self.history: list[str] = []  # command lines given to spawn(), in order
        # The WinRM service's config as `winrm get winrm/config/service` shows it: set by the
        # SimHost that serves this machine (its listeners decide it); None while no WinRM
        # service listens (a machine run only through harness.sim.exec).
        self.winrm_service: dict | None = None
        self.launches: list[Launch] = []  # every process creation, children included
        self._programs: dict[str, Program] = {}
        self._users: dict[str, tuple[str, object]] = {}
        self._build_disk()
        if users is None:
            users = {"Administrator": None}
        elif not isinstance(users, Mapping):
            users = {u: None for u in users}
        for user, password in users.items():
            self.add_user(user, password)
        self.services = ServiceManager(self)

    # --- accounts ------------------------------------------------------------------------
    def add_user(self, name: str, password: object = None) -> Account:
        """Create a local account (and its profile folders); ``password`` may be a Secret."""
        with self.lock:
            self._users[name.upper()] = (name, password)
        account = self.account(name)
        for sub in (r"AppData\Local\Temp", r"AppData\Roaming", "Desktop", "Documents"):
            self.fs.makedirs(f"{account.profile}\\{sub}")
        return account

    def remove_user(self, name: str) -> bool:
        """Delete a local account (its profile folder stays, as on Windows); False if absent.
        The shim deletes the temporary user of a group-named job container with it
        (docs/behaviour/runtime.md §3.3)."""
        with self.lock:
            return self._users.pop(name.upper(), None) is not None

    @property
    def users(self) -> list[str]:
        with self.lock:
            return [n for n, _ in self._users.values()]

    @property
    def default_user(self) -> str:
        with self.lock:
            return next(iter(self._users.values()))[0]

    def check_password(self, user: str, password: str) -> bool:
        """True if ``user`` is a local account whose password is ``password``."""
        with self.lock:
            entry = self._users.get(user.rsplit("\\", 1)[-1].upper())
        if entry is None or entry[1] is None:
            return False
        stored = entry[1]
        stored = stored.reveal() if hasattr(stored, "reveal") else str(stored)
        return hmac.compare_digest(stored.encode(), password.encode())

    def account(self, user: str | None = None) -> Account:
        """The account a process runs as; ``None`` is the first local user."""
        user = user or self.default_user
        domain, _, name = user.rpartition("\\")
        if domain.upper() == "NT AUTHORITY" or (not domain and name.upper() == "SYSTEM"):
            if name.upper() == "SYSTEM":
                return Account("NT AUTHORITY", "SYSTEM",
                               r"C:\Windows\system32\config\systemprofile")
            if name.upper() in ("LOCAL SERVICE", "NETWORK SERVICE"):
                folder = name.replace(" ", "")
                return Account("NT AUTHORITY", name.upper(),
                               rf"C:\Windows\ServiceProfiles\{folder}")
            raise ValueError(f"the simulated host has no built-in account {user!r}")
        if domain and domain.upper() not in (self.computer_name, self.name.upper(), "."):
            raise ValueError(f"the simulated host is in no domain; cannot run as {user!r}")
        with self.lock:
            entry = self._users.get(name.upper())
        if entry is None:
            raise ValueError(f"the simulated host has no account {user!r}")
        return Account(self.computer_name, entry[0], rf"C:\Users\{entry[0]}")

    # --- disk and environment ------------------------------------------------------------
    def _build_disk(self) -> None:
        for folder in (SYSTEM32, rf"{SYSTEM32}\Wbem", rf"{SYSTEM32}\OpenSSH",
                       rf"{SYSTEM32}\WindowsPowerShell\v1.0", rf"{SYSTEM32}\drivers\etc",
                       rf"{SYSTEM32}\config\systemprofile\AppData\Local\Temp",
                       rf"{WINDOWS}\Temp", rf"{WINDOWS}\System",
                       r"C:\Program Files\Common Files", r"C:\Program Files (x86)",
                       r"C:\ProgramData", r"C:\Users\Public", SIM_BIN):
            self.fs.makedirs(folder)

    def environment_for(self, user: str | None = None) -> Environ:
        """The environment a new logon session of ``user`` starts with."""
        acct = self.account(user)
        system = acct.domain == "NT AUTHORITY"
        profile = acct.profile
        temp = rf"{WINDOWS}\TEMP" if system else rf"{profile}\AppData\Local\Temp"
        env = Environ()
        for k, v in [
            ("ALLUSERSPROFILE", r"C:\ProgramData"),
            ("APPDATA", rf"{profile}\AppData\Roaming"),
            ("CommonProgramFiles", r"C:\Program Files\Common Files"),
            ("CommonProgramFiles(x86)", r"C:\Program Files (x86)\Common Files"),
            ("CommonProgramW6432", r"C:\Program Files\Common Files"),
            ("COMPUTERNAME", self.computer_name),
            ("ComSpec", r"C:\Windows\system32\cmd.exe"),
            ("HOMEDRIVE", "C:"),
            ("HOMEPATH", profile[2:]),
            ("LOCALAPPDATA", rf"{profile}\AppData\Local"),
            ("LOGONSERVER", rf"\\{self.computer_name}"),
            ("NUMBER_OF_PROCESSORS", "2"),
            ("OS", "Windows_NT"),
            ("Path", r"C:\Windows\system32;C:\Windows;C:\Windows\System32\Wbem;"
                     r"C:\Windows\System32\WindowsPowerShell\v1.0\;"
                     r"C:\Windows\System32\OpenSSH\;"
                     rf"{profile}\AppData\Local\Microsoft\WindowsApps"),
            ("PATHEXT", DEFAULT_PATHEXT),
            ("PROCESSOR_ARCHITECTURE", "AMD64"),
            ("ProgramData", r"C:\ProgramData"),
            ("ProgramFiles", r"C:\Program Files"),
            ("ProgramFiles(x86)", r"C:\Program Files (x86)"),
            ("ProgramW6432", r"C:\Program Files"),
            ("PROMPT", "$P$G"),
            ("PSModulePath", rf"{profile}\Documents\WindowsPowerShell\Modules;"
                             r"C:\Program Files\WindowsPowerShell\Modules;"
                             r"C:\Windows\system32\WindowsPowerShell\v1.0\Modules"),
            ("PUBLIC", r"C:\Users\Public"),
            ("SystemDrive", "C:"),
            ("SystemRoot", WINDOWS),
            ("TEMP", temp),
            ("TMP", temp),
            ("USERDOMAIN", "WORKGROUP" if system else self.computer_name),
            ("USERNAME", f"{self.computer_name}$" if system else acct.name),
            ("USERPROFILE", profile),
            ("windir", WINDOWS),
        ]:
            env[k] = v
        return env

    # --- programs ------------------------------------------------------------------------
    def register_program(self, path: str, program: Program, *, create_file: bool = True
                         ) -> str:
        """Give the executable at ``path`` a behaviour; returns the normalized path.

        With ``create_file`` a placeholder file is written whose content names the
        behaviour, so copies of it behave the same.  Without it, the behaviour applies to
        whatever file is later put at ``path`` (e.g. a binary the harness uploads).
        """
        path = self.fs.resolve(path)
        key = self.fs.key(path)
        with self.lock:
            self._programs[key] = program
        if create_file:
            parent, _ = self.fs.split(path)
            self.fs.makedirs(parent)
            self.fs.write_bytes(path, b"MZ\r\n" + _PLACEHOLDER_MARK + key.encode() + b"\r\n"
                                b"placeholder of the hpc-e2e simulated host; not a real "
                                b"executable\r\n")
        return path

    def register_behaviour(self, key: str, program: Program) -> None:
        """A behaviour for placeholder files whose content says ``hpc-e2e-sim program=<key>``.

        Such a file may carry more words after the key (``version=1.7.22``); the program
        reads them from its own image (``ctx.extra["image"]``).  ``key`` has no spaces.
        """
        if not key or any(c.isspace() for c in key):
            raise ValueError(f"behaviour key {key!r} must be one word")
        with self.lock:
            self._programs[key] = program

    def named_program(self, text: str) -> Program | None:
        """The behaviour a placeholder's ``hpc-e2e-sim program=<text>`` names, if any.

        A registered program's key is its path (it may hold spaces); a behaviour's key is
        the first word, the rest is data for the program.
        """
        with self.lock:
            for key in (text, text.split()[0] if text else ""):
                if key in self._programs:
                    return self._programs[key]
        return None

    def program_at(self, path: str) -> Program:
        """The behaviour of the executable file at ``path`` (which must exist)."""
        with self.fs.open(path, "rb") as f:
            head = f.read(512)
        m = _PLACEHOLDER_RE.search(head)
        if m is not None:
            program = self.named_program(m.group(1).decode(errors="replace").strip())
            if program is not None:
                return program
        with self.lock:
            program = self._programs.get(self.fs.key(path))
        return program if program is not None else _no_model(self.fs.real_path(path))

    def find_program(self, name: str, *, cwd: str, env: Mapping[str, str],
                     style: str = "cmd") -> str | None:
        """Where ``name`` resolves to, or ``None``.

        ``style="cmd"`` is cmd.exe's search: the name as given if it has an extension, then
        with each ``PATHEXT`` extension, in the working directory and then each ``PATH``
        entry.  ``style="createprocess"`` is CreateProcess's: ``.exe`` appended when there
        is no extension, searched in System32, the working directory, the Windows
        directories and then ``PATH``.
        """
        name = name.strip()
        if not name:
            return None
        last = re.split(r"[\\/]", name)[-1]
        has_ext = "." in last.lstrip(".")
        has_dir = bool(re.search(r"[\\/:]", name))
        if style == "cmd":
            exts = [e.strip() for e in env.get("PATHEXT", DEFAULT_PATHEXT).split(";")
                    if e.strip()]
            names = ([name] if has_ext else []) + [name + e for e in exts]
            dirs = [cwd] if has_dir else [cwd] + self._path_dirs(env, cwd)
        elif style == "createprocess":
            names = [name if has_ext else name + ".exe"]
            dirs = [cwd] if has_dir else (
                [SYSTEM32, cwd, SYSTEM32, rf"{WINDOWS}\System", WINDOWS]
                + self._path_dirs(env, cwd))
        else:
            raise ValueError(f"unknown search style {style!r}")
        for d in dirs:
            for candidate in names:
                try:
                    path = self.fs.resolve(candidate, d)
                except OSError:
                    if has_dir:
                        raise
                    continue
                if self.fs.is_file(path):
                    return self.fs.real_path(path)
        return None

    def _path_dirs(self, env: Mapping[str, str], cwd: str) -> list[str]:
        out = []
        for entry in env.get("PATH", "").split(";"):
            entry = entry.strip().strip('"')
            if not entry:
                continue
            try:
                out.append(self.fs.resolve(entry, cwd))
            except (OSError, ValueError):
                continue  # an unusable PATH entry is skipped, as Windows does
        return out

    # --- processes -----------------------------------------------------------------------
    def spawn(self, command_line: str, *, shell: bool = True, codepage: int = 65001,
              user: str | None = None, cwd: str | None = None,
              env: Mapping[str, str] | None = None,
              extra: Mapping[str, Any] | None = None) -> SimProcess:
        """Start a process the way WinRS / OpenSSH would and return it running.

        ``shell=True`` runs ``cmd.exe /c <command_line>``; ``shell=False`` hands the line
        to CreateProcess (and raises :class:`ProgramNotFoundError` if nothing matches).
        ``env`` is merged over the account's default environment; ``cwd`` defaults to the
        account's profile folder.  ``extra`` is merged into ``ctx.extra`` (the SCM passes
        the service's control handle this way).
        """
        acct = self.account(user)
        environ = self.environment_for(user)
        if env:
            environ.update(env)
        cwd = self._working_dir(cwd or acct.profile)
        with self.lock:
            self.history.append(command_line)
        if shell:
            image = CMD_EXE
            full = f"{environ.get('ComSpec', CMD_EXE)} /c {command_line}"
        else:
            token, _ = winparse.program_token(command_line, style="createprocess")
            image = self.find_program(token, cwd=cwd, env=environ, style="createprocess")
            if image is None:
                raise win_error(ProgramNotFoundError, ERROR_FILE_NOT_FOUND, token)
            full = command_line
        program = self.program_at(image)
        self._record(image, full, acct, None)

        def factory(stdin, stdout, stderr, cancel) -> ProcessContext:
            return ProcessContext(machine=self, command_line=full,
                                  argv=winparse.split_argv(full), env=environ, cwd=cwd,
                                  stdin=stdin, stdout=stdout, stderr=stderr,
                                  cancelled=cancel, codepage=codepage,
                                  extra={**(extra or {}), "account": acct, "image": image})

        name = self.fs.split(image)[1]
        return SimProcess(factory, program, name, codepage=codepage)

    def run_child(self, parent: ProcessContext, image: str, command_line: str, *,
                  stdin=None, stdout=None, stderr=None, cwd: str | None = None,
                  env: Mapping[str, str] | None = None) -> int:
        """Run a program as a child of ``parent`` on the calling thread; its exit code.

        The child shares the parent's termination (terminating a WinRS command ends its
        process tree) and, unless given others, its standard handles.
        """
        return run_child_process(self, parent, image, command_line, record=self._record,
                                 stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, env=env)

    # --- restart -------------------------------------------------------------------------
    def add_restart_listener(self, listener: Callable[[str], None]) -> None:
        """``listener("down")`` when the machine goes down, ``listener("up")`` when it is back.

        ``SimHost`` listens: it drops every connection at "down" and listens again at "up".
        """
        with self._restart_lock:
            self._restart_listeners.append(listener)

    def remove_restart_listener(self, listener: Callable[[str], None]) -> None:
        with self._restart_lock:
            if listener in self._restart_listeners:
                self._restart_listeners.remove(listener)

    @property
    def restarting(self) -> bool:
        return self.facts.restarting

    def request_restart(self, delay: float = 0.5) -> bool:
        """Restart the machine ``delay`` seconds from now, in the background.

        Down for ``profile.restart_seconds``: services stop, listeners drop their
        connections; then pending features complete, the boot time moves and auto-start
        services start.  Returns False if a restart is already under way.
        """
        with self._restart_lock:
            if self._restart_thread is not None and self._restart_thread.is_alive():
                return False
            self._restart_thread = threading.Thread(target=self._restart, args=(delay,),
                                                    name=f"sim-restart-{self.name}",
                                                    daemon=True)
            self._restart_thread.start()
            return True

    def wait_restarted(self, timeout: float | None = None) -> bool:
        """For tests: wait until a requested restart has completed."""
        thread = self._restart_thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _restart(self, delay: float) -> None:
        if self.restart_cancelled.wait(delay):
            return
        with self.facts.lock:
            self.facts.restarting = True
        self._notify_restart("down")
        self.services.shutdown()
        kept, self.cri_state = self.cri_state, None
        if kept is not None:  # a crashed containerd's shims do not outlive the host
            kept.close()
        if self.restart_cancelled.wait(self.profile.restart_seconds):
            return
        self.facts.boot()
        self.services.boot()
        with self.facts.lock:
            self.facts.restarting = False
        self._notify_restart("up")

    def _notify_restart(self, phase: str) -> None:
        with self._restart_lock:
            listeners = list(self._restart_listeners)
        for listener in listeners:
            try:
                listener(phase)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the restart
                traceback.print_exc()

    def _working_dir(self, cwd: str) -> str:
        try:
            path = self.fs.real_path(cwd)
        except FileNotFoundError:
            path = None
        if path is None or not self.fs.is_dir(path):
            raise win_error(NotADirectoryError, ERROR_DIRECTORY, cwd)
        return path

    def _record(self, image: str, command_line: str, acct: Account, parent: str | None
                ) -> None:
        with self.lock:
            self.launches.append(Launch(image, command_line, acct.qualified, parent,
                                        time.time()))


__all__ = [
    "CMD_EXE",
    "EXIT_TERMINATED",
    "POWERSHELL_EXE",
    "SIM_BIN",
    "SYSTEM32",
    "Account",
    "Environ",
    "Launch",
    "Machine",
    "ProcessContext",
    "Program",
    "ProgramNotFoundError",
]


def run_child_process(owner, parent: ProcessContext, image: str, command_line: str, *,
                      record: Callable, inherit_extra: bool = False, where: str = "",
                      stdin=None, stdout=None, stderr=None, cwd: str | None = None,
                      env: Mapping[str, str] | None = None) -> int:
    """Run ``image`` as a child of ``parent`` on the calling thread; its exit code.

    One mechanism for the host (:meth:`Machine.run_child`) and for a container's view of a
    machine (``harness.sim.guest.ContainerView``): ``owner`` resolves the program and the
    account, ``record`` logs the launch, ``inherit_extra`` keeps the parent's context
    (a container's), ``where`` is added to the loud internal-error line.
    """
    program = owner.program_at(image)
    acct = parent.extra.get("account") or owner.account(None)
    record(image, command_line, acct, parent.extra.get("image"))
    extra = {**parent.extra} if inherit_extra else {}
    ctx = ProcessContext(
        machine=owner, command_line=command_line,
        argv=winparse.split_argv(command_line),
        env=Environ(env.items()) if env is not None else parent.env.copy(),
        cwd=cwd or parent.cwd,
        stdin=stdin if stdin is not None else parent.stdin,
        stdout=stdout if stdout is not None else parent.stdout,
        stderr=stderr if stderr is not None else parent.stderr,
        cancelled=parent.cancelled,
        codepage=parent.console.codepage if parent.console else parent.codepage,
        extra={**extra, "account": acct, "image": image}, console=parent.console)
    try:
        code = int(program(ctx))
    except Terminated:
        raise
    except Exception:  # a bug in the sim: loud, never exit 0
        ctx.stderr.write(f"simulated host internal error in {image}{where}:\n"
                         f"{traceback.format_exc()}")
        code = 1
    return code & 0xFFFFFFFF if code < 0 else code
