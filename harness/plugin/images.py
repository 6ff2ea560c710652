"""The images a leased host runs, read from ``images/images.toml`` for the host's build.

Scenarios never spell an image reference: they get :class:`ImageSet` from ``hpc_host.images``,
so the same test runs on a WS2022 and a WS2025 host.  A host whose build has no entry of its
own uses the nearest lower build's images (a newer host runs the previous LTSC's images under
process isolation, docs/behaviour/runtime.md §7 "Process-isolation compatibility").

This reads the file independently of the simulated host's reader (``harness/sim`` is imported
by nothing above it), and only the keys the suite needs.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from harness.config.files import file_kind_problem, load_toml
from harness.errors import ConfigError

IMAGES_FILE = Path(__file__).resolve().parents[2] / "images" / "images.toml"
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
    raw = _read(images_file)
    builds = raw.get("builds")
    if not isinstance(builds, dict) or not builds:
        raise ConfigError(f"{images_file}: no [builds.<build>] tables")
    try:
        known = sorted(int(b) for b in builds)
    except ValueError:
        raise ConfigError(f"{images_file}: [builds.<build>] keys must be build numbers") from None
    lower = [b for b in known if b <= build]
    if not lower:
        raise ConfigError(f"{images_file}: no images for host build {build} (builds listed: "
                          f"{', '.join(map(str, known))})",
                          hint="add a [builds.<build>] table for this Windows build")
    chosen = lower[-1]
    entry = builds[str(chosen)]
    probe = raw.get("probe")
    if not isinstance(probe, dict):
        raise ConfigError(f"{images_file}: no [probe] table")
    try:
        refs = {k: _text(entry, k, f"builds.{chosen}") for k in
                ("ltsc", "nanoserver", "servercore", "pause")}
        probe_ref = f"{_text(probe, 'name', 'probe')}:{refs['ltsc']}"
    except KeyError as exc:
        raise ConfigError(f"{images_file}: {exc.args[0]}") from None
    idle = probe.get("idle_command")
    if idle is not None and (not isinstance(idle, list) or not idle or
                             not all(isinstance(a, str) and a for a in idle)):
        raise ConfigError(f"{images_file}: probe.idle_command: must be a non-empty list of "
                          f"strings (got {idle!r})")
    return ImageSet(probe=probe_ref, nanoserver=refs["nanoserver"],
                    servercore=refs["servercore"], pause=refs["pause"], build=chosen,
                    idle_command=tuple(idle) if idle else None)


def _read(path: Path) -> dict:
    if file_kind_problem(path) == "does not exist":
        raise ConfigError(f"{path} does not exist; it lists the suite's images")
    return load_toml(path, what="images list")


def _text(table: dict, key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise KeyError(f"{where}.{key}: must be a non-empty string (got {value!r})")
    return value


__all__ = ["IMAGES_FILE", "ImageSet", "image_set_for"]
