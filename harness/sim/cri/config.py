"""containerd's ``config.toml`` as the simulated containerd reads it.

Only what decides HostProcess behaviour is modelled: the CRI runtime handlers
(``runtime_type``, ``pod_annotations``, ``container_annotations``, ``options``), the default
handler, the sandbox (pause) image and the CNI directories.  The rules differ between the
two containerd lines the harness deploys, and follow docs/behaviour/ecosystem.md §2.3 and §7 and the
containerd sources they cite:

* **1.7** (``services/server/config/config.go``): a file without ``version`` is version 1,
  whose plugin tables use short names (``[plugins.cri]``), so a
  ``[plugins."io.containerd.grpc.v1.cri"]`` table is ignored there; version 2 reads
  ``io.containerd.grpc.v1.cri`` and every plugin key must look like
  ``io.containerd.x.vx``; version 3 is refused.  The file's ``runtimes`` table *replaces*
  the built-in Windows handlers.
* **2.x**: version 3 reads ``io.containerd.cri.v1.runtime`` / ``io.containerd.cri.v1.images``;
  version 2 files are migrated from ``io.containerd.grpc.v1.cri``; the file's handlers are
  *merged* field by field over the built-ins.  Versions above 3 are refused.

Failures come in two strengths, as in containerd: :class:`ConfigError` stops containerd
(TOML syntax, unsupported version, a value of the wrong type), while a plugin config that
parses but does not validate (``default_runtime_name`` naming no handler) only makes the CRI
plugin fail to load - containerd runs, and every CRI call is ``Unimplemented``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

RUNHCS_V1 = "io.containerd.runhcs.v1"
PLUGIN_CRI_V1 = "io.containerd.grpc.v1.cri"  # containerd 1.7 (config version 2)
PLUGIN_CRI_RUNTIME = "io.containerd.cri.v1.runtime"  # containerd 2.x (config version 3)
PLUGIN_CRI_IMAGES = "io.containerd.cri.v1.images"
DEFAULT_CNI_BIN_DIR = "C:\\Program Files\\containerd\\cni\\bin"
DEFAULT_CNI_CONF_DIR = "C:\\Program Files\\containerd\\cni\\conf"
DEFAULT_ADDRESS = "\\\\.\\pipe\\containerd-containerd"  # docs/behaviour/ecosystem.md §2.4
DEFAULT_CONFIG_PATH = "C:\\Program Files\\containerd\\config.toml"

# hcsshim runhcs Options, by Go field name: the only spelling containerd hands on
# (docs/behaviour/ecosystem.md §7); anything else in an ``options`` table is dropped silently.
RUNHCS_OPTION_NAMES = frozenset({
    "Debug", "DebugType", "RegistryRoot", "SandboxImage", "SandboxPlatform",
    "SandboxIsolation", "BootFilesRootPath", "VmProcessorCount", "VmMemorySizeInMb",
    "GPUVHDPath", "ScaleCpuLimitsToSandbox", "DefaultContainerScratchSizeInGb",
    "DefaultVmScratchSizeInGb", "ShareScratch", "NCProxyAddr", "LogLevel",
    "IoRetryTimeoutInSec", "DefaultContainerAnnotations", "NoInheritHostTimezone",
    "ScrubLogs"})


class ConfigError(Exception):
    """containerd refuses to start; ``str()`` is its error (``containerd: `` not included).

    ``at_plugin_init`` marks errors containerd meets only when it decodes the plugin's table
    in ``server.New`` (a value of the wrong type), i.e. after ``--register-service`` has
    been handled and the log file opened; the others stop it while reading the file.
    """

    def __init__(self, message: str, *, at_plugin_init: bool = False):
        super().__init__(message)
        self.at_plugin_init = at_plugin_init


@dataclass(frozen=True)
class RuntimeHandler:
    """One ``[...containerd.runtimes.<name>]`` table."""

    name: str
    runtime_type: str = RUNHCS_V1
    pod_annotations: tuple[str, ...] = ()
    container_annotations: tuple[str, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict)

    @property
    def shim_options(self) -> dict[str, object]:
        """The options the shim receives: runhcs Go field names only, and only for runhcs."""
        if self.runtime_type != RUNHCS_V1:
            return {}
        return {k: v for k, v in self.options.items() if k in RUNHCS_OPTION_NAMES}

    @property
    def hypervisor(self) -> bool:
        """``SandboxIsolation == 1`` (HYPERVISOR; docs/behaviour/runtime.md §4.1)."""
        return self.shim_options.get("SandboxIsolation") == 1


@dataclass(frozen=True)
class CriConfig:
    """The effective CRI configuration of one containerd start."""

    containerd_version: str
    path: str | None
    version: int
    handlers: Mapping[str, RuntimeHandler]
    default_runtime_name: str
    sandbox_image: str
    cni_conf_dir: str = DEFAULT_CNI_CONF_DIR
    cni_bin_dirs: tuple[str, ...] = (DEFAULT_CNI_BIN_DIR,)
    plugin_id: str = PLUGIN_CRI_V1

    def handler(self, name: str) -> RuntimeHandler | None:
        return self.handlers.get(name or self.default_runtime_name)


@dataclass
class LoadedConfig:
    """What loading produced: a CRI config, or the reason the CRI plugin did not load."""

    cri: CriConfig | None
    plugin_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    address: str | None = None
    """``[grpc] address`` from the file (the ``--address`` flag wins over it)."""


def version_tuple(version: str) -> tuple[int, int, int]:
    m = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not m:
        raise ValueError(f"containerd version {version!r} is not <major>.<minor>.<patch>")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def builtin_handlers(containerd_version: str) -> dict[str, RuntimeHandler]:
    """containerd's Windows defaults (``config_windows.go``; §4.3 of the hcsshim catalogue)."""
    two = version_tuple(containerd_version)[0] >= 2
    scrub = {"ScrubLogs": True} if two else {}
    return {
        "runhcs-wcow-process": RuntimeHandler(
            "runhcs-wcow-process", container_annotations=("io.microsoft.container.*",),
            options=dict(scrub)),
        "runhcs-wcow-hypervisor": RuntimeHandler(
            "runhcs-wcow-hypervisor", pod_annotations=("io.microsoft.virtualmachine.*",),
            container_annotations=("io.microsoft.container.*",),
            options={"SandboxIsolation": 1, "ScaleCpuLimitsToSandbox": True, **scrub}),
    }


