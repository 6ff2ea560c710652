"""Merge the Allure results of several host groups into one results directory.

Allure merges runs by reading one directory: allure-pytest names every file after a fresh
UUID (docs/behaviour/protocols.md §3), so the groups' ``*-result.json``, ``*-container.json``
and attachments are copied side by side unchanged in name.  Four things need care:

* **Same case, two groups.**  Allure treats results with the same ``historyId`` as retries
  of one test and shows only the last.  The harness keeps the host *build* in the history
  id, so one case on LTSC2022 and on LTSC2025 stays two results; two groups of the same
  build (two hardware pools, say) would still collide.  Every result therefore gets a
  ``host group`` parameter, and its ``historyId`` becomes ``md5(historyId | group)`` —
  stable from night to night, so trends keep working.  Its ``parentSuite`` label becomes the
  group, so the Suites tab has one branch per runner pool.
* **environment.properties**: each group writes one with the same keys (``run.id``,
  ``hosts``, ``host.<name>.*``...).  The merged file prefixes every key with the group
  (``ltsc2025.run.id``, ``ltsc2025.host.win-a.build``), adds ``groups`` and the union of
  ``host.builds``; nothing is lost and nothing overwrites another group.
* **categories.json** is the harness's own and the same for every group: the first is
  kept; a differing one is reported (it means the groups ran different harness versions).
* **executor.json** (optional): the CI run that produced the report, for Allure's
  Executors widget; and a previous report's ``history/`` folder for trends.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

PROPERTIES = "environment.properties"
CATEGORIES = "categories.json"
EXECUTOR = "executor.json"
# hpc-e2e's mark on a results folder it owns (harness/plugin/outputs.py); not a result.
RESULTS_MARKER = ".hpc-e2e-results"
GROUP_PARAMETER = "host group"
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class MergeError(Exception):
    """Inputs that cannot be merged; the message says which."""


# --- java.util.Properties, as far as the harness writes it ----------------------------------
def parse_properties(text: str) -> dict[str, str]:
    r"""``key=value`` lines with backslash escapes (``\uXXXX``, ``\n``, ``\=``...)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line[0] in "#!":
            continue
        key, i = _read(line, 0, key=True)
        i = _skip_blanks(line, i)
        if i < len(line) and line[i] in "=:":
            i = _skip_blanks(line, i + 1)
        values[key], _ = _read(line, i, key=False)
    return values


def _skip_blanks(line: str, i: int) -> int:
    while i < len(line) and line[i] in " \t":
        i += 1
    return i


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}


