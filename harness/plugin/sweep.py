"""The end-of-run sweep: remove whatever this run id still has on its hosts.

Every test removes its own pods (:mod:`.pods`); the sweep catches what a crashed worker, an
interrupted test or a refused removal left behind, by the run-id label every CRI object of
the run carries (docs/internals.md "Runtime under test").  It runs in the controller after
all workers have finished, on the hosts this run provisioned.  Pods kept for a failed test
(``--keep-on-failure``) are recorded by the workers in ``kept-<worker>.jsonl`` and spared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError


@dataclass
class SweepResult:
    problems: list[str] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)  # host -> pod ids kept
    removed: dict[str, int] = field(default_factory=dict)  # host -> pods swept


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


def sweep_run(config, run) -> SweepResult:
    """Remove this run's leftovers from every host it provisioned; never raises."""
    from harness.cri import Crictl
    from harness.plugin.provisioning import provisioned_hosts
    from harness.plugin.targets import targets
    from harness.runtime import RuntimeLayout, load_bundle
    from harness.transport import open_transport

    result = SweepResult()
    try:
        hosts = provisioned_hosts(Path(run.run_dir))
        if not hosts:
            return result
        layout = RuntimeLayout.for_bundle(load_bundle(run.bundle))
        by_name = {t.name: t for t in targets(config, run)}
        kept = read_kept(run.run_dir)
    except HarnessError as exc:
        result.problems.append(f"cannot sweep run {run.run_id}: {exc}")
        return result
    for name in hosts:
        target = by_name.get(name)
        if target is None:
            continue
        keep = kept.get(name, set())
        leftovers: list[str] = []
        errors: list[HarnessError] = []
        try:
            with open_transport(target) as transport:
                crictl = Crictl(transport, run_id=run.run_id, crictl_path=layout.crictl_exe,
                                config_path=layout.crictl_yaml)
                leftovers = [p.id for p in crictl.pods() if p.id not in keep]
                if leftovers and not keep:
                    errors = crictl.cleanup()
                for pod_id in leftovers if keep else []:
                    try:
                        crictl.rmp(pod_id, force=True)
                    except HarnessError as exc:
                        errors.append(exc)
        except HarnessError as exc:
            errors.append(exc)
        if leftovers:
            result.removed[name] = len(leftovers)
        if keep:
            result.kept[name] = sorted(keep)
        result.problems += [f"{name}: {e}" for e in errors]
    return result


__all__ = ["SweepResult", "read_kept", "record_kept", "sweep_run"]
