"""``hpc-e2e doctor --assumptions``: does a real host behave as the simulated host guesses?

``harness/sim/ASSUMPTIONS.md`` lists what the simulated host assumes where Windows' exact
behaviour was not pinned by a reference.  Each guess that a host shows without being changed
is a check here, named by an id that the ASSUMPTIONS.md entry quotes.  Run against a real
host, the table says per guess whether it ``held`` or ``differs`` (with what the host did),
so the first night on real hardware says where the simulated host is wrong instead of leaving
that to be found in failures.  A check whose precondition the host does not meet (Hyper-V
not installed, no runtime deployed, an elevated account for a non-elevated guess) says
``not observed`` and why.

Every check only reads, or does what leaves the host as it was (a lookup of a name that does
not exist, a one-second ``waitfor``, a ``crictl stop`` of an ID no container has); none
restarts the host or leaves anything behind (``service-probe`` registers a service
that is never started, and removes it; ``service-start-exit`` registers one whose process is
``cmd.exe /c exit 1``, starts it and removes it; ``crictl-pull-missing`` pulls a tag that
does not exist, which stores nothing; ``crictl-reserved-name``, ``hpc-exec-missing``,
``hpc-stop-exit``, ``hpc-logons``, ``hpc-rootfs-hidden``, ``hpc-mount-missing-source``,
``hpc-readonly-mount``, ``hpc-file-mount``, ``crictl-logs-streams`` and
``crictl-config-bom`` each run HostProcess pods from the sandbox image already on the host and
remove them; the mount checks also remove a folder or file a host that differs leaves,
``crictl-logs-streams`` its log folder and ``crictl-config-bom`` its config files).
Against the default simulated host they hold by construction; tests/test_assumptions.py
changes the simulated host on purpose and sees each one fail.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PureWindowsPath

from harness.commands.checks import FAIL, OK, SKIP, WARN, Check, HostReport
from harness.cri import ContainerSpec, Crictl, HostMount, PodSpec
from harness.cri.errors import CriStageError, crictl_error_text, split_grpc
from harness.errors import HarnessError
from harness.runtime.containerd_config import PROCESS_HANDLER
from harness.runtime.sandbox_image import sandbox_image_for
from harness.transport.powershell import run_script
from harness.windows import WindowsHost
from harness.windows.catalog import SCRIPTS, call
from harness.windows.errors import HostScriptError, ServiceError

HELD, DIFFERS, UNOBSERVED = OK, FAIL, SKIP
TIMEOUT = 60.0
NO_SUCH_SERVICE = "hpc-e2e-no-such-service"
NO_SUCH_USER = "hpce2enosuchuser"
NO_SUCH_HOST = "hpc-e2e-no-such-host.invalid"
WAITFOR_SIGNAL = "hpce2eassume"
AN_EXISTING_FILE = r"C:\Windows\System32\cmd.exe"
ZERO_ID = "0" * 64
# crictl 1.29-1.36: logrus.Fatal; 1.37: logrus.Error (ASSUMPTIONS.md "crictl's error lines").
CRICTL_ERROR_LINE = re.compile(
    r'^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z" level=(?:fatal|error) msg=".*"$')


@dataclass
class Context:
    """What the checks share: one connection, the host's facts, the runtime's layout."""

    transport: object
    host: object  # WindowsHost
    facts: object  # HostFacts
    layout: object  # RuntimeLayout

    def run(self, argv: list[str], timeout: float = TIMEOUT):
        return self.transport.run(argv, timeout=timeout)


@dataclass(frozen=True)
class Assumption:
    id: str
    entry: str  # the ASSUMPTIONS.md entry, as its bold title or heading reads
    check: Callable[[Context], tuple[str, str]]


def _output(result) -> str:
    return (result.stdout + "\n" + result.stderr).strip()


def _quote(text: str, limit: int = 160) -> str:
    text = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- the checks ------------------------------------------------------------------------------
def get_service_text(ctx: Context) -> tuple[str, str]:

    expected = f"Cannot find any service with service name '{NO_SUCH_SERVICE}'."
    try:
        # stop reaches `Get-Service -Name $name` (query catches the miss itself); a
        # service that does not exist is not stopped or changed.
        value = call(ctx.transport, "service", {"action": "stop", "name": NO_SUCH_SERVICE,
                                                "timeout_seconds": 1},
                     timeout=TIMEOUT, catalog=SCRIPTS, what="stop a missing service")
    except HostScriptError as exc:
        if expected in exc.text:
            return HELD, f"Get-Service said {expected!r}"
        return DIFFERS, f"Get-Service said {_quote(exc.text)}, not {expected!r}"
    return DIFFERS, f"service.ps1 stop of a missing service answered {value!r}, no error"


def create_directory_text(ctx: Context) -> tuple[str, str]:

    expected = (f'Cannot create "{AN_EXISTING_FILE}" because a file or directory with the '
                f'same name already exists.')
    try:
        value = call(ctx.transport, "make_directory", {"path": AN_EXISTING_FILE},
                     timeout=TIMEOUT, catalog=SCRIPTS, what="create a directory on a file")
    except HostScriptError as exc:
        if expected in exc.text:
            return HELD, f"CreateDirectory said {expected!r}"
        return DIFFERS, f"CreateDirectory said {_quote(exc.text)}, not {expected!r}"
    return DIFFERS, f"make_directory on {AN_EXISTING_FILE} answered {value!r}, no error"


def net_user_unknown(ctx: Context) -> tuple[str, str]:
    result = ctx.run(["net", "user", NO_SUCH_USER])
    said = _output(result)
    if result.exit_code == 2 and "The user name could not be found." in result.stderr:
        return HELD, "exit 2, 'The user name could not be found.' on stderr"
    return DIFFERS, f"exit {result.exit_code}, {_quote(said)}"


def waitfor_timeout(ctx: Context) -> tuple[str, str]:
    expected = f"ERROR: Timed out waiting for '{WAITFOR_SIGNAL}'."
    result = ctx.run(["waitfor", "/t", "1", WAITFOR_SIGNAL])
    if result.exit_code == 1 and expected in result.stderr:
        return HELD, f"exit 1, {expected!r} on stderr"
    return DIFFERS, f"exit {result.exit_code}, stdout {_quote(result.stdout)}, " \
                    f"stderr {_quote(result.stderr)}"


def ping_texts(ctx: Context) -> tuple[str, str]:
    loop = ctx.run(["ping", "-n", "1", "127.0.0.1"])
    if loop.exit_code != 0 or "TTL=128" not in loop.stdout:
        return DIFFERS, f"ping 127.0.0.1: exit {loop.exit_code}, {_quote(loop.stdout)}"
    unknown = ctx.run(["ping", "-n", "1", NO_SUCH_HOST])
    expected = (f"Ping request could not find host {NO_SUCH_HOST}. Please check the name "
                f"and try again.")
    if expected not in unknown.stdout:
        return DIFFERS, f"ping {NO_SUCH_HOST}: exit {unknown.exit_code}, " \
                        f"{_quote(_output(unknown))}"
    return HELD, "loopback answers with TTL=128; an unknown name: " + repr(expected)


def hns_nat(ctx: Context) -> tuple[str, str]:
    state = ctx.facts.feature_state("Containers")
    if state != "Installed":
        return UNOBSERVED, f"the Containers feature is {state or 'absent'}, not installed"
    network = ctx.host.nat_network()
    if network is None:
        return DIFFERS, ("Containers is installed and the host has restarted, but "
                         "Get-HnsNetwork lists no 'nat' network with a subnet")
    return HELD, f"nat network {network[0]}, gateway {network[1]}"


def hypervisor_view(ctx: Context) -> tuple[str, str]:
    f = ctx.facts
    props = {"VirtualizationFirmwareEnabled": f.virtualization_firmware_enabled,
             "VMMonitorModeExtensions": f.vm_monitor_mode_extensions,
             "SecondLevelAddressTranslationExtensions": f.slat}
    shown = ", ".join(f"{k}={v}" for k, v in props.items())
    if f.feature_installed("Hyper-V"):
        if f.hypervisor_present and not any(props.values()):
            return HELD, f"Hyper-V installed: HypervisorPresent=True, {shown}"
        return DIFFERS, f"Hyper-V installed: HypervisorPresent={f.hypervisor_present}, {shown}"
    if f.hypervisor_present:  # a guest without its own Hyper-V
        if len(set(props.values())) == 1:
            return HELD, f"a guest: all three read {next(iter(props.values()))}"
        return DIFFERS, f"a guest whose processor properties disagree: {shown}"
    return UNOBSERVED, "no hypervisor present and Hyper-V not installed: nothing guessed here"


PROBE_SERVICE = "hpc-e2e-assumption-probe"
PROBE_DISPLAY = "hpc-e2e assumption probe"
PROBE_BINARY = r"C:\Windows\System32\cmd.exe /c exit 0"


def service_probe(ctx: Context) -> tuple[str, str]:
    """A service registered and never started reads ExitCode 1077, and New-Service of the
    same name again fails with its "already exists" text.  The service is removed again;
    it is never started."""
    if not ctx.facts.elevated:
        return UNOBSERVED, "registering a service needs an elevated administrator"
    services = ctx.host.services
    try:
        info = services.register(PROBE_SERVICE, PROBE_BINARY, display_name=PROBE_DISPLAY,
                                 replace=True)
        if info.exit_code != 1077:
            return DIFFERS, (f"a registered, never started service reads ExitCode "
                             f"{info.exit_code}, not 1077")
        prefix = (f"Service '{PROBE_DISPLAY} ({PROBE_SERVICE})' cannot be created due to the "
                  f"following error: The specified service already exists")
        try:
            services.register(PROBE_SERVICE, PROBE_BINARY, display_name=PROBE_DISPLAY)
        except ServiceError as exc:
            if prefix not in exc.message:
                return DIFFERS, f"New-Service of an existing name said {_quote(exc.message)}"
        else:
            return DIFFERS, "New-Service of an existing name succeeded"
    finally:
        services.delete(PROBE_SERVICE)
    return HELD, f"ExitCode 1077 before any start; New-Service again: {prefix!r}"


BINDFLT_DLL = r"C:\Windows\System32\bindfltapi.dll"
BINDFLT_BUILD = 19041


def bindflt_dll(ctx: Context) -> tuple[str, str]:
    """The sim's bind-filter test is the shim's: bindfltapi.dll exists from build 19041."""
    (info,) = ctx.host.files.info([BINDFLT_DLL])
    build = ctx.facts.build
    expected = build >= BINDFLT_BUILD
    if info.is_file == expected:
        return HELD, f"build {build}: {BINDFLT_DLL} " + ("exists" if expected else "absent")
    return DIFFERS, f"build {build}: {BINDFLT_DLL} " + \
        ("is missing" if expected else f"exists before build {BINDFLT_BUILD}")


def features_unelevated(ctx: Context) -> tuple[str, str]:
    if ctx.facts.elevated:
        return UNOBSERVED, "the account is elevated; run with a non-elevated administrator"
    if ctx.facts.feature_error:
        return DIFFERS, f"Get-WindowsFeature failed: {ctx.facts.feature_error}"
    return HELD, "Get-WindowsFeature answered without elevation"


def _crictl(ctx: Context, *args: str):
    """crictl of the deployed runtime, or None when there is none to ask."""
    info = ctx.host.files.info([ctx.layout.crictl_exe])[0]
    if not info.is_file:
        return None
    return ctx.run([ctx.layout.crictl_exe, "--config", ctx.layout.crictl_yaml,
                    "--timeout", "30s", *args])


def crictl_error_line(ctx: Context) -> tuple[str, str]:
    result = _crictl(ctx, "inspectp", ZERO_ID)
    if result is None:
        return UNOBSERVED, f"no crictl at {ctx.layout.crictl_exe} (run `hpc-e2e provision`)"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    if result.exit_code == 1 and CRICTL_ERROR_LINE.match(last):
        return HELD, f"exit 1, {_quote(last, 120)}"
    return DIFFERS, f"exit {result.exit_code}, last stderr line {_quote(last)}"


def crictl_stop_missing(ctx: Context) -> tuple[str, str]:
    result = _crictl(ctx, "stop", ZERO_ID)
    if result is None:
        return UNOBSERVED, f"no crictl at {ctx.layout.crictl_exe} (run `hpc-e2e provision`)"
    if result.exit_code == 0:
        return HELD, "crictl stop of an unknown ID succeeds (StopContainer is idempotent)"
    return DIFFERS, f"exit {result.exit_code}, {_quote(result.stderr)}"


# cmd.exe's own builtins show two command-line guesses without a program that prints its
# line: echo writes the rest of its line as it is (trailing blanks too), and a line that ends
# in an operator is refused before anything runs (ASSUMPTIONS.md "Command lines").
ECHO_PROBE = "hpc-e2e-probe"
SYNTAX_TEXT = "The syntax of the command is incorrect."


def cmd_line_ends(ctx: Context) -> tuple[str, str]:
    blanks = ctx.run(f"echo {ECHO_PROBE}   ")
    if blanks.exit_code != 0 or blanks.stdout != f"{ECHO_PROBE}   \r\n":
        return DIFFERS, (f"`echo {ECHO_PROBE}` with three trailing blanks: exit "
                         f"{blanks.exit_code}, stdout {blanks.stdout!r} (expected the blanks "
                         f"kept)")
    seen = []
    for operator in ("&", "|"):
        ended = ctx.run(f"echo {ECHO_PROBE} {operator}")
        if ended.exit_code == 0 or SYNTAX_TEXT not in ended.stderr or ECHO_PROBE in ended.stdout:
            return DIFFERS, (f"`echo {ECHO_PROBE} {operator}`: exit {ended.exit_code}, stdout "
                             f"{_quote(ended.stdout)}, stderr {_quote(ended.stderr)} (expected "
                             f"{SYNTAX_TEXT!r} and nothing run)")
        seen.append(f"{operator!r}: exit {ended.exit_code}")
    return HELD, (f"trailing blanks kept by echo; a line ending in an operator: "
                  f"{SYNTAX_TEXT!r} ({', '.join(seen)})")


NO_SUCH_IMAGE = "hpc-e2e.invalid/no-such-image:none"


def crictl_images_ref(ctx: Context) -> tuple[str, str]:
    """``crictl images REF`` lists every image: containerd ignores the CRI filter."""
    every = _crictl(ctx, "images", "-q")
    if every is None:
        return UNOBSERVED, f"no crictl at {ctx.layout.crictl_exe} (run `hpc-e2e provision`)"
    if every.exit_code != 0:
        return UNOBSERVED, f"crictl images failed: exit {every.exit_code}, " \
                           f"{_quote(every.stderr)}"
    ids = sorted(line.strip() for line in every.stdout.splitlines() if line.strip())
    if not ids:
        return UNOBSERVED, "the runtime has no image: pull one (e.g. the pause image) first"
    filtered = _crictl(ctx, "images", "-q", NO_SUCH_IMAGE)
    got = sorted(line.strip() for line in filtered.stdout.splitlines() if line.strip())
    if filtered.exit_code == 0 and got == ids:
        return HELD, f"`crictl images {NO_SUCH_IMAGE}` lists all {len(ids)} image(s)"
    return DIFFERS, (f"`crictl images {NO_SUCH_IMAGE}`: exit {filtered.exit_code}, "
                     f"{len(got)} of {len(ids)} image(s) listed "
                     f"{_quote(filtered.stderr) if filtered.stderr.strip() else ''}").rstrip()


# What `winrm quickconfig -transport:https` leaves and the sim's HTTPS listener stands for.
WINRM_EXPECTED = {"Basic": "false", "Negotiate": "true", "CbtHardeningLevel": "Relaxed"}


def winrm_service_auth(ctx: Context) -> tuple[str, str]:
    value = call(ctx.transport, "winrm_service_auth", {}, timeout=TIMEOUT, catalog=SCRIPTS,
                 what="read the WinRM service's authentication settings", repeatable=True)
    if value.get("error"):
        return UNOBSERVED, f"the WSMan: drive could not be read: {_quote(value['error'])}"
    auth = value.get("auth") or {}
    seen = {k: auth.get(k) for k in WINRM_EXPECTED}
    seen_unencrypted = value.get("allow_unencrypted")
    wrong = [f"{k}={v}" for k, v in seen.items() if str(v).lower() !=
             WINRM_EXPECTED[k].lower()]
    if str(seen_unencrypted).lower() != "false":
        wrong.append(f"AllowUnencrypted={seen_unencrypted}")
    shown = ", ".join(f"{k}={v}" for k, v in seen.items()) + \
        f", AllowUnencrypted={seen_unencrypted}"
    if wrong:
        expected = ", ".join(f"{k}={v}" for k, v in WINRM_EXPECTED.items())
        return DIFFERS, (f"{', '.join(wrong)} (the sim: {expected}, AllowUnencrypted=false; "
                         f"read: {shown})")
    return HELD, shown


STREAM_TOKEN = "hpc-e2e-assumption-probe"


def powershell_streams(ctx: Context) -> tuple[str, str]:
    """Where each stream's record leaves powershell.exe under the transport's bootstrap."""
    result = run_script(ctx.transport, "output_streams", {"text": STREAM_TOKEN},
                        timeout=TIMEOUT, catalog=SCRIPTS, check=False)
    if result.exit_code != 0 or not isinstance(result.value, dict):
        return DIFFERS, (f"output_streams.ps1: exit {result.exit_code}, result "
                         f"{result.value!r}, stderr {_quote(result.stderr)}")
    out = [line.rstrip() for line in result.stdout.splitlines()]
    expected_out = [f"WARNING: warning {STREAM_TOKEN}", f"VERBOSE: verbose {STREAM_TOKEN}"]
    wrong = [f"no {line!r} line on stdout" for line in expected_out if line not in out]
    error = f"error {STREAM_TOKEN}"
    if error not in result.stderr:
        wrong.append(f"the error record is not on stderr "
                     f"({'on stdout' if error in result.stdout else 'nowhere'})")
    both = result.stdout + result.stderr
    if "#< CLIXML" in both:
        wrong.append("CLIXML was written")
    if f"progress {STREAM_TOKEN}" in both:
        wrong.append("the progress record was written")
    if wrong:
        return DIFFERS, (f"{'; '.join(wrong)} (stdout {_quote(result.stdout)}, stderr "
                         f"{_quote(result.stderr)})")
    return HELD, ("-OutputFormat Text: WARNING:/VERBOSE: lines on stdout, the error on "
                  "stderr, no progress, no CLIXML")


EXIT_PROBE_SERVICE = "hpc-e2e-assumption-exit-probe"
EXIT_PROBE_DISPLAY = "hpc-e2e assumption exit probe"
EXIT_PROBE_BINARY = r"C:\Windows\System32\cmd.exe /c exit 1"
EXIT_PROBE_TIMEOUT = 45.0  # above the SCM's 30 s ServicesPipeTimeout, should it wait for it


def service_start_exit(ctx: Context) -> tuple[str, str]:
    """A service whose process ends at once without talking to the SCM (``cmd.exe /c exit
    1``): the sim's StartService accepts it and the SCM records Win32ExitCode 1067.  The
    service runs nothing else and is removed again."""
    if not ctx.facts.elevated:
        return UNOBSERVED, "registering a service needs an elevated administrator"
    services = ctx.host.services
    try:
        services.register(EXIT_PROBE_SERVICE, EXIT_PROBE_BINARY,
                          display_name=EXIT_PROBE_DISPLAY, replace=True)
        # service.ps1 start: ServiceController.Start(), then the state Win32_Service reports
        # (a start that ends in Stopped returns at once); `error` is what Start() threw.
        value = call(ctx.transport, "service",
                     {"action": "start", "name": EXIT_PROBE_SERVICE,
                      "timeout_seconds": int(EXIT_PROBE_TIMEOUT)},
                     timeout=EXIT_PROBE_TIMEOUT + TIMEOUT, catalog=SCRIPTS,
                     what="start the exit probe service")
    finally:
        services.delete(EXIT_PROBE_SERVICE)
    state, code, error = value.get("state"), value.get("exit_code"), value.get("error")
    if state == "Stopped" and code == 1067 and not error:
        return HELD, ("StartService accepted it; the process ended without reporting: "
                      "Stopped, ExitCode 1067")
    return DIFFERS, (f"state {state}, ExitCode {code}"
                     + (f", StartService failed: {_quote(str(error))}" if error else "")
                     + " (the sim: StartService accepts it, then Stopped with ExitCode 1067)")

# A repository that exists with a tag that does not: the registry answers 404 for the
# manifest, which containerd reports as NotFound (a missing repository on Docker Hub would
# be refused as unauthorized instead).
MISSING_TAG = "mcr.microsoft.com/windows/nanoserver:hpc-e2e-no-such-tag"
NETWORK_TROUBLE = re.compile(r"dial tcp|no such host|i/o timeout|connection refused|"
                             r"TLS handshake|proxyconnect", re.IGNORECASE)


def crictl_pull_missing(ctx: Context) -> tuple[str, str]:
    """The pull of a tag the registry does not have: the sim words it as containerd 1.7."""
    result = _crictl(ctx, "pull", MISSING_TAG)
    if result is None:
        return UNOBSERVED, f"no crictl at {ctx.layout.crictl_exe} (run `hpc-e2e provision`)"
    expected = f'failed to resolve reference "{MISSING_TAG}": {MISSING_TAG}: not found'
    said = result.stderr.replace('\\"', '"')  # crictl's log lines quote the error Go's %q way
    if result.exit_code != 0 and expected in said and "code = NotFound" in said:
        return HELD, f"exit {result.exit_code}, NotFound: {expected!r}"
    if result.exit_code != 0 and NETWORK_TROUBLE.search(result.stderr):
        return UNOBSERVED, f"the registry could not be reached: {_quote(result.stderr)}"
    return DIFFERS, (f"exit {result.exit_code}, {_quote(result.stderr)} (the sim: NotFound, "
                     f"{expected!r}, containerd 1.7's words)")


# containerd's logrus text formatter: RFC3339 with nine fraction digits (containerd's
# log.RFC3339NanoFixed), the level, msg= quoted when it needs quotes, then sorted fields.
LOGRUS_LINE = re.compile(r'^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z" '
                         r'level=(?:trace|debug|info|warning|error|fatal|panic) '
                         r'msg=(?:"(?:[^"\\]|\\.)*"|\S+)(?: |$)')
LOG_READ_LIMIT = 16 * 1024 * 1024


def containerd_log_format(ctx: Context) -> tuple[str, str]:
    """Every line of containerd's log file is a logrus text line, time in UTC (``Z``)."""
    path = ctx.layout.log_file
    (info,) = ctx.host.files.info([path])
    if not info.is_file:
        return UNOBSERVED, f"no containerd log at {path} (run `hpc-e2e provision`)"
    if (info.size or 0) > LOG_READ_LIMIT:
        return UNOBSERVED, f"{path} holds {info.size} bytes, more than the check reads"
    lines = [line for line in ctx.host.files.read_text(path).splitlines() if line.strip()]
    if not lines:
        return UNOBSERVED, f"{path} is empty"
    other = [line for line in lines if not LOGRUS_LINE.match(line)]
    if not other:
        return HELD, f"all {len(lines)} line(s) of {path} are logrus text lines in UTC"
    return DIFFERS, (f"{len(other)} of {len(lines)} line(s) are not logrus text lines "
                     f"(time=\"...Z\" level=... msg=...), e.g. {_quote(other[0], 200)}")


