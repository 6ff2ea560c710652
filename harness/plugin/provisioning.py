"""Provisioning runs once per host and bundle, however many xdist workers lease the host.

The first worker to need a host takes ``provision-<host>.lock`` in the run folder, provisions
(:func:`harness.runtime.provision.provision_host`: features, restart, deploy) and writes the
summary to ``provisioned-<host>.json`` keyed by the bundle digest; every later worker finds
the summary under the same lock and does nothing (the run-once pattern of
docs/behaviour/protocols.md §4).  A failure is recorded too, so the other workers report it
instead of each retrying a slow provisioning that already failed.

The session-end sweep reads the same files to know which hosts this run touched.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from harness.cri.runtime_access import crictl_runtime_access
from harness.errors import HarnessError
from harness.plugin.limits import STEPS, LimitExpired
from harness.runtime.provision import provision_host
from harness.transport.retry import policy_of

PROVISION_TIMEOUT = 3 * 3600.0  # features, a restart and a deployment of a real host


@dataclass(frozen=True)
class Provisioned:
    host: str
    bundle_digest: str
    summary: dict[str, Any]  # ProvisionSummary.to_dict()
    here: bool  # this process did the provisioning


def record_path(run_dir: Path, host: str) -> Path:
    return Path(run_dir) / f"provisioned-{host}.json"


PROVISION_ATTEMPTS_FACTOR = 3


def ensure_provisioned(windows, bundle, *, run_dir: Path, who: str,
                       timeout: float = PROVISION_TIMEOUT) -> Provisioned:
    """Provision ``windows`` (a WindowsHost) with ``bundle`` unless this run already did."""
    name = windows.name
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = record_path(run_dir, name)
    lock = FileLock(run_dir / f"provision-{name}.lock")
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise HarnessError(f"{name}: another worker has been provisioning this host for "
                           f"{timeout:g}s", hint="look at that worker's progress") from None
    try:
        records = read_records(run_dir, name)
        done = records.get(bundle.digest)
        if done is not None:
            if "error" in done:
                by = done.get("by", "another worker")
                raise HarnessError(f"{name}: provisioning failed in {by}: {done['error']}",
                                   hint="see that worker's first error for the details")
            return Provisioned(name, bundle.digest, done["summary"], here=False)
        try:
            # Provisioning converges (each step checks what is there first), so a transient
            # failure runs it again as a whole (harness/transport/retry.py).  It is dozens of
            # remote steps, each exposed to the same faults, but every attempt resumes where
            # the last one stopped: it gets PROVISION_ATTEMPTS_FACTOR times the attempts of
            # one operation.
            policy = policy_of(windows.transport)
            policy = dataclasses.replace(policy,
                                         attempts=policy.attempts * PROVISION_ATTEMPTS_FACTOR)
            summary = policy.call(lambda: provision_host(
                windows, bundle, cri=crictl_runtime_access,
                progress=lambda message: STEPS.note(name, message)),
                                  what="provision the host", host=name).to_dict()
        except (HarnessError, LimitExpired) as exc:  # the other workers report it
            records[bundle.digest] = {"error": str(exc), "by": who}
            _write_json(path, records)
            raise
        records[bundle.digest] = {"summary": summary, "by": who}
        _write_json(path, records)
    finally:
        lock.release()
    return Provisioned(name, bundle.digest, summary, here=True)


def read_records(run_dir: Path, host: str) -> dict[str, Any]:
    try:
        return json.loads(record_path(run_dir, host).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise HarnessError(f"{record_path(run_dir, host)} is not valid JSON ({exc})",
                           hint="delete it; the host will be provisioned again") from None


def provisioned_hosts(run_dir: Path) -> list[str]:
    """Hosts this run provisioned successfully (with any bundle)."""
    hosts = []
    for path in sorted(Path(run_dir).glob("provisioned-*.json")):
        name = path.stem.removeprefix("provisioned-")
        if any("summary" in r for r in read_records(run_dir, name).values()):
            hosts.append(name)
    return hosts


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["PROVISION_TIMEOUT", "Provisioned", "ensure_provisioned", "provisioned_hosts",
           "read_records", "record_path"]
