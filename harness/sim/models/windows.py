"""Models of the host-operations catalog (``harness/windows/scripts/*.ps1``).

Each model does what its script does, step by step, on the machine's state: facts and
feature states (:mod:`harness.sim.hostmodel`), the service control manager
(:mod:`harness.sim.services`), the disk.  A ``throw`` in a script is a
:class:`~harness.sim.programs.powershell.ScriptError` here (the bootstrap prints it and
exits 1); texts of Windows' own errors are Windows', texts the script writes are the
script's.  Where Windows' exact behaviour is a guess, harness/sim/ASSUMPTIONS.md says so.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from harness.sim import hostmodel
from harness.sim.catalog import CatalogEntry, Param
from harness.sim.programs.powershell import ScriptContext, ScriptError, _io_message
from harness.sim.services import (
    RUNNING,
    START_PENDING,
    STOP_PENDING,
    STOPPED,
    ServiceError,
    ServiceStatus,
)

SCRIPTS = "harness/windows/scripts"

# CurrentVersion\DisplayVersion per build (Server 2019 has none; docs/behaviour/ecosystem.md §4.3).
DISPLAY_VERSION = {17763: "", 20348: "21H2", 26100: "24H2"}
# Win32_Service.State / StartMode spellings.
WIN32_STATE = {STOPPED: "Stopped", START_PENDING: "Start Pending",
               STOP_PENDING: "Stop Pending", RUNNING: "Running"}
WIN32_START_MODE = {"Automatic": "Auto", "Manual": "Manual", "Disabled": "Disabled"}
# Win32_Service.Delete return values.
DELETE_RETURN = {1072: 16, 5: 2, 1060: 5}

HYPERV_PREREQUISITE_FAILED = (
    "A prerequisite check for the Hyper-V feature failed.\r\n"
    "1. Hyper-V cannot be installed: The processor does not have required virtualization "
    "capabilities.")
RESTART_WARNING = "You must restart this server to finish the installation process."


# --- helpers ---------------------------------------------------------------------------------
def _stamp(ts: float) -> str:
    """``.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'")``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _account(sc: ScriptContext):
    return sc.proc.extra.get("account") or sc.machine.account(None)


def _elevated(sc: ScriptContext) -> bool:
    """``WindowsPrincipal.IsInRole(Administrator)`` of the script's token."""
    acct = _account(sc)
    return acct.domain == "NT AUTHORITY" or bool(sc.machine.profile.elevated)


