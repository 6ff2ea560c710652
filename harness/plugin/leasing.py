"""Host leases: at most ``labels.max_leases`` tests use one host at a time, across processes.

Each host has ``max_leases`` slots, each slot a lock file ``<lease dir>/<host>.<slot>.lock``
taken with :class:`filelock.FileLock` without waiting; a lease is one held slot.  On Unix the
lock is ``flock``, which the kernel drops when the holding process dies, so a crashed xdist
worker's lease frees itself (docs/behaviour/protocols.md §4 "Host leasing").  Waiting for a slot
polls every host in turn until ``--hpc-lease-timeout``; the error then names who holds the slots.

Who holds a slot is written to a ``.holder`` file beside the lock (never into the lock file,
which filelock truncates when it opens it).

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from filelock import FileLock, Timeout

from harness.errors import EXIT_TIMEOUT, HarnessError

POLL_INTERVAL = 0.2


class LeaseTimeout(HarnessError):
    """No slot of the wanted hosts came free in time."""

    exit_code = EXIT_TIMEOUT


@dataclass(frozen=True)
class HostSlots:
    name: str
    max_leases: int


@dataclass
class Lease:
    """One held slot of one host; release it exactly once (or use as a context manager)."""

    host: str
    slot: int
    lock: FileLock = field(repr=False)
    holder_file: Path = field(repr=False)
    acquired_at: float = 0.0

    def release(self) -> None:
        if self.lock.is_locked:
            try:
                self.holder_file.unlink(missing_ok=True)
            finally:
                self.lock.release(force=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Leaser:
    """Takes slots in one lease directory on behalf of one holder (a worker)."""

    def __init__(self, lease_dir: Path, *, timeout: float, holder: str,
                 poll_interval: float = POLL_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.lease_dir = Path(lease_dir)
        self.timeout = timeout
        self.holder = holder
        self.poll_interval = poll_interval
        self.clock = clock

    def _paths(self, host: str, slot: int) -> tuple[Path, Path]:
        stem = self.lease_dir / f"{host}.{slot}"
        return stem.with_name(stem.name + ".lock"), stem.with_name(stem.name + ".holder")

    def try_acquire(self, host: HostSlots, *, purpose: str = "") -> Lease | None:
        """A free slot of ``host`` now, or None."""
        self.lease_dir.mkdir(parents=True, exist_ok=True)
        for slot in range(host.max_leases):
            lock_path, holder_path = self._paths(host.name, slot)
            lock = FileLock(lock_path)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            _write_holder(holder_path, f"{self.holder} (pid {os.getpid()}) {purpose}".strip())
            return Lease(host.name, slot, lock, holder_path, time.time())
        return None

    def acquire(self, hosts: Sequence[HostSlots], *, start: int = 0,
                purpose: str = "") -> Lease:
        """A slot of any of ``hosts``, trying them from index ``start`` round the list.

        Waits up to the timeout; :class:`LeaseTimeout` names the hosts and their holders.
        """
        if not hosts:
            raise HarnessError("no hosts to lease", hint="check --hpc-inventory / --hpc-host")
        order = [hosts[(start + i) % len(hosts)] for i in range(len(hosts))]
        deadline = self.clock() + self.timeout
        while True:
            for host in order:
                lease = self.try_acquire(host, purpose=purpose)
                if lease is not None:
                    return lease
            if self.clock() >= deadline:
                raise self._timeout(order)
            time.sleep(self.poll_interval)

    def holders(self, host: HostSlots) -> list[str]:
        """Who holds the slots of ``host`` (as they wrote it; best effort)."""
        found = []
        for slot in range(host.max_leases):
            _, holder_path = self._paths(host.name, slot)
            try:
                text = holder_path.read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if text:
                found.append(f"slot {slot}: {text}")
        return found

    def _timeout(self, hosts: Sequence[HostSlots]) -> LeaseTimeout:
        parts = []
        for host in hosts:
            held = self.holders(host)
            parts.append(f"{host.name} ({host.max_leases} lease(s); "
                         f"{'; '.join(held) if held else 'holders unknown'})")
        return LeaseTimeout(
            f"{self.holder}: no free lease within {self.timeout:g}s on {', '.join(parts)}",
            hint="raise --hpc-lease-timeout, run fewer xdist workers (-n), or raise the host's "
                 f"labels.max_leases; lock files are in {self.lease_dir}")


class HostPool:
    """One worker's view of the hosts: the first lease picks a host, later ones stay on it.

    A worker keeps one host for its session (its ``hpc_host``: one connection, provisioned
    once), but holds a slot of it only while a test runs, so a host with ``max_leases``
    slots never runs more than that many tests at once, and more workers than slots wait
    their turn instead of waiting for another worker's whole session.  The first lease
    tries the hosts from this worker's index on (``gw1`` starts at the second host), so
    workers spread over the pool.
    """

    def __init__(self, targets: Sequence, leaser: Leaser, *, start: int = 0):
        self.targets = {t.name: t for t in targets}
        self.slots = [HostSlots(t.name, t.labels.max_leases) for t in targets]
        self.leaser = leaser
        self.start = start % len(self.slots) if self.slots else 0
        self.bound: str | None = None

    def lease(self, purpose: str = "") -> Lease:
        if self.bound is not None:
            return self.leaser.acquire([s for s in self.slots if s.name == self.bound],
                                       purpose=purpose)
        lease = self.leaser.acquire(self.slots, start=self.start, purpose=purpose)
        self.bound = lease.host
        return lease


def _write_holder(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["HostPool", "HostSlots", "Lease", "LeaseTimeout", "Leaser"]
