"""The *sim bundle*: a runtime bundle whose programs are placeholders the simulated host runs.

Each program file is a few bytes naming a behaviour the sim registers
(``machine.register_behaviour``), plus the version that behaviour reports
(docs/internals.md "Sim machine extensions")::

    MZ\\r\\nhpc-e2e-sim program=sim:containerd version=1.7.22\\r\\n...

The manifest beside them carries their real SHA-256, so the harness deploys the sim bundle
exactly as it deploys a real one: uploads, hash checks, service registration and all.  Used
by tests and by ``hpc-e2e run``/``provision`` when no bundle is given.

The files are deterministic: writing the same bundle twice gives the same bytes, so a second
deployment from a fresh directory still finds nothing to change.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

# Behaviour keys the sim's programs register (harness/sim/cri, harness/sim/programs/crictl/).
BEHAVIOURS = {
    "containerd": "sim:containerd",
    "containerd-shim-runhcs-v1": "sim:containerd-shim-runhcs-v1",
    "crictl": "sim:crictl",
}
PROGRAM_FILES = {
    "containerd": "containerd.exe",
    "containerd-shim-runhcs-v1": "containerd-shim-runhcs-v1.exe",
    "crictl": "crictl.exe",
}
DEFAULT_VERSIONS = {
    "containerd": "1.7.22",
    # First tagged with HPC-in-UVM support: v0.15.0-rc.2 (docs/behaviour/runtime.md, sources).
    "containerd-shim-runhcs-v1": "0.15.0",
    "crictl": "1.31.1",
}
MANIFEST = "bundle.toml"
# A lab host's usual pod network for pods that are not HostProcess: the nat plugin
# (harness/runtime/cni.py); its placeholder is never run, containerd only needs the config.
DEFAULT_CNI_PLUGINS = {"nat": "0.3.1"}


def placeholder(behaviour: str, version: str, extra: Mapping[str, str] | None = None) -> bytes:
    """The content of one placeholder program."""
    words = [f"program={behaviour}", f"version={version}"]
    words += [f"{k}={v}" for k, v in sorted((extra or {}).items())]
    return (b"MZ\r\nhpc-e2e-sim " + " ".join(words).encode("ascii") + b"\r\n"
            b"placeholder of the hpc-e2e simulated host; not a real executable\r\n")


def write_sim_bundle(directory: str | os.PathLike[str], *,
                     versions: Mapping[str, str] | None = None,
                     name: str = "hpc-e2e-sim",
                     containerd_config_version: int | None = None,
                     cni_plugins: Mapping[str, str] | None = DEFAULT_CNI_PLUGINS,
                     install_dir: str | None = None) -> Path:
    """Write the placeholder programs and ``bundle.toml`` into ``directory``; the manifest path.

    ``versions`` overrides the version each program reports (and the manifest declares),
    e.g. ``{"containerd": "2.0.4"}`` for a containerd 2.x bundle (config version 3).
    ``cni_plugins`` maps plugin names (``nat``) to versions (default: the nat plugin; ``{}``
    or None for none).
    """
    directory = Path(directory)
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    chosen = {**DEFAULT_VERSIONS, **(versions or {})}
    unknown = sorted(set(chosen) - set(DEFAULT_VERSIONS))
    if unknown:
        raise ValueError(f"no sim program for artifact {unknown[0]!r}")
    lines = ["# A bundle for the hpc-e2e simulated host (harness/sim/bundle.py).",
             "[bundle]", f"name = {_q(name)}"]
    if containerd_config_version is not None:
        lines.append(f"containerd_config_version = {int(containerd_config_version)}")
    if install_dir is not None:
        lines.append(f"install_dir = {_q(install_dir)}")
    for artifact, filename in PROGRAM_FILES.items():
        content = placeholder(BEHAVIOURS[artifact], chosen[artifact])
        lines += ["", f"[artifacts.{artifact}]", *_entry(bin_dir, filename, content,
                                                          chosen[artifact])]
    for plugin, version in sorted((cni_plugins or {}).items()):
        content = placeholder(f"sim:cni-{plugin}", version)
        lines += ["", f"[cni_plugins.{plugin}]", *_entry(bin_dir, f"{plugin}.exe", content,
                                                        version)]
    manifest = directory / MANIFEST
    _write_if_changed(manifest, ("\n".join(lines) + "\n").encode("utf-8"))
    return manifest


def _entry(bin_dir: Path, filename: str, content: bytes, version: str) -> list[str]:
    _write_if_changed(bin_dir / filename, content)
    return [f"version = {_q(version)}",
            f"sha256 = {_q(hashlib.sha256(content).hexdigest())}",
            f"source = {{ file = {_q('bin/' + filename)} }}"]


def _write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _q(text: str) -> str:
    if any(c in text for c in "'\n\r"):
        raise ValueError(f"cannot write {text!r} into the sim manifest")
    return f"'{text}'"


__all__ = ["BEHAVIOURS", "DEFAULT_VERSIONS", "MANIFEST", "placeholder", "write_sim_bundle"]
