"""``hpc-e2e doctor``: is each host ready for the suite, and if not, what to do about it.

One row per prerequisite, in the order they depend on each other: the host answers, takes
the credentials, the account is an elevated administrator, the OS and the machine can run
HostProcess containers in both isolation modes, the Windows features are installed, the
runtime is deployed, running and configured as the suite needs.  Every row that is not
``ok`` carries a hint that names the fix.  When a row fails in a way that makes the later
rows meaningless (no connection, no login) the rest are listed as not checked, with the
reason, instead of piling up follow-on errors.

A host is ready when no row failed; ``warn`` rows (an OS build without HPC-in-UVM support,
little free disk) narrow what the suite can do without stopping it.
"""

from __future__ import annotations

import argparse
import json
import logging
import tomllib

from rich.markup import escape
from rich.table import Table

from harness.commands import console
from harness.commands.assumptions import assumptions_report
from harness.commands.checks import FAIL, OK, SKIP, WARN, Check, HostReport
from harness.cri.crictl import Crictl
from harness.errors import EXIT_NOT_READY, AuthenticationError, HarnessError
from harness.hosts import per_host, select_hosts
from harness.runtime.containerd_config import HANDLERS as NAMES
from harness.runtime.containerd_config import (HPC_ANNOTATIONS, HYPERVISOR_HANDLER,
                                               PROCESS_HANDLER, RUNTIME_TYPE)
from harness.runtime.layout import runtime_layout
from harness.transport import open_transport
from harness.windows import WindowsHost

log = logging.getLogger("harness.commands.doctor")

REACHABLE = "reachable"
AUTHENTICATED = "authenticated"
ELEVATED = "elevated administrator"
OS_BUILD = "OS build"
VIRTUALIZATION = "virtualization extensions"
HYPERV = "Hyper-V feature"
CONTAINERS = "Containers feature"
DISK = "free disk"
SERVICE = "containerd service"
CRI = "CRI runtime ready"
HANDLERS = "runtime handlers"
ROWS = (REACHABLE, AUTHENTICATED, ELEVATED, OS_BUILD, VIRTUALIZATION, HYPERV, CONTAINERS,
        DISK, SERVICE, CRI, HANDLERS)

# docs/behaviour/runtime.md §7: pods need RS5; §2.7 / flavors.py: HPC in a UVM needs a
# WS2025 (26100) guest.
MIN_BUILD = 17763
UVM_HPC_BUILD = 26100
# Windows base images are gigabytes each, unpacked per snapshot.
DISK_FAIL_GB = 10.0
DISK_WARN_GB = 30.0
CONNECT_TIMEOUT = 60.0
CRICTL_TIMEOUT = 30.0

PROVISION_HINT = "run `hpc-e2e provision`"
AUTH_HINT = ("check the user and the password (the file or environment variable the "
             "inventory names); for the simulated host, its state directory's password file")
ELEVATION_HINT = ("use an account in the Administrators group; over WinRM a local account "
                  "other than the built-in Administrator also needs "
                  "LocalAccountTokenFilterPolicy=1 to get an elevated token")
# docs/behaviour/ecosystem.md §4.2: nested virtualization is switched on from the Hyper-V host.
NESTED_HINT = ("enable nested virtualization on the lab host: Set-VMProcessor -VMName <vm> "
               "-ExposeVirtualizationExtensions $true (with the VM off), or use hardware "
               "with VT-x/AMD-V and SLAT enabled in firmware")


def _skip_rest(report: HostReport, reason: str) -> None:
    """Every row not checked yet, as not checked for ``reason``."""
    report.skip(ROWS, reason)


# --- one host --------------------------------------------------------------------------------
def check_host(target, layout, *, connect_timeout: float = CONNECT_TIMEOUT,
               assumptions: bool = False) -> HostReport:
    """Every row for one :class:`~harness.config.target.Target`; never raises for the host.

    With ``assumptions`` the rows after the connection are the simulated host's guesses
    (:mod:`harness.commands.assumptions`) instead of the readiness checks."""

    report = HostReport(target.name, target.describe())
    try:
        transport = open_transport(target)
    except HarnessError as exc:
        report.add(REACHABLE, FAIL, exc.message, exc.hint or "check the inventory entry")
        _skip_rest(report, "no transport to the host")
        return report
    try:
        if _connect(transport, report, connect_timeout):
            if assumptions:
                assumptions_report(report, transport, layout)
            else:
                _check_connected(transport, report, layout)
    finally:
        try:
            transport.close()
        except Exception as exc:  # noqa: BLE001 — a broken connection must not hide the report
            log.debug("%s: closing the transport failed: %s", target.name, exc)
    return report


