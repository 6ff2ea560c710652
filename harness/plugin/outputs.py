"""Output folders and files of a run: owned by the harness, never swept blindly.

A results folder (``--alluredir``) belongs to hpc-e2e when it holds the marker file
:data:`MARKER`, which the harness writes into a folder it created or found empty.  From a
folder it owns the harness removes only what it can prove it wrote: Allure's own result
files, whose names are a UUID4 and a fixed suffix (allure-python, allure_commons/logger.py,
``AllureFileLogger._report_item``: ``file_pattern.format(prefix=uuid.uuid4())``), with the
``.tmp`` twins a killed writer leaves, and the two files the plugin writes at session end.
Anything else (``history/`` copied in for trends, a user's notes) stays.  A non-empty folder
without the marker is refused with one line naming it; nothing in it is touched.

When: the checks here change nothing (:func:`check_results_dir`, :func:`check_output_file`)
and run before pytest starts; the sweep (:func:`claim_results_dir`) runs only once pytest
has accepted its arguments and collected at least one scenario (``hpc-e2e run`` calls it
from its collection hooks), so a bad ``-k`` (exit 4) or one that selects nothing (exit 5)
leaves the previous run's results as they were.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import EXIT_OUTPUT, ConfigError

MARKER = ".hpc-e2e-results"
# Written by the reporting plugin at session end (reporting.write_run_files).
RUN_FILES = ("environment.properties", "categories.json")
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
# allure_commons/model2.py: TestResult "{prefix}-result.json", TestResultContainer
# "{prefix}-container.json", Globals "{prefix}-globals.json"; attachments
# "{prefix}-attachment.{ext}" (allure_commons/reporter.py, AllureReporter.attach_*).
ALLURE_NAME = re.compile(
    rf"{_UUID}-(?:result\.json|container\.json|globals\.json|attachment(?:\.[A-Za-z0-9]+)?)"
    r"(?:\.tmp)?\Z")
# A folder holding only these is still "empty" (history/ is what users copy in for trends).
_ADOPTABLE = frozenset({"history"})


class OutputRefused(ConfigError):
    """An output path the harness will not write to; nothing was changed."""

    exit_code = EXIT_OUTPUT


def is_owned(folder: Path) -> bool:
    return (Path(folder) / MARKER).is_file()


def _foreign(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in _ADOPTABLE)


def _probe_writable(folder: Path, flag: str) -> None:
    """Refuse a folder this process cannot create files in (an unnamed temporary file tells,
    without leaving anything behind; root passes os.access everywhere)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputRefused(f"{flag}: cannot write in {folder}: "
                            f"{exc.strerror or exc}") from None


def _nearest_existing(path: Path, flag: str) -> Path:
    """The closest existing ancestor of ``path``; it must be a folder."""
    parent = path
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise OutputRefused(f"{flag}: cannot create {path}: {parent} is not a folder")
    return parent


def check_results_dir(folder: Path, *, flag: str = "--alluredir") -> None:
    """Refuse a results folder the harness may not use; changes nothing."""
    folder = Path(folder).expanduser().absolute()
    if folder.is_symlink() and not folder.exists():
        raise OutputRefused(f"{flag}: {folder} is a dangling symbolic link")
    if folder.exists():
        if not folder.is_dir():
            raise OutputRefused(f"{flag}: {folder} exists and is not a folder")
        if not is_owned(folder):
            foreign = _foreign(folder)
            if foreign:
                shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise OutputRefused(
                    f"{flag}: {folder} is not empty and was not made by hpc-e2e "
                    f"(holds {shown}); nothing in it was touched",
                    hint=f"choose a new or empty folder; hpc-e2e marks its own with {MARKER}")
        _probe_writable(folder, flag)
    else:
        _probe_writable(_nearest_existing(folder, flag), flag)


def check_output_file(path: Path, *, flag: str) -> None:
    """Refuse an output file that could not be written (a folder, a special file, an
    unwritable or missing place); changes nothing."""
    path = Path(path).expanduser().absolute()
    if path.exists() or path.is_symlink():
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise OutputRefused(f"{flag}: {path}: {exc.strerror or exc}") from None
        if stat.S_ISDIR(mode):
            raise OutputRefused(f"{flag}: {path} exists and is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise OutputRefused(f"{flag}: {path} exists and is not a regular file")
        if not os.access(path, os.W_OK):
            raise OutputRefused(f"{flag}: {path} is not writable")
        _probe_writable(path.parent, flag)
    else:
        _probe_writable(_nearest_existing(path.parent, flag), flag)


def previous_results(folder: Path) -> frozenset[str]:
    """The names of the Allure files in ``folder`` now (before a run); changes nothing."""
    folder = Path(folder).expanduser().absolute()
    if not folder.is_dir():
        return frozenset()
    return frozenset(p.name for p in folder.iterdir()
                     if ALLURE_NAME.match(p.name) or p.name in RUN_FILES)


def claim_results_dir(folder: Path, *, only: frozenset[str] | None = None) -> int:
    """Make ``folder`` hpc-e2e's (creating it, or marking it when empty) and remove the
    previous run's files from it (``only`` those names, when given); the number removed.
    Call only once pytest has collected a scenario."""
    folder = Path(folder).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise OutputRefused(f"--alluredir: {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    if not marker.is_file():
        marker.write_text(json.dumps({
            "written_by": "hpc-e2e", "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "note": "hpc-e2e removes only its own Allure files from this folder"}) + "\n",
            encoding="utf-8")
    removed = 0
    for path in folder.iterdir():
        if not (ALLURE_NAME.match(path.name) or path.name in RUN_FILES):
            continue
        if only is not None and path.name not in only:
            continue
        if path.is_file() and not path.is_symlink():
            path.unlink()
            removed += 1
    return removed


__all__ = ["ALLURE_NAME", "MARKER", "OutputRefused", "RUN_FILES", "check_output_file",
           "check_results_dir", "claim_results_dir", "is_owned", "previous_results"]