def _string_array(name: str, value: Any) -> list[str]:
    """PowerShell's conversion of a splatted JSON value to ``[string[]]``."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and
                                       not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise ScriptError(f"the simulated host does not model converting {value!r} to the "
                      f"[string[]] parameter '{name}'")


def _boot_time(sc: ScriptContext) -> str:
    return _stamp(sc.machine.facts.boot_time)


# --- host_facts.ps1 / boot_time.ps1 -------------------------------------------------------
def host_facts(sc: ScriptContext) -> int:
    machine = sc.machine
    profile = machine.profile
    facts = machine.facts
    with facts.lock:
        hypervisor = facts.hypervisor_present
        own_hypervisor = facts.hyperv_running
        features = {}
        for wanted in ("Hyper-V", "Containers"):  # Get-WindowsFeature -Name 'Hyper-V','Containers'
            name = facts.feature_name(wanted)
            if name is not None:
                features[name] = facts.feature_state(wanted)
        free, size = facts.free_disk_bytes, facts.disk_size_bytes
    # Win32_Processor shows the extensions the processor offers this OS: none while this
    # machine's own hypervisor runs (it keeps them), none in a guest whose host does not
    # expose them (no nested virtualization), all three in a guest whose host does, whatever
    # HypervisorPresent says (ASSUMPTIONS.md, "Virtualization facts").
    extensions = profile.hyperv_capable and not own_hypervisor
    sc.result({
        "computer_name": machine.computer_name,
        "caption": profile.caption,
        "build": profile.build,
        "ubr": profile.revision,
        "edition": profile.edition,
        "display_version": DISPLAY_VERSION.get(profile.build, ""),
        "features": features,
        "feature_error": None,
        "virtualization_firmware_enabled": extensions,
        "vm_monitor_mode_extensions": extensions,
        "slat": extensions,
        "hypervisor_present": hypervisor,
        "system_drive": "C:",
        "free_disk_bytes": free,
        "disk_size_bytes": size,
        "elevated": _elevated(sc),
        "user": _account(sc).qualified,
        "ps_version": profile.powershell_version,
        "clock_utc": _stamp(time.time()),
        "boot_time_utc": _boot_time(sc),
    })
    return 0


def boot_time(sc: ScriptContext) -> int:
    sc.result({"computer_name": sc.machine.computer_name, "boot_time_utc": _boot_time(sc),
               "clock_utc": _stamp(time.time())})
    return 0


# --- nat_network.ps1 -------------------------------------------------------------------------
def nat_network(sc: ScriptContext) -> int:
    """``Get-HnsNetwork`` has the ``nat`` network only where the Containers feature is
    installed (a pending install has not started HNS yet) and the host has one at all."""
    network = sc.machine.profile.nat_network
    if network is None or sc.machine.facts.feature_state("Containers") != hostmodel.INSTALLED:
        sc.result({"found": False, "subnet": None, "gateway": None})
        return 0
    sc.result({"found": True, "subnet": network[0], "gateway": network[1]})
    return 0


# --- enable_features.ps1 ---------------------------------------------------------------------
def enable_features(sc: ScriptContext) -> int:
    names = _string_array("names", sc.args["names"])
    if not _elevated(sc):
        raise ScriptError("The requested operation requires elevation: installing Windows "
                          "features needs an elevated administrator.")
    facts = sc.machine.facts
    profile = sc.machine.profile
    with facts.lock:
        before: dict[str, str] = {}
        for n in names:
            state = facts.feature_state(n)
            if state is None:
                raise ScriptError(f"this host has no Windows feature named '{n}'")
            before.setdefault(n.lower(), state)
        todo = [n for n in names
                if before[n.lower()] not in (hostmodel.INSTALLED, hostmodel.INSTALL_PENDING)]
        exit_code, restart = "NoChangeNeeded", "No"
        if todo:
            # Install-WindowsFeature checks every prerequisite before changing anything.
            if any(n.lower() == "hyper-v" for n in todo) and not profile.hyperv_capable:
                raise ScriptError(HYPERV_PREREQUISITE_FAILED)
            for n in todo:
                facts.set_feature(n, hostmodel.INSTALL_PENDING
                                  if hostmodel.RESTART_NEEDED.get(n.lower(), False)
                                  else hostmodel.INSTALLED)
            if any(hostmodel.RESTART_NEEDED.get(n.lower(), False) for n in todo):
                exit_code, restart = "SuccessRestartRequired", "Yes"
                sc.warning(RESTART_WARNING)  # Install-WindowsFeature's warning record
            else:
                exit_code = "Success"
        features = [{"name": facts.feature_name(n), "before": before[n.lower()],
                     "after": facts.feature_state(n)} for n in names]
    sc.result({"exit_code": exit_code, "restart_needed": restart, "features": features})
    return 0


# --- restart_host.ps1 ------------------------------------------------------------------------
def restart_host(sc: ScriptContext) -> int:
    if not _elevated(sc):
        raise ScriptError("The requested operation requires elevation: restarting the host "
                          "needs an elevated administrator.")
    delay = sc.args["delay_seconds"]
    if delay < 1:
        raise ScriptError(f"delay_seconds must be at least 1, not {delay}")
    boot = _boot_time(sc)
    # shutdown.exe /r /t <delay>: refused while another shutdown is scheduled.
    if sc.machine.restarting or not sc.machine.request_restart(delay=float(delay)):
        sc.proc.stderr.line("A system shutdown has already been scheduled.(1190)")
        raise ScriptError("shutdown.exe /r failed with exit code 1190")
    sc.result({"scheduled": True, "delay_seconds": delay, "boot_time_utc": boot})
    return 0


# --- service.ps1 -----------------------------------------------------------------------------
ACTIONS = ("query", "register", "set_start_type", "start", "stop", "restart", "delete")


def _service_state(sc: ScriptContext, name: str) -> dict[str, Any]:
    """The script's ``Get-ServiceState`` (Win32_Service)."""
    try:
        s: ServiceStatus = sc.machine.services.query(name)
    except ServiceError:
        return {"name": name, "exists": False}
    return {
        "name": s.name, "exists": True, "display_name": s.display_name,
        "state": WIN32_STATE[s.state], "start_mode": WIN32_START_MODE[s.start_type],
        "binary_path": s.binary_path, "process_id": s.pid, "exit_code": s.exit_code,
        "service_specific_exit_code": s.service_specific_exit_code,
        "description": s.description,
    }


