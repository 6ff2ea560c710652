"""The rendered ``config.toml`` for each containerd line holds only keys that line knows.

containerd drops unknown keys (1.7 silently, 2.x with a warning; docs/behaviour/ecosystem.md §7),
so a key in the wrong place or spelt for another release quietly leaves a default in
charge on the host.  Here the harness's config is rendered for each containerd release
the fixture covers, with the config version the bundle derives for it, read back with
``tomllib`` and walked against ``fixtures/containerd-config-keys.json``
(tests/checks/containerd_keys.py).  The broken-input tests show the walk catching a v2
table in a v3 file, unknown or mistyped runhcs options, unknown plugins and keys that
exist in one release line only.
"""

from __future__ import annotations

import copy
import tomllib

import pytest
from checks.containerd_keys import config_problems, containerd_keys, line_of, release_lines

from harness.runtime.bundle import load_bundle
from harness.runtime.containerd_config import HANDLERS, ContainerdConfig
from harness.runtime.layout import RuntimeLayout
from harness.sim.bundle import DEFAULT_VERSIONS, write_sim_bundle

PAUSE = "registry.k8s.io/pause:3.10.2"
RUNHCS = "io.containerd.runhcs.v1"
V2_CRI = "io.containerd.grpc.v1.cri"
V3_RUNTIME = "io.containerd.cri.v1.runtime"


def _releases() -> list[str]:
    """Every tag the fixture was read from, plus the sim bundle's containerd."""
    tags = {t.lstrip("v") for line in containerd_keys()["lines"].values()
            for t in line["checked_tags"]}
    return sorted(tags | {DEFAULT_VERSIONS["containerd"]},
                  key=lambda v: tuple(int(p) for p in v.split(".")))


@pytest.fixture(scope="module", params=["default", "custom"])
def layouts(request, tmp_path_factory):
    """Layouts by containerd release, as the bundle of that release gives them."""
    def make(release: str):
        kw = {} if request.param == "default" else {"install_dir": r"D:\rt\containerd 2"}
        path = write_sim_bundle(tmp_path_factory.mktemp("b"), versions={"containerd": release},
                                **kw)
        bundle = load_bundle(path)
        return bundle, RuntimeLayout.for_bundle(bundle)
    return make


def _rendered(release: str, layouts, *, pass_version: bool = True) -> tuple[int, dict]:
    bundle, layout = layouts(release)
    config = ContainerdConfig(bundle.containerd_config_version, layout, PAUSE,
                              containerd_version=release if pass_version else None)
    return bundle.containerd_config_version, tomllib.loads(config.render())


# --- the harness's output is known to each release ---------------------------------------------
@pytest.mark.parametrize("release", _releases())
def test_the_rendered_config_has_only_keys_its_containerd_knows(release, layouts):
    version, doc = _rendered(release, layouts)
    assert version == containerd_keys()["lines"][line_of(release)]["config_version"]
    problems = config_problems(doc, release)
    assert not problems, f"containerd {release}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("release", _releases())
def test_the_walk_reaches_every_handler_and_its_runhcs_options(release, layouts):
    """Not vacuous: the walk sees the handlers and their options, and a stray key in one."""
    _, doc = _rendered(release, layouts)
    plugin = V2_CRI if release.startswith("1.") else V3_RUNTIME
    runtimes = doc["plugins"][plugin]["containerd"]["runtimes"]
    assert set(runtimes) == set(HANDLERS)
    for name in HANDLERS:
        assert runtimes[name]["runtime_type"] == RUNHCS
        broken = copy.deepcopy(doc)
        broken["plugins"][plugin]["containerd"]["runtimes"][name]["options"]["Bogus"] = 1
        assert config_problems(broken, release) == [
            f"plugins.'{plugin}'.containerd.runtimes.{name}.options.Bogus: unknown key"]


def test_containerd_2_0_needs_its_version_for_the_cni_folder(layouts):
    """Real finding: 2.0 has ``cni.bin_dir`` only; ``bin_dirs`` (2.1+) would be dropped there."""
    _, doc = _rendered("2.0.4", layouts, pass_version=False)
    assert config_problems(doc, "2.0.4") == [
        f"plugins.'{V3_RUNTIME}'.cni.bin_dirs: unknown key"]
    _, doc = _rendered("2.0.4", layouts)
    assert doc["plugins"][V3_RUNTIME]["cni"] == {
        "bin_dir": layouts("2.0.4")[1].cni_bin_dir, "conf_dir": layouts("2.0.4")[1].cni_conf_dir}
    _, doc = _rendered("2.1.0", layouts)
    assert "bin_dirs" in doc["plugins"][V3_RUNTIME]["cni"]


