"""Where the runtime lives on a host: one object every runtime step and the CRI client share.

Paths follow containerd's documented Windows layout (docs/behaviour/ecosystem.md §2.4): programs and
``config.toml`` under ``%ProgramFiles%\\containerd``, root and state under
``%ProgramData%\\containerd``, the named pipe ``\\\\.\\pipe\\containerd-containerd``.
containerd's log file goes under ``%ProgramData%\\hpc-e2e``.  ``crictl.yaml`` sits beside
``crictl.exe`` (where crictl looks when its per-user default is missing, so a person running
crictl by hand gets the same settings), and the harness still always passes ``--config``: the
per-user default depends on ``%USERPROFILE%``, which differs between a WinRM session, an SSH
session and a service (docs/behaviour/ecosystem.md §3.1; harness.cri.crictl.DEFAULT_CONFIG).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PureWindowsPath


from harness.runtime.bundle import (
    CONTAINERD,
    CRICTL,
    DEFAULT_INSTALL_DIR,
    SHIM,
    Artifact,
    InstalledSource,
    RuntimeBundle,
    load_bundle,
)

SERVICE_NAME = "containerd"
PIPE = r"\\.\pipe\containerd-containerd"
# How CRI clients spell the same pipe (docs/behaviour/ecosystem.md §2.4).
CRI_ENDPOINT = "npipe:////./pipe/containerd-containerd"
HARNESS_DATA = r"C:\ProgramData\hpc-e2e"
CONTAINERD_DATA = r"C:\ProgramData\containerd"


def _join(*parts: str) -> str:
    return str(PureWindowsPath(*parts))


@dataclass(frozen=True)
class RuntimeLayout:
    install_dir: str
    containerd_exe: str
    shim_exe: str
    crictl_exe: str
    cni_bin_dir: str
    cni_conf_dir: str
    config_toml: str
    crictl_yaml: str
    log_file: str
    root: str = _join(CONTAINERD_DATA, "root")
    state: str = _join(CONTAINERD_DATA, "state")
    pipe: str = PIPE
    endpoint: str = CRI_ENDPOINT
    service_name: str = SERVICE_NAME

    @property
    def bin_dir(self) -> str:
        return str(PureWindowsPath(self.containerd_exe).parent)

    def program_path(self, artifact: Artifact) -> str:
        """Where an artifact's program is (or will be) on the host."""
        return {CONTAINERD: self.containerd_exe, SHIM: self.shim_exe,
                CRICTL: self.crictl_exe}.get(artifact.name) or \
            _join(self.cni_bin_dir, artifact.program)

    def directories(self) -> list[str]:
        """Folders the deployment writes into (created if missing)."""
        dirs = [self.bin_dir, str(PureWindowsPath(self.crictl_exe).parent),
                str(PureWindowsPath(self.config_toml).parent),
                str(PureWindowsPath(self.crictl_yaml).parent),
                str(PureWindowsPath(self.log_file).parent)]
        seen: dict[str, str] = {}
        for d in dirs:
            seen.setdefault(d.lower(), d)
        return list(seen.values())

    @classmethod
    def for_bundle(cls, bundle: RuntimeBundle) -> RuntimeLayout:
        """Programs in ``<install_dir>\\bin`` unless the bundle says they are installed elsewhere.

        The shim always sits beside containerd.exe (containerd starts it from there).
        """
        install = bundle.install_dir
        bin_dir = _join(install, "bin")
        src = bundle.containerd.source
        ctrd = src.installed if isinstance(src, InstalledSource) else _join(bin_dir, "containerd.exe")
        shim = _join(str(PureWindowsPath(ctrd).parent), bundle.shim.program)
        csrc = bundle.crictl.source
        crictl = csrc.installed if isinstance(csrc, InstalledSource) else _join(bin_dir, "crictl.exe")
        return cls(install_dir=install, containerd_exe=ctrd, shim_exe=shim, crictl_exe=crictl,
                   cni_bin_dir=_join(install, "cni", "bin"),
                   cni_conf_dir=_join(install, "cni", "conf"),
                   config_toml=_join(install, "config.toml"),
                   crictl_yaml=_join(str(PureWindowsPath(crictl).parent), "crictl.yaml"),
                   log_file=_join(HARNESS_DATA, "logs", "containerd.log"))


def default_layout() -> RuntimeLayout:
    """The layout ``RuntimeLayout.for_bundle`` gives any bundle with default sources."""
    bin_dir = _join(DEFAULT_INSTALL_DIR, "bin")
    return RuntimeLayout(
        install_dir=DEFAULT_INSTALL_DIR,
        containerd_exe=_join(bin_dir, "containerd.exe"),
        shim_exe=_join(bin_dir, "containerd-shim-runhcs-v1.exe"),
        crictl_exe=_join(bin_dir, "crictl.exe"),
        cni_bin_dir=_join(DEFAULT_INSTALL_DIR, "cni", "bin"),
        cni_conf_dir=_join(DEFAULT_INSTALL_DIR, "cni", "conf"),
        config_toml=_join(DEFAULT_INSTALL_DIR, "config.toml"),
        crictl_yaml=_join(bin_dir, "crictl.yaml"),
        log_file=_join(HARNESS_DATA, "logs", "containerd.log"))


def runtime_layout(bundle: Path | None) -> RuntimeLayout:
    """Where the runtime is on the hosts: the bundle's layout, or the default install dir.

    ``doctor`` and ``clean`` only need paths (crictl, its config, config.toml), so without
    ``--bundle`` they assume what ``provision`` deploys by default (docs/behaviour/ecosystem.md
    §2.4).
    """
    if bundle is not None:
        return RuntimeLayout.for_bundle(load_bundle(bundle))
    return default_layout()


__all__ = ["CRI_ENDPOINT", "HARNESS_DATA", "PIPE", "SERVICE_NAME", "RuntimeLayout",
           "default_layout", "runtime_layout"]