RESERVED_POD = "hpc-e2e-assumption-reserved"
SYSTEM_USER = "NT AUTHORITY\\SYSTEM"
IDLE_SIGNAL = "hpce2eassumeidle"


class _NoPod(Exception):
    """The host lacks what a pod check needs; the message says what."""


@dataclass
class PodRun:
    """What a pod check works with: a crictl client of a run of its own and the sandbox
    image, which must already be on the host (the pod checks pull nothing)."""
    crictl: Crictl
    pause: str
    problems: list[HarnessError] | None = None

    def cleanup(self) -> list[HarnessError]:
        """Remove the run's pods, once; what the removal left.  The frame calls it after the
        check; a check that must act on the host once its pods are gone (a folder a mount
        made, a log folder a container held open) calls it first itself."""
        if self.problems is None:
            self.problems = self.crictl.cleanup()
        return self.problems


def _pod_run(ctx: Context) -> PodRun:
    if _crictl(ctx, "version") is None:
        raise _NoPod(f"no crictl at {ctx.layout.crictl_exe} (run `hpc-e2e provision`)")
    crictl = Crictl(ctx.transport, run_id=f"hpc-e2e-assumptions-{uuid.uuid4().hex[:8]}",
                    crictl_path=ctx.layout.crictl_exe, config_path=ctx.layout.crictl_yaml)
    pause = sandbox_image_for(ctx.facts.build).image
    if not crictl.images(pause):
        raise _NoPod(f"the sandbox image {pause} is not on the host (the check pulls nothing)")
    return PodRun(crictl, pause)


