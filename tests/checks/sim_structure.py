"""The simulated host's import structure: no import cycles inside ``harness.sim`` and no
import of the rest of the harness (docs/internals.md "Layout", "The simulated host").

Run as ``python -m tests.checks.sim_structure [ROOT]`` it prints one line per problem in the
``harness`` package found under ROOT (default: the one on ``sys.path``) and exits 1 if there
is any; tests/test_sim_structure.py runs it on the tree and on a copy with a planted import.
The graph is grimp's (the engine of import-linter), imports under ``TYPE_CHECKING`` and
inside functions included: a cycle held together by either is still a cycle.
"""

from __future__ import annotations

import sys

import grimp

SIM = "harness.sim"


def _sim_modules(graph: grimp.ImportGraph) -> set[str]:
    return {m for m in graph.modules if m == SIM or m.startswith(SIM + ".")}


def module_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of sim modules that import each other, directly or not (strongly connected
    groups of more than one module), each sorted."""
    return _cycle_groups(graph, _sim_modules(graph))


def subpackage_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The same between the sim's direct children (each subpackage taken as one node)."""
    children = graph.find_children(SIM)
    for child in children:
        if graph.find_children(child):
            graph.squash_module(child)
    return _cycle_groups(graph, children)


def _cycle_groups(graph: grimp.ImportGraph, nodes: set[str]) -> list[list[str]]:
    """Each node that imports, directly or not, a node that imports it back, grouped with
    those nodes (each group sorted, once)."""
    groups: set[tuple[str, ...]] = set()
    for node in nodes:
        together = graph.find_upstream_modules(node) & graph.find_downstream_modules(node) & nodes
        if together:
            groups.add(tuple(sorted(together | {node})))
    return [list(g) for g in sorted(groups)]


def harness_imports(graph: grimp.ImportGraph) -> list[str]:
    """``importer -> imported`` for every import of a harness module outside the sim."""
    out = []
    for importer in sorted(_sim_modules(graph)):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported != "harness" and not (imported == SIM
                                              or imported.startswith(SIM + ".")):
                out.append(f"{importer} -> {imported}")
    return out


def problems() -> list[str]:
    """Every structural problem of the ``harness`` package importable now, one line each."""
    graph = grimp.build_graph("harness", cache_dir=None)
    lines = [f"import cycle of {len(g)} sim modules: {', '.join(g)}"
             for g in module_cycles(graph)]
    lines += [f"the simulated host imports the harness: {edge}"
              for edge in harness_imports(graph)]
    lines += [f"import cycle between sim subpackages: {', '.join(g)}"
              for g in subpackage_cycles(graph)]
    return lines


def main(argv: list[str]) -> int:
    if argv:
        sys.path.insert(0, argv[0])
    found = problems()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