def _connect(transport, report: HostReport, timeout: float) -> bool:
    target = transport.target
    try:
        result = transport.run(["hostname"], timeout=timeout)
    except AuthenticationError as exc:
        report.add(REACHABLE, OK, f"{target.describe()} answers")
        report.add(AUTHENTICATED, FAIL, exc.message, AUTH_HINT)
        _skip_rest(report, "not authenticated")
        return False
    except HarnessError as exc:  # no connection, TLS or host key refused, no answer in time
        report.add(REACHABLE, FAIL, exc.message,
                   exc.hint or f"check that {target.describe()} is up and its "
                               f"{target.transport} listener is reachable from here")
        _skip_rest(report, "the host cannot be reached")
        return False
    report.add(REACHABLE, OK, f"{target.describe()} answers")
    name = result.stdout.strip().splitlines()[0] if result.stdout.strip() else "?"
    report.add(AUTHENTICATED, OK, f"logged on as {target.user or 'the current user'} "
                                  f"(hostname {name})")
    return True


def _check_connected(transport, report: HostReport, layout) -> None:

    host = WindowsHost(transport)
    try:
        facts = host.facts()
    except HarnessError as exc:
        report.add("host facts", FAIL, f"cannot read the host's facts: {exc.message}",
                   exc.hint or "is this a Windows host with Windows PowerShell 5.1?")
        report.skip((ELEVATED, OS_BUILD, VIRTUALIZATION, HYPERV, CONTAINERS, DISK),
                    "the host's facts could not be read")
    else:
        _check_facts(facts, report)
    running = _check_service(host, report, layout)
    if running:
        _check_cri(transport, report, layout)
    else:
        report.skip((CRI,), "containerd is not running")
    _check_handlers(host, report, layout)


def _check_facts(facts, report: HostReport) -> None:
    if facts.elevated:
        report.add(ELEVATED, OK, f"{facts.user} has an elevated administrator token")
    else:
        report.add(ELEVATED, FAIL, f"{facts.user} has no elevated administrator token: "
                                   "features, services and containerd need one",
                   ELEVATION_HINT)

    what = f"{facts.caption}, build {facts.os_version}"
    if facts.build < MIN_BUILD:
        report.add(OS_BUILD, FAIL, f"{what}: Windows pods need build {MIN_BUILD} (RS5) or "
                                   "later", "use Windows Server 2022 or 2025")
    elif facts.build < UVM_HPC_BUILD:
        report.add(OS_BUILD, WARN, f"{what}: no HostProcess in a UVM before build "
                                   f"{UVM_HPC_BUILD}; hypervisor-isolated HPC scenarios will "
                                   "be skipped", "use Windows Server 2025 to test HPC in a UVM")
    else:
        report.add(OS_BUILD, OK, f"{what}: supports HostProcess in a UVM "
                                 f"(build {UVM_HPC_BUILD} or later)")

    if facts.vm_without_nested_virtualization:
        report.add(VIRTUALIZATION, WARN, "a virtual machine whose host exposes no "
                                         "virtualization extensions to it; hyperv scenarios "
                                         "will skip: no nested virtualization", NESTED_HINT)
    elif facts.hypervisor_present and facts.feature_installed("Hyper-V"):
        report.add(VIRTUALIZATION, OK, "a hypervisor is running")
    elif facts.hypervisor_present:
        report.add(VIRTUALIZATION, OK, "a virtual machine with nested virtualization: its "
                                       "host exposes the virtualization extensions")
    elif facts.hyperv_capable:
        report.add(VIRTUALIZATION, OK, "firmware virtualization, VM monitor mode extensions "
                                       "and SLAT are available")
    else:
        missing = [name for name, present in (
            ("virtualization enabled in firmware", facts.virtualization_firmware_enabled),
            ("VM monitor mode extensions", facts.vm_monitor_mode_extensions),
            ("SLAT", facts.slat)) if not present]
        report.add(VIRTUALIZATION, FAIL, "missing: " + ", ".join(missing) +
                   "; Hyper-V cannot run here (hypervisor-isolated scenarios need it)",
                   NESTED_HINT)

    for row, feature in ((HYPERV, "Hyper-V"), (CONTAINERS, "Containers")):
        _check_feature(facts, report, row, feature)

    free = facts.free_disk_gb
    where = f"{free:.1f} GiB free on {facts.system_drive}"
    if free < DISK_FAIL_GB:
        report.add(DISK, FAIL, f"{where}: Windows container images need more",
                   f"free at least {DISK_WARN_GB:g} GiB (e.g. `crictl rmi --prune` on the host)")
    elif free < DISK_WARN_GB:
        report.add(DISK, WARN, f"{where}: image pulls may run out of space",
                   f"free at least {DISK_WARN_GB:g} GiB")
    else:
        report.add(DISK, OK, where)


