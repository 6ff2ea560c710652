"""The runtime bundle: which containerd, shim, crictl (and CNI plugins) a host gets, pinned.

A bundle manifest is a TOML file::

    [bundle]
    name = "ws2025-nightly"
    containerd_config_version = 2        # optional: 2 for containerd 1.x, 3 for 2.x
    install_dir = 'C:\\Program Files\\containerd'   # optional (docs/behaviour/ecosystem.md §2.4)

    [artifacts.containerd]
    version = "1.7.22"
    sha256 = "<64 hex digits of containerd.exe>"
    source = { file = "bin/containerd.exe" }      # uploaded by the harness

    [artifacts.containerd-shim-runhcs-v1]
    version = "0.13.0"
    sha256 = "..."
    source = { url = "https://example.test/containerd-shim-runhcs-v1.exe" }  # host downloads

    [artifacts.crictl]
    version = "1.31.1"
    sha256 = "..."
    source = { installed = 'C:\\tools\\crictl.exe' }   # already on the host, only checked

    [cni_plugins.nat]                    # optional, installed into <install_dir>\\cni\\bin
    ...

``sha256`` is always the hash of the *program file as installed*.  A source may instead be an
archive (``.tar.gz``/``.zip``, what containerd and crictl release): add ``member`` (the path
inside it) and optionally ``archive_sha256``.

Everything is validated when the manifest is loaded, local files included (their hash is
computed then), so a bad manifest stops the run before anything is sent to any host.
Errors are one line naming the file, the artifact and the field, like the inventory's.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.config.files import expand_home, file_kind_problem, load_toml
from harness.errors import ConfigError
from harness.secrets import redact_urls, register

CONTAINERD = "containerd"
SHIM = "containerd-shim-runhcs-v1"
CRICTL = "crictl"
REQUIRED_ARTIFACTS = (CONTAINERD, SHIM, CRICTL)
# The file name each artifact is installed under.  containerd finds the shim beside its own
# executable (or on PATH) by this exact name.
PROGRAM_NAMES = {CONTAINERD: "containerd.exe", SHIM: "containerd-shim-runhcs-v1.exe",
                 CRICTL: "crictl.exe"}
# docs/behaviour/ecosystem.md §2.4: containerd's documented install and config directory.
DEFAULT_INSTALL_DIR = r"C:\Program Files\containerd"
SOURCE_KINDS = ("file", "url", "installed")

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}\Z")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?([-+.][0-9A-Za-z.+-]+)?\Z")
_CNI_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
_READ = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_READ):
            h.update(chunk)
    return h.hexdigest()


def parse_version(text: str) -> tuple[int, int, int]:
    """``"v1.7.22"`` / ``"2.0.0-rc.1"`` → ``(1, 7, 22)``; ValueError if it is not a version."""
    m = _VERSION.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a version like 1.7.22")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def is_windows_absolute(path: str) -> bool:
    p = PureWindowsPath(path)
    return bool(p.drive) and p.is_absolute() and not p.drive.startswith("\\\\")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PLACEHOLDER_SHA256 = "0" * 64


def _check_sha(value: str) -> str:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise ValueError("must be 64 hexadecimal digits (a SHA-256)")
    if value == PLACEHOLDER_SHA256:
        # fixtures/bundle.example.toml marks unknown hashes this way.
        raise ValueError("is the placeholder (64 zeros); replace it with the real SHA-256")
    return value.lower()


class _ArchiveFields(_Strict):
    # Path of the program inside a .tar.gz/.tgz/.zip archive; None: the source *is* the program.
    member: str | None = Field(default=None, min_length=1)
    archive_sha256: str | None = None

    @field_validator("archive_sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        return None if v is None else _check_sha(v)

    @field_validator("member")
    @classmethod
    def _member(cls, v: str | None) -> str | None:
        if v is None:
            return v
        p = PurePosixPath(v.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts:
            raise ValueError("must be a relative path inside the archive")
        return p.as_posix()


class FileSource(_ArchiveFields):
    """A file on the controller; the harness uploads it (or the member it extracts)."""

    kind: Literal["file"] = "file"
    file: Path


class UrlSource(_ArchiveFields):
    """A URL the *host* downloads (over TLS 1.2), verifies and renames into place."""

    kind: Literal["url"] = "url"
    url: str

    @field_validator("url")
    @classmethod
    def _https(cls, v: str) -> str:
        if not v.lower().startswith("https://") or len(v) <= len("https://"):
            raise ValueError("must be an https:// URL (plain http cannot be trusted)")
        if any(c.isspace() for c in v) or "'" in v or '"' in v:
            raise ValueError("must not contain spaces or quotes")
        _register_url_credentials(v)
        return v


def _register_url_credentials(url: str) -> None:
    """A password (or token) inside the URL is a secret from now on, in every spelling the
    harness might print it (as written and percent-decoded)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    for value in (parts.password, parts.username if parts.password is None else None):
        if value:
            register(value)
            register(unquote(value))