def default_sandbox_image(containerd_version: str) -> str:
    """``registry.k8s.io/pause:3.8`` on 1.7, ``3.10`` on 2.x (the versions' config.go)."""
    return ("registry.k8s.io/pause:3.10" if version_tuple(containerd_version)[0] >= 2
            else "registry.k8s.io/pause:3.8")


def default_config(containerd_version: str, path: str | None = None) -> CriConfig:
    """The configuration containerd uses without a file."""
    two = version_tuple(containerd_version)[0] >= 2
    return CriConfig(containerd_version, path, 3 if two else 2,
                     builtin_handlers(containerd_version), "runhcs-wcow-process",
                     default_sandbox_image(containerd_version),
                     plugin_id=PLUGIN_CRI_RUNTIME if two else PLUGIN_CRI_V1)


def load(text: str | None, path: str, containerd_version: str) -> LoadedConfig:
    """Read ``text`` (the file at ``path``; None when there is no file) the way
    ``containerd_version`` would.  Raises :class:`ConfigError` when containerd would exit."""
    if text is None:
        return LoadedConfig(default_config(containerd_version, None))
    two = version_tuple(containerd_version)[0] >= 2
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_error(exc, path, two)) from None
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ConfigError(f"failed to unmarshal TOML: {_type_error('version', version, 'int', two)}")
    plugins = data.get("plugins", {})
    if not isinstance(plugins, dict):
        raise ConfigError(f"failed to unmarshal TOML: {_type_error('plugins', plugins, 'map', two)}")
    grpc = data.get("grpc", {})
    if not isinstance(grpc, dict) or not isinstance(grpc.get("address", ""), str):
        raise ConfigError(f"failed to unmarshal TOML: {_type_error('grpc', grpc, 'map', two)}")
    loaded = _load_plugins(data, plugins, path, version, containerd_version, two)
    loaded.address = grpc.get("address") or None
    return loaded