# --- the fixture itself ----------------------------------------------------------------------
def test_the_fixture_covers_the_sim_bundle_and_every_2x_line():
    assert line_of(DEFAULT_VERSIONS["containerd"]) == "1.7"
    assert release_lines() == ["1.7", "2.0", "2.1", "2.2", "2.3"]
    for line, spec in containerd_keys()["lines"].items():
        assert spec["config_version"] == (2 if line == "1.7" else 3)
        assert all(len(commit) == 40 for commit in spec["checked_tags"].values())
    with pytest.raises(KeyError, match="no key list for containerd 1.6"):
        line_of("1.6.30")
    options = containerd_keys()["runtime_options"][RUNHCS]
    assert {"SandboxIsolation", "SandboxPlatform", "ScaleCpuLimitsToSandbox", "ScrubLogs",
            "Debug", "DebugType"} <= set(options)
    assert not any("_" in name for name in options)  # Go field names, never snake_case


# --- broken input: the check catches it -------------------------------------------------------
def _v3(layouts) -> dict:
    return _rendered("2.3.4", layouts)[1]


def test_a_v3_config_with_the_v2_cri_table_is_caught(layouts):
    doc = _v3(layouts)
    doc["plugins"][V2_CRI] = {"sandbox_image": PAUSE,
                              "containerd": {"default_runtime_name": "runhcs-wcow-process"}}
    assert config_problems(doc, "2.3.4") == [
        f"plugins.'{V2_CRI}'.sandbox_image: unknown key",
        f"plugins.'{V2_CRI}'.containerd: unknown key"]
    # a v2 file on a 2.x line, or a v3 file on 1.7, is the wrong version altogether
    v2 = _rendered("1.7.22", layouts)[1]
    assert config_problems(v2, "2.3.4")[0].startswith("version: containerd 2.3.4 is configured "
                                                      "with version 3")
    problems = config_problems(_v3(layouts), "1.7.22")
    assert f"plugins.'{V3_RUNTIME}': unknown key" in problems


@pytest.mark.parametrize("mutate, expected", [
    (lambda o: o.update(sandbox_isolation=1), "options.sandbox_isolation: unknown key"),
    (lambda o: o.update(SandboxIsolation="1"), "options.SandboxIsolation: '1' is not of type int"),
    (lambda o: o.update(ScrubLogs="true"), "options.ScrubLogs: 'true' is not of type bool"),
    (lambda o: o.update(VmProcessorCount=2.5), "options.VmProcessorCount: 2.5 is not of type int"),
])
def test_an_unknown_or_mistyped_runhcs_option_is_caught(layouts, mutate, expected):
    doc = _v3(layouts)
    mutate(doc["plugins"][V3_RUNTIME]["containerd"]["runtimes"]["runhcs-wcow-hypervisor"]
           ["options"])
    problems = config_problems(doc, "2.3.4")
    assert len(problems) == 1 and problems[0].endswith(expected), problems


def test_options_of_a_runtime_without_a_type_are_caught(layouts):
    doc = _v3(layouts)
    del doc["plugins"][V3_RUNTIME]["containerd"]["runtimes"]["runhcs-wcow-process"][
        "runtime_type"]
    assert config_problems(doc, "2.3.4") == [
        (f"plugins.'{V3_RUNTIME}'.containerd.runtimes.runhcs-wcow-process.options: no option "
         "list for runtime_type None (containerd decodes options by the runtime type; set "
         "runtime_type)")]


@pytest.mark.parametrize("release, mutate, expected", [
    ("2.3.4", lambda d: d["plugins"].update({"io.containerd.nope.v1": {}}),
     "plugins.'io.containerd.nope.v1': unknown key"),
    ("1.7.22", lambda d: d.update(stat=r"C:\x"), "stat: unknown key"),
    ("1.7.22", lambda d: d["grpc"].update(address=1), "grpc.address: 1 is not of type string"),
    ("2.3.4", lambda d: d["plugins"]["io.containerd.cri.v1.images"].update(
        pinned_images={"sandbox": 3}), "pinned_images: {'sandbox': 3} is not of type map[string]string"),
    ("2.3.4", lambda d: d["plugins"][V3_RUNTIME].update(cni="x"),
     f"plugins.'{V3_RUNTIME}'.cni: must be a table, not str"),
    # keys of one line only: plugin_dir left the top level in 2.1, bin_dirs arrived in 2.1
    ("2.1.9", lambda d: d.update(plugin_dir="x"), "plugin_dir: unknown key"),
])
def test_unknown_keys_and_wrong_types_are_caught(layouts, release, mutate, expected):
    doc = _rendered(release, layouts)[1]
    assert config_problems(doc, release) == []
    mutate(doc)
    problems = config_problems(doc, release)
    assert any(p.endswith(expected) for p in problems), problems


def test_a_key_of_an_older_line_is_fine_there():
    assert "plugin_dir" in containerd_keys()["lines"]["2.0"]["keys"]
    assert "plugin_dir" not in containerd_keys()["lines"]["2.1"]["keys"]