def pod_check(body: Callable[[Context, PodRun], tuple[str, str]]) \
        -> Callable[[Context], tuple[str, str]]:
    """The frame of a check that runs pods: not observed when the host cannot run one (no
    crictl, no sandbox image); the run's pods are removed whatever the check did; when the
    removal left something, its first problem ends the detail and a guess that held is a
    warning (the host is not as it was)."""
    @functools.wraps(body)
    def check(ctx: Context) -> tuple[str, str]:
        try:
            run = _pod_run(ctx)
        except _NoPod as exc:
            return UNOBSERVED, str(exc)
        try:
            status, detail = body(ctx, run)
        finally:
            problems = run.cleanup()
        if not problems:
            return status, detail
        return (WARN if status == HELD else status), f"{detail}; cleanup: {problems[0]}"
    return check


def _idle_hpc(crictl: Crictl, pause: str, name: str):
    """A process-isolated HostProcess pod with one container idling in ``waitfor``."""
    pod = crictl.runp(PodSpec(name, host_process=True, run_as_username=SYSTEM_USER),
                      runtime_handler=PROCESS_HANDLER)
    return crictl.create_and_start(pod, ContainerSpec(
        "idle", pause, host_process=True, run_as_username=SYSTEM_USER,
        command=["cmd", "/c", "waitfor", "/t", "3600", IDLE_SIGNAL]))


