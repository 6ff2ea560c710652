"""containerd's config.toml, crictl.yaml and the sandbox image choice, as deployed."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.runtime.bundle import load_bundle
from harness.runtime.containerd_config import (
    CRICTL_TIMEOUT_SECONDS,
    HANDLERS,
    HPC_ANNOTATIONS,
    HYPERVISOR_HANDLER,
    PROCESS_HANDLER,
    ContainerdConfig,
    dumps,
    render_crictl_yaml,
    sha256_text,
    to_wire,
)
from harness.runtime.layout import RuntimeLayout
from harness.runtime.sandbox_image import PAUSE_3_10_2, sandbox_image_for
from harness.sim.bundle import write_sim_bundle

PAUSE = "registry.k8s.io/pause:3.10.2"


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return RuntimeLayout.for_bundle(load_bundle(write_sim_bundle(tmp_path_factory.mktemp("b"))))


def parsed(layout, version):
    text = ContainerdConfig(version, layout, PAUSE).render()
    return tomllib.loads(text)


def cri(doc, version):
    """(runtime section, images section) by config version."""
    if version == 2:
        section = doc["plugins"]["io.containerd.grpc.v1.cri"]
        return section, section
    return (doc["plugins"]["io.containerd.cri.v1.runtime"],
            doc["plugins"]["io.containerd.cri.v1.images"])


@pytest.mark.parametrize("version", [2, 3])
def test_the_config_parses_back_to_its_document(layout, version):
    config = ContainerdConfig(version, layout, PAUSE)
    assert tomllib.loads(config.render()) == config.document()
    assert config.render() == ContainerdConfig(version, layout, PAUSE).render()


def test_table_names_follow_the_config_version(layout):
    v2, v3 = parsed(layout, 2), parsed(layout, 3)
    assert v2["version"] == 2 and v3["version"] == 3
    assert set(v2["plugins"]) == {"io.containerd.grpc.v1.cri"}
    assert set(v3["plugins"]) == {"io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"}
    assert v2["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"] == PAUSE
    assert v3["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == PAUSE
    assert v2["plugins"]["io.containerd.grpc.v1.cri"]["cni"]["bin_dir"] == layout.cni_bin_dir
    assert v3["plugins"]["io.containerd.cri.v1.runtime"]["cni"]["bin_dirs"] == [layout.cni_bin_dir]
    text3 = ContainerdConfig(3, layout, PAUSE).render()
    assert "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runhcs-wcow-hypervisor]" \
        in text3
    text2 = ContainerdConfig(2, layout, PAUSE).render()
    assert '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runhcs-wcow-process]' in text2


@pytest.mark.parametrize("version", [2, 3])
def test_both_handlers_pass_microsoft_com_annotations(layout, version):
    runtime, _ = cri(parsed(layout, version), version)
    runtimes = runtime["containerd"]["runtimes"]
    assert set(runtimes) == set(HANDLERS)
    for name in HANDLERS:
        handler = runtimes[name]
        assert handler["runtime_type"] == "io.containerd.runhcs.v1"
        assert HPC_ANNOTATIONS in handler["pod_annotations"], name
        assert HPC_ANNOTATIONS in handler["container_annotations"], name
        assert "io.microsoft.container.*" in handler["container_annotations"]
        assert handler["options"]["SandboxPlatform"] == "windows/amd64"
    # A version 2 file replaces the built-in handlers: the default must be one defined here.
    assert runtime["containerd"]["default_runtime_name"] in runtimes


@pytest.mark.parametrize("version", [2, 3])
def test_only_the_hypervisor_handler_isolates_the_sandbox(layout, version):
    runtime, _ = cri(parsed(layout, version), version)
    runtimes = runtime["containerd"]["runtimes"]
    assert runtimes[HYPERVISOR_HANDLER]["options"]["SandboxIsolation"] == 1
    assert "SandboxIsolation" not in runtimes[PROCESS_HANDLER]["options"]
    assert "io.microsoft.virtualmachine.*" in runtimes[HYPERVISOR_HANDLER]["pod_annotations"]


def test_paths_and_pipe_survive_unescaped(layout):
    doc = parsed(layout, 2)
    assert doc["grpc"]["address"] == r"\\.\pipe\containerd-containerd"
    assert doc["root"] == r"C:\ProgramData\containerd\root"
    # Literal strings: no doubled backslashes in the text an operator reads.
    assert r"'C:\ProgramData\containerd\root'" in ContainerdConfig(2, layout, PAUSE).render()


def test_version_must_be_2_or_3(layout):
    with pytest.raises(ValueError):
        ContainerdConfig(1, layout, PAUSE).render()


def test_the_hash_is_of_the_crlf_bytes():
    assert to_wire("a\nb\n") == b"a\r\nb\r\n"
    assert to_wire("a\r\nb") == b"a\r\nb"
    assert sha256_text("a\n") != sha256_text("a\r")


def test_crictl_yaml_points_at_the_pipe_with_a_uvm_sized_timeout(layout):
    text = render_crictl_yaml(layout)
    entries = dict(line.split(": ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert entries["runtime-endpoint"] == "npipe:////./pipe/containerd-containerd"
    assert entries["image-endpoint"] == entries["runtime-endpoint"]
    assert int(entries["timeout"]) == CRICTL_TIMEOUT_SECONDS >= 120
    assert entries["pull-image-on-create"] == "false"


# --- the TOML writer -----------------------------------------------------------------------
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_key = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
_scalar = st.one_of(_text, st.booleans(), st.integers(-2**63, 2**63 - 1),
                    st.lists(_text, max_size=3))
_table = st.recursive(st.dictionaries(_key, _scalar, max_size=4),
                      lambda inner: st.dictionaries(_key, st.one_of(_scalar, inner), max_size=4),
                      max_leaves=12)


@given(_table, st.sampled_from(["'", '"']))
def test_dumps_round_trips_through_tomllib(doc, quote):
    assert tomllib.loads(dumps(doc, key_quote=quote)) == doc


def test_dumps_refuses_what_toml_cannot_hold():
    with pytest.raises(TypeError):
        dumps({"x": 1.5j})


# --- the sandbox image ---------------------------------------------------------------------
def test_the_built_in_table_picks_pause_3_10_2_for_ws2025(tmp_path):
    choice = sandbox_image_for(26100, images_file=tmp_path / "absent.toml")
    assert choice.image == PAUSE_3_10_2 == PAUSE
    assert sandbox_image_for(20348, images_file=None).build == 20348
    assert sandbox_image_for(26200, images_file=None).build == 26100  # nearest lower build


def test_images_toml_overrides_the_table(tmp_path):
    from hpc_images.model import IMAGES_TOML

    images = tmp_path / "images.toml"
    text = IMAGES_TOML.read_text(encoding="utf-8")
    assert text.count('pause = "registry.k8s.io/pause:3.10.2"') == 2  # one per build
    text = text.replace('pause = "registry.k8s.io/pause:3.10.2"',
                        'pause = "example.test/pause:ltsc2022"', 1)
    text = text.replace('pause = "registry.k8s.io/pause:3.10.2"',
                        'pause = "example.test/pause:ltsc2025"', 1)
    images.write_text(text, encoding="utf-8")
    assert sandbox_image_for(26100, images).image == "example.test/pause:ltsc2025"
    assert sandbox_image_for(22621, images).image == "example.test/pause:ltsc2022"
    assert str(images) in sandbox_image_for(26100, images).source
    # A build the file does not list keeps the built-in choice.
    assert sandbox_image_for(17763, images).image == PAUSE_3_10_2


def test_the_repository_images_file_is_read(tmp_path):
    from harness.runtime.sandbox_image import IMAGES_FILE

    if not IMAGES_FILE.is_file():
        pytest.skip("hpc_images/images.toml is not in this checkout")
    assert str(IMAGES_FILE) in sandbox_image_for(26100).source


def test_builds_before_rs5_are_refused():
    with pytest.raises(ConfigError, match="older than 17763"):
        sandbox_image_for(14393, images_file=None)


def test_a_broken_images_file_is_a_config_error(tmp_path):
    images = tmp_path / "images.toml"
    images.write_text('[builds.ltsc]\npause = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a Windows build number"):
        sandbox_image_for(26100, images)


@pytest.mark.parametrize("version, containerd", [(2, "1.7.22"), (3, "2.0.4"), (2, "2.0.4")])
def test_the_simulated_containerd_reads_the_handlers_as_rendered(layout, version, containerd):
    """Cross-check with the sim's independent reading of containerd's config rules."""
    from harness.sim.cri import config as sim_config

    loaded = sim_config.load(ContainerdConfig(version, layout, PAUSE).render(),
                             layout.config_toml, containerd)
    assert loaded.plugin_error is None and loaded.cri is not None
    assert loaded.cri.sandbox_image == PAUSE
    assert set(loaded.cri.handlers) >= set(HANDLERS)
    for name in HANDLERS:
        handler = loaded.cri.handlers[name]
        assert HPC_ANNOTATIONS in handler.pod_annotations
        assert HPC_ANNOTATIONS in handler.container_annotations
        assert handler.hypervisor is (name == HYPERVISOR_HANDLER)
