"""The operations compared between the simulated crictl and the real one.

Each scenario drives a :class:`~harness.cri.Crictl` client through one operation on an
environment (:class:`Env`: the real tools on Linux, or the simulated Windows host) and
returns what the client saw, reduced to what must agree: parsed results, exit codes, the
error class, stage, gRPC code and the runtime's message with IDs, image names and
container commands replaced by placeholders.  The commands differ by OS (``/bin/sh -c`` on
Linux, ``cmd /c`` on Windows) but do the same thing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.cri import ContainerSpec, Crictl, CriExecTimeout, CriStageError, PodSpec
from harness.cri.crictl import _RESERVED
from harness.cri.errors import CriUnavailable

MISSING_ID = "0" * 64


@dataclass
class Env:
    """One side of the comparison."""

    name: str
    client: Callable[[], Crictl]
    image: str
    missing_image: str
    handler: str | None
    pod_spec: Callable[[str], PodSpec]
    ctr_spec: Callable[[str], ContainerSpec]
    out_err: list[str]      # prints "out" on stdout and "err" on stderr
    exit3: list[str]        # the same, then exits 3
    not_found: list[str]    # a program that does not exist
    slow: list[str]         # runs for far longer than a second
    words: dict[str, str] = field(default_factory=dict)  # text -> placeholder

    def started(self, client: Crictl, name: str = "p"):
        client.pull(self.image)
        pod = client.runp(self.pod_spec(name), runtime_handler=self.handler)
        ctr = client.create(pod, self.ctr_spec("c"))
        client.start(ctr)
        return pod, ctr


_HEX_ID = re.compile(r"\b[0-9a-f]{64}\b")


def _text(env: Env, text: str) -> str:
    for word, placeholder in sorted(env.words.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(word, placeholder)
    text = _HEX_ID.sub("<id>", text)
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))


def observe(env: Env, fn: Callable[[], dict]) -> dict:
    """What the client saw: the scenario's dict, or the error reduced to its fields."""
    try:
        return {"outcome": "ok", **fn()}
    except CriExecTimeout as exc:
        return {"outcome": "CriExecTimeout", "stage": exc.stage}
    except (CriStageError, CriUnavailable) as exc:
        return {"outcome": type(exc).__name__, "stage": exc.stage, "grpc": exc.grpc_code,
                "message": _text(env, exc.runtime_message)}


# --- the scenarios --------------------------------------------------------------------------
def s_version(env, c):
    v = c.version()
    return {"runtime_name": v.runtime_name, "api": v.runtime_api_version}


def s_info(env, c):
    return {"runtime_ready": c.info().runtime_ready}


def s_pull(env, c):
    return {"answer_is_image_id": c.pull(env.image).startswith("sha256:")}


def s_images_filter(env, c):
    c.pull(env.image)
    everything = c.images()
    raw = c.run("images", "images", "-o", "json", env.missing_image, repeatable=True)
    listed = json.loads(raw.stdout).get("images") or []
    return {"crictl_lists_for_an_absent_ref": "all" if len(listed) == len(everything)
            else len(listed),
            "client_finds_absent_ref": len(c.images(env.missing_image)),
            "client_finds_present_ref": len(c.images(env.image))}


def s_pull_missing(env, c):
    c.pull(env.missing_image)
    return {}


def s_launch(env, c):
    pod, ctr = env.started(c)
    return {"pod_state": c.inspectp(pod).state, "ctr_state": c.inspect(ctr).state}


def s_exec_out_err(env, c):
    _, ctr = env.started(c)
    r = c.exec(ctr, env.out_err)
    return {"exit": r.exit_code, "stdout": _text(env, r.stdout), "stderr": _text(env, r.stderr)}


def s_exec_exit3(env, c):
    _, ctr = env.started(c)
    r = c.exec(ctr, env.exit3)
    return {"exit": r.exit_code, "stdout_discarded": r.stdout_discarded,
            "stderr": _text(env, r.stderr)}