def _check_feature(facts, report: HostReport, row: str, feature: str) -> None:
    if facts.feature_error:
        report.add(row, FAIL, f"cannot read Windows features: {facts.feature_error}",
                   "hpc-e2e needs Windows Server (Get-WindowsFeature) and an elevated "
                   "administrator")
        return
    state = facts.feature_state(feature)
    if state == "Installed":
        report.add(row, OK, "Installed")
    elif state == "InstallPending":
        report.add(row, FAIL, "InstallPending: installed, waiting for a restart",
                   "restart the host (`hpc-e2e provision` restarts it when Windows asks)")
    elif state is None:
        report.add(row, FAIL, f"this Windows has no {feature} feature",
                   "use Windows Server (Datacenter or Standard)")
    elif feature == "Hyper-V" and facts.vm_without_nested_virtualization:
        report.add(row, WARN, f"{state}; it cannot be installed in a VM with no nested "
                              "virtualization (process-isolated scenarios do not need it)",
                   NESTED_HINT + ", then " + PROVISION_HINT)
    elif feature == "Hyper-V" and not facts.hyperv_capable:
        report.add(row, FAIL, f"{state}; it cannot be installed without virtualization "
                              "extensions", NESTED_HINT + ", then " + PROVISION_HINT)
    else:
        report.add(row, FAIL, f"{state}, not installed", PROVISION_HINT)


def _check_service(host, report: HostReport, layout) -> bool:
    try:
        info = host.services.query(layout.service_name)
    except HarnessError as exc:
        report.add(SERVICE, FAIL, f"cannot query service {layout.service_name}: "
                                  f"{exc.message}", exc.hint or ELEVATION_HINT)
        return False
    if info is None:
        report.add(SERVICE, FAIL, f"no service named {layout.service_name!r} is installed",
                   PROVISION_HINT)
        return False
    if info.running:
        report.add(SERVICE, OK, f"running (pid {info.pid}) from {info.binary_path}")
        return True
    report.add(SERVICE, FAIL, info.describe(),
               f"{PROVISION_HINT} (it starts the service); containerd's log is "
               f"{layout.log_file}")
    return False


def _check_cri(transport, report: HostReport, layout) -> None:

    crictl = Crictl(transport, crictl_path=layout.crictl_exe, config_path=layout.crictl_yaml,
                    timeout=CRICTL_TIMEOUT, margin=CRICTL_TIMEOUT)
    try:
        info = crictl.info()
    except HarnessError as exc:
        report.add(CRI, FAIL, f"crictl info failed: {exc.message}",
                   exc.hint or f"{PROVISION_HINT}; containerd's log is {layout.log_file}")
        return
    if info.runtime_ready:
        report.add(CRI, OK, "crictl info: RuntimeReady")
    else:
        reason = info.condition_reasons.get("RuntimeReady") or "no reason given"
        report.add(CRI, FAIL, f"crictl info: RuntimeReady is false ({reason})",
                   f"containerd's log is {layout.log_file}; {PROVISION_HINT} restarts it")


def _check_handlers(host, report: HostReport, layout) -> None:
    path = layout.config_toml
    try:
        (info,) = host.files.info([path])
        if not info.is_file:
            report.add(HANDLERS, FAIL, f"{path} does not exist", PROVISION_HINT)
            return
        text = host.files.read_text(path)
    except HarnessError as exc:
        report.add(HANDLERS, FAIL, f"cannot read {path}: {exc.message}",
                   exc.hint or ELEVATION_HINT)
        return
    problems, version = handler_problems(text)
    if problems:
        report.add(HANDLERS, FAIL, f"{path}: " + "; ".join(problems),
                   f"{PROVISION_HINT} (it rewrites config.toml and restarts containerd)")
    else:

        report.add(HANDLERS, OK, f"{', '.join(NAMES)} with {HPC_ANNOTATIONS} pod and "
                                 f"container annotations (config version {version})")


