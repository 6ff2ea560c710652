"""The simulated host's import structure (tests/checks/sim_structure.py): no cycles inside
``harness.sim``, none between its subpackages, and nothing of the harness imported.

The machine does not import its programs (whoever builds it hands them over), the CRI model
does not import the guest (the guest is handed to it as its launcher), and the sim quotes and
holds passwords with its own code; a planted import of any of those kinds is caught.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checks import sim_structure

REPO = Path(__file__).resolve().parents[1]


def test_the_simulated_host_has_no_import_cycle_and_imports_nothing_of_the_harness():
    assert sim_structure.problems() == []


def _problems_in_copy(tmp_path: Path, module: str, line: str) -> list[str]:
    """The checker's lines for a copy of the package with ``line`` added to ``module``."""
    shutil.copytree(REPO / "harness", tmp_path / "harness",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / (module.replace(".", "/") + ".py")
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "tests.checks.sim_structure", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr
    lines = done.stdout.splitlines()
    assert (done.returncode == 1) == bool(lines), done.stdout
    return lines


@pytest.mark.parametrize("module, line, expected", [
    # the machine importing its programs back: a cycle through every program module
    ("harness.sim.machine", "from harness.sim import programs as _programs",
     "import cycle of"),
    # the CRI model importing the guest back: no module imports cri.runtime, so this is a
    # cycle between the cri subpackage and the guest only
    ("harness.sim.cri.runtime", "from harness.sim import guest as _guest",
     "import cycle between sim subpackages: harness.sim.cri, harness.sim.guest"),
    # the process layer naming the machine, even for type checking only
    ("harness.sim.process", "from typing import TYPE_CHECKING as _TC\nif _TC:\n"
     "    from harness.sim.machine import Machine as _Machine", "import cycle of"),
    # the sim quoting with the code it exists to check
    ("harness.sim.services", "from harness.cmdline.msvcrt import quote_arg as _quote",
     "the simulated host imports the harness: harness.sim.services -> harness.cmdline.msvcrt"),
])
def test_a_planted_import_is_reported(tmp_path, module, line, expected):
    found = _problems_in_copy(tmp_path, module, line)
    assert any(expected in f for f in found), found


def test_a_cycle_between_subpackages_alone_is_reported(tmp_path):
    # models -> programs exists (the script models use the PowerShell program's errors);
    # programs.cmd -> models closes a cycle of packages without a cycle of modules.
    found = _problems_in_copy(tmp_path, "harness.sim.programs.chcp",
                              "import harness.sim.models.runtime as _models_runtime")
    assert found == ["import cycle between sim subpackages: "
                     "harness.sim.models, harness.sim.programs"], found


def test_the_copy_without_a_planted_import_is_clean(tmp_path):
    assert _problems_in_copy(tmp_path, "harness.sim.winparse", "# nothing planted") == []