@pod_check
def crictl_reserved_name(ctx: Context, run: PodRun) -> tuple[str, str]:
    """A second ``runp`` of a pod that runs is refused with containerd's "failed to reserve
    sandbox name" text and gRPC Unknown (1.6/1.7; 2.x says FailedPrecondition).  Needs the
    sandbox image already on the host (no pull); the pod is removed again."""
    pod = run.crictl.runp(PodSpec(RESERVED_POD, host_process=True, run_as_username=SYSTEM_USER),
                          runtime_handler=PROCESS_HANDLER)
    again = _crictl(ctx, "runp", "--runtime", PROCESS_HANDLER, pod.config_path)
    text = crictl_error_text(again.stderr)
    code, said = split_grpc(text)
    wanted = f'is reserved for "{pod.id}"'
    if again.exit_code != 0 and "failed to reserve sandbox name" in said and \
            wanted in said and code == "Unknown":
        return HELD, f"code Unknown, 'failed to reserve sandbox name ... {wanted}'"
    return DIFFERS, (f"a second runp of {RESERVED_POD}: exit {again.exit_code}, code {code}, "
                     f"{_quote(said)} (the sim: code Unknown, 'failed to reserve sandbox name "
                     f"... {wanted}')")


HPC_EXEC_POD = "hpc-e2e-assumption-exec"
MISSING_PROGRAM = r"C:\hpc-e2e-no-such-dir\no-such.exe"
PATH_NOT_FOUND = "The system cannot find the path specified."


