"""The one model of ``images.toml``: the suite's container images per Windows build.

Every reader goes through :func:`load_spec`: the harness's plugin (``hpc_host.images``) and
sandbox-image choice, the simulated host's image store, and ``render.py``, which renders the
real probe image's build.  So the file is checked once, by one set of rules, and a new key is
taught here or nowhere.

Standard library only, and outside the ``harness`` package on purpose: the simulated host
imports nothing of the harness, and ``render.py`` runs on a Windows runner with a bare Python.
``images.toml`` and the probe's C sources are package data (``IMAGES_TOML`` is found through
the package, so an installed copy finds its own); see images/README.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# The package's own images.toml (package data; a regular install is a folder, not a zip).
IMAGES_TOML = Path(str(resources.files(__package__ or "hpc_images") / "images.toml"))

BUILD_KEYS = ("ltsc", "nanoserver", "servercore", "pause")
PROBE_KEYS = ("name", "base", "marker_path", "marker_content", "idle_command", "programs")
PROGRAM_KEYS = ("path", "copy_of", "content", "source")
BASES = ("nanoserver", "servercore")
CONTENT_PLACEHOLDERS = ("ltsc", "build")
IDLE_PLACEHOLDER = "token"
# "{rootfs}" at the start of the idle program: the container's rootfs folder, with a trailing
# backslash (the harness puts in the pod's rootfs location; C:\ in a normal container).
ROOTFS_PLACEHOLDER = "{rootfs}"
# A value the plugin could put in for {token} (harness/plugin/images.py: hex digits).
SAMPLE_TOKEN = "0123abcd"
# Fixed modification time of the rendered context files, so the COPY layers do not depend on
# Image references: lower-case repository path, optional registry port, an explicit tag or
# digest (an implicit "latest" would make the build depend on the day it ran).
_COMPONENT = r"[a-z0-9]+(?:[._-]+[a-z0-9]+)*"
_REF = re.compile(rf"^(?P<name>{_COMPONENT}(?::[0-9]+(?=/))?(?:/{_COMPONENT})*)"
                  r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
                  r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
_NAME = re.compile(rf"^{_COMPONENT}(?::[0-9]+(?=/))?(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_BAD_NAME_CHARS = set('<>:"|?*') | {chr(c) for c in range(32)}
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
             *(f"lpt{i}" for i in range(1, 10))}
# waitfor /? (Windows Commands reference): /t 1-99999 seconds; a signal name is at most 225
# characters of a-z, A-Z, 0-9 and characters 128-255.
_WAITFOR_SIGNAL = re.compile(r"^[A-Za-z0-9\x80-\xff]{1,225}$")
_WAITFOR_MAX_T = 99999


class ImagesTomlError(ValueError):
    """images.toml is missing or wrong; the message is one line naming the entry."""


@dataclass(frozen=True)
class BuildEntry:
    build: int
    ltsc: str
    nanoserver: str
    servercore: str
    pause: str


@dataclass(frozen=True)
class Program:
    path: str
    copy_of: str | None = None
    content: str | None = None
    source: str | None = None  # a C file beside images.toml, compiled for the image


@dataclass(frozen=True)
class Spec:
    """A validated images.toml."""

    source: str
    builds: dict[int, BuildEntry]
    name: str
    base: str
    marker_path: str
    marker_content: str
    idle_command: tuple[str, ...]
    programs: tuple[Program, ...]

    def entry_for(self, host_build: int) -> BuildEntry:
        """The entry a host of ``host_build`` uses: its own, else the nearest lower build's
        (the rule of harness/plugin/images.py and harness/runtime/sandbox_image.py)."""
        lower = [b for b in self.builds if b <= host_build]
        if not lower:
            raise ImagesTomlError(
                f"{self.source}: no [builds.<build>] for host build {host_build} or below "
                f"(listed: {', '.join(map(str, sorted(self.builds)))})")
        return self.builds[max(lower)]

    def tag(self, entry: BuildEntry) -> str:
        return f"{self.name}:{entry.ltsc}"

    def base_image(self, entry: BuildEntry) -> str:
        return getattr(entry, self.base)

    def for_build(self, build: int) -> BuildEntry:
        """The entry of exactly ``build``; KeyError naming the builds listed otherwise."""
        if build in self.builds:
            return self.builds[build]
        raise KeyError(f"images.toml has no [builds.{build}] (known: "
                       f"{', '.join(str(b) for b in sorted(self.builds))})")

    def probe_ref(self, build: int) -> str:
        """The probe image's reference for exactly ``build`` (``<name>:<ltsc>``)."""
        return self.tag(self.for_build(build))

    def marker_bytes(self, build: int) -> bytes:
        """The probe's marker file for exactly ``build``, placeholders expanded."""
        return expand(self.marker_content, self.for_build(build)).encode()

    def source_dir(self) -> Path:
        """Where the probe's C sources are: beside the file read (the package's own, for a
        spec not read from a file)."""
        here = Path(self.source)
        return here.resolve().parent if here.is_file() else IMAGES_TOML.parent