class InstalledSource(_Strict):
    """A program already on the host at this absolute path; it is checked, never copied."""

    kind: Literal["installed"] = "installed"
    installed: str

    @field_validator("installed")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not is_windows_absolute(v) or not v.lower().endswith(".exe"):
            raise ValueError(r"must be an absolute Windows path to an .exe (e.g. 'C:\tools\crictl.exe')")
        return str(PureWindowsPath(v))


Source = FileSource | UrlSource | InstalledSource


class Artifact(_Strict):
    name: str
    version: str
    sha256: str
    source: Source = Field(discriminator="kind")
    # The file name on the host.
    program: str

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not _VERSION.match(v.strip()):
            raise ValueError("must be a version like 1.7.22")
        return v.strip().removeprefix("v")

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        return _check_sha(v)

    @property
    def kind(self) -> str:
        return self.source.kind

    def describe_source(self) -> str:
        s = self.source
        text = {"file": lambda: str(s.file), "url": lambda: redact_urls(s.url),
                "installed": lambda: s.installed}[s.kind]()
        member = getattr(s, "member", None)
        return f"{s.kind}:{text}" + (f"!{member}" if member else "")

    @contextlib.contextmanager
    def local_program(self) -> Iterator[Path]:
        """The program as a local file, ready to upload (extracted from its archive if needed)."""
        if not isinstance(self.source, FileSource):
            raise TypeError(f"artifact {self.name} has no local file (source {self.kind})")
        if self.source.member is None:
            yield self.source.file
            return
        with tempfile.TemporaryDirectory(prefix="hpc-e2e-bundle-") as tmp:
            out = Path(tmp) / self.program
            with _open_member(self.source.file, self.source.member) as f, open(out, "wb") as dst:
                shutil.copyfileobj(f, dst, _READ)
            yield out


class RuntimeBundle(_Strict):
    name: str = Field(min_length=1)
    install_dir: str = DEFAULT_INSTALL_DIR
    containerd_config_version: Literal[2, 3]
    artifacts: dict[str, Artifact]
    cni_plugins: dict[str, Artifact] = {}
    source: str = "<inline>"

    @property
    def containerd(self) -> Artifact:
        return self.artifacts[CONTAINERD]

    @property
    def shim(self) -> Artifact:
        return self.artifacts[SHIM]

    @property
    def crictl(self) -> Artifact:
        return self.artifacts[CRICTL]

    def all_artifacts(self) -> list[Artifact]:
        return [self.artifacts[n] for n in REQUIRED_ARTIFACTS] + \
            [self.cni_plugins[n] for n in sorted(self.cni_plugins)]

    @property
    def digest(self) -> str:
        """One hash for the whole bundle (what a report's environment records).

        Covers what decides the runtime's behaviour: every program's name, version and hash,
        and the config version; not where the files came from.
        """
        lines = [f"config_version={self.containerd_config_version}",
                 f"install_dir={self.install_dir.lower()}"]
        for a in self.all_artifacts():
            lines.append(f"{a.name} {a.version} {a.sha256}")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# --- loading ----------------------------------------------------------------------------
def load_bundle(path: str | Path) -> RuntimeBundle:
    """Read and fully validate a manifest (local files hashed); ConfigError with one line."""
    path = Path(path)
    if file_kind_problem(path) == "does not exist":
        raise ConfigError(f"{path}: bundle manifest does not exist",
                          hint="pass --bundle with an existing file, or omit it to use the "
                               "simulated bundle")
    raw = load_toml(path, what="bundle manifest")
    return parse_bundle(raw, source=str(path), base_dir=path.parent)