@pod_check
def hpc_exec_missing(ctx: Context, run: PodRun) -> tuple[str, str]:
    """Exec of a missing program in a process-isolated HostProcess container: with the bind
    filter the shim runs every command line through ``cmd /c``, so cmd reports the missing
    path (exit 3, its text) instead of the runtime refusing the exec.  Needs the sandbox
    image already on the host (it is the container's image too); the pod is removed."""
    container = _idle_hpc(run.crictl, run.pause, HPC_EXEC_POD)
    result = _crictl(ctx, "exec", "-s", container.id, MISSING_PROGRAM)
    text = crictl_error_text(result.stderr)
    if result.exit_code != 0 and "exited with 3" in text and PATH_NOT_FOUND in text:
        return HELD, f"the command exited with 3: {PATH_NOT_FOUND!r} (cmd's)"
    return DIFFERS, (f"exec of {MISSING_PROGRAM}: exit {result.exit_code}, {_quote(text)} (the "
                     f"sim: the command runs through cmd /c and exits with 3, "
                     f"{PATH_NOT_FOUND!r})")


HPC_STOP_POD = "hpc-e2e-assumption-stop"
JOB_KILLED_EXIT = 1


@pod_check
def hpc_stop_exit(ctx: Context, run: PodRun) -> tuple[str, str]:
    """A process-isolated HostProcess container stopped without a grace period (``crictl
    stop -t 0``): its killed init reads exit code 1 (the job object is terminated with 1,
    docs/behaviour/runtime.md §3.3), reason Error.  The pod is removed."""
    container = _idle_hpc(run.crictl, run.pause, HPC_STOP_POD)
    run.crictl.stop(container, timeout=0)
    (status,) = run.crictl.inspect_many([container])
    seen = f"state {status.state}, exit code {status.exit_code}"
    if status.exit_code == JOB_KILLED_EXIT and "EXITED" in status.state.upper():
        return HELD, seen
    return DIFFERS, f"{seen} (the sim: exited, exit code {JOB_KILLED_EXIT})"

