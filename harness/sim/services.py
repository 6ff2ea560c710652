"""The simulated host's service control manager (SCM).

A service is a registry entry (name, display name, image path, start type) and, while it
runs, one :class:`~harness.sim.process.SimProcess` created from its image path the way the
SCM does it: CreateProcess, no shell, as LocalSystem, in ``C:\\Windows\\system32``.

A service's program talks to the SCM through ``ctx.extra["service"]``
(:class:`ServiceControl`), as a real one does through ``StartServiceCtrlDispatcher`` and
``SetServiceStatus``:

* call ``control.running()`` once it is ready (``START_PENDING`` -> ``RUNNING``);
* wait for ``control.stop_requested`` (or ``control.wait_stop(t)``) and return;
* optionally ``control.stopped(code, service_specific=True)`` before returning, to report a
  service-specific exit code (what Go's ``svc`` package does when ``Execute`` fails).

The program's return value is its process exit code.  A process that ends without having
reported ``STOPPED`` is recorded like Windows records it: ``Win32ExitCode`` 1067
(ERROR_PROCESS_ABORTED, "The process terminated unexpectedly.").  A program that never
reports ``running()`` within :attr:`ServiceManager.start_timeout` fails the start with 1053,
and its process is ended (assumption, see harness/sim/ASSUMPTIONS.md "Host behaviour").

Errors are :class:`ServiceError` with the Win32 error code and its system message, the text
``sc.exe`` and the .NET ``ServiceController`` surface.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.sim.process import SimProcess
from harness.sim.winparse import crt_quote

# SERVICE_STATUS.dwCurrentState names, as Get-Service / Win32_Service spell them.
STOPPED = "Stopped"
START_PENDING = "StartPending"
STOP_PENDING = "StopPending"
RUNNING = "Running"

# ServiceStartMode names as Set-Service / New-Service take them.
START_TYPES = ("Automatic", "Manual", "Disabled")

# Win32 error codes and their FormatMessage text.
ERRORS = {
    2: "The system cannot find the file specified.",
    5: "Access is denied.",
    1053: "The service did not respond to the start or control request in a timely fashion.",
    1056: "An instance of the service is already running.",
    1058: ("The service cannot be started, either because it is disabled or because it has "
           "no enabled devices associated with it."),
    1060: "The specified service does not exist as an installed service.",
    1061: "The service cannot accept control messages at this time.",
    1062: "The service has not been started.",
    1066: "The service has returned a service-specific error code.",
    1067: "The process terminated unexpectedly.",
    1072: "The specified service has been marked for deletion.",
    1073: "The specified service already exists.",
    1078: "The name is already in use as either a service name or a service display name.",
}
ERROR_PROCESS_ABORTED = 1067
ERROR_SERVICE_SPECIFIC = 1066
ERROR_SERVICE_REQUEST_TIMEOUT = 1053
SERVICE_USER = r"NT AUTHORITY\SYSTEM"
SERVICE_CWD = r"C:\Windows\system32"


class ServiceError(Exception):
    """An SCM call failed with a Win32 error."""

    def __init__(self, code: int, name: str = ""):
        super().__init__(ERRORS.get(code, f"Win32 error {code}"))
        self.code = code
        self.name = name
        self.text = ERRORS.get(code, f"Win32 error {code}")


@dataclass(frozen=True)
class ServiceStatus:
    """One service as ``Win32_Service`` shows it."""

    name: str
    display_name: str
    binary_path: str
    start_type: str
    state: str
    pid: int
    exit_code: int  # Win32ExitCode
    service_specific_exit_code: int
    process_exit_code: int | None  # of the last process, None if it never ran
    delete_pending: bool = False
    description: str = ""


@dataclass
class _Service:
    name: str
    display_name: str
    binary_path: str
    start_type: str
    description: str = ""
    state: str = STOPPED
    pid: int = 0
    exit_code: int = 1077  # ERROR_SERVICE_NEVER_STARTED
    service_specific_exit_code: int = 0
    process_exit_code: int | None = None
    delete_pending: bool = False
    process: SimProcess | None = None
    control: ServiceControl | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)
    # Recovery (ChangeServiceConfig2 SERVICE_CONFIG_FAILURE_ACTIONS): restart delays in
    # seconds for the 1st, 2nd... failure; no action after the last.  ``failures`` counts
    # crashes since the last reset (``reset_period`` seconds without one).
    recovery_delays: tuple[float, ...] = ()
    reset_period: float = 0.0
    failures: int = 0
    last_failure: float = 0.0


class ServiceControl:
    """What a service's program holds (``ctx.extra["service"]``): its line to the SCM."""

    def __init__(self, manager: ServiceManager, service: _Service):
        self._manager = manager
        self._service = service
        self.name = service.name
        self.stop_requested = threading.Event()
        self._reported: tuple[int, int] | None = None

    def running(self) -> None:
        """``SetServiceStatus(SERVICE_RUNNING)``."""
        self._manager._set_state(self._service, RUNNING, only_from=(START_PENDING,))

    def stopped(self, exit_code: int = 0, *, service_specific: bool = False) -> None:
        """``SetServiceStatus(SERVICE_STOPPED)`` with an exit code, before returning."""
        self._reported = ((ERROR_SERVICE_SPECIFIC, exit_code) if service_specific
                          else (exit_code, 0))

    def wait_stop(self, timeout: float | None = None) -> bool:
        return self.stop_requested.wait(timeout)