def _wait_state(sc: ScriptContext, name: str, want: str, deadline: float) -> dict[str, Any]:
    """The script's ``Wait-ServiceState``: poll until wanted, Stopped-after-start, or deadline."""
    while True:
        s = _service_state(sc, name)
        if not s["exists"] or s["state"] == want:
            return s
        if want == "Running" and s["state"] == "Stopped":
            return s
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return s
        sc.proc.check_cancelled()
        # Start-Sleep -Milliseconds 250, woken early by a state change.
        try:
            sc.machine.services.wait(name, RUNNING if want == "Running" else STOPPED,
                                     min(remaining, 0.25))
        except ServiceError:
            pass


def _start_mode_value(value: str | None) -> str:
    """Binding a string to ``-StartupType [ServiceStartMode]``."""
    for mode in ("Automatic", "Manual", "Disabled"):
        if (value or "").lower() == mode.lower():
            return mode
    raise ScriptError(
        f"Cannot bind parameter 'StartupType'. Cannot convert value \"{value}\" to type "
        "\"System.ServiceProcess.ServiceStartMode\". Error: \"Unable to match the identifier "
        f"name {value} to a valid enumerator name. Specify one of the following enumerator "
        "names and try again:\r\nBoot, System, Automatic, Manual, Disabled\"")


def service(sc: ScriptContext) -> int:
    action, name = sc.args["action"], sc.args["name"]
    scm = sc.machine.services
    if action not in ACTIONS:
        raise ScriptError(f"unknown action '{action}' (one of: {', '.join(ACTIONS)})")
    if action == "query":
        sc.result(_service_state(sc, name))
        return 0
    if not _elevated(sc):
        raise ScriptError(f"Access is denied: changing service '{name}' needs an elevated "
                          "administrator.")
    if action == "register":
        binary = sc.args["binary_path"]
        if not binary:
            raise ScriptError("Cannot bind argument to parameter 'BinaryPathName' because it "
                              "is an empty string.")
        mode = _start_mode_value(sc.args["start_type"])
        display = sc.args["display_name"] or name
        try:
            scm.create(name, binary, display_name=display, start_type=mode,
                       description=sc.args["description"] or "")
        except ServiceError as exc:
            raise ScriptError(f"Service '{display} ({name})' cannot be created due to the "
                              f"following error: {exc.text.rstrip('.')}") from None
        sc.result(_service_state(sc, name))
        return 0
    if action == "set_start_type":
        mode = _start_mode_value(sc.args["start_type"])
        try:
            scm.set_start_type(name, mode)
        except ServiceError:
            raise ScriptError(f"Cannot find any service with service name '{name}'.") from None
        sc.result(_service_state(sc, name))
        return 0
    if action == "delete":
        if not scm.exists(name):
            raise ScriptError(f"Cannot find any service with service name '{name}'.")
        try:
            scm.delete(name)
        except ServiceError as exc:
            value = DELETE_RETURN.get(exc.code, 8)
            raise ScriptError(f"Win32_Service.Delete of '{name}' returned {value}") from None
        sc.result(_service_state(sc, name))
        return 0

    # start / stop / restart  (Get-Service -Name $name)
    if not scm.exists(name):
        raise ScriptError(f"Cannot find any service with service name '{name}'.")
    timeout = sc.args["timeout_seconds"] or 0
    deadline = time.monotonic() + timeout
    problem = None
    want = "Running"
    state: dict[str, Any] = {}
    if action in ("stop", "restart"):
        if scm.query(name).state == RUNNING:
            try:
                scm.stop(name)
            except ServiceError as exc:
                problem = exc.text
        state = _wait_state(sc, name, "Stopped", deadline)
        if action == "stop" or state.get("state") != "Stopped":
            want = "Stopped"
    if want == "Running":
        if scm.query(name).state == STOPPED:
            try:
                scm.start(name)
            except ServiceError as exc:
                problem = exc.text
        state = _wait_state(sc, name, "Running", deadline)
    state["wanted"] = want
    state["reached"] = state.get("state") == want
    state["error"] = problem
    sc.result(state)
    return 0


