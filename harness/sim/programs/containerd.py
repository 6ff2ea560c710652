"""``containerd.exe`` and ``containerd-shim-runhcs-v1.exe`` of the sim bundle.

The bundle's program files are placeholders (``hpc-e2e-sim program=sim:containerd
version=1.7.22``, harness/sim/bundle.py); :func:`install` registers the behaviours here under
those keys.  A program reads its version from its own file (``ctx.extra["image"]``).

``containerd.exe`` follows ``cmd/containerd/command`` (main.go, service_windows.go):

* ``--version``: ``containerd github.com/containerd/containerd v1.7.22 <commit>`` (2.x:
  ``github.com/containerd/containerd/v2``).
* the config is loaded first, also for ``--register-service``: a file that fails to parse
  stops containerd with ``containerd: <error>`` on stderr and exit 1.  Under
  ``--run-service`` stderr is not yet the log file at that point (the log file is opened
  after the config), so such an error never reaches ``--log-file``, as on a real host;
  errors after that (a config value of the wrong type) do.
* ``--register-service`` / ``--unregister-service``: the SCM entry "Containerd", auto start,
  command line ``"<exe>" --run-service <the other flags>`` (Go's EscapeArg quoting).
* ``--run-service`` or a plain run: serve the CRI (``machine.cri``) until stopped or
  terminated, then clear it.  Log lines in logrus' text format go to ``--log-file`` under the
  SCM, to stderr otherwise.

Flags may be written ``--name value``, ``--name=value`` or with one dash (urfave/cli v1).
Anything else fails loudly.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from datetime import UTC, datetime
from harness.sim import guest
from harness.sim.cri import config as cfgmod
from harness.sim.cri.runtime import CriRuntime
from harness.sim.cri.shim import go_escape_arg
from harness.sim.machine import Machine, ProcessContext
from harness.sim.process import Terminated
from harness.sim.services import ServiceError

CONTAINERD_KEY = "sim:containerd"
SHIM_KEY = "sim:containerd-shim-runhcs-v1"
DEFAULT_SERVICE_NAME = "containerd"
OCI_SPEC_VERSION = "1.2.1"  # runtime-spec version the shim prints after "spec:"
RECOVERY_DELAYS = (15.0, 15.0)  # seconds before the 1st and 2nd restart after a crash
RECOVERY_RESET_PERIOD = 86400.0  # seconds without a crash that reset the count (assumed)

_VALUE_FLAGS = {"config": "config", "c": "config", "log-file": "log-file",
                "address": "address", "a": "address", "service-name": "service-name",
                "log-level": "log-level", "l": "log-level", "root": "root", "state": "state"}
_BOOL_FLAGS = {"register-service", "unregister-service", "run-service", "version", "v",
               "help", "h"}


def image_words(ctx: ProcessContext) -> dict[str, str]:
    """``key=value`` words of the placeholder this program runs from (``version=`` ...)."""
    image = ctx.extra.get("image")
    try:
        head = ctx.machine.fs.read_bytes(image)[:512] if image else b""
    except OSError:
        head = b""
    m = re.search(rb"hpc-e2e-sim ([^\r\n]+)", head)
    words: dict[str, str] = {}
    for word in (m.group(1).decode(errors="replace").split() if m else []):
        key, sep, value = word.partition("=")
        if sep:
            words[key] = value
    return words


def fake_commit(name: str, version: str) -> str:
    """A stable 40-hex "commit" for a version (the sim has no real build)."""
    return hashlib.sha1(f"{name} {version}".encode()).hexdigest()


class UsageError(Exception):
    pass


def parse_flags(args: list[str]) -> tuple[dict[str, str | bool], list[str]]:
    """urfave/cli v1 global flags; returns (flags, positional arguments)."""
    flags: dict[str, str | bool] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            rest.extend(args[i:])  # a subcommand and its arguments
            break
        name, eq, value = arg.lstrip("-").partition("=")
        if name in _VALUE_FLAGS:
            if not eq:
                if i + 1 >= len(args):
                    raise UsageError(f"flag needs an argument: {arg}")
                i += 1
                value = args[i]
            flags[_VALUE_FLAGS[name]] = value
        elif name in _BOOL_FLAGS:
            if eq and value.lower() not in ("true", "false", "1", "0", "t", "f"):
                raise UsageError(f'invalid boolean value "{value}" for -{name}: parse error')
            flags[{"v": "version", "h": "help"}.get(name, name)] = \
                (not eq) or value.lower() in ("true", "1", "t")
        else:
            raise UsageError(f"flag provided but not defined: -{name}")
        i += 1
    return flags, rest


class _Log:
    """logrus' text formatter writing to the log file (or stderr)."""

    def __init__(self, ctx: ProcessContext, path: str | None):
        self.ctx = ctx
        self.path = path

    def __call__(self, level: str, msg: str, fields: dict | None = None) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        parts = [f'time="{stamp}"', f"level={level}", f"msg={_quote(msg)}"]
        for key in sorted(fields or {}):
            parts.append(f"{key}={_quote(str(fields[key]))}")
        line = " ".join(parts) + "\n"
        if self.path is None:
            self.ctx.stderr.write(line)
            return
        fs = self.ctx.machine.fs
        with fs.open(self.path, "ab") as f:
            f.write(line.encode("utf-8"))