def _read(line: str, i: int, *, key: bool) -> tuple[str, int]:
    out: list[str] = []
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            nxt = line[i + 1]
            if nxt == "u" and i + 6 <= len(line):
                out.append(chr(int(line[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if key and ch in "=: \t":
            break
        out.append(ch)
        i += 1
    text = "".join(out)
    # Surrogate pairs written as two \u escapes.
    return text.encode("utf-16", "surrogatepass").decode("utf-16"), i


def render_properties(values: dict[str, str]) -> str:
    """The same escaping as the harness (harness.plugin.reporting.render_properties)."""
    from harness.plugin.reporting import render_properties as render

    return render(values)


# --- merging ---------------------------------------------------------------------------------
def group_history_id(history_id: str, group: str) -> str:
    return hashlib.md5(f"{history_id}|{GROUP_PARAMETER}={group}".encode()).hexdigest()


def tag_result(result: dict, group: str) -> dict:
    """One ``*-result.json`` made distinct per host group (see the module docstring)."""
    params = [p for p in result.get("parameters") or [] if p.get("name") != GROUP_PARAMETER]
    # allure-pytest shows parameter values as Python reprs; keep the same look.
    params.append({"name": GROUP_PARAMETER, "value": repr(group)})
    result["parameters"] = params
    if result.get("historyId"):
        result["historyId"] = group_history_id(result["historyId"], group)
    labels = [label for label in result.get("labels") or [] if label.get("name") != "parentSuite"]
    labels.insert(0, {"name": "parentSuite", "value": group})
    result["labels"] = labels
    return result


def merge_environments(per_group: dict[str, dict[str, str]]) -> dict[str, str]:
    merged = {"groups": ",".join(per_group)}
    builds: set[str] = set()
    for group, values in per_group.items():
        builds.update(b for b in values.get("host.builds", "").split(",") if b)
        for key, value in values.items():
            merged[f"{group}.{key}"] = value
    if builds:
        merged["host.builds"] = ",".join(sorted(builds, key=lambda b: (len(b), b)))
    return dict(sorted(merged.items()))


def merge(groups: dict[str, Path], output: Path, *, history: Path | None = None,
          executor: dict | None = None, log=print) -> dict[str, int]:
    """Merge ``{group: results dir}`` into ``output``; results per group."""
    output = Path(output)
    if output.exists() and any(output.iterdir()):
        raise MergeError(f"{output} is not empty; merge into a new directory")
    output.mkdir(parents=True, exist_ok=True)
    environments: dict[str, dict[str, str]] = {}
    categories: tuple[str, str] | None = None
    counts: dict[str, int] = {}
    for group, folder in groups.items():
        if not GROUP_NAME.match(group):
            raise MergeError(f"{group!r} is not a host group name")
        folder = Path(folder)
        if not folder.is_dir():
            raise MergeError(f"{folder}: no such results directory (group {group})")
        counts[group] = 0
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue  # a group's own history/ folder: trends come from --history
            name = path.name
            if name == PROPERTIES:
                environments[group] = parse_properties(path.read_text(encoding="latin-1"))
            elif name == CATEGORIES:
                text = path.read_text(encoding="utf-8")
                if categories is None:
                    categories = (group, text)
                elif json.loads(text) != json.loads(categories[1]):
                    log(f"warning: {group}: {CATEGORIES} differs from {categories[0]}'s; "
                        f"keeping {categories[0]}'s (do the groups run one harness version?)")
            elif name in (EXECUTOR, RESULTS_MARKER):
                continue
            else:
                target = output / name
                if target.exists():
                    raise MergeError(f"{name} is in two groups' results (was one directory "
                                     f"given twice?)")
                if name.endswith("-result.json"):
                    result = json.loads(path.read_text(encoding="utf-8"))
                    target.write_text(json.dumps(tag_result(result, group)), encoding="utf-8")
                    counts[group] += 1
                else:
                    shutil.copyfile(path, target)
        if counts[group] == 0:
            log(f"warning: {group}: no test results in {folder} (did its job stop early?)")
    if not any(counts.values()):
        raise MergeError("no test results in any group")
    if environments:
        (output / PROPERTIES).write_text(render_properties(merge_environments(environments)),
                                         encoding="ascii")
    if categories is not None:
        (output / CATEGORIES).write_text(categories[1], encoding="utf-8")
    if executor:
        (output / EXECUTOR).write_text(json.dumps(executor, indent=2) + "\n", encoding="utf-8")
    if history is not None and Path(history).is_dir() and any(Path(history).iterdir()):
        shutil.copytree(history, output / "history")
    return counts


def artifact_groups(root: Path, prefix: str) -> dict[str, Path]:
    """``root/<prefix><group>/`` folders, as ``actions/download-artifact`` lays them out."""
    found = {p.name[len(prefix):]: p for p in sorted(Path(root).iterdir())
             if p.is_dir() and p.name.startswith(prefix) and len(p.name) > len(prefix)}
    if not found:
        raise MergeError(f"no {prefix}<group> folders in {root}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", metavar="GROUP=DIR",
                        help="a host group's Allure results directory")
    parser.add_argument("--artifacts", type=Path, metavar="ROOT",
                        help="take every ROOT/<prefix><group> folder as a group")
    parser.add_argument("--prefix", default="allure-results-",
                        help="artifact folder prefix for --artifacts (default: %(default)s)")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR",
                        help="the merged results directory (new or empty)")
    parser.add_argument("--history", type=Path, metavar="DIR",
                        help="a previous report's history/ folder, for trends")
    parser.add_argument("--build-name", help="executor.json: the CI run's name")
    parser.add_argument("--build-url", help="executor.json: the CI run's URL")
    parser.add_argument("--build-order", type=int, help="executor.json: the run number")
    parser.add_argument("--executor", default="CI", help="executor.json: the CI system's name")
    args = parser.parse_args(argv)

    groups: dict[str, Path] = {}
    try:
        if args.artifacts is not None:
            groups.update(artifact_groups(args.artifacts, args.prefix))
        for item in args.groups:
            name, sep, folder = item.partition("=")
            if not sep or not name or not folder:
                raise MergeError(f"{item!r}: expected GROUP=DIR")
            if name in groups:
                raise MergeError(f"group {name!r} given twice")
            groups[name] = Path(folder)
        if not groups:
            raise MergeError("no groups: pass GROUP=DIR arguments or --artifacts ROOT")
        executor = None
        if args.build_url or args.build_name:
            executor = {"name": args.executor, "type": args.executor.lower().replace(" ", ""),
                        "buildName": args.build_name or args.build_url,
                        "buildUrl": args.build_url, "reportName": "hpc-e2e"}
            if args.build_order is not None:
                executor["buildOrder"] = args.build_order
        counts = merge(groups, args.output, history=args.history, executor=executor,
                       log=lambda message: print(message, file=sys.stderr))
    except (MergeError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for group, count in counts.items():
        print(f"{group}: {count} results")
    print(f"merged into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