HPC_LOGON_POD = "hpc-e2e-assumption-logons"
# user -> the Win32 text its logon must fail with (None: it must start)
LOGONS = {"NT AUTHORITY\\LOCAL SERVICE": None,
          "Guest": "This user can't sign in because this account is currently disabled.",
          "hpce2enosuchuser": "The user name or password is incorrect."}


@pod_check
def hpc_logons(ctx: Context, run: PodRun) -> tuple[str, str]:
    """Process-isolated HostProcess containers run as LOCAL SERVICE (starts), as the local
    Guest account (disabled: 1331) and as an unknown name (1326), the logons the shim makes
    with a nil password.  The pod and its containers are removed."""
    seen: dict[str, str] = {}
    wrong: list[str] = []
    pod = run.crictl.runp(PodSpec(HPC_LOGON_POD, host_process=True, run_as_username=SYSTEM_USER),
                          runtime_handler=PROCESS_HANDLER)
    for i, (user, refusal) in enumerate(LOGONS.items()):
        try:
            run.crictl.create_and_start(pod, ContainerSpec(
                f"as-{i}", run.pause, host_process=True, run_as_username=user,
                command=["cmd", "/c", "waitfor", "/t", "3600", IDLE_SIGNAL]))
        except CriStageError as exc:
            seen[user] = f"{exc.stage}: {exc.runtime_message}"
            if refusal is None or refusal not in exc.runtime_message:
                wrong.append(f"{user}: {_quote(seen[user], 400)}")
        else:
            seen[user] = "started"
            if refusal is not None:
                wrong.append(f"{user}: started (the sim: {refusal!r})")
    if wrong:
        return DIFFERS, "; ".join(wrong)
    return HELD, "LOCAL SERVICE started; Guest: 1331 (disabled); an unknown name: 1326"


HPC_ROOTFS_POD = "hpc-e2e-assumption-rootfs"


@pod_check
def hpc_rootfs_hidden(ctx: Context, run: PodRun) -> tuple[str, str]:
    """With the bind filter a job container's rootfs is bound inside its silo only: the
    host's own disk shows nothing at ``C:\\hpc\\<container id>`` while it runs.  The pod
    is removed."""
    (bindflt,) = ctx.host.files.info([BINDFLT_DLL])
    if not bindflt.is_file:
        return UNOBSERVED, f"no {BINDFLT_DLL}: without the bind filter the volume is " \
                           f"meant to be visible on the host"
    container = _idle_hpc(run.crictl, run.pause, HPC_ROOTFS_POD)
    where = f"C:\\hpc\\{container.id}"
    (info,) = ctx.host.files.info([where])
    if not info.exists:
        return HELD, "nothing at C:\\hpc\\<id> on the host while the container runs"
    return DIFFERS, (f"{where} exists on the host ({info.type}) while the container runs (the "
                     f"sim: the rootfs is visible only inside the container)")


HPC_MOUNT_POD = "hpc-e2e-assumption-mount"
MISSING_SOURCE = r"C:\hpc-e2e-assumption-no-such-source"


@pod_check
def hpc_mount_missing_source(ctx: Context, run: PodRun) -> tuple[str, str]:
    """CreateContainer with a mount whose source does not exist fails with containerd's
    ``failed to stat "<source>"`` (the sim's containerd); newer containerd creates the
    folder instead, which the check then removes (after the pod, which holds it).  The pod
    is removed."""
    (before,) = ctx.host.files.info([MISSING_SOURCE])
    if before.exists:
        return UNOBSERVED, f"{MISSING_SOURCE} exists on the host: the check needs it missing"
    refused = None
    try:
        pod = run.crictl.runp(PodSpec(HPC_MOUNT_POD, host_process=True,
                                      run_as_username=SYSTEM_USER),
                              runtime_handler=PROCESS_HANDLER)
        try:
            run.crictl.create_and_start(pod, ContainerSpec(
                "mount", run.pause, host_process=True, run_as_username=SYSTEM_USER,
                command=["cmd", "/c", "waitfor", "/t", "3600", IDLE_SIGNAL],
                mounts=[HostMount(MISSING_SOURCE, r"C:\hpc-e2e-mnt")]))
        except CriStageError as exc:
            refused = exc
    finally:
        run.cleanup()
        (after,) = ctx.host.files.info([MISSING_SOURCE])
        if after.exists:
            ctx.host.files.remove(MISSING_SOURCE, recurse=True)
    wanted = f'failed to stat "{MISSING_SOURCE}"'
    if refused is not None and refused.stage == "create" and \
            wanted in refused.runtime_message:
        return HELD, f"create refused: {wanted}"
    if refused is None:
        made = " and made the source folder (removed again)" if after.exists else ""
        return DIFFERS, f"the container started{made} (the sim: create fails, {wanted})"
    return DIFFERS, (f"{refused.stage}: {_quote(refused.runtime_message, 300)} (the sim: "
                     f"create fails, {wanted})")


HPC_RO_POD = "hpc-e2e-assumption-readonly"
RO_TARGET = r"C:\hpc-e2e-ro"
RO_PROBE = "hpc-e2e-assumption-probe.txt"
ACCESS_DENIED = "Access is denied."