def _quote(value: str) -> str:
    if value and re.fullmatch(r"[A-Za-z0-9\-._/@^+]+", value):
        return value
    out = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\r", "\\r").replace("\t", "\\t")
    return f'"{out}"'


def containerd_program(ctx: ProcessContext) -> int:
    """containerd.exe; the ``--log-file`` stays open for writing while it runs."""
    try:
        return _containerd(ctx)
    finally:
        handle = ctx.extra.pop("log_handle", None)
        if handle is not None:
            handle.close()


def _containerd(ctx: ProcessContext) -> int:
    version = image_words(ctx).get("version")
    if not version:
        ctx.stderr.line(f"the simulated host cannot tell the version of {ctx.extra.get('image')}"
                        " (its placeholder has no version=)")
        return 1
    two = cfgmod.version_tuple(version)[0] >= 2
    try:
        flags, rest = parse_flags(ctx.argv[1:])
    except UsageError as exc:
        ctx.stderr.write(f"Incorrect Usage: {exc}\n\n")
        return 1
    if flags.get("help"):
        ctx.stderr.line("the simulated host does not model containerd --help")
        return 1
    if flags.get("version"):
        package = "github.com/containerd/containerd" + ("/v2" if two else "")
        ctx.stdout.write(f"containerd {package} v{version} "
                         f"{fake_commit('containerd', version)}\n")
        return 0
    if rest:
        ctx.stderr.line(f"the simulated host does not model `containerd {' '.join(rest)}` "
                        "(only --version, the service flags and running the daemon)")
        return 1

    machine = ctx.machine
    config_path = str(flags.get("config") or cfgmod.DEFAULT_CONFIG_PATH)
    text: str | None = None
    try:
        text = machine.fs.read_bytes(config_path).decode("utf-8", "replace")
    except OSError as exc:
        if "config" in flags or machine.fs.exists(config_path):
            msg = f"open {config_path}: {exc.strerror or exc}"
            ctx.stderr.write("containerd: " + (msg if two else
                                               f"failed to load TOML: {config_path}: {msg}")
                             + "\n")
            return 1
    early_warnings: list[str] = []
    try:
        loaded = cfgmod.load(text, config_path, version)
        early_warnings = loaded.warnings
    except cfgmod.ConfigError as exc:
        message = str(exc)
        if exc.at_plugin_init:
            loaded = None  # containerd fails later, decoding the plugin table (below)
        else:
            ctx.stderr.write(f"containerd: {message}\n")
            return 1
    else:
        message = ""

    service_name = str(flags.get("service-name") or DEFAULT_SERVICE_NAME)
    if flags.get("unregister-service") or flags.get("register-service"):
        return _service_registration(ctx, flags, service_name)

    log = _Log(ctx, None)
    if flags.get("run-service") and flags.get("log-file"):
        log_path = str(flags["log-file"])
        try:
            # Held for the whole run, as containerd's logrus output file is: Go opens files
            # sharing read and write (syscall.Open: FILE_SHARE_READ | FILE_SHARE_WRITE), so
            # a reader must share write access to open it meanwhile.
            ctx.extra["log_handle"] = machine.fs.open(log_path, "ab", share="rw")
        except OSError as exc:
            _fatal(ctx, f'open log file "{log_path}": open {log_path}: {exc.strerror or exc}')
            return 1
        log = _Log(ctx, log_path)
    for w in early_warnings:
        log("warning", w)
    revision = fake_commit("containerd", version)
    log("info", "starting containerd", {"revision": revision, "version": "v" + version})
    if loaded is None:  # server.New failed decoding a plugin config (see config.py)
        log("info", "loading plugin \"io.containerd.grpc.v1.cri\"...",
            {"type": "io.containerd.grpc.v1"})
        _emit(ctx, log, f"containerd: {message}")
        return 1
    address = str(flags.get("address") or loaded.address or cfgmod.DEFAULT_ADDRESS)
    current = machine.cri
    if current is not None and current.address == address:
        _emit(ctx, log, f"containerd: failed to get listener for main endpoint: open {address}: "
                        "Access is denied.")
        return 1

    plugin_id = loaded.cri.plugin_id if loaded.cri else (
        cfgmod.PLUGIN_CRI_RUNTIME if two else cfgmod.PLUGIN_CRI_V1)
    log("info", f'loading plugin "{plugin_id}"...', {"type": plugin_id.rsplit(".", 1)[0]})
    if loaded.plugin_error:
        log("warning", f"failed to load plugin {plugin_id}", {"error": loaded.plugin_error})
    def logger(level: str, msg: str, fields: object) -> None:
        try:
            log(level, msg, dict(fields))  # type: ignore[call-overload]
        except Terminated:
            pass  # a shim's event after this process ended (stderr is gone with it)

    runtime = _surviving_state(machine, loaded.cri, version, address, logger)
    if runtime is None:
        runtime = CriRuntime(machine, loaded.cri, version=version, revision=revision,
                             address=address, plugin_error=loaded.plugin_error,
                             shim_account=_account_of(ctx), logger=logger,
                             launcher=guest.launch)
        # containerd starts the runhcs shim from its own folder (hcsshim's binary name
        # containerd-shim-runhcs-v1.exe, found beside containerd.exe or on PATH).
        image = ctx.extra.get("image")
        if image:
            runtime.shim_image = machine.fs.split(image)[0] + "\\" + SHIM_PROGRAM
    crashed = threading.Event()
    control = ctx.extra.get("service")
    runtime.crash_requested = crashed  # set by crash() below
    runtime.service_name = getattr(control, "name", None)  # None when not run by the SCM
    machine.cri = runtime
    try:
        log("info", "serving...", {"address": address})
        log("info", "containerd successfully booted in 0.050000s")
        if control is not None:
            control.running()
        while not ctx.cancelled.is_set() and not crashed.is_set():
            if control is not None and control.stop_requested.is_set():
                break
            time.sleep(0.05)
    finally:
        # Stopped, killed or crashed: the shims and their containers live on (containerd
        # does not stop pods when its service stops; a new containerd reconnects to the
        # shims, containerd/runtime/v2 shim manager "loadExistingTasks").  The state stays
        # on the machine for the next containerd to pick up (see _surviving_state); a host
        # restart ends it (Machine._restart).
        machine.cri_state = runtime
        if machine.cri is runtime:
            machine.cri = None
    if crashed.is_set():
        # What a Go runtime fatal error leaves behind: exit code 2, no "stopped" line.
        _emit(ctx, log, "panic: hpc-e2e simulated crash (fault injection: containerd-crash)")
        return 2
    log("info", "Stop CRI service")
    log("info", "containerd successfully stopped" if not ctx.cancelled.is_set()
        else "received signal, exiting")
    if ctx.cancelled.is_set():
        raise Terminated()
    return 0


