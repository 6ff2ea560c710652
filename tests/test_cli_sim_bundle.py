"""``hpc-e2e sim bundle DIR``: the rehearsal's bundle without a line of Python (issue 13)."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.errors import EXIT_CONFIG
from harness.runtime.bundle import load_bundle


def test_writes_a_bundle_the_harness_loads(tmp_path, capsys):
    folder = tmp_path / "sim-bundle"
    assert main(["sim", "bundle", str(folder), "--containerd-version", "2.0.4",
                 "--cni", "nat"]) == 0
    manifest = folder / "bundle.toml"
    assert capsys.readouterr().out.strip() == str(manifest)
    bundle = load_bundle(manifest)
    assert bundle.containerd.version == "2.0.4"
    assert set(bundle.cni_plugins) == {"nat"}


@pytest.mark.bad_input(n=3)
@pytest.mark.parametrize(("args", "says"), [
    (["--containerd-version", "two"], "--containerd-version: 'two' is not a version"),
    (["--cni", "../x"], "--cni: '../x' is not a plugin name"),
    ([], "exists and is not a folder"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, says):
    target = tmp_path / "file" if not args else tmp_path / "b"
    target.write_text("x") if not args else None
    assert main(["sim", "bundle", str(target), *args]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1, err