def parse_bundle(raw: dict[str, Any], *, source: str, base_dir: Path) -> RuntimeBundle:
    unknown = sorted(set(raw) - {"bundle", "artifacts", "cni_plugins"})
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key {unknown[0]!r} "
                          "(expected [bundle], [artifacts.NAME] and [cni_plugins.NAME])")
    head = raw.get("bundle")
    if not isinstance(head, dict):
        raise ConfigError(f"{source}: missing [bundle] table (name = \"...\")")
    extra = sorted(set(head) - {"name", "install_dir", "containerd_config_version"})
    if extra:
        raise ConfigError(f"{source}: bundle: {extra[0]}: unknown key (check its spelling)")
    arts = raw.get("artifacts")
    if not isinstance(arts, dict):
        raise ConfigError(f"{source}: missing [artifacts.containerd], "
                          f"[artifacts.{SHIM}] and [artifacts.crictl] tables")
    for name in arts:
        if name not in REQUIRED_ARTIFACTS:
            raise ConfigError(f"{source}: artifact {name!r}: unknown artifact (expected "
                              f"{', '.join(REQUIRED_ARTIFACTS)}; CNI plugins go in "
                              f"[cni_plugins.NAME])")
    for name in REQUIRED_ARTIFACTS:
        if name not in arts:
            raise ConfigError(f"{source}: artifact {name!r}: missing [artifacts.{name}] table")
    cni = raw.get("cni_plugins", {})
    if not isinstance(cni, dict):
        raise ConfigError(f"{source}: cni_plugins: must be a table of [cni_plugins.NAME] tables")

    install_dir = head.get("install_dir", DEFAULT_INSTALL_DIR)
    if not isinstance(install_dir, str) or not is_windows_absolute(install_dir):
        raise ConfigError(f"{source}: bundle: install_dir: must be an absolute Windows path "
                          f"(got {install_dir!r})")
    install_dir = str(PureWindowsPath(install_dir))

    artifacts = {name: _artifact(name, arts[name], PROGRAM_NAMES[name], source, base_dir)
                 for name in REQUIRED_ARTIFACTS}
    plugins = {}
    for name, table in cni.items():
        if not _CNI_NAME.match(name):
            raise ConfigError(f"{source}: cni plugin {name!r}: name must be letters, digits, "
                              "'.', '_' or '-'")
        plugins[name] = _artifact(name, table, f"{name}.exe", source, base_dir,
                                  label=f"cni plugin {name!r}")

    config_version = _config_version(head, artifacts[CONTAINERD], source)
    _check_layout(artifacts, source)
    try:
        bundle = RuntimeBundle(name=head.get("name"), install_dir=install_dir,
                               containerd_config_version=config_version, artifacts=artifacts,
                               cni_plugins=plugins, source=source)
    except ValidationError as exc:
        raise ConfigError(f"{source}: bundle: {_first_error(exc)}") from None
    for artifact in bundle.all_artifacts():
        _verify_local(artifact, source)
    return bundle


def _artifact(name: str, table: Any, program: str, source: str, base_dir: Path, *,
              label: str | None = None) -> Artifact:
    where = f"{source}: {label or f'artifact {name!r}'}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    data = dict(table)
    src = data.get("source")
    if src is None:
        raise ConfigError(f"{where}: source: missing (one of {{file = \"path\"}}, "
                          "{url = \"https://...\"}, {installed = 'C:\\...'})")
    if not isinstance(src, dict):
        raise ConfigError(f"{where}: source: must be an inline table such as "
                          "{file = \"path\"} (got {src!r})")
    kinds = [k for k in src if k in SOURCE_KINDS]
    if len(kinds) != 1:
        others = sorted(set(src) - {"member", "archive_sha256"})
        what = (f"unknown source kind {others[0]!r}" if not kinds and others
                else "exactly one of file, url, installed is required" if not kinds
                else f"give only one of {', '.join(kinds)}")
        raise ConfigError(f"{where}: source: {what} (expected one of {', '.join(SOURCE_KINDS)})")
    src = {**src, "kind": kinds[0]}
    if kinds[0] == "file" and isinstance(src["file"], str):
        if "\0" in src["file"]:  # no file system takes it; Path.resolve() would raise
            raise ConfigError(f"{where}: source: file {src['file']!r} holds a NUL character")
        src["file"] = (base_dir / expand_home(src["file"], what=f"{where}: source: file")
                       ).resolve()
    data["source"] = src
    if "name" in data or "program" in data:
        raise ConfigError(f"{where}: the artifact's name is its table name; remove "
                          f"'{'name' if 'name' in data else 'program'}'")
    try:
        return Artifact(name=name, program=program, **data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_first_error(exc)}") from None


def _config_version(head: dict, containerd: Artifact, source: str) -> int:
    major = parse_version(containerd.version)[0]
    derived = 2 if major < 2 else 3
    given = head.get("containerd_config_version")
    if given is None:
        return derived
    if given not in (2, 3) or isinstance(given, bool):
        raise ConfigError(f"{source}: bundle: containerd_config_version: must be 2 or 3 "
                          f"(got {given!r})")
    if given == 3 and major < 2:
        # docs/behaviour/ecosystem.md §2.3: version 3 is containerd 2.x's format.
        raise ConfigError(f"{source}: bundle: containerd_config_version: containerd "
                          f"{containerd.version} reads config version 2, not 3 "
                          "(remove the key to derive it)")
    return given


