"""Images for the simulated containerd: the suite's image list, a pretend registry, the store.

``images.toml`` (package data of :mod:`hpc_images`) names the suite's images per LTSC build
and defines the probe image; its one model (:func:`hpc_images.model.load_spec`) reads it for
the sim, the harness and the real probe build (images/render.py).  :class:`Registry` is what
the simulated host can pull from (no network here): the Windows base images per tag, the
pause images with the OS builds their manifest lists cover, and the probe image for every
build in ``images.toml``.  :class:`ImageStore`
is containerd's local store (``crictl pull`` / ``images`` / ``inspecti``).

Platform selection follows docs/behaviour/runtime.md §7 and docs/behaviour/ecosystem.md §4.4: a
manifest list (pause) resolves to the host's build when it has one, else the newest build
below it; that build is the image's ``uvm_os_build``, the OS a utility VM boots from it.
Single-build images are pulled whatever the host (see harness/sim/ASSUMPTIONS.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from typing import TYPE_CHECKING

from harness.sim.cri.model import Image
from hpc_images.model import ImagesTomlError, Spec, expand, load_spec

if TYPE_CHECKING:
    from harness.sim.machine import Machine

LTSC_BUILDS = {"1809": 17763, "ltsc2019": 17763, "ltsc2022": 20348, "ltsc2025": 26100}

# What the base images hold, relative to the rootfs root.  Programs are copies of the host's
# modelled programs (the same behaviour); a program the host does not model becomes a
# placeholder that fails loudly when run.
NANOSERVER_PROGRAMS = ("cmd.exe", "hostname.exe", "whoami.exe", "ipconfig.exe", "PING.EXE",
                       "mountvol.exe", "findstr.exe", "sort.exe", "timeout.exe")
SERVERCORE_PROGRAMS = NANOSERVER_PROGRAMS + ("net.exe", "netsh.exe", "icacls.exe",
                                             "tasklist.exe")
POWERSHELL_REL = "Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"

# Pause manifest lists: the Windows builds each tag covers (docs/behaviour/ecosystem.md §4.4: 3.10.2
# is the first with a WS2025 manifest).
PAUSE_BUILDS = {"3.6": (17763, 20348), "3.8": (17763, 20348), "3.9": (17763, 20348),
                "3.10": (17763, 20348), "3.10.1": (17763, 20348),
                "3.10.2": (17763, 20348, 26100)}


# The behaviour of a probe program built from source: the sim's model of what the source
# does, by the source file's name (harness/sim/programs/probe_idle.py for probe-idle.c).
SOURCE_BEHAVIOUR = "sim:probe-source:"


# --- references --------------------------------------------------------------------------------
class InvalidReference(ValueError):
    pass


def normalize_ref(ref: str) -> str:
    """Docker reference normalization (``docker.ParseDockerRef``): default registry
    ``docker.io``, ``library/`` for one-component names, tag ``latest``."""
    if not ref or ref != ref.strip():
        raise InvalidReference("invalid reference format")
    name, digest = (ref.split("@", 1) + [""])[:2]
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
        if "/" not in path:
            path = "library/" + path
    if path != path.lower():
        raise InvalidReference("invalid reference format: repository name must be lowercase")
    if not re.fullmatch(r"[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*",
                        path) or (tag and not re.fullmatch(r"[\w][\w.-]{0,127}", tag)):
        raise InvalidReference("invalid reference format")
    if digest:
        return f"{domain}/{path}@{digest}"
    return f"{domain}/{path}:{tag or 'latest'}"


def _digest(*parts: object) -> str:
    return "sha256:" + hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


# --- the pretend registry ----------------------------------------------------------------------
class Registry:
    """What ``crictl pull`` can fetch on the simulated host."""

    def __init__(self, machine: Machine | None, images_file: Spec | None = None):
        self.machine = machine
        self.images_file = images_file or load_spec()
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], Image] = {}

    def known_refs(self) -> list[str]:
        refs = [f"mcr.microsoft.com/windows/nanoserver:{t}" for t in ("1809", "ltsc2022",
                                                                        "ltsc2025")]
        refs += [f"mcr.microsoft.com/windows/servercore:{t}" for t in ("ltsc2019", "ltsc2022",
                                                                         "ltsc2025")]
        refs += [f"registry.k8s.io/pause:{t}" for t in PAUSE_BUILDS]
        refs += [normalize_ref(self.images_file.probe_ref(b)) for b in self.images_file.builds]
        return refs

    def resolve(self, ref: str, host_build: int) -> Image | None:
        """The image ``ref`` (normalized) names for a host of ``host_build``, or None."""
        key = (ref, host_build)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        image = self._make(ref, host_build)
        if image is not None:
            with self._lock:
                self._cache[key] = image
        return image

    def _make(self, ref: str, host_build: int) -> Image | None:
        repo, _, tag = ref.rpartition(":")
        if repo == "mcr.microsoft.com/windows/nanoserver" and tag in ("1809", "ltsc2022",
                                                                      "ltsc2025"):
            return self._base(ref, "nanoserver", LTSC_BUILDS[tag])
        if repo == "mcr.microsoft.com/windows/servercore" and tag in ("ltsc2019", "ltsc2022",
                                                                      "ltsc2025"):
            return self._base(ref, "servercore", LTSC_BUILDS[tag])
        if repo == "registry.k8s.io/pause" and tag in PAUSE_BUILDS:
            build = _select_build(PAUSE_BUILDS[tag], host_build)
            files = {"pause.exe": _placeholder("sim:pause")}
            return Image(ref, _digest(ref, build), files, build, user="ContainerUser",
                         entrypoint=("/pause.exe",), args_escaped=True, size=117_000_000,
                         tags=(ref,), digest=f"{repo}@{_digest('index', ref)}")
        probe = self.images_file
        if repo == normalize_ref(probe.name + ":x").rpartition(":")[0]:
            for build, b in self.images_file.builds.items():
                if b.ltsc == tag:
                    return self._probe(ref, build)
        return None

    def _base(self, ref: str, kind: str, build: int) -> Image:
        files: dict[str, bytes] = {
            "License.txt": b"placeholder license text of the simulated base image\r\n"}
        programs = NANOSERVER_PROGRAMS if kind == "nanoserver" else SERVERCORE_PROGRAMS
        for name in programs:
            files[f"Windows\\System32\\{name}"] = self._program_bytes(
                f"C:\\Windows\\System32\\{name}")
        if kind == "servercore":
            files[POWERSHELL_REL] = self._program_bytes("C:\\" + POWERSHELL_REL)
        size = 120_000_000 if kind == "nanoserver" else 1_900_000_000
        return Image(ref, _digest(ref, build), files, build,
                     user="ContainerUser" if kind == "nanoserver" else "ContainerAdministrator",
                     cmd=("c:\\windows\\system32\\cmd.exe",), size=size, tags=(ref,),
                     digest=f"{ref.rpartition(':')[0]}@{_digest('index', ref)}")

    def _probe(self, ref: str, build: int) -> Image:
        spec = self.images_file
        b = spec.for_build(build)
        base = self.resolve(normalize_ref(getattr(b, spec.base)), build)
        assert base is not None
        files = dict(base.files)
        files[spec.marker_path] = spec.marker_bytes(build)
        for prog in spec.programs:
            if prog.copy_of is not None:
                if prog.copy_of not in base.files:
                    raise ImagesTomlError(f"probe program {prog.path}: {prog.copy_of} is not "
                                          f"in the {spec.base} image")
                files[prog.path] = base.files[prog.copy_of]
            elif prog.source is not None:
                # A placeholder naming the model of what the source does; a source without
                # a model fails loudly when run ("no model" of its behaviour).
                files[prog.path] = _placeholder(SOURCE_BEHAVIOUR + prog.source)
            else:
                files[prog.path] = expand(prog.content or "", b).encode()
        return dataclasses.replace(base, ref=ref, id=_digest(ref, build, "probe"),
                                   files=files, size=base.size + 4096, tags=(ref,),
                                   digest=f"{ref.rpartition(':')[0]}@{_digest('probe', ref)}")

    def _program_bytes(self, host_path: str) -> bytes:
        if self.machine is not None and self.machine.fs.is_file(host_path):
            return self.machine.fs.read_bytes(host_path)
        name = host_path.rsplit("\\", 1)[-1]
        return _placeholder(f"sim:unmodelled:{name}")


def _placeholder(key: str) -> bytes:
    return (b"MZ\r\nhpc-e2e-sim program=" + key.encode() +
            b"\r\nplaceholder of the hpc-e2e simulated host; not a real executable\r\n")


def _select_build(builds: tuple[int, ...], host_build: int) -> int:
    if host_build in builds:
        return host_build
    older = [b for b in builds if b <= host_build]
    return max(older) if older else min(builds)


# --- containerd's local store ------------------------------------------------------------------
class ImageNotFound(LookupError):
    pass


class ImageStore:
    """The images containerd has (thread-safe)."""

    def __init__(self, registry: Registry, host_build: int):
        self.registry = registry
        self.host_build = host_build
        self._lock = threading.Lock()
        self._by_id: dict[str, Image] = {}
        self._refs: dict[str, str] = {}  # normalized ref -> id

    def pull(self, ref: str) -> Image:
        """Fetch ``ref``; raises InvalidReference or ImageNotFound (nothing in the registry)."""
        norm = normalize_ref(ref)
        image = self.registry.resolve(norm, self.host_build)
        if image is None:
            raise ImageNotFound(norm)
        with self._lock:
            self._by_id.setdefault(image.id, image)
            self._refs[norm] = image.id
        return self.get(norm)  # type: ignore[return-value]

    def get(self, ref_or_id: str) -> Image | None:
        """``localResolve``: by full id, id prefix, or (normalized) reference."""
        with self._lock:
            image_id = None
            if ref_or_id.startswith("sha256:") or re.fullmatch(r"[0-9a-f]{12,64}", ref_or_id):
                full = ref_or_id if ref_or_id.startswith("sha256:") else "sha256:" + ref_or_id
                matches = [i for i in self._by_id if i.startswith(full)]
                image_id = matches[0] if len(matches) == 1 else None
            if image_id is None:
                try:
                    image_id = self._refs.get(normalize_ref(ref_or_id))
                except InvalidReference:
                    image_id = None
            if image_id is None or image_id not in self._by_id:
                return None
            tags = tuple(sorted(r for r, i in self._refs.items() if i == image_id))
            return dataclasses.replace(self._by_id[image_id], tags=tags)

    def list(self) -> list[Image]:
        with self._lock:
            ids = list(self._by_id)
        return [img for img in (self.get(i) for i in ids) if img is not None]

    def remove(self, ref_or_id: str) -> bool:
        image = self.get(ref_or_id)
        if image is None:
            return False
        with self._lock:
            self._by_id.pop(image.id, None)
            for r in [r for r, i in self._refs.items() if i == image.id]:
                del self._refs[r]
        return True


__all__ = [
    "ImageNotFound",
    "ImageStore",
    "InvalidReference",
    "Registry",
    "normalize_ref",
]
