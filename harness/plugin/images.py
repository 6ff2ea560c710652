"""The images a leased host runs, read from ``images.toml`` (:mod:`hpc_images`) for its build.

Scenarios never spell an image reference: they get :class:`ImageSet` from ``hpc_host.images``,
so the same test runs on a WS2022 and a WS2025 host.  A host whose build has no entry of its
own uses the nearest lower build's images (a newer host runs the previous LTSC's images under
process isolation, docs/behaviour/runtime.md §7 "Process-isolation compatibility").

The file is read and checked by the one images model (:mod:`hpc_images.model`), which the
simulated host's image store and images/render.py use too.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from hpc_images.model import IMAGES_TOML, ImagesTomlError, load_spec

IMAGES_FILE = IMAGES_TOML  # package data of hpc_images
# Where the idle command's unique part goes (see ImageSet.idle_command_for).
TOKEN = "{token}"
# Where the container's rootfs folder goes (images.toml [probe] idle_command).
ROOTFS = "{rootfs}"
# containerd's rootfs location of an HPC without the rootfs-location annotation, on a
# bind-filter host (WS2022+) and the UVM guest's default (docs/behaviour/runtime.md §1.4, §2.4).
DEFAULT_ROOTFS = "C:\\hpc\\"
ROOTFS_LOCATION_ANNOTATION = "microsoft.com/hostprocess-rootfs-location"


@dataclass(frozen=True)
class ImageSet:
    """The suite's images for one host build (``hpc_host.images``)."""

    probe: str  # the probe image (nanoserver plus rootfs-only files), the default image
    nanoserver: str
    servercore: str
    pause: str
    build: int  # the images.toml entry used
    idle_command: tuple[str, ...] | None = None  # keeps a container running; see images.toml

    def idle_command_for(self, unique: str | None = None, *,
                         rootfs: str = DEFAULT_ROOTFS) -> list[str]:
        """The idle command with its ``{token}`` replaced by something unique per container
        and ``{rootfs}`` by the container's rootfs folder."""
        if not self.idle_command:
            raise ConfigError(f"{IMAGES_FILE}: [probe] has no idle_command",
                              hint="add idle_command = [...] to [probe]: the command a "
                                   "long-running container runs")
        token = unique or secrets.token_hex(4)
        folder = rootfs if rootfs.endswith("\\") else rootfs + "\\"
        return [arg.replace(TOKEN, token).replace(ROOTFS, folder) for arg in self.idle_command]


def image_set_for(build: int, images_file: Path = IMAGES_FILE) -> ImageSet:
    """The images for a host of ``build``; ConfigError naming the file when it has none."""
    try:
        spec = load_spec(images_file)
    except ImagesTomlError as exc:
        raise ConfigError(str(exc), hint="images.toml lists the suite's images per Windows "
                                         "build (images/README.md)") from None
    lower = [b for b in spec.builds if b <= build]
    if not lower:
        raise ConfigError(f"{images_file}: no images for host build {build} (builds listed: "
                          f"{', '.join(map(str, sorted(spec.builds)))})",
                          hint="add a [builds.<build>] table for this Windows build")
    entry = spec.builds[max(lower)]
    return ImageSet(probe=spec.tag(entry), nanoserver=entry.nanoserver,
                    servercore=entry.servercore, pause=entry.pause, build=entry.build,
                    idle_command=spec.idle_command)


__all__ = ["IMAGES_FILE", "ImageSet", "image_set_for"]
