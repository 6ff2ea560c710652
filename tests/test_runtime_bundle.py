"""The bundle manifest: everything wrong with it is one line naming file, artifact and field,
found before anything is sent to a host."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.runtime.bundle import (
    CONTAINERD,
    CRICTL,
    SHIM,
    FileSource,
    InstalledSource,
    UrlSource,
    load_bundle,
    parse_bundle,
)
from harness.runtime.layout import RuntimeLayout
from harness.sim.bundle import placeholder, write_sim_bundle

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "fixtures" / "bundle.example.toml"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def files(tmp_path):
    """Three local programs and a raw manifest dict using them."""
    contents = {name: f"program {name}".encode() for name in (CONTAINERD, SHIM, CRICTL)}
    for name, data in contents.items():
        (tmp_path / f"{name}.exe").write_bytes(data)
    raw = {"bundle": {"name": "t"}, "artifacts": {
        name: {"version": "1.7.22" if name == CONTAINERD else "1.0.0", "sha256": sha(data),
               "source": {"file": f"{name}.exe"}}
        for name, data in contents.items()}}
    return tmp_path, raw


def parse(raw, base):
    return parse_bundle(raw, source="b.toml", base_dir=base)


def error_of(raw, base) -> str:
    with pytest.raises(ConfigError) as info:
        parse(raw, base)
    text = str(info.value)
    assert "\n" not in text, f"error is not one line: {text!r}"
    assert text.startswith("b.toml: "), text
    return text


# --- the sim bundle and the example --------------------------------------------------------
def test_the_sim_bundle_loads_with_its_real_hashes(tmp_path):
    bundle = load_bundle(write_sim_bundle(tmp_path))
    assert bundle.containerd.version == "1.7.22"
    assert bundle.containerd_config_version == 2
    for artifact in bundle.all_artifacts():
        assert isinstance(artifact.source, FileSource)
        assert sha(artifact.source.file.read_bytes()) == artifact.sha256
    content = (tmp_path / "bin" / "containerd.exe").read_bytes()
    assert content.startswith(b"MZ\r\nhpc-e2e-sim program=sim:containerd version=1.7.22\r\n")


def test_writing_the_sim_bundle_twice_gives_the_same_digest(tmp_path):
    first = load_bundle(write_sim_bundle(tmp_path / "a")).digest
    second = load_bundle(write_sim_bundle(tmp_path / "b")).digest
    assert first == second
    other = load_bundle(write_sim_bundle(tmp_path / "c", versions={"crictl": "1.32.0"})).digest
    assert other != first


def test_containerd_2_derives_config_version_3(tmp_path):
    bundle = load_bundle(write_sim_bundle(tmp_path, versions={CONTAINERD: "2.0.4"}))
    assert bundle.containerd_config_version == 3


def test_config_version_3_is_refused_for_containerd_1(tmp_path):
    manifest = write_sim_bundle(tmp_path, containerd_config_version=3)
    with pytest.raises(ConfigError, match=r"containerd_config_version: containerd 1\.7\.22 "
                                          r"reads config version 2"):
        load_bundle(manifest)


def test_the_example_refuses_its_placeholder_hashes():
    with pytest.raises(ConfigError) as info:
        load_bundle(EXAMPLE)
    assert "artifact 'containerd': sha256: is the placeholder" in str(info.value)


def test_the_example_loads_once_its_hashes_are_filled_in(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    for name in (CONTAINERD, SHIM, CRICTL):
        text = text.replace('"' + "0" * 64 + '"', f'"{sha(name.encode())}"', 1)
    manifest = tmp_path / "bundle.toml"
    manifest.write_text(text, encoding="utf-8")
    bundle = load_bundle(manifest)
    assert all(isinstance(a.source, UrlSource) for a in bundle.all_artifacts())
    assert bundle.shim.source.member == "bin/containerd-shim-runhcs-v1.exe"
    assert bundle.crictl.sha256 == sha(CRICTL.encode())


# --- one-line errors -----------------------------------------------------------------------
def test_a_wrong_hash_names_the_artifact_and_both_hashes(files):
    base, raw = files
    wrong = "ab" * 32
    raw["artifacts"][SHIM]["sha256"] = wrong
    text = error_of(raw, base)
    assert f"artifact '{SHIM}': sha256:" in text
    assert wrong in text and sha(f"program {SHIM}".encode()) in text


@pytest.mark.parametrize("field, value, expected", [
    ("sha256", "abc", "sha256: must be 64 hexadecimal digits"),
    ("version", "latest", "version: must be a version like 1.7.22"),
    ("source", {"ftp": "x"}, "source: unknown source kind 'ftp'"),
    ("source", {}, "source: exactly one of file, url, installed is required"),
    ("source", {"file": "a", "url": "https://x"}, "source: give only one of file, url"),
    ("source", {"url": "http://example.test/c.exe"}, "source.url: must be an https:// URL"),
    ("source", {"installed": r"crictl.exe"}, "source.installed: must be an absolute Windows path"),
    ("source", {"file": "missing.exe"}, "source: file"),
    ("source", "crictl.exe", "source: must be an inline table"),
    ("colour", "blue", "colour: unknown key"),
])
def test_bad_fields_are_one_line_errors(files, field, value, expected):
    base, raw = files
    raw["artifacts"][CRICTL][field] = value
    text = error_of(raw, base)
    assert f"artifact '{CRICTL}': " in text
    assert expected in text


def test_missing_and_unknown_artifacts(files):
    base, raw = files
    del raw["artifacts"][SHIM]
    assert f"artifact '{SHIM}': missing [artifacts.{SHIM}] table" in error_of(raw, base)
    base, raw = files
    raw["artifacts"]["runc"] = raw["artifacts"][CRICTL]
    raw["artifacts"][SHIM] = raw["artifacts"][CRICTL]
    assert "artifact 'runc': unknown artifact" in error_of(raw, base)


def test_an_installed_shim_must_sit_beside_an_installed_containerd(files):
    base, raw = files
    raw["artifacts"][CONTAINERD]["source"] = {"installed": r"C:\ctrd\containerd.exe"}
    raw["artifacts"][SHIM]["source"] = {"installed": r"C:\other\containerd-shim-runhcs-v1.exe"}
    assert "same folder" in error_of(raw, base)
    raw["artifacts"][SHIM]["source"] = {"installed": r"C:\ctrd\containerd-shim-runhcs-v1.exe"}
    bundle = parse(raw, base)
    layout = RuntimeLayout.for_bundle(bundle)
    assert layout.containerd_exe == r"C:\ctrd\containerd.exe"
    assert layout.shim_exe == r"C:\ctrd\containerd-shim-runhcs-v1.exe"


def test_an_installed_program_keeps_its_name(files):
    base, raw = files
    raw["artifacts"][CRICTL]["source"] = {"installed": r"C:\tools\crictl-1.31.exe"}
    assert "must be named crictl.exe" in error_of(raw, base)


def test_bundle_level_errors(files):
    base, raw = files
    raw["bundle"]["install_dir"] = "relative\\dir"
    assert "bundle: install_dir: must be an absolute Windows path" in error_of(raw, base)
    base, raw = files
    raw["bundle"]["nme"] = "x"
    assert "bundle: nme: unknown key" in error_of(raw, base)
    base, raw = files
    raw["extras"] = {}
    assert "unknown top-level key 'extras'" in error_of(raw, base)


def test_manifest_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="bundle manifest does not exist"):
        load_bundle(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[bundle\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_bundle(bad)


def test_cni_plugins_are_validated_like_artifacts(files):
    base, raw = files
    (base / "nat.exe").write_bytes(b"nat")
    raw["cni_plugins"] = {"nat": {"version": "0.3.1", "sha256": sha(b"nat"),
                                  "source": {"file": "nat.exe"}}}
    bundle = parse(raw, base)
    assert bundle.cni_plugins["nat"].program == "nat.exe"
    assert RuntimeLayout.for_bundle(bundle).program_path(bundle.cni_plugins["nat"]) == \
        r"C:\Program Files\containerd\cni\bin\nat.exe"
    raw["cni_plugins"]["nat"]["sha256"] = "cd" * 32
    assert "cni plugin 'nat': sha256:" in error_of(raw, base)


# --- archives ------------------------------------------------------------------------------
def make_tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_a_program_inside_an_archive_is_checked_and_extracted(files):
    base, raw = files
    program = b"containerd from the release archive"
    make_tar(base / "release.tar.gz", {"bin/containerd.exe": program, "bin/ctr.exe": b"ctr"})
    archive_sha = sha((base / "release.tar.gz").read_bytes())
    raw["artifacts"][CONTAINERD].update(sha256=sha(program), source={
        "file": "release.tar.gz", "member": "bin/containerd.exe", "archive_sha256": archive_sha})
    bundle = parse(raw, base)
    with bundle.containerd.local_program() as local:
        assert local.read_bytes() == program
        assert local.name == "containerd.exe"

    raw["artifacts"][CONTAINERD]["source"]["member"] = "bin/missing.exe"
    assert "source.member: 'bin/missing.exe' is not in" in error_of(raw, base)
    raw["artifacts"][CONTAINERD]["source"].update(member="bin/containerd.exe",
                                                   archive_sha256="ef" * 32)
    assert "source.archive_sha256:" in error_of(raw, base)
    raw["artifacts"][CONTAINERD]["source"]["member"] = "../escape.exe"
    assert "must be a relative path inside the archive" in error_of(raw, base)


def test_zip_archives_work_too(files):
    base, raw = files
    with zipfile.ZipFile(base / "cni.zip", "w") as z:
        z.writestr("nat.exe", b"nat plugin")
    raw["cni_plugins"] = {"nat": {"version": "0.3.1", "sha256": sha(b"nat plugin"),
                                  "source": {"file": "cni.zip", "member": "nat.exe"}}}
    bundle = parse(raw, base)
    with bundle.cni_plugins["nat"].local_program() as local:
        assert local.read_bytes() == b"nat plugin"


def test_the_digest_follows_what_decides_behaviour(files):
    base, raw = files
    first = parse(raw, base)
    assert parse(raw, base).digest == first.digest
    (base / "alt.exe").write_bytes(b"other crictl")
    raw["artifacts"][CRICTL].update(sha256=sha(b"other crictl"), source={"file": "alt.exe"})
    assert parse(raw, base).digest != first.digest


def test_placeholder_programs_carry_their_behaviour_and_version():
    data = placeholder("sim:crictl", "1.31.1")
    assert data.startswith(b"MZ\r\n")
    assert b"hpc-e2e-sim program=sim:crictl version=1.31.1\r\n" in data
    assert isinstance(InstalledSource(installed=r"C:\x\crictl.exe"), InstalledSource)
