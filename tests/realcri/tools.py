"""Where ``ci/real-cri/setup`` put the real tools, and what to do when they are missing.

The setup script writes ``tools.json`` under ``$HPC_E2E_REAL_CRI_HOME`` (default
``~/.cache/hpc-e2e/real-cri``).  In CI (``CI=true``) the lane must run, so missing tools
fail the test; elsewhere they skip it, with the same message.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

SETUP = "ci/real-cri/setup"


def home() -> Path:
    default = Path.home() / ".cache" / "hpc-e2e" / "real-cri"
    return Path(os.environ.get("HPC_E2E_REAL_CRI_HOME") or default)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class Tools:
    crictl: dict[str, str]            # version -> path
    containerd: dict[str, dict]       # version -> {"bin": path, "config_version": 2 | 3}
    runc: str
    images: dict[str, str]            # name -> OCI archive
    versions: dict[str, str]

    def containerd_build(self, major: str) -> tuple[str, dict]:
        """``(version, spec)`` of the containerd of that major release ("1" or "2")."""
        for version, spec in self.containerd.items():
            if version.split(".")[0] == major:
                return version, spec
        missing(f"no containerd {major}.x in tools.json")
        raise AssertionError("unreachable")


def missing(reason: str) -> None:
    """Fail in CI, skip elsewhere; either way say how to get the tools."""
    message = f"real-CRI lane: {reason}; run `sudo bash {SETUP}` first"
    if in_ci():
        pytest.fail(message + " (CI=true: this lane must not be skipped)", pytrace=False)
    pytest.skip(message)


def load() -> Tools:
    path = home() / "tools.json"
    if os.name != "posix":
        missing("the lane runs real containerd and runc, which need Linux")
    try:
        data = json.loads(path.read_text())
        tools = Tools(crictl=data["crictl"], containerd=data["containerd"], runc=data["runc"],
                      images=data["images"], versions=data.get("versions", {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        missing(f"cannot read {path} ({exc})")
    paths = [*tools.crictl.values(), tools.runc, *tools.images.values(),
             *(c["bin"] for c in tools.containerd.values())]
    absent = [p for p in paths if not os.path.exists(p)]
    if absent:
        missing(f"{', '.join(absent)} not found")
    if os.geteuid() != 0:
        missing("containerd and runc need root")
    return tools