def s_exec_not_found(env, c):
    _, ctr = env.started(c)
    r = c.exec(ctr, env.not_found)
    return {"exit": r.exit_code}


def s_exec_timeout(env, c):
    _, ctr = env.started(c)
    c.exec(ctr, env.slow, timeout=1)
    return {}


def s_logs(env, c):
    _, ctr = env.started(c)
    end = time.monotonic() + 30  # the runtime writes the log file on its own schedule
    while not c.logs(ctr).stdout.strip() and time.monotonic() < end:
        time.sleep(0.1)
    return {"has_output": bool(c.logs(ctr).stdout.strip())}


def s_stop_rm(env, c):
    pod, ctr = env.started(c)
    c.stop(ctr, timeout=0)
    after_stop = c.inspect(ctr).state
    c.rm(ctr)
    c.stopp(pod)
    after_stopp = c.inspectp(pod).state
    c.rmp(pod)
    return {"after_stop": after_stop, "after_stopp": after_stopp, "pods_left": len(c.pods())}


def _missing(op):
    def scenario(env, c):
        getattr(c, op)(MISSING_ID)
        return {}
    scenario.__name__ = f"s_{op}_missing"
    return scenario


def s_filtered_by_run_id(env, c):
    other = c.__class__(c.transport, crictl_path=c.crictl_path, config_path=c.config_path,
                        timeout=c.timeout, runtime_endpoint=c.runtime_endpoint,
                        image_endpoint=c.image_endpoint,
                        runs_root=c.files.path.dirname(c.remote_dir), batch=c.batching)
    try:
        env.started(c, "mine")
        other.runp(env.pod_spec("theirs"), runtime_handler=env.handler)
        return {"mine": len(c.pods()), "theirs": len(other.pods()),
                "all_runs_at_least": len(c.pods(all_runs=True)) >= 2,
                "my_containers": len(c.ps()), "their_containers": len(other.ps())}
    finally:
        other.cleanup()


def s_runp_twice(env, c):
    spec = env.pod_spec("twice")
    c.runp(spec, runtime_handler=env.handler)
    try:
        c.runp(spec, runtime_handler=env.handler)
    except CriStageError as exc:
        return {"refused": True, "grpc": exc.grpc_code,
                "reserved": bool(_RESERVED.search(exc.runtime_message))}
    return {"refused": False}


def s_create_twice(env, c):
    c.pull(env.image)
    pod = c.runp(env.pod_spec("p"), runtime_handler=env.handler)
    c.create(pod, env.ctr_spec("same"))
    try:
        c.create(pod, env.ctr_spec("same"))
    except CriStageError as exc:
        return {"refused": True, "grpc": exc.grpc_code,
                "reserved": bool(_RESERVED.search(exc.runtime_message))}
    return {"refused": False}


def s_cleanup(env, c):
    env.started(c)
    problems = c.cleanup()
    return {"problems": len(problems), "pods_left": len(c.pods()), "ctrs_left": len(c.ps())}


SCENARIOS: dict[str, Callable] = {
    "version": s_version,
    "info": s_info,
    "pull": s_pull,
    "images REF": s_images_filter,
    "pull missing": s_pull_missing,
    "runp+create+start": s_launch,
    "exec out/err": s_exec_out_err,
    "exec exit 3": s_exec_exit3,
    "exec not found": s_exec_not_found,
    "exec timeout": s_exec_timeout,
    "logs": s_logs,
    "stop/rm/stopp/rmp": s_stop_rm,
    **{f"{op} missing": _missing(op) for op in ("stop", "rm", "stopp", "rmp", "inspect",
                                                 "inspectp")},
    "pods/ps by run id": s_filtered_by_run_id,
    "runp twice": s_runp_twice,
    "create twice": s_create_twice,
    "cleanup": s_cleanup,
}