class ServiceHost(Protocol):
    """What the SCM needs of its machine: CreateProcess (harness.sim.machine.Machine)."""

    def spawn(self, command_line: str, *, shell: bool = ..., codepage: int = ...,
              user: str | None = ..., cwd: str | None = ..., env: Any = ...,
              extra: Any = ...) -> SimProcess: ...


class ServiceManager:
    """The SCM of one machine; every method is safe from any thread."""

    def __init__(self, machine: ServiceHost, *, start_timeout: float = 30.0,
                 recovery_time_scale: float = 0.02):
        self.machine = machine
        # Recovery delays and reset periods run this much faster than registered (15 s ->
        # 0.3 s), as restarts are shortened by the profile (ASSUMPTIONS.md "Fault injection").
        self.recovery_time_scale = recovery_time_scale
        self._boots = 0  # bumped at shutdown: a pending recovery restart is void after it
        # ServicesPipeTimeout: how long a new service process has to report in.
        self.start_timeout = start_timeout
        self._lock = threading.RLock()
        self._services: dict[str, _Service] = {}
        self._pids = iter(range(4100, 1 << 30, 4))

    # --- registry side --------------------------------------------------------------------
    def create(self, name: str, binary_path: str, *, display_name: str | None = None,
               start_type: str = "Manual", description: str = "") -> ServiceStatus:
        """``CreateService``: a stopped service; 1073 if the name exists."""
        start_type = _start_type(start_type)
        with self._lock:
            if name.lower() in self._services:
                raise ServiceError(1073, name)
            shown = display_name or name
            for s in self._services.values():
                if s.display_name.lower() == shown.lower():
                    raise ServiceError(1078, name)
            svc = self._services[name.lower()] = _Service(
                name, shown, binary_path, start_type, description)
            return self._status(svc)

    def delete(self, name: str) -> None:
        """``DeleteService``: gone now if stopped, else once its process ends (1072 after)."""
        with self._lock:
            svc = self._get(name)
            if svc.delete_pending:
                raise ServiceError(1072, name)
            if svc.state == STOPPED:
                del self._services[name.lower()]
            else:
                svc.delete_pending = True

    def set_start_type(self, name: str, start_type: str) -> None:
        with self._lock:
            svc = self._get(name)
            svc.start_type = _start_type(start_type)

    def set_binary_path(self, name: str, binary_path: str) -> None:
        with self._lock:
            self._get(name).binary_path = binary_path

    def set_recovery(self, name: str, delays: Sequence[float], reset_period: float) -> None:
        """Restart the service ``delays[i]`` seconds after its (i+1)-th crash."""
        with self._lock:
            svc = self._get(name)
            svc.recovery_delays = tuple(float(d) for d in delays)
            svc.reset_period = float(reset_period)
            svc.failures = 0

    def will_recover(self, name: str) -> bool:
        """Whether a crash of the running service now would be followed by a restart."""
        with self._lock:
            svc = self._services.get(str(name).lower())
            if svc is None or svc.process is None:
                return False
            return self._failures_after_crash(svc, time.monotonic()) <= \
                len(svc.recovery_delays)

    def _failures_after_crash(self, svc: _Service, now: float) -> int:
        reset = svc.reset_period * self.recovery_time_scale
        if svc.failures and reset > 0 and now - svc.last_failure > reset:
            return 1
        return svc.failures + 1

    def query(self, name: str) -> ServiceStatus:
        with self._lock:
            return self._status(self._get(name))

    def exists(self, name: str) -> bool:
        with self._lock:
            return name.lower() in self._services

    def list(self) -> list[ServiceStatus]:
        with self._lock:
            return [self._status(s) for s in sorted(self._services.values(),
                                                    key=lambda s: s.name.lower())]

    # --- control side ---------------------------------------------------------------------
    def start(self, name: str, args: Sequence[str] = ()) -> ServiceStatus:
        """``StartService``: spawn the image path; returns in ``START_PENDING`` or later.

        Like StartService, it does not wait for ``RUNNING``; :meth:`wait` does.
        """
        with self._lock:
            svc = self._get(name)
            if svc.delete_pending:
                raise ServiceError(1072, name)
            if svc.start_type == "Disabled":
                raise ServiceError(1058, name)
            if svc.state != STOPPED:
                raise ServiceError(1056, name)
            control = ServiceControl(self, svc)
            line = svc.binary_path + "".join(" " + crt_quote(a) for a in args)
            try:
                proc = self.machine.spawn(line, shell=False, user=SERVICE_USER,
                                          cwd=SERVICE_CWD, extra={"service": control})
            except FileNotFoundError:  # the process module's ProgramNotFoundError among them
                svc.exit_code = 2
                raise ServiceError(2, name) from None
            svc.process, svc.control = proc, control
            svc.pid = next(self._pids)
            svc.exit_code, svc.service_specific_exit_code = 0, 0
            svc.process_exit_code = None
            self._set_state(svc, START_PENDING)
        threading.Thread(target=self._watch, args=(svc, proc, control),
                         name=f"sim-scm-{svc.name}", daemon=True).start()
        return self.query(name)

    def stop(self, name: str) -> ServiceStatus:
        """``ControlService(SERVICE_CONTROL_STOP)``: asks; returns in ``STOP_PENDING``."""
        with self._lock:
            svc = self._get(name)
            if svc.state == STOPPED:
                raise ServiceError(1062, name)
            if svc.state == START_PENDING:
                raise ServiceError(1061, name)
            if svc.state == RUNNING and svc.control is not None:
                self._set_state(svc, STOP_PENDING)
                svc.control.stop_requested.set()
            return self._status(svc)

    def wait(self, name: str, state: str, timeout: float) -> ServiceStatus:
        """Block until the service is in ``state`` (or ``STOPPED``), at most ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            svc = self._get(name)
        with svc.changed:
            while svc.state != state and not (svc.state == STOPPED and state != STOPPED
                                              and svc.process is None):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                svc.changed.wait(min(remaining, 0.1))
        with self._lock:
            return self._status(svc)

    # --- machine lifecycle ----------------------------------------------------------------
    def shutdown(self) -> None:
        """The machine goes down: every service process ends, every service is stopped."""
        with self._lock:
            self._boots += 1
            running = [s for s in self._services.values() if s.process is not None]
            for s in self._services.values():
                s.failures = 0
        for svc in running:  # every service is told at once, as at a real shutdown
            if svc.control is not None:
                svc.control.stop_requested.set()
        for svc in running:
            proc = svc.process
            if proc is not None and proc.wait(2.0) is None:
                proc.terminate()
                proc.wait(2.0)
        with self._lock:
            for svc in running:
                self._finish(svc, force=True)

    def boot(self) -> list[str]:
        """The machine came up: start every ``Automatic`` service; names of those started."""
        started = []
        for status in self.list():
            if status.start_type == "Automatic" and status.state == STOPPED:
                try:
                    self.start(status.name)
                    started.append(status.name)
                except ServiceError:
                    pass  # recorded in the service's exit code, as the SCM logs it
        return started

    # --- internals ------------------------------------------------------------------------
    def _get(self, name: str) -> _Service:
        svc = self._services.get(str(name).lower())
        if svc is None:
            raise ServiceError(1060, name)
        return svc

    def _status(self, svc: _Service) -> ServiceStatus:
        return ServiceStatus(svc.name, svc.display_name, svc.binary_path, svc.start_type,
                             svc.state, svc.pid if svc.process is not None else 0,
                             svc.exit_code, svc.service_specific_exit_code,
                             svc.process_exit_code, svc.delete_pending, svc.description)

    def _set_state(self, svc: _Service, state: str, only_from: tuple[str, ...] = ()) -> None:
        with self._lock, svc.changed:
            if only_from and svc.state not in only_from:
                return
            svc.state = state
            svc.changed.notify_all()

    def _watch(self, svc: _Service, proc: SimProcess, control: ServiceControl) -> None:
        deadline = time.monotonic() + self.start_timeout
        while proc.wait(0.05) is None and not proc.done:
            if svc.state == START_PENDING and time.monotonic() > deadline:
                proc.terminate()
                proc.wait(2.0)
                with self._lock:
                    control._reported = (ERROR_SERVICE_REQUEST_TIMEOUT, 0)
                break
        with self._lock:
            if svc.process is proc:
                self._finish(svc)

    def _finish(self, svc: _Service, force: bool = False) -> None:
        proc, control = svc.process, svc.control
        if proc is None:
            return
        svc.process_exit_code = proc.exit_code
        if control is not None and control._reported is not None:
            svc.exit_code, svc.service_specific_exit_code = control._reported
        elif force or (control is not None and control.stop_requested.is_set()
                       and proc.exit_code == 0):
            svc.exit_code, svc.service_specific_exit_code = 0, 0
        else:
            svc.exit_code, svc.service_specific_exit_code = ERROR_PROCESS_ABORTED, 0
        svc.process = None
        svc.control = None
        self._set_state(svc, STOPPED)
        if svc.delete_pending:
            self._services.pop(svc.name.lower(), None)
        elif svc.exit_code == ERROR_PROCESS_ABORTED and svc.recovery_delays:
            self._recover(svc)

    def _recover(self, svc: _Service) -> None:
        """The SCM's failure action for a crash: restart after the registered delay."""
        now = time.monotonic()
        svc.failures = self._failures_after_crash(svc, now)
        svc.last_failure = now
        if svc.failures > len(svc.recovery_delays):
            return  # no action after the last one, until the reset period passes
        delay = svc.recovery_delays[svc.failures - 1] * self.recovery_time_scale
        boots = self._boots

        def restart() -> None:
            time.sleep(delay)
            with self._lock:
                if (self._boots != boots or self._services.get(svc.name.lower()) is not svc
                        or svc.state != STOPPED or svc.delete_pending):
                    return
                try:
                    self.start(svc.name)
                except ServiceError:
                    pass  # recorded in the service's exit code, as the SCM logs it

        threading.Thread(target=restart, name=f"sim-scm-recover-{svc.name}",
                         daemon=True).start()


def _start_type(value: str) -> str:
    for t in START_TYPES:
        if str(value).lower() == t.lower():
            return t
    if str(value).lower() in ("auto", "demand"):
        return "Automatic" if str(value).lower() == "auto" else "Manual"
    raise ValueError(f"start type {value!r} is not one of {', '.join(START_TYPES)}")


__all__ = ["RUNNING", "START_PENDING", "STOPPED", "STOP_PENDING", "ServiceControl",
           "ServiceError", "ServiceManager", "ServiceStatus"]
