"""Decide what one run of the Windows workflow tests: host groups, runners, runtime, filter.

A nightly run has no inputs and a manual run has them; both come through here, so the rules
for "what does this run test" live in one tested place (tests/test_ci_files.py) instead of
in expressions spread over the workflow.  Reads environment variables set by the workflow's
``plan`` job, writes ``key=value`` lines to ``$GITHUB_OUTPUT`` (stdout without it) and
prints what it decided.  A bad value stops the run here, before any Windows runner is
taken, with a ``::error::`` line that names the input.

Rules:

* host groups: the manual input, else the repository variable ``HPC_E2E_HOST_GROUPS``,
  else ``["ltsc2025"]``.  A JSON list whose items are a group name (its runner labels are
  the common labels plus the name) or ``{"name": ..., "labels": [...]}`` (exactly those
  labels).  Names become artifact names, concurrency groups and run ids, so they are
  letters, digits, ``.``, ``_`` and ``-``.
* common runner labels: the input, else ``HPC_E2E_RUNNER_LABELS``, else
  ``["self-hosted", "windows", "hyperv"]``.
* the shim: a manual run takes its two inputs literally (``hcsshim_ref`` defaults to
  ``main``; clear it to use ``shim_url``, or both to use the shim in the containerd
  archive).  A nightly run uses ``HPC_E2E_SHIM_URL`` or ``HPC_E2E_HCSSHIM_REF``, and
  builds hcsshim ``main`` when neither is set.  Both at once is refused.
* containerd and crictl versions, the scenario filter: input, else variable, else default.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping

DEFAULT_GROUPS = ["ltsc2025"]
DEFAULT_LABELS = ["self-hosted", "windows", "hyperv"]
DEFAULT_HCSSHIM_REF = "main"
DEFAULT_CONTAINERD = "1.7.22"
DEFAULT_CRICTL = "1.31.1"
MAX_GROUPS = 16

GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
# A branch, tag or commit: no spaces, no "..", nothing a shell would act on.
GIT_REF = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
VERSION = re.compile(r"^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$")
# pytest -k: words, and/or/not, parentheses, brackets.  No quotes: Windows PowerShell 5.1
# mangles embedded quotes in native command arguments.
FILTER = re.compile(r"^[A-Za-z0-9_ ()\[\].-]{0,300}$")


class PlanError(ValueError):
    """An input the workflow cannot run with; the message names it."""


def _pick(*values: str | None) -> str:
    """The first value that is set and not blank."""
    for value in values:
        if value is not None and value.strip():
            return value.strip()
    return ""


def _json_list(text: str, what: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{what}: not JSON ({exc.msg}): {text!r}") from None
    if not isinstance(value, list) or not value:
        raise PlanError(f"{what}: must be a non-empty JSON list, got {text!r}")
    return value


def parse_labels(text: str, what: str = "runner_labels") -> list[str]:
    labels = _json_list(text, what)
    for label in labels:
        if not isinstance(label, str) or not LABEL.match(label):
            raise PlanError(f"{what}: {label!r} is not a runner label")
    return labels


def parse_groups(text: str, common_labels: list[str]) -> list[dict]:
    """Matrix ``include`` entries: ``{"group": name, "runs_on": [labels]}``."""
    items = _json_list(text, "host_groups")
    if len(items) > MAX_GROUPS:
        raise PlanError(f"host_groups: {len(items)} groups; at most {MAX_GROUPS}")
    entries, seen = [], set()
    for item in items:
        if isinstance(item, str):
            name, labels = item, [*common_labels, item]
        elif isinstance(item, Mapping) and set(item) <= {"name", "labels"} and "name" in item:
            name = item["name"]
            labels = parse_labels(json.dumps(item.get("labels", [*common_labels, name])),
                                  f"host_groups: {name!r}: labels")
        else:
            raise PlanError(f"host_groups: {item!r} is neither a group name nor "
                            '{"name": "...", "labels": [...]}')
        if not isinstance(name, str) or not GROUP_NAME.match(name):
            raise PlanError(f"host_groups: {name!r} is not a group name (letters, digits, "
                            "'.', '_', '-'; at most 40)")
        if name in seen:
            raise PlanError(f"host_groups: {name!r} is listed twice")
        seen.add(name)
        entries.append({"group": name, "runs_on": labels})
    return entries


def resolve_shim(event: str, env: Mapping[str, str]) -> tuple[str, str]:
    """``(hcsshim_ref, shim_url)``; at most one of them is set."""
    if event == "workflow_dispatch":
        ref, url = _pick(env.get("INPUT_HCSSHIM_REF")), _pick(env.get("INPUT_SHIM_URL"))
        both = "give hcsshim_ref or shim_url, not both (clear hcsshim_ref to use shim_url)"
    else:
        ref, url = _pick(env.get("VAR_HCSSHIM_REF")), _pick(env.get("VAR_SHIM_URL"))
        if not ref and not url:
            ref = DEFAULT_HCSSHIM_REF
        both = ("the variables HPC_E2E_HCSSHIM_REF and HPC_E2E_SHIM_URL are both set; "
                "delete one")
    if ref and url:
        raise PlanError(both)
    if ref and not GIT_REF.match(ref):
        raise PlanError(f"hcsshim_ref: {ref!r} is not a branch, tag or commit")
    if url and (not url.lower().startswith("https://") or len(url) <= len("https://")
                or any(c.isspace() or c in "'\"`$" for c in url)):
        raise PlanError(f"shim_url: {url!r} must be an https:// URL without spaces or quotes")
    return ref, url


def _version(text: str, what: str) -> str:
    m = VERSION.match(text)
    if not m:
        raise PlanError(f"{what}: {text!r} is not a version like 1.7.22")
    return m.group(1)


def plan(env: Mapping[str, str]) -> dict[str, str]:
    """The job outputs, every value one line."""
    event = env.get("EVENT_NAME", "")
    labels = parse_labels(_pick(env.get("INPUT_RUNNER_LABELS"), env.get("VAR_RUNNER_LABELS"),
                                json.dumps(DEFAULT_LABELS)))
    groups = parse_groups(_pick(env.get("INPUT_HOST_GROUPS"), env.get("VAR_HOST_GROUPS"),
                                json.dumps(DEFAULT_GROUPS)), labels)
    ref, url = resolve_shim(event, env)
    containerd = _version(_pick(env.get("INPUT_CONTAINERD_VERSION"),
                                env.get("VAR_CONTAINERD_VERSION"), DEFAULT_CONTAINERD),
                          "containerd_version")
    crictl = _version(_pick(env.get("VAR_CRICTL_VERSION"), DEFAULT_CRICTL), "crictl_version")
    keyword = _pick(env.get("INPUT_SCENARIO_FILTER"), env.get("VAR_SCENARIO_FILTER"))
    if not FILTER.match(keyword):
        raise PlanError(f"scenario_filter: {keyword!r}: use words, and/or/not, parentheses "
                        "(no quotes)")
    return {
        "matrix": json.dumps({"include": groups}, separators=(",", ":")),
        "groups": json.dumps([g["group"] for g in groups], separators=(",", ":")),
        "hcsshim_ref": ref,
        "shim_url": url,
        "containerd_version": containerd,
        "crictl_version": crictl,
        "scenario_filter": keyword,
    }


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        outputs = plan(env)
    except PlanError as exc:
        print(f"::error title=hpc-e2e plan::{exc}")
        return 1
    lines = "".join(f"{key}={value}\n" for key, value in outputs.items())
    target = env.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(lines)
    else:
        sys.stdout.write(lines)
    shim = (f"built from hcsshim {outputs['hcsshim_ref']}" if outputs["hcsshim_ref"]
            else f"downloaded from {outputs['shim_url']}" if outputs["shim_url"]
            else "the one in the containerd archive")
    print(f"host groups: {', '.join(json.loads(outputs['groups']))}")
    print(f"containerd {outputs['containerd_version']}, crictl {outputs['crictl_version']}, "
          f"shim {shim}")
    print(f"scenarios: {outputs['scenario_filter'] or 'all'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
