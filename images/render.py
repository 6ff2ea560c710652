#!/usr/bin/env python3
"""Check ``hpc_images/images.toml`` and render the probe image's build from it.

images.toml is the one description of the suite's images.  The simulated host's image store
(``harness/sim/cri/images.py``) builds its probe image from it; this script turns the same
entries into what a Windows runner needs to build the real one: a build context (a
Dockerfile plus the probe's literal files, byte for byte) and ``plan.json``, which
``images/build.ps1`` reads (Windows PowerShell 5.1 parses JSON, not TOML).  Nothing about the
probe is written twice, so the sim and the real image cannot drift apart.

Standalone on purpose (standard library only, Python >= 3.11 for tomllib): it runs on the
controller or on the runner, and the harness's layers (docs/internals.md) have no place for
image builds.  See images/README.md.

    python images/render.py check
    python images/render.py dockerfile --build 26100
    python images/render.py plan --build 26100
    python images/render.py context --build 26100 --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path


if not __package__:  # run as a script (a bare Python on the runner): the model beside it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpc_images.model import (  # noqa: E402 - after the path of a script run
    BASES,
    IMAGES_TOML,
    ROOTFS_PLACEHOLDER,
    BuildEntry,
    ImagesTomlError,
    Spec,
    expand,
    load_spec,
)

GENERATOR = "images/render.py"
PLAN_SCHEMA = 1
# A program built from C source (a file next to images.toml): mingw-w64, no PE time stamp,
# so the same source gives the same bytes (and the same plan.json hashes).
CC = "x86_64-w64-mingw32-gcc"
CC_FLAGS = ("-O2", "-s", "-Wall", "-Wl,--no-insert-timestamp")
# Fixed modification time of the rendered context files, so the COPY layers do not depend on
# when the context was rendered (2000-01-01T00:00:00Z).
CONTEXT_MTIME = 946684800


@dataclass(frozen=True)
class ProbeFile:
    """One file the probe adds to its base image; exactly one of ``data`` / ``copy_of``."""

    path: str  # relative to the rootfs root, backslashes
    data: bytes | None = None
    copy_of: str | None = None  # a file of the base image, same convention


# --- rendering ---------------------------------------------------------------------------------
def probe_files(spec: Spec, entry: BuildEntry) -> list[ProbeFile]:
    """What the probe adds to its base image for ``entry``: the marker, then the programs."""
    files = [ProbeFile(spec.marker_path, data=expand(spec.marker_content, entry).encode())]
    for prog in spec.programs:
        if prog.copy_of is not None:
            files.append(ProbeFile(prog.path, copy_of=prog.copy_of))
        elif prog.source is not None:
            files.append(ProbeFile(prog.path, data=compile_source(spec.source_dir()
                                                                  / prog.source)))
        else:
            files.append(ProbeFile(prog.path, data=expand(prog.content or "", entry).encode()))
    return files


def compile_source(source: Path) -> bytes:
    """The Windows x64 executable built from ``source`` with mingw-w64."""
    import subprocess
    import tempfile

    if shutil.which(CC) is None:
        raise ImagesTomlError(f"{source.name}: building it needs {CC} (Debian package "
                              "gcc-mingw-w64-x86-64); render the probe on a machine that has it")
    if not source.is_file():
        raise ImagesTomlError(f"{source}: the probe program's source does not exist")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "program.exe"
        done = subprocess.run([CC, *CC_FLAGS, "-o", str(out), str(source)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ImagesTomlError(f"{source.name}: {CC} failed: {done.stderr.strip()[-500:]}")
        return out.read_bytes()


def normalize_ref(ref: str) -> str:
    """How containerd names ``ref`` after an import (docker.io and library/ defaults)."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ref
    return "docker.io/" + (ref if rest else "library/" + ref)


def _image_path(rel: str) -> str:
    """A rootfs-relative path as a Dockerfile destination/source (C:\\ of the image)."""
    return "/" + rel.replace("\\", "/")


def context_file(rel: str) -> str:
    return "files/" + rel.replace("\\", "/")


def render_dockerfile(spec: Spec, entry: BuildEntry) -> str:
    """The probe's Dockerfile for ``entry``.

    Only FROM, COPY and LABEL, no RUN: building never starts a container, so it does not
    depend on the builder host being able to run the base image (process isolation needs
    host build >= image build, docs/behaviour/ecosystem.md §4.4), and nanoserver has no PowerShell
    anyway.  The copied executable comes from a stage of the same base image; literal files
    come from the context byte for byte (cmd's ``echo`` cannot write exact bytes).
    """
    base = spec.base_image(entry)
    lines = [
        f"# The hpc-e2e probe image {spec.tag(entry)} (Windows build {entry.build}).",
        "# Rendered by images/render.py from hpc_images/images.toml; change images.toml, not this.",
        f"FROM {base} AS base",
        f"FROM {base}",
    ]
    for f in probe_files(spec, entry):
        if f.copy_of is not None:
            src = json.dumps([_image_path(f.copy_of), _image_path(f.path)], ensure_ascii=False)
            lines.append(f"COPY --from=base {src}")
        else:
            src = json.dumps([context_file(f.path), _image_path(f.path)], ensure_ascii=False)
            lines.append(f"COPY {src}")
    lines.append(f'LABEL io.hpc-e2e.probe.build="{entry.build}" '
                 f'io.hpc-e2e.probe.ltsc="{entry.ltsc}"')
    return "\n".join(lines) + "\n"