SHIM_PROGRAM = "containerd-shim-runhcs-v1.exe"


def _surviving_state(machine: Machine, config: object, version: str, address: str,
                     logger: object) -> CriRuntime | None:
    """The CRI state a crashed containerd left, when this start can take it over.

    containerd reconnects to the shims still running after a crash, so pods and
    containers survive; the sim keeps the whole CRI model (``machine.cri_state``).  A start
    with another config, version or pipe does not (the old containers are ended then, the
    sim's simplification).  A host restart clears the state (Machine._restart).
    """
    kept, machine.cri_state = machine.cri_state, None
    if kept is None:
        return None
    if (kept.config != config or kept.version_string != version.lstrip("v")
            or kept.address != address):
        kept.close()
        return None
    kept.reattach(logger)
    return kept


def crash(machine: Machine, timeout: float = 5.0) -> bool:
    """Make the running containerd's process exit abruptly (fault ``containerd-crash``).

    Returns once its pipe is gone (``machine.cri`` is None), False if none was running.
    The SCM's recovery action restarts it (harness/sim/services.py).
    """
    runtime = machine.cri
    event = runtime.crash_requested if runtime is not None else None
    if event is None:
        return False
    event.set()
    deadline = time.monotonic() + timeout
    while machine.cri is runtime and time.monotonic() < deadline:
        time.sleep(0.01)
    return machine.cri is not runtime