@pod_check
def hpc_readonly_mount(ctx: Context, run: PodRun) -> tuple[str, str]:
    """A write into a read-only mount of a HostProcess container fails with
    ERROR_ACCESS_DENIED (cmd: "Access is denied.").  The source is the folder of
    containerd's log (the harness's own); a file a host lets through is removed again
    (after the pod), and so is the pod."""
    source = str(PureWindowsPath(ctx.layout.log_file).parent)
    leaked = f"{source}\\{RO_PROBE}"
    (folder, before) = ctx.host.files.info([source, leaked])
    if not folder.is_dir or before.exists:
        return UNOBSERVED, f"{source} is not a folder, or {leaked} exists already"
    try:
        pod = run.crictl.runp(PodSpec(HPC_RO_POD, host_process=True,
                                      run_as_username=SYSTEM_USER),
                              runtime_handler=PROCESS_HANDLER)
        container = run.crictl.create_and_start(pod, ContainerSpec(
            "readonly", run.pause, host_process=True, run_as_username=SYSTEM_USER,
            command=["cmd", "/c", "waitfor", "/t", "3600", IDLE_SIGNAL],
            mounts=[HostMount(source, RO_TARGET, readonly=True)]))
        result = run.crictl.exec(container, ["cmd", "/c", f"echo x> {RO_TARGET}\\{RO_PROBE}"])
    finally:
        run.cleanup()
        (after,) = ctx.host.files.info([leaked])
        if after.exists:
            ctx.host.files.remove(leaked)
    said = f"exit {result.exit_code}, stderr {_quote(result.stderr)}"
    if result.exit_code != 0 and ACCESS_DENIED in result.stderr and not after.exists:
        return HELD, said
    wrote = f"; the write reached {leaked} (removed again)" if after.exists else ""
    return DIFFERS, f"{said}{wrote} (the sim: {ACCESS_DENIED!r}, nothing written)"


HPC_FILE_POD = "hpc-e2e-assumption-file-mount"
FILE_MOUNT_DIR = r"C:\hpc-e2e-filemount"
FILE_MOUNT_NAME = "probe.log"
DIR_ENTRY = re.compile(r"<DIR>\s+" + re.escape(FILE_MOUNT_NAME) + r"\s*$", re.MULTILINE)


@pod_check
def hpc_file_mount(ctx: Context, run: PodRun) -> tuple[str, str]:
    """A file mounted into a HostProcess container (containerd's log, read-only) is listed
    by ``dir`` of its parent as a folder (``<DIR>``) and reads as the file (``type``).
    The pod is removed."""
    (log,) = ctx.host.files.info([ctx.layout.log_file])
    if not log.is_file:
        return UNOBSERVED, f"no containerd log at {ctx.layout.log_file} to mount"
    target = f"{FILE_MOUNT_DIR}\\{FILE_MOUNT_NAME}"
    pod = run.crictl.runp(PodSpec(HPC_FILE_POD, host_process=True, run_as_username=SYSTEM_USER),
                          runtime_handler=PROCESS_HANDLER)
    container = run.crictl.create_and_start(pod, ContainerSpec(
        "file", run.pause, host_process=True, run_as_username=SYSTEM_USER,
        command=["cmd", "/c", "waitfor", "/t", "3600", IDLE_SIGNAL],
        mounts=[HostMount(ctx.layout.log_file, target, readonly=True)]))
    listing = run.crictl.exec(container, ["cmd", "/c", f"dir {FILE_MOUNT_DIR}"])
    read = run.crictl.exec(container, ["cmd", "/c", f"type {target}"])
    as_folder = listing.exit_code == 0 and DIR_ENTRY.search(listing.stdout)
    as_file = read.exit_code == 0 and "level=" in read.stdout
    if as_folder and as_file:
        return HELD, f"dir lists {FILE_MOUNT_NAME} as <DIR>; type reads the file"
    return DIFFERS, (f"dir {FILE_MOUNT_DIR}: exit {listing.exit_code}, "
                     f"{_quote(listing.stdout, 300)}; type: exit {read.exit_code}, "
                     f"{_quote(read.stdout or read.stderr, 120)} (the sim: listed as <DIR>, "
                     f"read as the file)")


HPC_LOGS_POD = "hpc-e2e-assumption-logs"
LOG_OUT, LOG_ERR = "hpc-e2e-assumption-out", "hpc-e2e-assumption-err"
LOG_READS = 10  # crictl logs until both lines are in the log (the container writes at start)


@pod_check
def crictl_logs_streams(ctx: Context, run: PodRun) -> tuple[str, str]:
    """``crictl logs`` of a HostProcess container that wrote one line to stdout and one to
    stderr: the sim prints both on crictl's stdout (ASSUMPTIONS.md "crictl logs").  The log
    folder (after the pod, whose container writes into it) and the pod are removed."""
    folder = str(PureWindowsPath(ctx.layout.log_file).parent.parent /
                 f"assumption-logs-{uuid.uuid4().hex[:8]}")
    logs = None
    try:
        pod = run.crictl.runp(PodSpec(HPC_LOGS_POD, host_process=True,
                                      run_as_username=SYSTEM_USER, log_directory=folder),
                              runtime_handler=PROCESS_HANDLER)
        container = run.crictl.create_and_start(pod, ContainerSpec(
            "logs", run.pause, host_process=True, run_as_username=SYSTEM_USER,
            log_path="logs.log",
            command=["cmd", "/c", f"echo {LOG_OUT}& echo {LOG_ERR} 1>&2& "
                                  f"waitfor /t 3600 {IDLE_SIGNAL}"]))
        for _ in range(LOG_READS):
            logs = run.crictl.logs(container)
            if LOG_ERR in logs.stdout + logs.stderr and LOG_OUT in logs.stdout + logs.stderr:
                break
    finally:
        run.cleanup()
        (left_folder,) = ctx.host.files.info([folder])
        if left_folder.exists:
            ctx.host.files.remove(folder, recurse=True)
    if not all(name in logs.stdout + logs.stderr for name in (LOG_OUT, LOG_ERR)):
        return UNOBSERVED, (f"the log did not show both lines after {LOG_READS} reads: "
                            f"stdout {_quote(logs.stdout)}, stderr {_quote(logs.stderr)}")
    where = {name: ("stdout" if name in logs.stdout else "stderr" if name in logs.stderr
                    else "nowhere") for name in (LOG_OUT, LOG_ERR)}
    shown = f"the stdout line on {where[LOG_OUT]}, the stderr line on {where[LOG_ERR]}"
    if where[LOG_OUT] == where[LOG_ERR] == "stdout":
        return HELD, shown
    return DIFFERS, f"{shown} (the sim: both on crictl's stdout)"


