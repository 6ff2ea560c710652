"""The end-of-run sweep: remove whatever this run id still has on its hosts.

Every test removes its own pods (:mod:`.pods`); the sweep catches what a crashed (killed)
worker, an interrupted test (Ctrl-C, SIGTERM: :mod:`.signals`) or a refused removal left
behind, by the run-id label every CRI object of the run carries (docs/internals.md "Runtime
under test").  It runs in the controller's ``pytest_sessionfinish`` (:mod:`.targets`),
which pytest calls on a pass, a failure and a KeyboardInterrupt alike, after xdist has
stopped every worker (its own ``pytest_sessionfinish`` terminates them, and ours is
``trylast``), on the hosts this run provisioned.  It is ``hpc-e2e clean --run-id <this
run>`` (:func:`harness.cri.cleanup.clean_host`), so pods without the harness's label are
never touched and the run's folder of CRI files goes too.  Pods kept for a failed test
(``--hpc-keep-on-failure``) are recorded by the workers in ``kept-<worker>.jsonl`` and spared,
with their run folder.  Only a controller killed outright (SIGKILL) skips it: then
``hpc-e2e clean`` removes what is left, and the next run reports it (:mod:`.leftovers`).

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.target import Target
from harness.cri.cleanup import clean_host
from harness.errors import HarnessError
from harness.hosts import per_host
from harness.plugin.provisioning import provisioned_hosts
from harness.runtime import RuntimeLayout, load_bundle


@dataclass
class SweepResult:
    problems: list[str] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)  # host -> pod ids kept
    removed: dict[str, int] = field(default_factory=dict)  # host -> pods swept
    containers: dict[str, int] = field(default_factory=dict)  # host -> their containers


def record_kept(run_dir: str | Path, worker: str, host: str, pod_ids: list[str],
                test: str) -> None:
    """Note pods kept for a failed test so that the sweep spares them (one file per worker)."""
    path = Path(run_dir) / f"kept-{worker}.jsonl"
    with path.open("a", encoding="utf-8") as f:
        for pod_id in pod_ids:
            f.write(json.dumps({"host": host, "pod": pod_id, "test": test}) + "\n")


def read_kept(run_dir: str | Path) -> dict[str, set[str]]:
    kept: dict[str, set[str]] = {}
    for path in sorted(Path(run_dir).glob("kept-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a worker died mid-line
            kept.setdefault(entry["host"], set()).add(entry["pod"])
    return kept


def sweep_run(run, run_targets: Callable[[], list[Target]]) -> SweepResult:
    """Remove this run's leftovers from every host it provisioned; never raises.

    ``run``: the run (:class:`harness.plugin.targets.Run`); ``run_targets``: every Target the
    run may have used (side hosts included), asked for only when a host was provisioned.
    """
    result = SweepResult()
    try:
        hosts = provisioned_hosts(Path(run.run_dir))
        if not hosts:
            return result
        layout = RuntimeLayout.for_bundle(load_bundle(run.bundle))
        by_name = {t.name: t for t in run_targets()}
        kept = read_kept(run.run_dir)
    except HarnessError as exc:
        result.problems.append(f"cannot sweep run {run.run_id}: {exc}")
        return result
    chosen = [by_name[name] for name in hosts if name in by_name]
    cleaned = per_host(chosen, lambda t: clean_host(t, layout, run_id=run.run_id,
                                                    spare=kept.get(t.name, set())))
    for target, host in zip(chosen, cleaned, strict=True):
        name = target.name
        gone = [p for p in host.pods if p.action == "removed"]
        if gone:
            result.removed[name] = len(gone)
            result.containers[name] = sum(p.containers for p in gone)
        if kept.get(name):
            result.kept[name] = sorted(kept[name])
        if host.error is not None:
            result.problems.append(f"{name}: {host.error}")
        result.problems += [f"{name}: pod {p.pod_id[:13]}: {p.error}" for p in host.pods
                            if p.action == "failed"]
        result.problems += [f"{name}: {f['path']}: {f['error']}" for f in host.folders
                            if f["action"] == "failed"]
    return result


__all__ = ["SweepResult", "read_kept", "record_kept", "sweep_run"]
