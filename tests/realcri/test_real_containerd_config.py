"""Real containerd reads every config.toml the harness renders.

``containerd --config FILE config dump`` loads the file through containerd's own parser and
plugin config structs and prints what it will run with.  Every key the harness writes
(handlers, their ``microsoft.com/*`` annotation allowlists and runhcs options, the sandbox
image, CNI folders, root/state/pipe) must come back at the same place with the same value,
and containerd must not warn about a key it does not know: a key the real parser drops or
renames fails here.  Version 2 files are loaded by Debian's containerd 1.6 (the harness
renders the same file for 1.7), version 3 files by containerd 2.4 (which migrates them to
version 4 on load, keeping the ``io.containerd.cri.v1.*`` tables).

The files are for Windows (runhcs handlers, ``C:\\`` paths, a named pipe), so containerd is
not started with them here; the lane's own containerd (tests/realcri/containerd.py) is.
"""

from __future__ import annotations

import subprocess
import tomllib

import pytest

from harness.runtime.bundle import load_bundle
from harness.runtime.containerd_config import (
    HANDLERS,
    HPC_ANNOTATIONS,
    PROCESS_HANDLER,
    ContainerdConfig,
)
from harness.runtime.layout import RuntimeLayout
from harness.runtime.sandbox_image import DEFAULT_PAUSE, sandbox_image_for
from harness.sim.bundle import write_sim_bundle

pytestmark = pytest.mark.real_cri

# (config version, the release the harness renders it for, the containerd that loads it)
CASES = [
    pytest.param(2, "1.7.22", "1", id="v2-for-1.7-loaded-by-1.x"),
    pytest.param(2, "1.6.20", "1", id="v2-for-1.6-loaded-by-1.x"),
    pytest.param(3, "2.4.2", "2", id="v3-for-2.4-loaded-by-2.4"),
    pytest.param(3, None, "2", id="v3-default-loaded-by-2.4"),
]
PLUGINS = {2: ("io.containerd.grpc.v1.cri",),
           3: ("io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images")}


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return RuntimeLayout.for_bundle(load_bundle(write_sim_bundle(tmp_path_factory.mktemp("b"))))


def _binary(real_tools, major: str) -> str:
    return real_tools.containerd_build(major)[1]["bin"]


def dump(binary: str, config: str, tmp_path) -> tuple[dict, str]:
    path = tmp_path / "config.toml"
    path.write_text(config)
    proc = subprocess.run([binary, "--config", str(path), "config", "dump"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"containerd could not load the config: {proc.stderr}"
    return tomllib.loads(proc.stdout), proc.stderr


def leaves(doc, path=()):
    """Every scalar or list of ``doc`` with its path of keys."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from leaves(value, (*path, key))
    else:
        yield path, doc


# containerd 2.4 migrates a version 3 file to version 4 on load and moves the top-level
# [grpc] table to the grpc server plugin's (containerd v2.4.2
# cmd/containerd/server/config/config.go, the version 4 migration).
MOVED = {("grpc", "address"): ("plugins", "io.containerd.server.v1.grpc", "address")}


def at(doc, path):
    if "version" in doc and doc["version"] >= 4:
        path = MOVED.get(tuple(path), path)
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return KeyError
        doc = doc[key]
    return doc


SANDBOX_IMAGES = sorted({sandbox_image_for(b).image for b in DEFAULT_PAUSE})


@pytest.mark.parametrize("image", SANDBOX_IMAGES)
@pytest.mark.parametrize("version,release,loader", CASES)
def test_real_containerd_keeps_every_key_the_harness_writes(real_tools, layout, tmp_path,
                                                            version, release, loader, image):
    config = ContainerdConfig(version, layout, image, containerd_version=release)
    dumped, stderr = dump(_binary(real_tools, loader), config.render(), tmp_path)
    written = config.document()
    lost = [(".".join(p), v, at(dumped, p)) for p, v in leaves(written)
            if p != ("version",) and at(dumped, p) != v]
    assert not lost, f"keys containerd dropped or changed (path, written, dumped): {lost}"
    assert "unknown key" not in stderr.lower(), stderr
    # what the scenarios rely on, said once more in words
    cri = dumped["plugins"][PLUGINS[version][0]]["containerd"]
    assert cri["default_runtime_name"] == PROCESS_HANDLER
    for handler in HANDLERS:
        h = cri["runtimes"][handler]
        assert HPC_ANNOTATIONS in h["pod_annotations"], handler
        assert HPC_ANNOTATIONS in h["container_annotations"], handler
    sandbox = dumped["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"] if version == 2 \
        else dumped["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"]
    assert sandbox == image


def test_the_check_sees_a_key_that_containerd_drops(real_tools, layout, tmp_path):
    """The file for containerd 2.0 writes ``cni.bin_dir``, which 2.1 deprecated and 2.4
    no longer knows: loaded by 2.4, the key is reported and dropped, and the comparison
    above would name it.  (So a key the real parser drops cannot pass unseen.)"""
    config = ContainerdConfig(3, layout, SANDBOX_IMAGES[0], containerd_version="2.0.4")
    dumped, stderr = dump(_binary(real_tools, "2"), config.render(), tmp_path)
    path = ("plugins", "io.containerd.cri.v1.runtime", "cni", "bin_dir")
    assert at(config.document(), path) == layout.cni_bin_dir
    assert at(dumped, path) is KeyError
    assert "unknown key" in stderr.lower() and "bin_dir" in stderr