def _emit(ctx: ProcessContext, log: _Log, text: str) -> None:
    """What main() prints to os.Stderr (the log file under --run-service --log-file)."""
    if log.path is None:
        ctx.stderr.write(text + "\n")
    else:
        with ctx.machine.fs.open(log.path, "ab") as f:
            f.write((text + "\n").encode("utf-8"))


def _fatal(ctx: ProcessContext, msg: str) -> None:
    """``log.L.Fatal`` before the log file is set up: logrus on stderr."""
    _Log(ctx, None)("fatal", msg)


def _account_of(ctx: ProcessContext) -> str:
    account = ctx.extra.get("account")
    return getattr(account, "qualified", None) or "NT AUTHORITY\\SYSTEM"


def _service_registration(ctx: ProcessContext, flags: dict, service_name: str) -> int:
    services = ctx.machine.services
    if flags.get("unregister-service"):
        if flags.get("register-service"):
            _fatal(ctx, "--register-service and --unregister-service cannot be used together: "
                        "invalid argument")
            return 1
        try:
            services.delete(service_name)
        except ServiceError as exc:
            _fatal(ctx, exc.text)
            return 1
        return 0
    exe = str(ctx.extra.get("image") or ctx.argv[0])
    args = ["--run-service"] + [a for a in ctx.argv[1:]
                                if a not in ("--register-service", "--unregister-service")]
    binary_path = " ".join(go_escape_arg(a) for a in [exe, *args])
    try:
        services.create(service_name, binary_path, display_name="Containerd",
                        start_type="Automatic", description="Container runtime")
        # docs/behaviour/ecosystem.md §2.4: recovery = restart after 15 s, twice.  The reset period
        # is not in the reference (ASSUMPTIONS.md "Fault injection").
        services.set_recovery(service_name, RECOVERY_DELAYS, RECOVERY_RESET_PERIOD)
    except ServiceError as exc:
        _fatal(ctx, exc.text)
        return 1
    return 0


def shim_program(ctx: ProcessContext) -> int:
    """``containerd-shim-runhcs-v1.exe``: only ``--version`` (urfave/cli v1's printer).

    The sim's containerd runs its shim model in process, so the real shim's other modes
    (``start``, ``serve``, ``delete``) are never started by it; called by hand they fail
    loudly.
    """
    version = image_words(ctx).get("version")
    args = ctx.argv[1:]
    if args in (["--version"], ["-version"], ["-v"], ["--v"]):
        lines = []
        if version:
            lines.append(f"v{version.lstrip('v')}")
        lines.append(f"commit: {fake_commit('hcsshim', version or '')}")
        lines.append(f"spec: {OCI_SPEC_VERSION}")
        ctx.stdout.write(f"containerd-shim-runhcs-v1 version {chr(10).join(lines)}\n")
        return 0
    ctx.stderr.line("the simulated host does not model containerd-shim-runhcs-v1 "
                    f"{' '.join(args) or '(no arguments)'} (only --version)")
    return 1


def install(machine: Machine) -> None:
    """Register the two behaviours on ``machine`` (idempotent)."""
    machine.register_behaviour(CONTAINERD_KEY, containerd_program)
    machine.register_behaviour(SHIM_KEY, shim_program)


__all__ = ["CONTAINERD_KEY", "SHIM_KEY", "containerd_program", "install", "parse_flags",
           "shim_program"]
