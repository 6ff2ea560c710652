"""The behaviour reference in docs/behaviour/ against every citation of it.

Code, scenarios, skip reasons, failure messages and report links justify an expectation by
citing a numbered rule, e.g. ``docs/behaviour/runtime.md §2.5``.  A citation that does not
resolve sends the reader nowhere, and nothing else would notice when a section is renumbered or
a citation is mistyped.  So:

* every section number cited as ``docs/behaviour/<file>.md §X.Y`` (also a list such as
  ``§2.5, §3.3`` or ``§8 item 4`` after one file name) must be a heading of that file;
* inside docs/behaviour/, a bare ``§X.Y`` means the same file and must resolve there too;
* heading numbers are unique within a file (a duplicate makes a citation ambiguous);
* no tracked file names a path on a development machine or the research notes outside the
  repository, which a clone does not contain;
* no citation of the former research-notes file names remains.

The scanner is a plain function over text; the tests below also feed it broken snippets and
watch it complain, because a checker that never fails proves nothing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BEHAVIOUR = ROOT / "docs" / "behaviour"
REFERENCE_FILES = ("runtime", "ecosystem", "protocols")
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

# Spelt in pieces so that this file does not match its own patterns.
MACHINE_PATH_MARKERS = ("/" + "work/", "shared" + "/reference")
OLD_NOTE_NAMES = ("hcsshim-hpc-" + "behaviour.md", "ecosystem-" + "facts.md",
                  "python-protocol-" + "facts.md")


_HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s")
_SECTION = r"§\s?(\d+(?:\.\d+)*)(?:\s+(?:item|step|rule)\s+(\d+))?"
_SEP = r"\s*(?:,|;|/|-|–|\band\b)\s*"
_FILE = r"(?:docs/behaviour/)?(" + "|".join(REFERENCE_FILES) + r")\.md"
# A file name followed by one section or a list of them.
_CITATION = re.compile(_FILE + r"\)?,?\s*((?:" + _SECTION + r")(?:" + _SEP + _SECTION + r")*)")
_NEW_CITATION = re.compile(r"docs/behaviour/" + _CITATION.pattern)
_ONE_SECTION = re.compile(_SECTION)


def heading_numbers(text: str) -> list[str]:
    """Section numbers of the numbered headings, in order (duplicates kept)."""
    return [m.group(1) for line in text.splitlines() if (m := _HEADING.match(line))]


def _numbers_in(section_list: str) -> list[str]:
    """``§8 item 4`` and ``§8.4`` both name heading 8.4; a "rule"/"step" is a list entry
    inside its section, so ``§2.3 rule 1`` names heading 2.3."""
    numbers = []
    for m in _ONE_SECTION.finditer(section_list):
        number, item = m.group(1), m.group(2)
        kind = section_list[m.start():m.end()]
        numbers.append(f"{number}.{item}" if item and "item" in kind else number)
    return numbers


def citations(text: str, *, own_file: str | None = None) -> list[tuple[int, str, str]]:
    """(line, file, section) for each citation in ``text``.

    Outside the reference only the full form ``docs/behaviour/<file>.md §…`` counts.  Inside
    the reference (``own_file`` given) a short ``<file>.md §…`` names another file and a bare
    ``§…`` names ``own_file``.
    """
    found = []
    pattern = _CITATION if own_file else _NEW_CITATION
    for lineno, line in enumerate(text.splitlines(), 1):
        claimed = []
        for m in pattern.finditer(line):
            claimed.append((m.start(2), m.end(2)))
            found.extend((lineno, m.group(1), n) for n in _numbers_in(m.group(2)))
        if own_file:
            for m in _ONE_SECTION.finditer(line):
                if not any(a <= m.start() < b for a, b in claimed):
                    found.extend((lineno, own_file, n) for n in _numbers_in(m.group(0)))
    return found


def unresolved(cites, headings: dict[str, set[str]]) -> list[str]:
    return [f"{where}:{line}: {file}.md §{number}"
            for where, line, file, number in cites if number not in headings[file]]


def tracked_files() -> list[Path]:
    """Files in the repository as git sees it (results a run leaves behind are not part of it)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return None