def smoke_checks(spec: Spec, entry: BuildEntry) -> list[dict]:
    """What build.ps1 runs in a normal container of the built image (``docker run``).

    ``expect``: ``exit0`` = exit code 0 (and ``stdout`` when given, compared without trailing
    white space); ``ran`` = the program was found and started (0-255, not cmd's 9009).
    """
    checks = [{"what": f"marker C:\\{spec.marker_path} holds the rendered text",
               "argv": ["cmd", "/c", "type", "C:\\" + spec.marker_path], "expect": "exit0",
               "stdout": expand(spec.marker_content, entry).rstrip(), "severity": "error"}]
    for f in spec.programs:  # no file data needed here: nothing is compiled for the checks
        target = "C:\\" + f.path
        checks.append({"what": f"probe file {target} exists",
                       "argv": ["cmd", "/c", "dir", "/b", target], "expect": "exit0",
                       "stdout": None, "severity": "error"})
    program = spec.idle_command[0].removeprefix(ROOTFS_PLACEHOLDER)
    rootfs = {p.path.casefold() for p in spec.programs}
    if program.casefold() in rootfs:
        checks.append({"what": f"idle program {program} ships in the probe and runs",
                       "argv": ["cmd", "/c", "C:\\" + program, "/?"], "expect": "exit0",
                       "stdout": None, "severity": "error"})
    else:
        checks.append({"what": f"idle program {program} is found in a normal probe container "
                               "(HPCs find it on the host or in the UVM; a warning only)",
                       "argv": ["cmd", "/c", program, "/?"], "expect": "ran", "stdout": None,
                       "severity": "warning"})
    return checks


def build_plan(spec: Spec, host_build: int) -> dict:
    """Everything build.ps1 needs for a host of ``host_build``, paths relative to plan.json."""
    entry = spec.entry_for(host_build)
    files = []
    for f in probe_files(spec, entry):
        item = {"path": f.path, "image_path": "C:\\" + f.path}
        if f.copy_of is not None:
            item.update(source="base", copy_of=f.copy_of)
        else:
            item.update(source="context", context_file="context/" + context_file(f.path),
                        size=len(f.data or b""),
                        sha256=hashlib.sha256(f.data or b"").hexdigest())
        files.append(item)
    tag = spec.tag(entry)
    return {
        "generator": GENERATOR, "schema": PLAN_SCHEMA, "images_toml": spec.source,
        "host_build": host_build, "build": entry.build, "ltsc": entry.ltsc,
        "tag": tag, "ref": normalize_ref(tag), "base": spec.base_image(entry),
        "base_kind": spec.base, "pause": entry.pause,
        "context": "context", "dockerfile": "context/Dockerfile",
        "tar": f"{spec.name.replace('/', '-')}-{entry.ltsc}.tar",
        "files": files, "idle_command": list(spec.idle_command),
        "checks": smoke_checks(spec, entry),
    }


def write_context(spec: Spec, host_build: int, out: Path) -> Path:
    """Write ``out/plan.json`` and ``out/context/`` (Dockerfile, files/); the plan's path.

    ``out`` must be empty, missing, or an earlier rendering (its context is replaced)."""
    out = Path(out)
    plan_path = out / "plan.json"
    if out.exists() and any(out.iterdir()):
        try:
            earlier = json.loads(plan_path.read_text(encoding="utf-8")).get("generator")
        except (OSError, ValueError, AttributeError):
            earlier = None
        if earlier != GENERATOR:
            raise ImagesTomlError(f"{out}: not empty and not an earlier rendering; "
                                  "choose an empty or new folder")
        shutil.rmtree(out / "context", ignore_errors=True)
        plan_path.unlink(missing_ok=True)
    plan = build_plan(spec, host_build)
    entry = spec.entry_for(host_build)
    context = out / "context"
    for f in probe_files(spec, entry):
        if f.data is not None:
            target = context / context_file(f.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.data)
            os.utime(target, (CONTEXT_MTIME, CONTEXT_MTIME))
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_bytes(render_dockerfile(spec, entry).encode())
    os.utime(context / "Dockerfile", (CONTEXT_MTIME, CONTEXT_MTIME))
    plan_path.write_text(json.dumps(plan, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return plan_path


# --- command line ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="render.py", description="Check hpc_images/images.toml and render the probe build.")
    parser.add_argument("--images", type=Path, default=IMAGES_TOML,
                        help="the images file (default: images.toml beside this script)")
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("check", help="validate the images file")
    for verb, what in (("dockerfile", "print the Dockerfile"), ("plan", "print plan.json"),
                       ("context", "write plan.json and the build context to --out")):
        p = sub.add_parser(verb, help=what)
        p.add_argument("--build", type=int, required=True,
                       help="the host's Windows build (its entry or the nearest lower one)")
        if verb == "context":
            p.add_argument("--out", type=Path, required=True, help="folder to write")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.images)
        if args.verb == "check":
            listed = ", ".join(f"{b} {e.ltsc}" for b, e in sorted(spec.builds.items()))
            print(f"{spec.source}: ok: builds {listed}; probe {spec.name} on {spec.base} with "
                  f"{len(spec.programs) + 1} files")
        elif args.verb == "dockerfile":
            sys.stdout.write(render_dockerfile(spec, spec.entry_for(args.build)))
        elif args.verb == "plan":
            print(json.dumps(build_plan(spec, args.build), indent=2, ensure_ascii=False))
        else:
            print(write_context(spec, args.build, args.out))
    except ImagesTomlError as exc:
        print(f"render.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