def _load_plugins(data: dict, plugins: dict, path: str, version: int,
                  containerd_version: str, two: bool) -> LoadedConfig:
    warnings: list[str] = []
    if two:
        if version > 3:
            raise ConfigError(f"failed to load TOML from {path}: expected containerd config "
                              f"version equal to or less than `3`, got `{version}`")
        if version < 3:
            cri = plugins.get(PLUGIN_CRI_V1 if version == 2 else "cri", {})
            runtime_table, images_table = _migrate_v2(cri)
        else:
            runtime_table = plugins.get(PLUGIN_CRI_RUNTIME, {})
            images_table = plugins.get(PLUGIN_CRI_IMAGES, {})
        return _build_two(containerd_version, path, version, runtime_table, images_table,
                          warnings)
    if version > 2:
        raise ConfigError(f"failed to load TOML from {path}: unsupported config version "
                          f"`{version}`")
    if version == 2:
        for key in plugins:
            if not key.startswith("io.containerd.") or len(key.split(".", 3)) < 4:
                raise ConfigError(f"failed to load TOML from {path}: invalid plugin key URI "
                                  f'"{key}" expect io.containerd.x.vx')
        table = plugins.get(PLUGIN_CRI_V1, {})
    else:
        warnings.append(f"containerd config version `{version}` has been deprecated and will "
                        "be converted on each startup in containerd v2.0, use `containerd "
                        "config migrate` after upgrading to containerd 2.0 to avoid "
                        "conversion on startup")
        table = plugins.get("cri", {})
    return _build_one(containerd_version, path, version, table, warnings)


# --- the two builders ----------------------------------------------------------------------
def _build_one(ver: str, path: str, version: int, table: object,
               warnings: list[str]) -> LoadedConfig:
    table = _table(table, PLUGIN_CRI_V1, False)
    ctrd = _table(table.get("containerd", {}), "containerd", False)
    handlers = builtin_handlers(ver)
    if "runtimes" in ctrd:  # go-toml v1 replaces the whole map (docs/behaviour/ecosystem.md §7)
        handlers = {name: _handler(name, t, None, False)
                    for name, t in _table(ctrd["runtimes"], "runtimes", False).items()}
    default = _str(ctrd.get("default_runtime_name", "runhcs-wcow-process"),
                   "default_runtime_name", False)
    cni = _table(table.get("cni", {}), "cni", False)
    cfg = CriConfig(
        ver, path, version, handlers, default,
        _str(table.get("sandbox_image", default_sandbox_image(ver)), "sandbox_image", False),
        _str(cni.get("conf_dir", DEFAULT_CNI_CONF_DIR), "conf_dir", False),
        (_str(cni.get("bin_dir", DEFAULT_CNI_BIN_DIR), "bin_dir", False),),
        PLUGIN_CRI_V1)
    return _validated(cfg, warnings)


def _migrate_v2(cri: object) -> tuple[dict, dict]:
    """containerd 2.x's migration of a version 2 CRI table into the version 3 plugins."""
    cri = _table(cri, PLUGIN_CRI_V1, True)
    runtime: dict = {}
    images: dict = {}
    if "containerd" in cri:
        runtime["containerd"] = cri["containerd"]
    if "cni" in cri:
        cni = dict(_table(cri["cni"], "cni", True))
        if "bin_dir" in cni:
            cni["bin_dirs"] = [cni.pop("bin_dir")]
        runtime["cni"] = cni
    if "sandbox_image" in cri:
        images["pinned_images"] = {"sandbox": cri["sandbox_image"]}
    return runtime, images


def _cni_bin_dirs(ver: str, cni: dict, warnings: list[str]) -> list:
    """containerd 2.0 knows only ``bin_dir``; 2.1 added ``bin_dirs`` and still reads
    ``bin_dir`` (fixtures/containerd-config-keys.json, from containerd's config.go)."""
    major_minor = tuple(int(p) for p in re.findall(r"\d+", ver)[:2])
    if major_minor < (2, 1):
        if "bin_dirs" in cni:
            warnings.append(f"unknown key bin_dirs in the cni table (containerd {ver}); ignored")
        return [cni.get("bin_dir", DEFAULT_CNI_BIN_DIR)]
    if "bin_dirs" in cni:
        return cni["bin_dirs"]
    return [cni.get("bin_dir", DEFAULT_CNI_BIN_DIR)]


