"""Cleanup by run id: remove what the harness's runs left on a host, and nothing else.

What the harness creates through CRI carries the label ``hpc-e2e.run-id=<run id>``
(docs/internals.md; :data:`harness.cri.spec.RUN_ID_LABEL`).  crictl's ``--label`` filter
takes only ``key=value`` pairs (it splits each on ``=`` and refuses anything else:
docs/behaviour/ecosystem.md §3.2; harness/sim/programs/crictl/ models the same parser), so "any
run" cannot be asked for with a filter: every pod is listed and the key is matched here.
A pod without the label is never touched, whoever made it.

Pods go with ``crictl rmp --force`` (stop, then remove; containerd removes the pod's
containers with it).  The per-run folder of CRI config files under
``C:\\ProgramData\\hpc-e2e\\runs\\<run id>`` goes when no pod of that run is left,
including the folders of runs that died with no pod on the host (listed on the host, not
only inferred from the pods removed): with ``older_than`` such a folder goes when its
run id tells its age (the harness's own ids start with the UTC start time).
``older_than`` compares the pod's ``createdAt`` (the host's clock) with this machine's
clock; skew between them shifts the cut-off by the same amount.

Used by ``hpc-e2e clean`` (:mod:`harness.commands.clean`), the plugin's end-of-run sweep
(:mod:`harness.plugin.sweep`) and its report of earlier runs' leftovers
(:mod:`harness.plugin.leftovers`).
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from harness.cri.crictl import DEFAULT_RUNS_ROOT, Crictl
from harness.cri.spec import RUN_ID_LABEL
from harness.errors import HarnessError
from harness.transport import open_transport
from harness.windows import WindowsHost

# A run id that is safe as one folder name (label value syntax, harness.cri.spec).
RUN_FOLDER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?\Z")


@dataclass
class PodItem:
    pod_id: str
    name: str
    namespace: str
    run_id: str
    created_at: datetime | None
    containers: int
    action: str = ""  # "removed" | "would remove" | "failed"
    error: str = ""

    def to_dict(self) -> dict:
        return {"pod_id": self.pod_id, "name": self.name, "namespace": self.namespace,
                "run_id": self.run_id,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "containers": self.containers, "action": self.action, "error": self.error}


@dataclass
class HostClean:
    host: str
    pods: list[PodItem] = field(default_factory=list)
    folders: list[dict] = field(default_factory=list)  # {"path", "action", "error"}
    kept: int = 0  # labelled pods left alone by --run-id / --older-than
    error: HarnessError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or any(p.action == "failed" for p in self.pods) or \
            any(f["action"] == "failed" for f in self.folders)

    def to_dict(self) -> dict:
        return {"host": self.host, "error": str(self.error) if self.error else None,
                "pods": [p.to_dict() for p in self.pods], "folders": self.folders,
                "kept": self.kept}


def labelled_pods(crictl) -> list:
    """Every pod on the host that carries the harness's run-id label, whatever its run.

    The one way the harness lists "its" pods across runs (``clean``, the end-of-run sweep
    and the leftover report all use it): all pods, then the key matched here, because
    crictl's ``--label`` takes only ``key=value`` (module docstring).
    """
    return [p for p in crictl.pods(all_runs=True) if RUN_ID_LABEL in p.labels]


def labelled_containers(crictl) -> list:
    """Every container (any state) that carries the run-id label, whatever its run."""
    return [c for c in crictl.ps(all_runs=True) if RUN_ID_LABEL in c.labels]


def select(pods, *, run_id: str | None, older_than: timedelta | None,
           now: datetime, spare: Collection[str] = ()) -> tuple[list, list]:
    """``(to remove, labelled but kept)`` from ``crictl pods`` summaries.

    ``spare``: pod ids kept whatever else selects them (pods kept for inspection).
    """
    chosen, kept = [], []
    for pod in pods:
        if RUN_ID_LABEL not in pod.labels:
            continue  # not ours: never touched
        if pod.id in spare or (run_id is not None and pod.labels[RUN_ID_LABEL] != run_id):
            kept.append(pod)
        elif older_than is not None and (pod.created_at is None or
                                         pod.created_at > now - older_than):
            kept.append(pod)  # an unknown creation time is never "old"
        else:
            chosen.append(pod)
    return chosen, kept


def run_folders(transport, root: str) -> list[str]:
    """The names of the run folders under ``root`` on the host (``dir /b /ad``, a cmd.exe
    built-in: one name a line; "File Not Found" when there is none, and "The system cannot
    find the path specified" when ``root`` itself is missing, both exit 1)."""
    result = transport.run(["dir", "/b", "/ad", root], timeout=60, repeatable=True)
    text = (result.stdout or "").strip()
    if result.exit_code != 0:
        said = f"{result.stderr or ''} {text}"
        if re.search(r"File Not Found|cannot find the (?:path|file) specified", said,
                     re.IGNORECASE):
            return []
        raise HarnessError(f"{transport.target.name}: cannot list {root}: exit "
                           f"{result.exit_code}: {said.strip()[:200]}")
    return [name for name in (line.strip() for line in text.splitlines())
            if RUN_FOLDER.match(name) and ".." not in name]


_RUN_ID_TIME = re.compile(r"^(\d{8}-\d{6})-")


def _older(run_id: str, cutoff: datetime) -> bool:
    """Whether a run id made by the harness (``YYYYMMDD-HHMMSS-xxxxxx``, UTC: harness.cri
    .spec.new_run_id) is older than ``cutoff``; False when the id does not say."""
    m = _RUN_ID_TIME.match(run_id)
    if m is None:
        return False
    try:
        started = datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return False
    return started < cutoff


def clean_host(target, layout, *, run_id: str | None = None,
               older_than: timedelta | None = None, dry_run: bool = False,
               now: datetime | None = None, spare: Collection[str] = ()) -> HostClean:
    """Clean one host; trouble is reported in the result, not raised.

    ``spare``: pod ids left alone (and their run's folder with them), for the end-of-run
    sweep's pods kept with ``--keep-on-failure`` (:mod:`harness.plugin.sweep`).
    """
    now = now or datetime.now(UTC)
    result = HostClean(target.name)
    try:
        with open_transport(target) as transport:
            crictl = Crictl(transport, crictl_path=layout.crictl_exe,
                            config_path=layout.crictl_yaml)
            chosen, kept = select(labelled_pods(crictl), run_id=run_id,
                                  older_than=older_than, now=now, spare=spare)
            result.kept = len(kept)
            per_pod: dict[str, int] = {}
            if chosen:  # every container of a chosen pod goes with it, labelled or not
                for c in crictl.ps(all_runs=True):
                    per_pod[c.pod_id] = per_pod.get(c.pod_id, 0) + 1
            for pod in chosen:
                item = PodItem(pod.id, pod.name, pod.namespace, pod.labels[RUN_ID_LABEL],
                               pod.created_at, per_pod.get(pod.id, 0))
                result.pods.append(item)
                if dry_run:
                    item.action = "would remove"
                    continue
                try:
                    crictl.rmp(pod.id, force=True)
                    item.action = "removed"
                except HarnessError as exc:
                    item.action, item.error = "failed", exc.message

            # Folders of runs with no pod left: those whose pods went now, and those of runs
            # that died with no pod on the host (a killed run's folder outlives its pods;
            # an explicit --run-id counts even when its folder is not listed).
            gone = {p.run_id for p in result.pods if p.action in ("removed", "would remove")}
            if run_id is not None and older_than is None:
                gone.add(run_id)
            for name in run_folders(transport, DEFAULT_RUNS_ROOT):
                if run_id is not None and name != run_id:
                    continue
                if older_than is not None and not _older(name, now - older_than):
                    continue  # an age it cannot tell is never "old" (like a pod's)
                gone.add(name)
            gone -= {p.labels[RUN_ID_LABEL] for p in kept}
            gone -= {p.run_id for p in result.pods if p.action == "failed"}
            folders = [(r, ntpath.join(DEFAULT_RUNS_ROOT, r)) for r in sorted(gone)
                       if RUN_FOLDER.match(r) and ".." not in r]
            if folders:
                files = WindowsHost(transport).files
                present = {i.path for i in files.info([path for _, path in folders])
                           if i.is_dir}
                for _, path in folders:
                    if path not in present:
                        continue
                    if dry_run:
                        result.folders.append({"path": path, "action": "would remove",
                                               "error": ""})
                        continue
                    try:
                        files.remove(path, recurse=True)
                        result.folders.append({"path": path, "action": "removed", "error": ""})
                    except HarnessError as exc:
                        result.folders.append({"path": path, "action": "failed",
                                               "error": exc.message})
    except HarnessError as exc:
        result.error = exc
    return result


__all__ = ["RUN_FOLDER", "HostClean", "PodItem", "clean_host", "labelled_containers",
           "labelled_pods", "run_folders", "select"]