def _check_layout(artifacts: dict[str, Artifact], source: str) -> None:
    """containerd looks for the shim beside its own executable: keep them together."""
    ctrd, shim = artifacts[CONTAINERD].source, artifacts[SHIM].source
    if isinstance(shim, InstalledSource) and (
            not isinstance(ctrd, InstalledSource)
            or PureWindowsPath(shim.installed).parent != PureWindowsPath(ctrd.installed).parent):
        raise ConfigError(f"{source}: artifact {SHIM!r}: source: an installed shim must be "
                          "in the same folder as an installed containerd.exe (containerd "
                          "starts the shim from beside itself)")
    for name, art in artifacts.items():
        if isinstance(art.source, InstalledSource) and \
                PureWindowsPath(art.source.installed).name.lower() != art.program.lower():
            raise ConfigError(f"{source}: artifact {name!r}: source: installed: the file must be "
                              f"named {art.program} (got {art.source.installed!r})")


def _verify_local(artifact: Artifact, source: str) -> None:
    src = artifact.source
    if not isinstance(src, FileSource):
        return
    where = (f"{source}: artifact {artifact.name!r}" if artifact.name in REQUIRED_ARTIFACTS
             else f"{source}: cni plugin {artifact.name!r}")
    problem = file_kind_problem(src.file)  # a folder or /dev/zero: refused, never read
    if problem is not None:
        raise ConfigError(f"{where}: source: file {src.file} {problem}")
    if src.member is None:
        actual = sha256_file(src.file)
        if actual != artifact.sha256:
            raise ConfigError(f"{where}: sha256: {src.file} has sha256 {actual}, the manifest "
                              f"says {artifact.sha256}",
                              hint="the file or the manifest is out of date; fix one of them")
        return
    if src.archive_sha256 is not None:
        actual = sha256_file(src.file)
        if actual != src.archive_sha256:
            raise ConfigError(f"{where}: source.archive_sha256: {src.file} has sha256 {actual}, "
                              f"the manifest says {src.archive_sha256}")
    h = hashlib.sha256()
    try:
        with _open_member(src.file, src.member) as f:
            while chunk := f.read(_READ):
                h.update(chunk)
    except KeyError:
        raise ConfigError(f"{where}: source.member: {src.member!r} is not in {src.file}") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        reason = " ".join(str(exc).split())  # tarfile's message lists each method on a line
        raise ConfigError(f"{where}: source: cannot read archive {src.file}: {reason}") from None
    if h.hexdigest() != artifact.sha256:
        raise ConfigError(f"{where}: sha256: {src.member} in {src.file} has sha256 "
                          f"{h.hexdigest()}, the manifest says {artifact.sha256}")


@contextlib.contextmanager
def _open_member(archive: Path, member: str) -> Iterator[io.BufferedIOBase]:
    """A readable stream of one archive member; KeyError if it is absent."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = {n.rstrip("/"): n for n in z.namelist()}
            real = names.get(member) or names.get(f"./{member}")
            if real is None:
                raise KeyError(member)
            with z.open(real) as f:
                yield f
        return
    with tarfile.open(archive, "r:*") as t:
        info = None
        for candidate in (member, f"./{member}"):
            try:
                info = t.getmember(candidate)
                break
            except KeyError:
                continue
        if info is None or not info.isfile():
            raise KeyError(member)
        f = t.extractfile(info)
        assert f is not None
        with f:
            yield f


def _first_error(exc: ValidationError) -> str:
    """One line for the first problem: dotted field path, message, offending value."""
    err = exc.errors(include_url=False)[0]
    parts = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
    # A discriminated union repeats its tag in the path ("source.url.url"): drop it.
    if len(parts) > 2 and parts[0] == "source" and parts[1] in SOURCE_KINDS:
        del parts[1]
    loc = ".".join(parts)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check its spelling)"
    elif err["type"] == "literal_error":
        msg = f"must be one of {err.get('ctx', {}).get('expected', '')}"
    value = err.get("input")
    shown = "" if err["type"] in ("missing", "extra_forbidden") or isinstance(value, dict) \
        else f" (got {value!r})"
    return f"{loc}: {msg}{shown}" if loc else f"{msg}{shown}"


__all__ = [
    "CONTAINERD",
    "CRICTL",
    "DEFAULT_INSTALL_DIR",
    "PROGRAM_NAMES",
    "REQUIRED_ARTIFACTS",
    "SHIM",
    "Artifact",
    "FileSource",
    "InstalledSource",
    "RuntimeBundle",
    "UrlSource",
    "load_bundle",
    "parse_bundle",
    "parse_version",
    "sha256_file",
]
