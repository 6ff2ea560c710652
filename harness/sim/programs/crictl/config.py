"""crictl's global settings: ``crictl.yaml`` and the global flags over it (``app.Before``).

Where crictl finds its config and which source wins decides which endpoint and timeout every
RPC uses, so that precedence is modelled in one module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.sim.programs.crictl.errors import CrictlError, Unmodelled
from harness.sim.programs.crictl.flags import HELP_FLAG, Parsed, _flag
from harness.sim.programs.crictl.goformat import go_quote, parse_go_bool
from harness.sim.programs.crictl.invocation import DEFAULT_TIMEOUT, CrictlInvocation

WINDOWS_ZERO_TIMEOUT = 200.0  # main.go defaultTimeoutWindows (getTimeout)


@dataclass
class _Conf:
    runtime_endpoint: str = ""
    image_endpoint: str = ""
    timeout: int = 0
    debug: bool = False
    pull_image_on_create: bool = False
    disable_pull_on_run: bool = False


_CONF_KEYS = {"runtime-endpoint", "image-endpoint", "timeout", "debug", "pull-image-on-create",
              "disable-pull-on-run"}


# --- config files ---------------------------------------------------------------------------
def _stat_error(path: str, winerror: int) -> str:
    text = ("The system cannot find the file specified." if winerror == 2
            else "The system cannot find the path specified.")
    return f"CreateFile {path}: {text}"


def _missing(fs: Any, path: str, cwd: str) -> int | None:
    """None if ``path`` exists, else the Win32 code os.Stat would fail with."""
    try:
        full = fs.resolve(path, cwd)
    except (OSError, ValueError):
        return 3
    if fs.exists(full):
        return None
    parent, _ = fs.split(full)
    return 2 if fs.is_dir(parent) else 3


def read_crictl_yaml(text: str) -> _Conf:
    """``common.ReadConfig``: a flat YAML mapping of the six known options."""
    conf = _Conf()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip() or line.strip() == "---":
            continue
        m = re.match(r"^([A-Za-z0-9_-]+)\s*:(?:\s+(.*))?$", line)
        if m is None or line[0].isspace():
            raise Unmodelled(f"this crictl.yaml line (only flat 'key: value' lines are "
                             f"modelled): {raw!r}")
        key, value = m.group(1), (m.group(2) or "").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key not in _CONF_KEYS:
            raise CrictlError(f"Config option '{key}' is not valid")
        attr = key.replace("-", "_")
        if key == "timeout":
            if not re.fullmatch(r"[+-]?\d+", value):
                raise CrictlError(f"parsing config option '{key}': strconv.Atoi: parsing "
                                  f"{go_quote(value)}: invalid syntax")
            setattr(conf, attr, int(value))
        elif key in ("runtime-endpoint", "image-endpoint"):
            setattr(conf, attr, value)
        else:
            try:
                setattr(conf, attr, parse_go_bool(value))
            except ValueError:
                raise CrictlError(f"parsing config option '{key}': strconv.ParseBool: "
                                  f"parsing {go_quote(value)}: invalid syntax") from None
    return conf


def load_server_config(app: CrictlInvocation, config_path: str) -> _Conf:
    """``common.GetServerConfigFromFile``: the file, else crictl.yaml beside the exe."""
    fs, cwd = app.ctx.machine.fs, app.ctx.cwd
    path = config_path
    code = _missing(fs, path, cwd)
    if code is not None:
        exe = app.ctx.extra.get("image") or ""
        path = fs.join(fs.split(exe)[0], "crictl.yaml") if exe else "crictl.yaml"
        code = _missing(fs, path, cwd)
        if code is not None:
            raise CrictlError("load config file: " + _stat_error(path, code))
    try:
        data = fs.read_bytes(path, cwd)
    except OSError as exc:
        raise CrictlError(f"load config file: open {path}: {exc.strerror}") from None
    try:
        return read_crictl_yaml(data.decode("utf-8", "replace").lstrip("\ufeff"))
    except CrictlError as exc:
        raise CrictlError(f"load config file: {exc}") from None


GLOBAL_FLAGS = (
    _flag("config", "c", kind="string", env="CRI_CONFIG_FILE"),
    _flag("runtime-endpoint", "r", kind="string", env="CONTAINER_RUNTIME_ENDPOINT"),
    _flag("image-endpoint", "i", kind="string", env="IMAGE_SERVICE_ENDPOINT"),
    _flag("timeout", "t", kind="duration", default=DEFAULT_TIMEOUT),
    _flag("debug", "D"),
    _flag("enable-tracing"),
    _flag("tracing-sampling-rate-per-million", kind="int", default=-1),
    _flag("tracing-endpoint", kind="string", default="127.0.0.1:4317"),
    HELP_FLAG,
    _flag("version", "v"),
)


def _before(app: CrictlInvocation, root: Parsed) -> None:
    """crictl's ``app.Before``: the config file, then flags over it (main.go)."""
    ctx = app.ctx
    config_path = root["config"] or (ctx.env.get("USERPROFILE", "") + r"\.crictl\crictl.yaml")
    conf: _Conf | None
    try:
        conf = load_server_config(app, config_path)
    except CrictlError:
        if "config" in root.set:
            raise
        conf = None

    def timeout_flag() -> float:
        t = root["timeout"]
        return t if t > 0 else WINDOWS_ZERO_TIMEOUT  # getTimeout

    if conf is None:
        app.runtime_endpoint = root["runtime-endpoint"]
        app.runtime_endpoint_set = "runtime-endpoint" in root.set
        app.image_endpoint = root["image-endpoint"]
        app.image_endpoint_set = "image-endpoint" in root.set
        app.timeout = timeout_flag() if "timeout" in root.set else root["timeout"]
        app.debug = root["debug"]
        return
    if "runtime-endpoint" in root.set:
        app.runtime_endpoint, app.runtime_endpoint_set = root["runtime-endpoint"], True
    elif conf.runtime_endpoint:
        app.runtime_endpoint, app.runtime_endpoint_set = conf.runtime_endpoint, True
    if "image-endpoint" in root.set:
        app.image_endpoint, app.image_endpoint_set = root["image-endpoint"], True
    elif conf.image_endpoint:
        app.image_endpoint, app.image_endpoint_set = conf.image_endpoint, True
    if "timeout" in root.set:
        app.timeout = timeout_flag()
    elif conf.timeout > 0:
        app.timeout = float(conf.timeout)
    else:
        app.timeout = root["timeout"]
    app.debug = root["debug"] if "debug" in root.set else conf.debug
    app.pull_image_on_create = conf.pull_image_on_create
    app.disable_pull_on_run = conf.disable_pull_on_run