# --- reading and checking ----------------------------------------------------------------------
def load_spec(path: Path | str = IMAGES_TOML) -> Spec:
    """The checked content of the images file at ``path`` (the package's own by default);
    ImagesTomlError, one line naming the file and the entry, at the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImagesTomlError(f"{path}: does not exist; it lists the suite's images") from None
    except UnicodeDecodeError as exc:
        raise ImagesTomlError(f"{path}: not UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise ImagesTomlError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImagesTomlError(f"{path}: not valid TOML: {_one_line(str(exc))}") from None
    return validate(data, str(path))


def validate(data: dict, source: str = "images.toml") -> Spec:
    """The checked content of a parsed images.toml; ImagesTomlError at the first problem."""

    def fail(where: str, problem: str) -> ImagesTomlError:
        return ImagesTomlError(_one_line(f"{source}: {where}: {problem}"))

    _only_keys(data, ("builds", "probe"), "top level", fail)
    builds_raw = data.get("builds")
    if not isinstance(builds_raw, dict) or not builds_raw:
        raise fail("builds", "needs at least one [builds.<OS build>] table")
    builds: dict[int, BuildEntry] = {}
    seen_ltsc: dict[str, str] = {}
    for key, table in builds_raw.items():
        where = f"builds.{key}"
        if not key.isdigit() or int(key) == 0 or key != str(int(key)):
            raise fail(where, "the key must be a Windows build number such as 26100")
        if not isinstance(table, dict):
            raise fail(where, "must be a table")
        _only_keys(table, BUILD_KEYS, where, fail)
        values = {k: _required_text(table, k, where, fail) for k in BUILD_KEYS}
        if not _TAG.match(values["ltsc"]):
            raise fail(f"{where}.ltsc", f"{values['ltsc']!r} is not a lower-case image tag "
                                        "(it is also the probe image's tag)")
        if values["ltsc"] in seen_ltsc:
            raise fail(f"{where}.ltsc", f"{values['ltsc']!r} is also the ltsc of "
                                        f"{seen_ltsc[values['ltsc']]}; the probe tags would clash")
        seen_ltsc[values["ltsc"]] = where
        for k in ("nanoserver", "servercore", "pause"):
            _check_ref(values[k], f"{where}.{k}", fail)
        builds[int(key)] = BuildEntry(int(key), **values)

    probe = data.get("probe")
    if not isinstance(probe, dict):
        raise fail("probe", "missing [probe] table")
    _only_keys(probe, PROBE_KEYS, "probe", fail)
    name = _required_text(probe, "name", "probe", fail)
    if not _NAME.match(name):
        raise fail("probe.name", f"{name!r} is not a lower-case repository name without tag "
                                 "(the tag is each build's ltsc)")
    base = _required_text(probe, "base", "probe", fail)
    if base not in BASES:
        raise fail("probe.base", f"must be one of {', '.join(BASES)} (got {base!r})")
    marker_path = _required_text(probe, "marker_path", "probe", fail)
    _check_rel_path(marker_path, "probe.marker_path", fail)
    marker_content = probe.get("marker_content")
    if not isinstance(marker_content, str):
        raise fail("probe.marker_content", f"missing or not a string (got {marker_content!r})")
    _check_placeholders(marker_content, CONTENT_PLACEHOLDERS, "probe.marker_content", fail)

    programs_raw = probe.get("programs", [])
    if not isinstance(programs_raw, list):
        raise fail("probe.programs", "must be [[probe.programs]] tables")
    programs: list[Program] = []
    for i, prog in enumerate(programs_raw):
        where = f"probe.programs[{i}]"
        if not isinstance(prog, dict):
            raise fail(where, "must be a [[probe.programs]] table")
        _only_keys(prog, PROGRAM_KEYS, where, fail)
        path = _required_text(prog, "path", where, fail)
        _check_rel_path(path, f"{where}.path", fail)
        kinds = [k for k in ("copy_of", "content", "source") if k in prog]
        if len(kinds) != 1:
            raise fail(f"{where} ({path})", "needs exactly one of copy_of, content and source")
        if "source" in prog:
            src = _required_text(prog, "source", where, fail)
            if re.search(r"[\\/:]", src) or not src.endswith(".c"):
                raise fail(f"{where}.source", f"{src!r}: the name of a .c file beside "
                                              "images.toml")
            if not path.lower().endswith(".exe"):
                raise fail(f"{where}.path", f"{path!r}: a program built from source is an .exe")
            programs.append(Program(path, source=src))
        elif "copy_of" in prog:
            copy_of = _required_text(prog, "copy_of", where, fail)
            _check_rel_path(copy_of, f"{where}.copy_of", fail)
            if _leaf(copy_of).casefold() == _leaf(path).casefold():
                raise fail(f"{where}.path", f"{path!r} must have a new name: {_leaf(path)!r} "
                                            "is also the name of its copy_of, which is on the "
                                            "search path")
            programs.append(Program(path, copy_of=copy_of))
        else:
            content = prog["content"]
            if not isinstance(content, str):
                raise fail(f"{where}.content", f"must be a string (got {content!r})")
            _check_placeholders(content, CONTENT_PLACEHOLDERS, f"{where}.content", fail)
            programs.append(Program(path, content=content))
    _check_distinct([marker_path] + [p.path for p in programs], fail)

    idle = _check_idle(probe.get("idle_command"), programs, fail)
    return Spec(source, builds, name, base, marker_path, marker_content, idle, tuple(programs))


def _only_keys(table: dict, allowed, where: str, fail) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise fail(where, f"unknown key {unknown[0]!r} (known: {', '.join(allowed)}); a "
                          "new key must be taught to images/render.py and the sim's image store")


def _required_text(table: dict, key: str, where: str, fail) -> str:
    if key not in table:
        raise fail(where, f"missing {key!r}")
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{where}.{key}", f"must be a non-empty string (got {value!r})")
    return value


def _check_ref(ref: str, where: str, fail) -> None:
    m = _REF.match(ref)
    if not m:
        raise fail(where, f"{ref!r} is not an image reference (lower-case, no spaces)")
    if not (m.group("tag") or m.group("digest")):
        raise fail(where, f"{ref!r} needs an explicit tag or digest")


def _check_rel_path(path: str, where: str, fail) -> None:
    """A path relative to the rootfs root, Windows style (what images.toml promises)."""
    if "/" in path:
        raise fail(where, f"{path!r}: use backslashes (paths are Windows paths)")
    if path.startswith("\\") or re.match(r"^[A-Za-z]:", path):
        raise fail(where, f"{path!r} is absolute; paths are relative to the rootfs root "
                          r"(write 'hpc-e2e\marker.txt', not 'C:\hpc-e2e\marker.txt')")
    for part in path.split("\\"):
        if part in ("", ".", ".."):
            raise fail(where, f"{path!r} has an empty, '.' or '..' component")
        if set(part) & _BAD_NAME_CHARS or part[-1] in ". ":
            raise fail(where, f"{path!r}: {part!r} is not a valid Windows file name")
        if part.split(".")[0].casefold() in _RESERVED:
            raise fail(where, f"{path!r}: {part!r} is a reserved device name on Windows")


def _check_placeholders(text: str, allowed, where: str, fail) -> None:
    for found in _PLACEHOLDER.findall(text):
        if found not in allowed:
            raise fail(where, f"unknown placeholder {{{found}}} (known: "
                              f"{', '.join('{' + a + '}' for a in allowed)})")


def _check_distinct(paths: list[str], fail) -> None:
    folded = [p.casefold() for p in paths]  # Windows file names ignore case
    for i, a in enumerate(folded):
        for j, b in enumerate(folded):
            if i < j and a == b:
                raise fail("probe", f"{paths[j]!r} is listed twice (names ignore case)")
            if i != j and b.startswith(a + "\\"):
                raise fail("probe", f"{paths[i]!r} is a file and the folder of {paths[j]!r}")


def _check_idle(idle, programs: list[Program], fail) -> tuple[str, ...]:
    """The idle command keeps an HPC running (harness/plugin/pods.py).  Its program is either
    a probe program (a rootfs path) or a bare name found on the search path where the HPC
    runs: the host's System32 for process isolation, the UVM's for hypervisor isolation."""
    where = "probe.idle_command"
    if not isinstance(idle, list) or not idle or \
            not all(isinstance(a, str) and a for a in idle):
        raise fail(where, f"must be a non-empty list of non-empty strings (got {idle!r})")
    for arg in idle:
        _check_placeholders(arg, (IDLE_PLACEHOLDER, "rootfs"), where, fail)
    if any(ROOTFS_PLACEHOLDER in a for a in idle[1:]) or idle[0].count(ROOTFS_PLACEHOLDER) > 1 \
            or (ROOTFS_PLACEHOLDER in idle[0] and not idle[0].startswith(ROOTFS_PLACEHOLDER)):
        raise fail(where, "{rootfs} may only start the program (the rootfs folder)")
    if not any("{token}" in arg for arg in idle):
        raise fail(where, "needs {token} in an argument, so containers sharing a host never "
                          "wait on the same thing")
    program = idle[0].removeprefix(ROOTFS_PLACEHOLDER)
    rootfs = {p.path.casefold() for p in programs}
    if idle[0].startswith(ROOTFS_PLACEHOLDER) and program.casefold() not in rootfs:
        raise fail(where, f"{idle[0]!r}: {{rootfs}} must be followed by one of the probe's "
                          "programs")
    if program.casefold() not in rootfs and re.search(r"[\\/:]", program):
        raise fail(where, f"{program!r}: the program must be a bare name (found on the search "
                          "path) or the path of one of the probe's programs")
    if program.casefold() in ("waitfor", "waitfor.exe"):
        _check_waitfor([a.replace("{token}", SAMPLE_TOKEN) for a in idle[1:]], where, fail)
    return tuple(idle)


def _check_waitfor(args: list[str], where: str, fail) -> None:
    signals = []
    i = 0
    while i < len(args):
        low = args[i].lower()
        if low in ("/t", "-t"):
            value = args[i + 1] if i + 1 < len(args) else ""
            if not value.isdigit() or not 1 <= int(value) <= _WAITFOR_MAX_T:
                raise fail(where, f"waitfor /t takes 1-{_WAITFOR_MAX_T} seconds (got {value!r})")
            i += 2
            continue
        if low.startswith(("/", "-")):
            raise fail(where, f"waitfor option {args[i]!r}: the idle command only waits "
                              "(/t N and a signal name)")
        signals.append(args[i])
        i += 1
    if len(signals) != 1:
        raise fail(where, f"waitfor needs exactly one signal name (got {signals!r})")
    if not _WAITFOR_SIGNAL.match(signals[0]):
        raise fail(where, f"waitfor signal {signals[0]!r} (with {{token}} = {SAMPLE_TOKEN}): "
                          "only letters and digits, at most 225 (waitfor /?)")


def _leaf(path: str) -> str:
    return path.rsplit("\\", 1)[-1]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def expand(text: str, entry: BuildEntry) -> str:
    """``{ltsc}`` and ``{build}`` as images.toml defines them."""
    return text.replace("{ltsc}", entry.ltsc).replace("{build}", str(entry.build))


__all__ = ["BASES", "IMAGES_TOML", "BuildEntry", "ImagesTomlError", "Program", "Spec", "expand",
           "load_spec", "validate"]
