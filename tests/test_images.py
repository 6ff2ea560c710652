"""hpc_images/images.toml, its one model and its renderer (images/render.py), and their agreement
with the sim.

The renderer is a standalone script (images/ is no package), loaded here from its path; it
reads the file through the model (hpc_images/model.py), as the harness and the sim do.
Expectations are derived from the raw TOML, not from the renderer's own helpers, so a
renderer that drifts from images.toml fails here.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hpc_images import model

ROOT = Path(__file__).resolve().parents[1]
RENDER_PY = ROOT / "images" / "render.py"
IMAGES_TOML = ROOT / "hpc_images" / "images.toml"


def _load_render():
    spec = importlib.util.spec_from_file_location("hpce2e_images_render", RENDER_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


render = _load_render()
RAW = tomllib.loads(IMAGES_TOML.read_text(encoding="utf-8"))
BUILDS = sorted(int(b) for b in RAW["builds"])


def expected_files(build: int) -> dict[str, tuple[str, str | bytes]]:
    """path -> ("content", bytes) or ("copy", copy_of), straight from the raw TOML."""
    entry = RAW["builds"][str(build)]
    probe = RAW["probe"]

    def expand(text: str) -> bytes:
        return text.replace("{ltsc}", entry["ltsc"]).replace("{build}", str(build)).encode()

    files = {probe["marker_path"]: ("content", expand(probe["marker_content"]))}
    for prog in probe.get("programs", []):
        if "copy_of" in prog:
            files[prog["path"]] = ("copy", prog["copy_of"])
        elif "source" in prog:
            built = render.compile_source(IMAGES_TOML.parent / prog["source"])
            assert built[:2] == b"MZ"  # a Windows executable
            files[prog["path"]] = ("content", built)
        else:
            files[prog["path"]] = ("content", expand(prog["content"]))
    return files


def dockerfile_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


# --- the real images.toml ----------------------------------------------------------------------
def test_images_toml_validates():
    spec = model.load_spec(IMAGES_TOML)
    assert sorted(spec.builds) == BUILDS
    assert {20348, 26100} <= set(spec.builds)
    for build, entry in spec.builds.items():
        assert entry.ltsc == RAW["builds"][str(build)]["ltsc"]
        assert entry.pause == RAW["builds"][str(build)]["pause"]
    assert spec.idle_command == tuple(RAW["probe"]["idle_command"])


def test_check_verb_runs_standalone(tmp_path):
    """Standard library only: the script must run on a runner with a bare Python (-S: no
    site-packages, so neither the harness nor any installed package is importable)."""
    result = subprocess.run([sys.executable, "-S", str(RENDER_PY), "check"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30, check=False,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "26100 ltsc2025" in result.stdout


@pytest.mark.parametrize("build", BUILDS)
def test_dockerfile_has_the_right_base_marker_and_programs(build):
    spec = model.load_spec(IMAGES_TOML)
    entry = RAW["builds"][str(build)]
    base = entry[RAW["probe"]["base"]]
    lines = dockerfile_lines(render.render_dockerfile(spec, spec.builds[build]))
    assert lines[:2] == [f"FROM {base} AS base", f"FROM {base}"]
    assert not any(ln.split()[0] == "RUN" for ln in lines), "the build must not run containers"
    copies = {}
    for ln in lines:
        if ln.startswith("COPY --from=base "):
            src, dst = json.loads(ln[len("COPY --from=base "):])
            copies[dst] = ("copy", src)
        elif ln.startswith("COPY "):
            src, dst = json.loads(ln[len("COPY "):])
            copies[dst] = ("context", src)
    want = expected_files(build)
    assert set(copies) == {"/" + p.replace("\\", "/") for p in want}
    for path, (kind, value) in want.items():
        got_kind, src = copies["/" + path.replace("\\", "/")]
        if kind == "copy":
            assert (got_kind, src) == ("copy", "/" + value.replace("\\", "/"))
        else:
            assert (got_kind, src) == ("context", "files/" + path.replace("\\", "/"))
    assert f'io.hpc-e2e.probe.ltsc="{entry["ltsc"]}"' in lines[-1]


@pytest.mark.parametrize("build", BUILDS)
def test_context_holds_the_literal_files_byte_for_byte(build, tmp_path):
    spec = model.load_spec(IMAGES_TOML)
    plan_path = render.write_context(spec, build, tmp_path / "out")
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    out = plan_path.parent
    assert plan["tag"] == f"{RAW['probe']['name']}:{RAW['builds'][str(build)]['ltsc']}"
    assert plan["build"] == build and plan["pause"] == RAW["builds"][str(build)]["pause"]
    for path, (kind, value) in expected_files(build).items():
        item = next(f for f in plan["files"] if f["path"] == path)
        if kind == "copy":
            assert item["source"] == "base" and item["copy_of"] == value
            continue
        data = (out / item["context_file"]).read_bytes()
        assert data == value  # CRLF and all
        assert item["sha256"] == hashlib.sha256(data).hexdigest() and item["size"] == len(data)
    dockerfile = (out / plan["dockerfile"]).read_text(encoding="utf-8")
    for ln in dockerfile_lines(dockerfile):
        if ln.startswith("COPY ["):
            assert (out / plan["context"] / json.loads(ln[5:])[0]).is_file()
    marker = next(c for c in plan["checks"] if c["argv"][2] == "type")
    assert marker["stdout"] == expected_files(build)[RAW["probe"]["marker_path"]][1].decode().rstrip()


def test_context_replaces_an_earlier_rendering_and_refuses_other_folders(tmp_path):
    spec = model.load_spec(IMAGES_TOML)
    out = tmp_path / "out"
    render.write_context(spec, 26100, out)
    stale = out / "context" / "files" / "stale.txt"
    stale.write_text("left over")
    render.write_context(spec, 20348, out)
    assert not stale.exists()
    assert json.loads((out / "plan.json").read_text())["ltsc"] == "ltsc2022"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(model.ImagesTomlError, match="not empty"):
        render.write_context(spec, 26100, foreign)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_host_builds_use_their_entry_or_the_nearest_lower_one():
    from harness.plugin.images import image_set_for

    spec = model.load_spec(IMAGES_TOML)
    for host_build in (20348, 22000, 26100, 26200):
        plan = render.build_plan(spec, host_build)
        images = image_set_for(host_build, IMAGES_TOML)
        assert (plan["build"], plan["tag"], plan["pause"]) == \
            (images.build, images.probe, images.pause)
        assert plan["base"] == getattr(images, RAW["probe"]["base"])
    with pytest.raises(model.ImagesTomlError, match="no .builds.<build>. for host build 17763"):
        spec.entry_for(17763)


# --- agreement with the simulated host's image store -------------------------------------------
@pytest.mark.parametrize("build", BUILDS)
def test_sim_image_store_and_renderer_agree_on_the_probe(build):
    from harness.sim.cri.images import Registry
    from harness.sim.cri.images import normalize_ref as sim_normalize

    images_file = model.load_spec(IMAGES_TOML)
    registry = Registry(None, images_file)
    spec = model.load_spec(IMAGES_TOML)
    entry = spec.builds[build]
    tag = spec.tag(entry)
    assert tag == images_file.probe_ref(build)
    assert render.normalize_ref(tag) == sim_normalize(tag)
    probe = registry.resolve(sim_normalize(tag), build)
    base = registry.resolve(sim_normalize(spec.base_image(entry)), build)
    assert probe is not None and base is not None

    added = {p: d for p, d in probe.files.items() if base.files.get(p) != d}
    rendered = {}
    built = {p.path: p.source for p in spec.programs if p.source}
    for f in render.probe_files(spec, entry):
        if f.copy_of is not None:
            assert f.copy_of in base.files, f"the sim's {spec.base} lacks {f.copy_of}"
            rendered[f.path] = base.files[f.copy_of]
        elif f.path in built:
            # The real image gets the compiled program, the sim a placeholder naming the
            # model of its source (harness/sim/programs/probe_idle.py).
            assert f.data[:2] == b"MZ"
            assert f"program=sim:probe-source:{built[f.path]}".encode() in added[f.path]
            rendered[f.path] = added[f.path]
        else:
            rendered[f.path] = f.data
    assert added == rendered


# --- broken images.toml ------------------------------------------------------------------------
def _mutate(fn):
    data = copy.deepcopy(RAW)
    fn(data)
    return data


def _set(table_path, key, value):
    def apply(data):
        t = data
        for k in table_path:
            t = t[k]
        t[key] = value
    return apply


def _drop(table_path, key):
    def apply(data):
        t = data
        for k in table_path:
            t = t[k]
        del t[key]
    return apply


def _program(i, **fields):
    def apply(data):
        data["probe"]["programs"][i] = fields
    return apply


BROKEN = {
    "missing pause": (_drop(["builds", "26100"], "pause"), "builds.26100: missing 'pause'"),
    "missing probe": (_drop([], "probe"), "probe: missing [probe] table"),
    "missing marker": (_drop(["probe"], "marker_path"), "probe: missing 'marker_path'"),
    "build key": (lambda d: d["builds"].update(ltsc2019=dict(d["builds"]["20348"])),
                  "builds.ltsc2019: the key must be a Windows build number"),
    "drive path": (_set(["probe"], "marker_path", "C:\\hpc-e2e\\marker.txt"),
                   "probe.marker_path: 'C:\\\\hpc-e2e\\\\marker.txt' is absolute"),
    "rooted path": (_set(["probe"], "marker_path", "\\hpc-e2e\\marker.txt"), "is absolute"),
    "slashes": (_set(["probe"], "marker_path", "hpc-e2e/marker.txt"), "use backslashes"),
    "dotdot": (_set(["probe"], "marker_path", "..\\marker.txt"), "'..' component"),
    "device name": (_set(["probe"], "marker_path", "nul.txt"), "reserved device name"),
    "both": (_program(0, path="probe-whoami.exe", copy_of="Windows\\System32\\whoami.exe",
                      content="x"), "needs exactly one of copy_of, content and source"),
    "neither": (_program(0, path="probe-whoami.exe"),
                "needs exactly one of copy_of, content and source"),
    "same name": (_program(0, path="tools\\whoami.exe", copy_of="Windows\\System32\\whoami.exe"),
                  "must have a new name"),
    "absolute copy_of": (_program(0, path="probe-whoami.exe",
                                  copy_of="C:\\Windows\\System32\\whoami.exe"),
                         "probe.programs[0].copy_of: 'C:\\\\Windows"),
    "typo key": (_program(0, path="probe-whoami.exe", copyof="Windows\\System32\\whoami.exe"),
                 "unknown key 'copyof'"),
    "unknown build key": (_set(["builds", "20348"], "sandbox", "x:1"), "unknown key 'sandbox'"),
    "twice": (_program(0, path="PROBE-HELLO.CMD", copy_of="Windows\\System32\\whoami.exe"),
              "listed twice"),
    "file is folder": (_set(["probe"], "marker_path", "probe-hello.cmd\\marker.txt"),
                       "is a file and the folder of"),
    "base": (_set(["probe"], "base", "windows"), "probe.base: must be one of"),
    "untagged ref": (_set(["builds", "26100"], "pause", "registry.k8s.io/pause"),
                     "needs an explicit tag or digest"),
    "upper-case ref": (_set(["builds", "26100"], "nanoserver", "MCR.microsoft.com/x:1"),
                       "is not an image reference"),
    "ltsc clash": (_set(["builds", "26100"], "ltsc", "ltsc2022"), "the probe tags would clash"),
    "placeholder": (_set(["probe"], "marker_content", "marker {LTSC}\r\n"),
                    "unknown placeholder {LTSC}"),
    "idle hyphens": (_set(["probe"], "idle_command", ["waitfor", "/t", "60", "hpc-e2e-{token}"]),
                     "only letters and digits"),
    "idle no token": (_set(["probe"], "idle_command", ["waitfor", "/t", "60", "hpce2eidle"]),
                      "needs {token}"),
    "idle timeout": (_set(["probe"], "idle_command", ["waitfor", "/t", "0", "idle{token}"]),
                     "waitfor /t takes 1-99999"),
    "idle path": (_set(["probe"], "idle_command",
                       ["C:\\Windows\\System32\\waitfor.exe", "idle{token}"]), "bare name"),
    "idle empty": (_set(["probe"], "idle_command", []), "non-empty list"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_images_toml_is_rejected_with_one_clear_line(case):
    mutate, expected = BROKEN[case]
    with pytest.raises(model.ImagesTomlError) as info:
        model.validate(_mutate(mutate), "images.toml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("images.toml: ")
    assert expected in message, message


def test_the_idle_program_may_be_a_probe_program():
    data = _mutate(_set(["probe"], "idle_command", ["probe-hello.cmd", "{token}"]))
    spec = model.validate(data)
    idle = render.smoke_checks(spec, spec.builds[26100])[-1]
    assert idle["argv"] == ["cmd", "/c", "C:\\probe-hello.cmd", "/?"]
    assert (idle["expect"], idle["severity"]) == ("exit0", "error")  # it ships: it must run


def test_an_idle_program_on_the_search_path_is_only_a_warning():
    data = _mutate(_set(["probe"], "idle_command", ["waitfor", "/t", "60", "idle{token}"]))
    idle = render.smoke_checks(model.validate(data), model.validate(data).builds[26100])[-1]
    assert (idle["argv"][2], idle["severity"]) == ("waitfor", "warning")


def test_cli_reports_a_broken_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "images.toml"
    bad.write_text(IMAGES_TOML.read_text(encoding="utf-8").replace(
        "copy_of = 'Windows\\System32\\whoami.exe'",
        "copy_of = 'Windows\\System32\\whoami.exe'\ncontent = \"x\""), encoding="utf-8")
    assert render.main(["--images", str(bad), "check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"render.py: error: {bad}: probe.programs[0] (probe-whoami.exe): ")
    assert render.main(["--images", str(tmp_path / "none.toml"), "check"]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "syntax.toml").write_text("[builds\n")
    assert render.main(["--images", str(tmp_path / "syntax.toml"), "plan", "--build", "1"]) == 1
    assert "not valid TOML" in capsys.readouterr().err


def test_cli_dockerfile_and_plan(capsys):
    assert render.main(["dockerfile", "--build", "26100"]) == 0
    out = capsys.readouterr().out
    assert "FROM mcr.microsoft.com/windows/nanoserver:ltsc2025" in out
    assert render.main(["plan", "--build", "20348"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["tag"].endswith(":ltsc2022") and plan["generator"] == "images/render.py"


def test_build_ps1_reads_only_fields_the_plan_has():
    """build.ps1 follows plan.json; a field it reads that render.py does not write is drift."""
    import re

    script = (ROOT / "images" / "build.ps1").read_text(encoding="utf-8")
    plan = render.build_plan(model.load_spec(IMAGES_TOML), 26100)
    fields = {"p": set(plan), "Plan": set(plan),
              "file": set().union(*(f.keys() for f in plan["files"])),
              "check": set().union(*(c.keys() for c in plan["checks"]))}
    used = re.findall(r"\$(p|Plan|file|check)\.(\w+)", script)
    assert {"tag", "ref", "tar", "checks", "files"} <= {name for _, name in used}
    missing = sorted({f"${obj}.{name}" for obj, name in used if name not in fields[obj]})
    assert not missing, f"build.ps1 reads fields plan.json lacks: {missing}"
    assert render.GENERATOR in script and f"$PlanSchema = {render.PLAN_SCHEMA}" in script
    expectations = set(re.findall(r"\$check\.expect -eq '(\w+)'", script))
    assert {c["expect"] for c in plan["checks"]} <= expectations


def test_every_long_running_probe_container_idles_on_a_program_the_probe_ships():
    # Nothing may be assumed about the host's or the UVM's System32 (issue 12, finding 7).
    spec = model.load_spec()
    program = spec.idle_command[0].removeprefix("{rootfs}")
    assert program.casefold() in {p.path.casefold() for p in spec.programs}