# --- path_info.ps1 / make_directory.ps1 / remove_path.ps1 -----------------------------------
def path_info(sc: ScriptContext) -> int:
    paths = _string_array("paths", sc.args["paths"])
    items = []
    for p in paths:
        full = sc.full_path(p)
        entry: dict[str, Any] = {"path": full, "exists": False, "type": None, "size": None,
                                 "sha256": None}
        if sc.fs.is_file(full):
            entry.update(exists=True, type="file")
            stream = sc.open(full, "rb")
            try:
                entry["size"] = sc.fs.stat(full).size
                if sc.args["hash"]:
                    hasher = hashlib.sha256()
                    while data := stream.read(1 << 20):
                        hasher.update(data)
                    entry["sha256"] = hasher.hexdigest()
            finally:
                stream.close()
        elif sc.fs.is_dir(full):
            entry.update(exists=True, type="directory")
        items.append(entry)
    sc.result({"items": items})
    return 0


def make_directory(sc: ScriptContext) -> int:
    full = sc.full_path(sc.args["path"])
    existed = sc.fs.is_dir(full)
    if not existed:
        try:
            sc.fs.makedirs(full)
        except OSError as exc:
            if sc.fs.exists(full) or getattr(exc, "winerror", None) in (80, 183, 267):
                text = (f"Cannot create \"{full}\" because a file or directory with the same "
                        "name already exists.")
            else:
                text = _io_message(exc, full)
            raise ScriptError(f'Exception calling "CreateDirectory" with "1" argument(s): '
                              f'"{text}"') from None
    sc.result({"path": full, "created": not existed})
    return 0


def remove_path(sc: ScriptContext) -> int:
    full = sc.full_path(sc.args["path"])
    kind = None
    try:
        if sc.fs.is_file(full):
            method, nargs = "Delete", 1
            sc.fs.remove(full)
            kind = "file"
        elif sc.fs.is_dir(full):
            method, nargs = "Delete", 2
            if sc.args["recurse"]:
                sc.fs.rmtree(full)
            else:
                sc.fs.rmdir(full)
            kind = "directory"
    except OSError as exc:
        text = ("The directory is not empty." if getattr(exc, "winerror", None) == 145
                else _io_message(exc, full))
        raise ScriptError(f'Exception calling "{method}" with "{nargs}" argument(s): '
                          f'"{text}"') from None
    sc.result({"path": full, "removed": kind is not None, "type": kind})
    return 0


# --- winrm_service_auth.ps1 ------------------------------------------------------------------
# Reading the WSMan: drive needs the WinRM service (and elevation).  Windows' texts for both
# failures are not pinned: the model words them itself, the script only passes them on and
# the doctor check reads any error as "not observed" (ASSUMPTIONS.md "WinRM authentication").
WINRM_NOT_RUNNING = ("The client cannot connect to the destination specified in the request. "
                     "Verify that the service on the destination is running and is accepting "
                     "requests.")
WSMAN_ACCESS_DENIED = "Access is denied."


def winrm_service_auth(sc: ScriptContext) -> int:
    """The WinRM service config the SimHost's listeners stand for (``Machine.winrm_service``):
    ``Get-ChildItem WSMan:\\localhost\\Service\\Auth`` values are the strings
    ``true``/``false`` (and ``Relaxed`` for CbtHardeningLevel)."""
    config = sc.machine.winrm_service  # None: no listener (a machine without a SimHost)
    error = (WINRM_NOT_RUNNING if config is None else
             None if _elevated(sc) else WSMAN_ACCESS_DENIED)
    if error is not None:
        sc.result({"error": error, "auth": None, "allow_unencrypted": None})
        return 0

    def text(value) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    sc.result({"error": None, "auth": {k: text(v) for k, v in config["auth"].items()},
               "allow_unencrypted": text(config["allow_unencrypted"])})
    return 0