def handler_problems(text: str) -> tuple[list[str], int | None]:
    """What keeps a containerd ``config.toml`` from running the suite's pods; and its version.

    The rules are the ones :mod:`harness.runtime.containerd_config` deploys by: a
    ``version``, both handlers with the runhcs runtime type, ``microsoft.com/*`` in the pod
    and container annotation allowlists (or the HPC annotations are silently dropped:
    docs/behaviour/runtime.md §4.3, §8.2), and hypervisor isolation on the hypervisor
    handler (§4.1).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [f"not valid TOML ({exc})"], None
    version = doc.get("version")
    if version not in (2, 3):
        # docs/behaviour/ecosystem.md §7 "Pitfalls": without it the file is version 1, CRI ignored.
        return [(f"version is {version!r}, not 2 or 3 (containerd then ignores the CRI "
                 "settings)")], None
    plugin = "io.containerd.grpc.v1.cri" if version == 2 else "io.containerd.cri.v1.runtime"
    runtimes = (((doc.get("plugins") or {}).get(plugin) or {}).get("containerd") or {}
                ).get("runtimes") or {}
    problems: list[str] = []
    for name in (PROCESS_HANDLER, HYPERVISOR_HANDLER):
        handler = runtimes.get(name)
        if not isinstance(handler, dict):
            problems.append(f"handler {name} is not configured")
            continue
        if handler.get("runtime_type") != RUNTIME_TYPE:
            problems.append(f"{name}: runtime_type is {handler.get('runtime_type')!r}, "
                            f"not {RUNTIME_TYPE!r}")
        for key in ("pod_annotations", "container_annotations"):
            if HPC_ANNOTATIONS not in (handler.get(key) or []):
                problems.append(f"{name}: {key} lacks {HPC_ANNOTATIONS!r}")
        isolation = (handler.get("options") or {}).get("SandboxIsolation", 0)
        if name == HYPERVISOR_HANDLER and isolation != 1:
            problems.append(f"{name}: options.SandboxIsolation is {isolation!r}, not 1 "
                            "(hypervisor)")
    return problems, version


# --- many hosts --------------------------------------------------------------------------------
def doctor(targets, layout, *, assumptions: bool = False) -> list[HostReport]:

    return per_host(targets, lambda t: check_host(t, layout, assumptions=assumptions))


STYLE = {OK: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim"}


def render(reports: list[HostReport], console, *, assumptions: bool = False) -> None:

    good, bad = ("guesses held", "differs from the simulated host") if assumptions else \
        ("ready", "not ready")
    for rep in reports:  # texts from hosts may hold [brackets]: escape them, not markup
        verdict = f"[green]{good}[/]" if rep.ready else f"[bold red]{bad}[/]"
        table = Table(title=f"{escape(rep.target)}: {verdict}", title_justify="left")
        table.add_column("check")
        table.add_column("status")
        table.add_column("detail", overflow="fold")
        table.add_column("what to do", overflow="fold")
        for c in rep.checks:
            table.add_row(c.name, f"[{STYLE.get(c.status, '')}]{c.status}[/]", escape(c.detail),
                          escape(c.hint))
        console.print(table)


def command(args: argparse.Namespace) -> int:
    """``hpc-e2e doctor``."""

    layout = runtime_layout(args.bundle)
    with select_hosts(inventory=args.inventory, hosts=args.host,
                      sim_state_dir=args.sim_state_dir) as selection:
        reports = doctor(selection.targets, layout,
                         assumptions=getattr(args, "assumptions", False))
        started = selection.sim is not None
    ready = all(r.ready for r in reports)
    if args.json:
        print(json.dumps({"ready": ready, "hosts": [r.to_dict() for r in reports]}, indent=2))
    else:
        render(reports, console(), assumptions=getattr(args, "assumptions", False))
        if started:
            print(f"(checked a simulated host started for this command from "
                  f"{args.sim_state_dir}; serve one with `hpc-e2e sim serve` to keep it)")
        if getattr(args, "assumptions", False):
            print("every guess observed held" if ready else
                  f"{sum(not r.ready for r in reports)} of {len(reports)} host(s) differ "
                  f"from the simulated host's guesses (harness/sim/ASSUMPTIONS.md)")
        else:
            print("all hosts ready" if ready else
                  f"{sum(not r.ready for r in reports)} of {len(reports)} host(s) not ready")
    return 0 if ready else EXIT_NOT_READY


__all__ = ["CONNECT_TIMEOUT", "EXIT_NOT_READY", "FAIL", "OK", "ROWS", "SKIP", "WARN", "Check",
           "HostReport", "check_host", "command", "doctor", "handler_problems", "render"]
