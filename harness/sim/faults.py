"""Fault injection in the simulated host, by rate and seed (issue #6).

Resilience of the harness is measured against faults the sim injects on purpose: a
:class:`FaultPlan` (parsed from ``rate=0.05,seed=3[,kinds=a+b]``) says how often and which
kinds; the host owns one :class:`FaultInjector` built from it (``machine.faults``).  Each
injection point asks :meth:`FaultInjector.roll` once with the kinds that make sense there and
gets one kind or None.  One seeded ``random.Random`` behind a lock makes a single-threaded
sequence of rolls repeatable; with concurrent clients the order of rolls follows the order
of requests, which is the most any seed can promise.

Every injected fault is one JSON line in ``<state_dir>/faults.jsonl`` and a count in
:meth:`FaultInjector.counts`, so a run's report can show what the harness survived.

Injection points (what a client sees is listed in /tmp/faults-contract.md and
harness/sim/ASSUMPTIONS.md "Fault injection"):

* harness/sim/winrm_server.py: every WS-Man request after authentication and parsing
  (NTLM-encrypted ones after unwrapping) — :func:`winrm_kinds` says which kinds apply;
* harness/sim/programs/crictl/client.py: a crictl.exe invocation, before it dials the pipe
  (``containerd-crash``, carried out by :func:`harness.sim.programs.containerd.crash`);
* harness/sim/cri/runtime.py: RunPodSandbox with a hypervisor handler (``uvm-boot-failure``).
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.sim.machine import ProcessContext
from harness.sim.process import SimProcess, Terminated

DROP_REQUEST = "drop-request"
DROP_ANSWER = "drop-answer"
HTTP500 = "http500"
RECEIVE_TIMEOUT = "receive-timeout"
SHELL_NOT_FOUND = "shell-not-found"
CONTAINERD_CRASH = "containerd-crash"
HANG = "hang"
HOST_RESTART = "host-restart"
UVM_BOOT_FAILURE = "uvm-boot-failure"

# Faults a well-behaved harness is expected to ride out (retry, re-open, wait).
TRANSIENT_KINDS: tuple[str, ...] = (DROP_REQUEST, DROP_ANSWER, HTTP500, RECEIVE_TIMEOUT,
                                    SHELL_NOT_FOUND, CONTAINERD_CRASH)
# Faults that end in a failed test at best; only injected when named in ``kinds=``.
OTHER_KINDS: tuple[str, ...] = (HANG, HOST_RESTART, UVM_BOOT_FAILURE)
KINDS: tuple[str, ...] = TRANSIENT_KINDS + OTHER_KINDS

FAULTS_FILE = "faults.jsonl"


@dataclass(frozen=True)
class FaultPlan:
    """How often (``rate``, per injection point), which ``kinds``, from which ``seed``."""

    rate: float
    seed: int = 0
    kinds: tuple[str, ...] = TRANSIENT_KINDS

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate={self.rate!r} is not a number from 0 to 1")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"kinds= names unknown kind {unknown[0]!r} "
                             f"(known: {', '.join(KINDS)})")
        if not self.kinds:
            raise ValueError("kinds= is empty")

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """``rate=R[,seed=N][,kinds=K1+K2...]``; ValueError naming the field otherwise."""
        fields: dict[str, str] = {}
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            key = key.strip().lower()
            if not sep:
                raise ValueError(f"{part!r} is not key=value "
                                 "(expected rate=R[,seed=N][,kinds=K1+K2])")
            if key not in ("rate", "seed", "kinds"):
                raise ValueError(f"unknown field {key!r} (fields: rate, seed, kinds)")
            if key in fields:
                raise ValueError(f"field {key!r} given twice")
            fields[key] = value.strip()
        if "rate" not in fields:
            raise ValueError("rate= is required (e.g. rate=0.05,seed=3)")
        try:
            rate = float(fields["rate"])
        except ValueError:
            raise ValueError(f"rate={fields['rate']!r} is not a number") from None
        if math.isnan(rate) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={fields['rate']!r} is not a number from 0 to 1")
        seed = 0
        if "seed" in fields:
            try:
                seed = int(fields["seed"])
            except ValueError:
                raise ValueError(f"seed={fields['seed']!r} is not an integer") from None
        kinds = TRANSIENT_KINDS
        if "kinds" in fields:
            names = [k.strip().lower() for k in fields["kinds"].split("+") if k.strip()]
            if not names:
                raise ValueError("kinds= is empty")
            for name in names:
                if name not in KINDS:
                    raise ValueError(f"kinds= names unknown kind {name!r} "
                                     f"(known: {', '.join(KINDS)})")
            kinds = tuple(dict.fromkeys(names))
        return cls(rate=rate, seed=seed, kinds=kinds)

    def __str__(self) -> str:
        return f"rate={self.rate:g},seed={self.seed},kinds={'+'.join(self.kinds)}"


class FaultInjector:
    """The live plan of one host: rolls, records and counts injected faults.

    ``state_dir`` None keeps the record in memory only (:attr:`records`).
    """

    def __init__(self, plan: FaultPlan, state_dir: str | os.PathLike[str] | None = None):
        self.plan = plan
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.records: list[dict] = []
        self.path = None if state_dir is None else Path(state_dir) / FAULTS_FILE
        self.suspended = False  # tests and the host itself may pause injection

    def roll(self, point: str, applicable_kinds: Iterable[str], detail: str = "") -> str | None:
        """One draw at ``point``: a kind from the enabled ``applicable_kinds``, or None.

        Exactly one number is drawn per call whatever applies, so the sequence of draws
        (and with it every later decision) depends only on the seed and the number of rolls.
        """
        enabled = [k for k in self.plan.kinds if k in set(applicable_kinds)]
        with self._lock:
            hit = self._random.random() < self.plan.rate
            pick = self._random.random()  # drawn always: keeps the sequence aligned
            if not hit or not enabled or self.suspended:
                return None
            kind = enabled[min(int(pick * len(enabled)), len(enabled) - 1)]
            self._counts[kind] += 1
            record = {"time": time.time(), "kind": kind, "point": point, "detail": detail}
            self.records.append(record)
            if self.path is not None:
                try:
                    with open(self.path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(record) + "\n")
                except OSError:
                    pass  # the record in memory stays; a full disk must not stop the host
        return kind

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def winrm_kinds(action: str | None, names_shell: bool) -> tuple[str, ...]:
    """The kinds that apply to one WS-Man request (/tmp/faults-contract.md)."""
    kinds = [DROP_REQUEST, DROP_ANSWER, HTTP500, HOST_RESTART]
    if action == "Receive":
        kinds.append(RECEIVE_TIMEOUT)
    if names_shell:
        kinds.append(SHELL_NOT_FOUND)
    if action == "Command":
        kinds.append(HANG)
    return tuple(kinds)


def hung_process(machine: object, command_line: str) -> SimProcess:
    """A command that was accepted and then never answers: no output, no exit, until it is
    terminated (WinRS Signal, shell Delete).  The real command line never runs."""

    def program(ctx: ProcessContext) -> int:
        ctx.cancelled.wait()
        raise Terminated()

    def factory(stdin, stdout, stderr, cancel) -> ProcessContext:
        return ProcessContext(machine=machine, command_line=command_line,  # type: ignore[arg-type]
                              argv=[], env={}, cwd="C:\\", stdin=stdin, stdout=stdout,
                              stderr=stderr, cancelled=cancel)

    return SimProcess(factory, program, "hung-command")


__all__ = ["CONTAINERD_CRASH", "DROP_ANSWER", "DROP_REQUEST", "FAULTS_FILE", "HANG",
           "HOST_RESTART", "HTTP500", "KINDS", "OTHER_KINDS", "RECEIVE_TIMEOUT",
           "SHELL_NOT_FOUND", "TRANSIENT_KINDS", "UVM_BOOT_FAILURE", "FaultInjector",
           "FaultPlan", "hung_process", "winrm_kinds"]
