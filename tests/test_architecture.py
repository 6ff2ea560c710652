"""The layers of docs/internals.md as checked contracts: import-linter runs ``[tool.importlinter]``
of pyproject.toml (the layer order, the one gateway to the simulated host, no import cycles
inside a package), and fails, naming the contract, on a planted forbidden import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ("harness layers: nothing below imports from above",
             "only harness.hosts imports the simulated host",
             "no import cycles between the modules of a harness package")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the harness package and pyproject.toml in ``tree`` (no cache, so a
    planted import is seen)."""
    code = ("import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())")
    return subprocess.run([sys.executable, "-c", code, "--no-cache"], cwd=tree,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """A copy of harness/ and pyproject.toml to plant imports into."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "harness", tree / "harness",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_contracts_hold():
    result = lint_imports(ROOT)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for name in CONTRACTS:
        assert f"{name} KEPT" in out, out


def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_every_part_of_the_harness_has_a_layer():
    """A new package or top-level module must be placed in the order (import-linter ignores
    what no layer names), and be a source of the gateway contract."""
    graph = grimp.build_graph("harness", cache_dir=None)
    children = {m.split(".")[1] for m in graph.modules if m.count(".") >= 1}
    unplaced = children - {"sim", "__main__"}
    layers = {name.strip() for layer in contracts()["layers"]["layers"]
              for name in layer.split("|")}
    assert unplaced == layers
    sources = set(contracts()["sim-gateway"]["source_modules"])
    assert sources == {f"harness.{name}" for name in layers - {"hosts"}}


def test_only_the_gateway_imports_the_simulated_host():
    """The same rule as the contract, from the import graph itself (imports inside functions
    included), so a module outside the contract's list cannot slip by."""
    graph = grimp.build_graph("harness", cache_dir=None)
    importers = {m for m in graph.modules if not m.startswith("harness.sim")
                 for t in graph.find_modules_directly_imported_by(m)
                 if t == "harness.sim" or t.startswith("harness.sim.")}
    assert importers == {"harness.hosts"}


def plant(tree: Path, module: str, line: str) -> str:
    path = tree / (module.replace(".", "/") + ".py")
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{line}\n", encoding="utf-8")
    return original


@pytest.mark.parametrize("module, line, broken, names", [
    # runtime below cri: an upward arrow
    ("harness.runtime.layout", "import harness.cri.spec",
     "harness layers: nothing below imports from above",
     "harness.runtime is not allowed to import harness.cri"),
    # the plugin reaching past the gateway
    ("harness.plugin.markers", "import harness.sim.faults",
     "only harness.hosts imports the simulated host",
     "harness.plugin.markers -> harness.sim.faults"),
    # a cycle between two modules of one package
    ("harness.plugin.options", "import harness.plugin.targets",
     "no import cycles between the modules of a harness package",
     ".options -> .targets"),
])
def test_a_planted_import_breaks_its_contract(tree_copy, module, line, broken, names):
    original = plant(tree_copy, module, line)
    try:
        result = lint_imports(tree_copy)
    finally:
        (tree_copy / (module.replace(".", "/") + ".py")).write_text(original, encoding="utf-8")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert f"{broken} BROKEN" in out, out
    assert names in out, out
    for other in CONTRACTS:
        if other != broken:
            assert f"{other} KEPT" in out, out
