"""Every PowerShell script the harness ships parses (PowerShell itself cannot run here).

tree-sitter-powershell is stricter than PowerShell in a few places; a script that fails
here is rewritten in the plainer form rather than the check being loosened.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "harness").rglob("*.ps1")) + sorted((ROOT / "ci").rglob("*.ps1")) \
    + sorted((ROOT / "images").rglob("*.ps1"))


def parse_errors(source: bytes) -> list[str]:
    parser = ts.Parser(ts.Language(tsp.language()))
    tree = parser.parse(source)
    problems = []

    def walk(node):
        if node.type == "ERROR" or node.is_missing:
            row, col = node.start_point
            kind = "missing " + node.type if node.is_missing else "cannot parse"
            text = source[node.start_byte:node.end_byte].decode("utf-8", "replace")
            problems.append(f"line {row + 1}, column {col + 1}: {kind}: {text[:60]!r}")
            return
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    return problems


def test_there_are_scripts_to_check():
    assert SCRIPTS, "no .ps1 files found under harness/ — the glob is wrong"


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(p.relative_to(ROOT)) for p in SCRIPTS])
def test_script_parses(script):
    problems = parse_errors(script.read_bytes())
    assert not problems, f"{script.relative_to(ROOT)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("broken", [
    b"if ($x -eq 1) {\n  Write-Output 'unclosed'\n",
    b"$a = @(1, 2\n",
    b"function f {\n  param([string]$a\n}\n",
])
def test_the_check_catches_broken_scripts(broken):
    assert parse_errors(broken)
