"""Leftovers of earlier runs: reported when a run starts on a host, never removed by it.

A run that was killed outright (SIGKILL, a lost runner) cannot sweep its pods; they stay on
the host with their run-id label.  The next run on that host says so: right after the host
is provisioned, the worker that provisioned it (once per host and run) lists the pods that
carry the label with *another* run id — the listing of ``hpc-e2e clean``
(:func:`harness.cri.cleanup.labelled_pods`) — and writes ``leftovers-<host>.json`` in
the run folder.  The controller turns the files into one line per host in the terminal
summary (count, run ids, age, the ``hpc-e2e clean`` command that removes them) and into a
``host.<name>.leftovers`` entry of ``environment.properties`` (Allure's Environment panel).

They are not removed: on a host shared by several controllers (a CI matrix, a developer
beside the nightly job) another run's pods may belong to a run that is still going.
Removing them is a decision for ``hpc-e2e clean`` (``--run-id``, ``--older-than``).

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cri.cleanup import labelled_containers, labelled_pods
from harness.cri.spec import RUN_ID_LABEL
from harness.errors import HarnessError
from harness.plugin.options import SETTINGS
from harness.plugin.reporting import record_host
from harness.plugin.targets import CONTROLLER, is_worker

log = logging.getLogger("harness.plugin")

_LINES = pytest.StashKey[list[str]]()


@dataclass
class RunLeftovers:
    """What one earlier run left on one host."""

    run_id: str
    pods: int = 0
    containers: int = 0
    age_seconds: float | None = None  # of its oldest pod, when the host said


@dataclass
class HostLeftovers:
    host: str
    runs: list[RunLeftovers] = field(default_factory=list)
    error: str = ""  # the listing failed (reported, never fatal)

    @property
    def pods(self) -> int:
        return sum(r.pods for r in self.runs)

    @property
    def containers(self) -> int:
        return sum(r.containers for r in self.runs)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> HostLeftovers:
        return cls(host=data["host"], runs=[RunLeftovers(**r) for r in data.get("runs", [])],
                   error=data.get("error", ""))


def survey(crictl, host: str, *, run_id: str, now: datetime | None = None) -> HostLeftovers:
    """The labelled pods and containers of runs other than ``run_id`` on one host."""
    now = now or datetime.now(UTC)
    runs: dict[str, RunLeftovers] = {}
    for pod in labelled_pods(crictl):
        rid = pod.labels[RUN_ID_LABEL]
        if rid == run_id:
            continue
        entry = runs.setdefault(rid, RunLeftovers(rid))
        entry.pods += 1
        if pod.created_at is not None:
            age = max(0.0, (now - pod.created_at).total_seconds())
            entry.age_seconds = age if entry.age_seconds is None else max(entry.age_seconds, age)
    if runs:
        for ctr in labelled_containers(crictl):
            entry = runs.get(ctr.labels[RUN_ID_LABEL])
            if entry is not None:
                entry.containers += 1
    return HostLeftovers(host, sorted(runs.values(), key=lambda r: r.run_id))


def path_for(run_dir: str | Path, host: str) -> Path:
    return Path(run_dir) / f"leftovers-{host}.json"


def survey_host(hpc_host, run_dir: str | Path) -> HostLeftovers:
    """Survey an ``hpc_host`` and record the result for the controller; never raises."""
    try:
        found = survey(hpc_host.crictl, hpc_host.name, run_id=hpc_host.run_id)
    except HarnessError as exc:
        log.warning("hpc-e2e: %s: could not list pods of earlier runs: %s", hpc_host.name, exc)
        found = HostLeftovers(hpc_host.name, error=str(exc))
    path = path_for(run_dir, hpc_host.name)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(found.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("hpc-e2e: cannot record leftovers of %s in %s: %s", found.host, path, exc)
    return found


def read_all(run_dir: str | Path) -> list[HostLeftovers]:
    out = []
    for path in sorted(Path(run_dir).glob("leftovers-*.json")):
        try:
            out.append(HostLeftovers.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("hpc-e2e: unreadable %s: %s", path, exc)
    return out


def age_text(seconds: float | None) -> str:
    """``45s old``, ``3h12m old``, ``2d5h old``: the two largest units."""
    if seconds is None:
        return "age unknown"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next((i for i, (n, _) in enumerate(parts) if n), len(parts) - 1)
    text = "".join(f"{n}{u}" for i, (n, u) in enumerate(parts[first:first + 2]) if n or not i)
    return text + " old"


def clean_command(host: str, *, inventory: Path | None, bundle: str | Path | None) -> str:
    """The ``hpc-e2e clean`` line that removes them (the same hosts and runtime layout)."""
    if inventory is None:
        return "hpc-e2e clean"
    line = f"hpc-e2e clean --inventory {inventory} --host {host}"
    if bundle is not None:
        line += f" --bundle {bundle}"
    return line


def describe(found: HostLeftovers, clean: str) -> str:
    """One line: count, run ids with their age, and how to remove them."""
    if found.error:
        return f"{found.host}: could not list the pods of earlier runs: {found.error}"
    runs = ", ".join(f"{r.run_id} ({r.pods} pod(s), {age_text(r.age_seconds)})"
                     for r in found.runs)
    return (f"{found.host}: {found.pods} pod(s) with {found.containers} container(s) left by "
            f"{len(found.runs)} earlier run(s): {runs}; not removed (a run may still be "
            f"live there); remove with `{clean}` (one run: add --run-id ID)")


# --- hooks (controller) ---------------------------------------------------------------------
def _controller_run(config: pytest.Config):
    if is_worker(config):
        return None
    controller = config.stash.get(CONTROLLER, None)
    if controller is None or not controller.started:
        return None
    return controller.run()


# tryfirst: before the reporting plugin writes environment.properties (trylast).
@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    run = _controller_run(config)
    if run is None:
        return
    settings = config.stash[SETTINGS]
    lines = []
    for found in read_all(run.run_dir):
        if not (found.runs or found.error):
            continue
        clean = clean_command(found.host, inventory=settings.inventory,
                              bundle=settings.bundle)
        text = describe(found, clean)
        lines.append(text)
        log.info("hpc-e2e: %s", text)
        value = text.split(": ", 1)[1]
        record_host(config, found.host, leftovers=value)
    config.stash[_LINES] = lines


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = config.stash.get(_LINES, [])
    if lines:
        terminalreporter.section("hpc-e2e: pods of earlier runs", yellow=True)
        for text in lines:
            terminalreporter.write_line(f"hpc-e2e: {text}", yellow=True)


__all__ = ["HostLeftovers", "RunLeftovers", "age_text", "clean_command", "describe",
           "path_for", "read_all", "survey", "survey_host"]