# --- output_streams.ps1 ----------------------------------------------------------------------
def output_streams(sc: ScriptContext) -> int:
    """Where powershell.exe puts each stream's record under ``-OutputFormat Text`` with its
    output redirected (what every transport does): the console host writes warning and
    verbose records as ``WARNING: `` / ``VERBOSE: `` lines on stdout, a non-terminating error
    in its error view on stderr, and progress nowhere (no console to draw it on).  All four
    are assumptions (ASSUMPTIONS.md "powershell.exe output streams")."""
    text = sc.args["text"]
    if sc.proc.extra.get("ps_output_format") != "text":
        # CLIXML's progress and verbose records are not modelled: refuse loudly.
        sc.proc.stderr.line("the simulated host models output_streams.ps1 only under "
                            "-OutputFormat Text (the transport's bootstrap line)")
        return 1
    sc.warning(f"warning {text}")
    sc.proc.stdout.line(f"VERBOSE: verbose {text}")
    # Windows PowerShell 5.1's error view ($ErrorView NormalView): the message, then the
    # category and the error id (the "At line:" position lines are not reproduced).
    sc.proc.stderr.write(f"Write-Error : error {text}\r\n"
                         f"    + CategoryInfo          : NotSpecified: (:) [Write-Error], "
                         f"WriteErrorException\r\n"
                         f"    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands."
                         f"WriteErrorException\r\n\r\n")
    sc.result({"text": text})
    return 0


# --- the catalog entries (pins: tests/test_sim_catalog.py) -----------------------------------
ENTRIES: list[CatalogEntry] = []  # registered by harness.sim.catalog on its first lookup


def _entry(name: str, implementation, params: dict[str, Param], *, sha256: str) -> None:
    ENTRIES.append(CatalogEntry(name=name, sha256=sha256, implementation=implementation,
                          params=params, source=f"{SCRIPTS}/{name}.ps1"))


_entry("host_facts", host_facts, {},
       sha256="943f3a8e06290d0bb07e3f1cb1d671ba0ab8d2255ed8d2c2736e8c3341942254")
_entry("nat_network", nat_network, {},
       sha256="57c2020aa8cc21e994afb4d80eff982a6b5a560cbf5eaec236bf86042e9df426")
_entry("boot_time", boot_time, {},
       sha256="bf499f2ff9a20e10eb6616b55a9861189f7a09d3c0d496191941c068f8747ae6")
# [string[]] parameters are bound by the model itself (_string_array).
_entry("enable_features", enable_features, {"names": Param("object")},
       sha256="e9d6033fa0e0af6319b4327061832d8875d7e8ce886ab2eae67099dedb5853b6")
_entry("restart_host", restart_host, {"delay_seconds": Param("int")},
       sha256="b166397884b1a68a883b10b3ac7e3709a421144283f3db6f5aa444c0a4b6cd28")
_entry("service", service, {
    "action": Param("string"), "name": Param("string"),
    "binary_path": Param("string", mandatory=False),
    "display_name": Param("string", mandatory=False),
    "start_type": Param("string", mandatory=False),
    "description": Param("string", mandatory=False),
    "timeout_seconds": Param("int", mandatory=False)},
       sha256="fb70f21f9d103a95b73892cc35bbd9e3b125377f0e9fd234c663ad69755c4890")
_entry("path_info", path_info, {"paths": Param("object"), "hash": Param("bool")},
       sha256="02347ae2e03e54b622d6211e83400177403ce98350be7351fbb03e4f01d1c1f5")
_entry("make_directory", make_directory, {"path": Param("string")},
       sha256="0254c1f00ee487c64d74227cebdeb58e9df3607591eab16fb80500b3ae2c10f9")
_entry("remove_path", remove_path, {"path": Param("string"), "recurse": Param("bool")},
       sha256="05d638a1645647ecc4d051b68215dd8425358e9508948bd2c419741557f2913e")
_entry("winrm_service_auth", winrm_service_auth, {},
       sha256="18d3f8d57e7bdbfe8b26b0ce790df95165facacb56f89b585fbde41dc5fc2287")
_entry("output_streams", output_streams, {"text": Param("string")},
       sha256="5ebc6aa3478fc79781f6b7699e6b2fce1f3b6aa8eed0ab09f707e57cf14d158a")