BOM_CONFIGS = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe"}
HPC_BOM_POD = "hpc-e2e-assumption-bom"


@pod_check
def crictl_config_bom(ctx: Context, run: PodRun) -> tuple[str, str]:
    """``crictl runp`` reads a pod config written with a BOM, UTF-8 or UTF-16 (what
    PowerShell's Out-File writes).  The config files (after the pods) and the pods are
    removed."""
    folder = str(PureWindowsPath(ctx.layout.crictl_yaml).parent)
    wrong, seen, paths = [], [], []
    try:
        for encoding, bom in BOM_CONFIGS.items():
            spec = PodSpec(f"{HPC_BOM_POD}-{encoding}", host_process=True,
                           run_as_username=SYSTEM_USER)
            text = spec.render(run.crictl.run_id).decode("utf-8")
            path = f"{folder}\\assumption-{uuid.uuid4().hex[:8]}.json"
            paths.append(path)
            ctx.host.files.write_bytes(path, bom + text.encode(encoding))
            result = _crictl(ctx, "runp", "--runtime", PROCESS_HANDLER, path)
            if result.exit_code == 0 and re.fullmatch(r"[0-9a-f]{64}\s*", result.stdout):
                seen.append(f"{encoding}: a pod")
            else:
                wrong.append(f"{encoding} with a BOM: exit {result.exit_code}, "
                             f"{_quote(result.stderr or result.stdout)}")
    finally:
        run.cleanup()
        for path in paths:
            ctx.host.files.remove(path)
    if wrong:
        return DIFFERS, "; ".join(wrong) + " (the sim: both read)"
    return HELD, "crictl runp of a config with a BOM, " + ", ".join(seen)

ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption("hypervisor-view", "Hypervisor and Win32_Processor / Virtualization facts",
               hypervisor_view),
    Assumption("features-unelevated", "Reading features does not need elevation",
               features_unelevated),
    Assumption("get-service-text", "Error texts of cmdlets (Get-Service)", get_service_text),
    Assumption("create-directory-text", "Error texts of cmdlets (Directory.CreateDirectory)",
               create_directory_text),
    Assumption("service-probe", "Service start protocol (1077) / Error texts of cmdlets "
                                "(New-Service)", service_probe),
    Assumption("hns-nat", "The nat network", hns_nat),
    Assumption("bindflt-dll", "Bind filter", bindflt_dll),
    Assumption("net-user-unknown", "net user NAME", net_user_unknown),
    Assumption("waitfor-timeout", "waitfor.exe", waitfor_timeout),
    Assumption("ping-texts", "ping", ping_texts),
    Assumption("crictl-error-line", "crictl's error lines", crictl_error_line),
    Assumption("crictl-stop-missing", "Stop of a missing object", crictl_stop_missing),
    Assumption("crictl-images-ref", "crictl images REF lists every image", crictl_images_ref),
    Assumption("cmd-line-ends", "Command lines (trailing blanks, an operator at the end)",
               cmd_line_ends),
    Assumption("winrm-service-auth", "WinRM authentication", winrm_service_auth),
    Assumption("powershell-streams", "powershell.exe output streams", powershell_streams),
    Assumption("service-start-exit", "Service start protocol (1067)", service_start_exit),
    Assumption("crictl-pull-missing", "Pull errors", crictl_pull_missing),
    Assumption("containerd-log-format", "containerd's log", containerd_log_format),
    Assumption("crictl-reserved-name", "Reserved names", crictl_reserved_name),
    Assumption("hpc-exec-missing", "Job containers (PI-HPC)", hpc_exec_missing),
    Assumption("hpc-stop-exit", "Exit codes on stop (a job container)", hpc_stop_exit),
    Assumption("hpc-logons", "PI-HPC logons", hpc_logons),
    Assumption("hpc-rootfs-hidden", "Job containers (PI-HPC): the bound rootfs",
               hpc_rootfs_hidden),
    Assumption("hpc-mount-missing-source", "A missing mount source fails CreateContainer",
               hpc_mount_missing_source),
    Assumption("hpc-readonly-mount", "Writes to a read-only mount", hpc_readonly_mount),
    Assumption("hpc-file-mount", "A file mount", hpc_file_mount),
    Assumption("crictl-logs-streams", "crictl logs", crictl_logs_streams),
    Assumption("crictl-config-bom", "Config files with a BOM", crictl_config_bom),
)
IDS = tuple(a.id for a in ASSUMPTIONS)


def check_assumptions(transport, layout) -> list[Check]:
    """One row per assumption, ``id: entry``; a check that errors says so in its row."""
    host = WindowsHost(transport)
    try:
        facts = host.facts()
    except HarnessError as exc:
        return [Check(f"{a.id}", SKIP, f"not observed: the host's facts could not be read "
                                       f"({exc.message})") for a in ASSUMPTIONS]
    ctx = Context(transport, host, facts, layout)
    rows = []
    for a in ASSUMPTIONS:
        try:
            status, detail = a.check(ctx)
        except HarnessError as exc:
            status, detail = WARN, f"could not check: {exc.message}"
        rows.append(Check(a.id, status, f"{a.entry}: {detail}",
                          "" if status in (HELD, UNOBSERVED) else
                          "the simulated host guesses otherwise: fix the model and "
                          "harness/sim/ASSUMPTIONS.md together"))
    return rows


def assumptions_report(report: HostReport, transport, layout) -> None:
    for row in check_assumptions(transport, layout):
        report.checks.append(row)


__all__ = ["ASSUMPTIONS", "DIFFERS", "HELD", "IDS", "UNOBSERVED", "Assumption",
           "check_assumptions", "assumptions_report"]
