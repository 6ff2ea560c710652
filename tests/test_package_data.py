"""What an install (``pip install .``, not editable) needs at run time is in the wheel.

The suite finds its data through its packages (``hpc_images.IMAGES_TOML``,
``harness.plugin.profiles.PROFILES_DIR``, the PowerShell script catalogs, the scenario suite
beside ``harness``), never through a checkout.  A file left out of ``package-data`` works in a
checkout and breaks only after a real install, so the wheel is built here and its list of
files checked against what the code locates.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import harness
from harness.commands.run import SUITE_TIMEOUT, scenarios_dir
from harness.cri.batch import SCRIPTS as CRI_SCRIPTS
from harness.plugin.profiles import PROFILES_DIR
from harness.transport.powershell import SCRIPTS_DIR as TRANSPORT_SCRIPTS
from harness.windows.catalog import SCRIPTS_DIR as WINDOWS_SCRIPTS
from hpc_images.model import IMAGES_TOML, load_spec

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "hpc_images", "scenarios")
# Not needed at run time (documentation beside the code).
DOCS = (".md",)
COPY_IGNORE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                     ".venv", "hpc-e2e-results", ".pytest_cache",
                                     ".hypothesis")


def located_files() -> set[str]:
    """The data files the code finds through its packages, relative to the site folder."""
    site = Path(harness.__file__).resolve().parent.parent
    folders = [TRANSPORT_SCRIPTS, WINDOWS_SCRIPTS, CRI_SCRIPTS.directory]
    files = {IMAGES_TOML, *PROFILES_DIR.glob("*.toml"), *scenarios_dir().glob("*.py")}
    for folder in folders:
        files |= set(Path(folder).glob("*.ps1"))
    spec = load_spec()
    files |= {spec.source_dir() / p.source for p in spec.programs if p.source}
    return {f.resolve().relative_to(site).as_posix() for f in files}


def test_the_suite_gets_the_checkouts_per_test_limit_without_a_config_file():
    """``hpc-e2e run`` gives an installed suite the limit pyproject.toml gives a checkout."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["pytest"]["ini_options"]["timeout"] == SUITE_TIMEOUT


def test_the_located_files_are_the_packages_data():
    """Every file the code locates lies inside a shipped package (none in the checkout's
    other folders), and the catalogs are really found (not an empty glob)."""
    located = located_files()
    assert all(name.split("/", 1)[0] in PACKAGES for name in located), located
    assert "hpc_images/images.toml" in located
    assert "harness/plugin/builtin_profiles/current.toml" in located
    assert "harness/transport/scripts/bootstrap.ps1" in located
    assert any(name.startswith("harness/cri/scripts/") for name in located), located
    assert "scenarios/conftest.py" in located


@pytest.mark.slow
def test_the_wheel_holds_every_file_the_code_locates(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORE)  # pip builds in the tree it is given
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "--disable-pip-version-check", "-w", str(tmp_path / "dist"),
                           str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("hpc_e2e-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(located_files() - names)
    assert not missing, f"located by the code but not in the wheel: {missing}"
    # Every file of a shipped package in the checkout, but its documentation.
    tracked = {p.relative_to(ROOT).as_posix() for pkg in PACKAGES
               for p in (ROOT / pkg).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix not in DOCS}
    assert not sorted(tracked - names), sorted(tracked - names)