def _build_two(ver: str, path: str, version: int, runtime_table: object, images_table: object,
               warnings: list[str]) -> LoadedConfig:
    runtime_table = _table(runtime_table, PLUGIN_CRI_RUNTIME, True)
    images_table = _table(images_table, PLUGIN_CRI_IMAGES, True)
    ctrd = _table(runtime_table.get("containerd", {}), "containerd", True)
    handlers = builtin_handlers(ver)
    for name, t in _table(ctrd.get("runtimes", {}), "runtimes", True).items():
        # go-toml v2 decodes into the existing map entry: fields merge (ASSUMPTIONS.md).
        handlers[name] = _handler(name, t, handlers.get(name), True)
    default = _str(ctrd.get("default_runtime_name", "runhcs-wcow-process"),
                   "default_runtime_name", True)
    cni = _table(runtime_table.get("cni", {}), "cni", True)
    bin_dirs = _cni_bin_dirs(ver, cni, warnings)
    pinned = _table(images_table.get("pinned_images", {}), "pinned_images", True)
    cfg = CriConfig(
        ver, path, version, handlers, default,
        _str(pinned.get("sandbox", default_sandbox_image(ver)), "sandbox", True),
        _str(cni.get("conf_dir", DEFAULT_CNI_CONF_DIR), "conf_dir", True),
        tuple(_str_list(bin_dirs, "bin_dirs", True)), PLUGIN_CRI_RUNTIME)
    return _validated(cfg, warnings)


def _handler(name: str, table: object, base: RuntimeHandler | None, two: bool
             ) -> RuntimeHandler:
    t = _table(table, name, two)
    base = base or RuntimeHandler(name, runtime_type="")
    options = dict(base.options)
    if "options" in t:
        options.update(_table(t["options"], "options", two))
    return RuntimeHandler(
        name,
        _str(t.get("runtime_type", base.runtime_type), "runtime_type", two),
        tuple(_str_list(t["pod_annotations"], "pod_annotations", two))
        if "pod_annotations" in t else base.pod_annotations,
        tuple(_str_list(t["container_annotations"], "container_annotations", two))
        if "container_annotations" in t else base.container_annotations,
        options)


def _validated(cfg: CriConfig, warnings: list[str]) -> LoadedConfig:
    """``ValidatePluginConfig``: what makes the CRI plugin fail to load."""
    if not cfg.default_runtime_name:
        return LoadedConfig(None, "invalid plugin config: `default_runtime_name` is empty",
                            warnings)
    if cfg.default_runtime_name not in cfg.handlers:
        return LoadedConfig(None, "invalid plugin config: no corresponding runtime configured "
                            "in `containerd.runtimes` for `containerd` `default_runtime_name = "
                            f'"{cfg.default_runtime_name}"', warnings)
    return LoadedConfig(cfg, None, warnings)


# --- typed access; a wrong type stops containerd (the plugin config decode fails) ------------
def _type_error(key: str, value: object, want: str, two: bool) -> str:
    got = type(value).__name__
    if two:
        return f"toml: cannot decode TOML {got} into {want} field {key!r}"
    return f"Can't convert {value!r}({got}) to {want} for key {key!r}"


def _table(value: object, key: str, two: bool) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(_type_error(key, value, "map", two), at_plugin_init=True)
    return value


def _str(value: object, key: str, two: bool) -> str:
    if not isinstance(value, str):
        raise ConfigError(_type_error(key, value, "string", two), at_plugin_init=True)
    return value


def _str_list(value: object, key: str, two: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(_type_error(key, value, "[]string", two), at_plugin_init=True)
    return list(value)


def _syntax_error(exc: tomllib.TOMLDecodeError, path: str, two: bool) -> str:
    """containerd's wrapping of a TOML syntax error; the inner text is Python's (ASSUMPTIONS)."""
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    row, col = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    inner = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg).strip() or "invalid TOML"
    inner = inner[0].lower() + inner[1:]
    if two:
        return f"failed to unmarshal TOML at row {row} column {col}: toml: {inner}"
    return f"failed to load TOML: {path}: ({row}, {col}): {inner}"


__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_CONFIG_PATH",
    "PLUGIN_CRI_IMAGES",
    "PLUGIN_CRI_RUNTIME",
    "PLUGIN_CRI_V1",
    "RUNHCS_V1",
    "ConfigError",
    "CriConfig",
    "LoadedConfig",
    "RuntimeHandler",
    "builtin_handlers",
    "default_config",
    "default_sandbox_image",
    "load",
    "version_tuple",
]
