"""Which sandbox (pause) image a host gets, chosen by its Windows build.

The choice matters more on Windows than anywhere else: under hypervisor isolation the
utility VM boots from the pause image's ``UtilityVM`` layer, so the pause image decides the
guest OS and with it whether the guest can run HostProcess containers at all
(docs/behaviour/runtime.md §7 "Hypervisor isolation", §2.7, §8.5).  pause 3.10 and 3.10.1 have
no WS2025 manifest, so a 2025 host would boot a 2022 UVM and fail with
``HCS_E_IMAGE_MISMATCH``; 3.10.2 (containerd 2.x's own default) has it
(docs/behaviour/ecosystem.md §4.4, §2.3).

``images.toml`` (package :mod:`hpc_images`, read by its one model) overrides the table below,
build by build, with ``[builds.<build>] pause = "..."``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from hpc_images.model import IMAGES_TOML, ImagesTomlError, load_spec

IMAGES_FILE = IMAGES_TOML  # package data of hpc_images
# Pods need RS5 (17763) or later (docs/behaviour/runtime.md §7 "Shim gates").
MIN_BUILD = 17763
# A multi-arch manifest list; 3.10.2 is the first with a WS2025 entry (docs/behaviour/ecosystem.md §4.4).
PAUSE_3_10_2 = "registry.k8s.io/pause:3.10.2"
DEFAULT_PAUSE = {17763: PAUSE_3_10_2, 20348: PAUSE_3_10_2, 26100: PAUSE_3_10_2}


@dataclass(frozen=True)
class SandboxImage:
    image: str
    build: int  # the table entry used (the host's build, or the nearest lower one)
    source: str  # where the table came from


def sandbox_image_for(build: int, images_file: Path | None = IMAGES_FILE) -> SandboxImage:
    """The pause image for a host build: its own entry, else the nearest lower build's."""
    table, source = _table(images_file)
    if build < MIN_BUILD:
        raise ConfigError(f"host build {build} is older than {MIN_BUILD} (Windows Server 2019); "
                          "hcsshim runs pods only on RS5 or later")
    chosen = max(b for b in table if b <= build)  # the built-in table starts at MIN_BUILD
    return SandboxImage(table[chosen], chosen, source)


def check_images_file(images_file: Path | None = IMAGES_FILE) -> str:
    """Validate the table now (before any host is contacted); where it comes from."""
    return _table(images_file)[1]


def _table(images_file: Path | None) -> tuple[dict[int, str], str]:
    if images_file is None or not images_file.is_file():
        return dict(DEFAULT_PAUSE), "built-in table (harness/runtime/sandbox_image.py)"
    try:
        spec = load_spec(images_file)
    except ImagesTomlError as exc:
        raise ConfigError(str(exc)) from None
    table = {build: entry.pause for build, entry in spec.builds.items()}
    # The file's entries win; builds it does not list keep the built-in choice.
    return {**DEFAULT_PAUSE, **table}, f"{images_file} (over the built-in table)"


__all__ = ["DEFAULT_PAUSE", "IMAGES_FILE", "SandboxImage", "check_images_file",
           "sandbox_image_for"]