@pytest.fixture(scope="module")
def headings() -> dict[str, set[str]]:
    return {name: set(heading_numbers((BEHAVIOUR / f"{name}.md").read_text(encoding="utf-8")))
            for name in REFERENCE_FILES}


@pytest.fixture(scope="module")
def repo_texts() -> dict[str, str]:
    texts = {}
    for path in tracked_files():
        text = read_text(path)
        if text is not None:
            texts[path.relative_to(ROOT).as_posix()] = text
    # The reference itself, committed or not yet.
    for path in BEHAVIOUR.glob("*.md"):
        texts.setdefault(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))
    return texts


# --- the reference itself ------------------------------------------------------------------
@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_heading_numbers_unique(name):
    numbers = heading_numbers((BEHAVIOUR / f"{name}.md").read_text(encoding="utf-8"))
    assert numbers, f"docs/behaviour/{name}.md has no numbered headings"
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    assert not duplicates, f"docs/behaviour/{name}.md: heading numbers used twice: {duplicates}"


def test_runtime_reserves_section_for_suite_rules(headings):
    assert {"9", "9.0"} <= headings["runtime"]


# --- citations resolve ---------------------------------------------------------------------
def test_citations_resolve(headings, repo_texts):
    cites = []
    for where, text in repo_texts.items():
        if where == THIS_FILE:  # its citations are the scanner's test data
            continue
        own = None
        if where.startswith("docs/behaviour/") and where.endswith(".md"):
            own = Path(where).stem if Path(where).stem in REFERENCE_FILES else None
            if own is None:  # the README: full-form citations only
                cites += [(where, *c) for c in citations(text)]
                continue
        cites += [(where, *c) for c in citations(text, own_file=own)]
    bad = unresolved(cites, headings)
    assert not bad, "citations of docs/behaviour/ that name no heading:\n  " + "\n  ".join(bad)


def test_scanner_reads_lists_items_and_file_switches():
    text = ("x (docs/behaviour/runtime.md §2.5, §3.3; docs/behaviour/ecosystem.md §7)\n"
            "see docs/behaviour/runtime.md §8 item 4 and §2.3 rule 1\n"
            "docs/behaviour/protocols.md §1.10.6 and RFC 7230 §3.2.2 later")
    assert citations(text) == [
        (1, "runtime", "2.5"), (1, "runtime", "3.3"), (1, "ecosystem", "7"),
        (2, "runtime", "8.4"), (2, "runtime", "2.3"),
        (3, "protocols", "1.10.6")]


def test_scanner_inside_the_reference_uses_own_file():
    text = "as §2.4 says (ecosystem.md §0.4, §2.2), unlike §8.7"
    assert citations(text, own_file="runtime") == [
        (1, "ecosystem", "0.4"), (1, "ecosystem", "2.2"),
        (1, "runtime", "2.4"), (1, "runtime", "8.7")]


def test_unresolved_citation_is_reported(headings):
    cites = [("scenarios/x.py", *c) for c in citations(
        'pytest.skip("docs/behaviour/runtime.md §2.5, §42.1")')]
    assert unresolved(cites, headings) == ["scenarios/x.py:1: runtime.md §42.1"]


# --- nothing outside the repository --------------------------------------------------------
def machine_path_files(texts: dict[str, str]) -> list[str]:
    return sorted(where for where, text in texts.items()
                  if any(marker in text for marker in MACHINE_PATH_MARKERS))


def test_machine_paths_absent(repo_texts):
    offenders = machine_path_files(repo_texts)
    assert not offenders, f"files naming a path outside the repository: {offenders}"


def test_machine_path_check_can_fail():
    assert machine_path_files({"a.py": "see " + MACHINE_PATH_MARKERS[0] + "main/x",
                               "b.md": ".github/workflows/ci.yml"}) == ["a.py"]


def test_no_old_citations(repo_texts):
    offenders = sorted(where for where, text in repo_texts.items()
                       if any(name in text for name in OLD_NOTE_NAMES))
    assert not offenders, f"files still citing the former research notes: {offenders}"
