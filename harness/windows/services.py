"""Windows services on a host: query, register, start, stop, restart, delete (``service.ps1``).

Every state change waits, bounded, for the state it asked for, and a service that does not
get there is an error carrying its state and exit codes (Win32 and service-specific), the
two numbers that say why a Windows service stopped.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.transport.base import Transport
from harness.windows.catalog import SCRIPTS, call
from harness.windows.errors import (
    HostScriptError,
    ServiceError,
    ServiceNotFound,
    ServiceStartError,
    ServiceStateTimeout,
    ServiceStopError,
)

STATE_TIMEOUT = 60.0  # default bound for start / stop
SCRIPT_MARGIN = 45.0  # ServiceController.Start itself may block up to the SCM's 30 s

START_TYPES = {"automatic": "Automatic", "auto": "Automatic", "manual": "Manual",
               "demand": "Manual", "disabled": "Disabled"}
# Win32_Service.StartMode -> the name Set-Service / New-Service use.
_START_MODES = {"Auto": "Automatic", "Manual": "Manual", "Disabled": "Disabled",
                "Boot": "Boot", "System": "System"}
# Win32 exit codes a service commonly stops with (FormatMessage text).
EXIT_MEANINGS = {
    0: "no error",
    2: "The system cannot find the file specified.",
    5: "Access is denied.",
    1053: "The service did not respond to the start or control request in a timely fashion.",
    1066: "The service has returned a service-specific error code.",
    1067: "The process terminated unexpectedly.",
    1077: "No attempts to start the service have been made since the last boot.",
}
# No slashes (the SCM refuses them) and no wildcards (Get-Service -Name would expand them).
_NAME = re.compile(r"^[^/\\\x00-\x1f*?\[\]]{1,256}\Z")


@dataclass(frozen=True)
class ServiceInfo:
    """One installed service as ``Win32_Service`` reports it."""

    name: str
    display_name: str
    state: str  # Running, Stopped, StartPending, StopPending, ...
    start_type: str  # Automatic, Manual, Disabled (Boot, System for drivers)
    binary_path: str
    pid: int
    exit_code: int  # Win32 exit code
    service_specific_exit_code: int
    description: str = ""

    @property
    def running(self) -> bool:
        return self.state == "Running"

    @property
    def stopped(self) -> bool:
        return self.state == "Stopped"

    def describe(self) -> str:
        """State and exit codes in words, for error messages."""
        meaning = EXIT_MEANINGS.get(self.exit_code, "")
        text = f"state {self.state}, Win32 exit code {self.exit_code}"
        if meaning:
            text += f" ({meaning})"
        if self.exit_code == 1066 or self.service_specific_exit_code:
            text += f", service-specific exit code {self.service_specific_exit_code}"
        return text

    @classmethod
    def from_result(cls, value: Any, host: str) -> ServiceInfo | None:
        """From the script's state object; None when ``exists`` is false."""
        try:
            if not value["exists"]:
                return None
            return cls(
                name=str(value["name"]),
                display_name=str(value.get("display_name") or ""),
                state=str(value["state"]).replace(" ", ""),
                start_type=_START_MODES.get(str(value["start_mode"]), str(value["start_mode"])),
                binary_path=str(value.get("binary_path") or ""),
                pid=int(value.get("process_id") or 0),
                exit_code=int(value.get("exit_code") or 0),
                service_specific_exit_code=int(value.get("service_specific_exit_code") or 0),
                description=str(value.get("description") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HarnessError(f"{host}: service answered an object this harness cannot read "
                               f"({type(exc).__name__}: {exc})") from None


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{name!r} is not a Windows service name (1-256 characters, no "
                         "slashes, wildcards or control characters)")
    return name


def _start_type(value: str) -> str:
    try:
        return START_TYPES[str(value).lower()]
    except KeyError:
        raise ValueError(f"start type {value!r} is not one of Automatic, Manual, "
                         "Disabled") from None


class Services:
    """The services of one host, through its transport."""

    def __init__(self, transport: Transport):
        self.transport = transport

    @property
    def _host(self) -> str:
        return self.transport.target.name

    def _call(self, action: str, name: str, what: str, timeout: float = 60.0,
              **args: Any) -> Any:
        payload = {"action": action, "name": _check_name(name), **args}
        try:
            return call(self.transport, "service", payload, timeout=timeout, catalog=SCRIPTS,
                        what=what, repeatable=action == "query")
        except HostScriptError as exc:
            if "Cannot find any service with service name" in exc.text:
                raise ServiceNotFound(f"{self._host}: no service named {name!r} is installed",
                                      hint="register it first") from None
            raise ServiceError(f"{self._host}: cannot {what}: {exc.text}") from None

    # --- reading ---------------------------------------------------------------------------
    def query(self, name: str) -> ServiceInfo | None:
        """The service's state, or None if no such service is installed."""
        value = self._call("query", name, f"query service {name}")
        return ServiceInfo.from_result(value, self._host)

    def get(self, name: str) -> ServiceInfo:
        """Like :meth:`query`, but a missing service is :class:`ServiceNotFound`."""
        info = self.query(name)
        if info is None:
            raise ServiceNotFound(f"{self._host}: no service named {name!r} is installed",
                                  hint="register it first")
        return info

    def exists(self, name: str) -> bool:
        return self.query(name) is not None

    def wait(self, name: str, state: str, *, timeout: float = STATE_TIMEOUT,
             poll: float = 0.5) -> ServiceInfo:
        """Poll until the service is in ``state``; :class:`ServiceStateTimeout` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get(name)
            if info.state.lower() == state.lower():
                return info
            if time.monotonic() >= deadline:
                raise ServiceStateTimeout(
                    f"{self._host}: service {name} did not reach {state} within "
                    f"{timeout:g}s ({info.describe()})", info=info)
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    # --- registering -----------------------------------------------------------------------
    def register(self, name: str, binary_path: str, *, display_name: str | None = None,
                 start_type: str = "Manual", description: str | None = None,
                 replace: bool = False) -> ServiceInfo:
        """Create a service (``New-Service``); with ``replace``, an existing one is removed first.

        ``binary_path`` is the full command line the SCM runs (quote a path with spaces).
        """
        if replace and self.query(name) is not None:
            self.delete(name)
        args: dict[str, Any] = {"binary_path": binary_path,
                                "start_type": _start_type(start_type)}
        if display_name:
            args["display_name"] = display_name
        if description:
            args["description"] = description
        value = self._call("register", name, f"register service {name}", **args)
        info = ServiceInfo.from_result(value, self._host)
        if info is None:
            raise ServiceError(f"{self._host}: service {name} is not there after registering it")
        return info

    def set_start_type(self, name: str, start_type: str) -> ServiceInfo:
        value = self._call("set_start_type", name, f"set the start type of service {name}",
                           start_type=_start_type(start_type))
        info = ServiceInfo.from_result(value, self._host)
        assert info is not None
        return info

    def delete(self, name: str, *, stop: bool = True,
               timeout: float = STATE_TIMEOUT) -> bool:
        """Remove the service (stopping it first with ``stop``); False if it was not there.

        A service whose process still runs is only marked for deletion by Windows and
        disappears when it stops; this waits for that, bounded.
        """
        info = self.query(name)
        if info is None:
            return False
        if stop and not info.stopped:
            self.stop(name, timeout=timeout)
        value = self._call("delete", name, f"delete service {name}")
        if ServiceInfo.from_result(value, self._host) is not None:
            deadline = time.monotonic() + timeout
            while self.query(name) is not None:
                if time.monotonic() >= deadline:
                    raise ServiceStateTimeout(
                        f"{self._host}: service {name} is marked for deletion but still "
                        f"installed after {timeout:g}s (its process still runs)")
                time.sleep(0.5)
        return True

    # --- control ---------------------------------------------------------------------------
    def _control(self, action: str, name: str, timeout: float) -> ServiceInfo:
        value = self._call(action, name, f"{action} service {name}",
                           timeout=timeout + SCRIPT_MARGIN,
                           timeout_seconds=max(1, round(timeout)))
        info = ServiceInfo.from_result(value, self._host)
        if info is None:
            raise ServiceNotFound(f"{self._host}: service {name} disappeared during {action}")
        if value.get("reached"):
            return info
        wanted = str(value.get("wanted") or "")
        problem = value.get("error")
        why = f": {problem}" if problem else ""
        if info.state in ("StartPending", "StopPending"):
            raise ServiceStateTimeout(
                f"{self._host}: service {name} did not reach {wanted} within {timeout:g}s "
                f"({info.describe()}){why}", info=info,
                hint="the service is still changing state; raise the timeout or look at its "
                     "log")
        cls = ServiceStartError if wanted == "Running" else ServiceStopError
        raise cls(f"{self._host}: service {name} did not reach {wanted} "
                  f"({info.describe()}){why}", info=info,
                  hint=f"the service's command line is {info.binary_path}; its own log says "
                       "why it stopped")

    def start(self, name: str, *, timeout: float = STATE_TIMEOUT) -> ServiceInfo:
        """Start and wait for Running; a service that stops instead is :class:`ServiceStartError`."""
        return self._control("start", name, timeout)

    def stop(self, name: str, *, timeout: float = STATE_TIMEOUT) -> ServiceInfo:
        """Stop and wait for Stopped (nothing to do if it is stopped)."""
        return self._control("stop", name, timeout)

    def restart(self, name: str, *, timeout: float = 2 * STATE_TIMEOUT) -> ServiceInfo:
        """Stop (if running), then start; waits for Running."""
        return self._control("restart", name, timeout)


__all__ = ["EXIT_MEANINGS", "STATE_TIMEOUT", "ServiceInfo", "Services"]
