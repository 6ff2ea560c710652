"""Several crictl invocations in one remote command: ``scripts/crictl_batch.ps1``.

Over WinRM every remote command costs a Command, a Receive and a Signal request (a Send
more with stdin), and before this module a ``runp`` also cost a ``mkdir`` and an upload of
its config (about five requests).  One batch writes the small config files *and* runs the
crictl steps behind them in one command: the files travel on the script's stdin (one base64
line each, checked against size and SHA-256 on the host, written under a temporary name and
renamed), so the transcript names them by path and hash instead of carrying their bytes.

Steps are grouped: a group's steps run one after another and the group stops at the first
step that does not exit 0; different groups run at the same time on the host (independent
pods start concurrently).  A later step can take the ID an earlier step of its group printed
(``id_from``): ``create`` needs the pod's ID that ``runp`` printed, ``start`` the container's.
The host substitutes it for :data:`ID_PLACEHOLDER` only when it is one line that looks like
an ID; otherwise the group stops there and the earlier step's output check names it.

Each step comes back as a :class:`StepResult` holding a normal
:class:`~harness.transport.base.CommandResult`, so the CRI client maps it exactly as a
single call (``CriStageError`` for that step's stage, the same ID checks).  The report shows
one step per crictl invocation through the :class:`~harness.cri.reporter.CriReporter` the
caller passes (the test plugin's reporting transport; nobody by default).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from harness.cmdline.msvcrt import quote_arg, quote_program
from harness.cri.reporter import NO_REPORTER, CriReporter, ReportedStep
from harness.errors import HarnessError, RemoteCommandError
from harness.transport.base import CommandResult
from harness.transport.powershell import ScriptCatalog, ScriptResult, run_script

SCRIPTS = ScriptCatalog(Path(__file__).resolve().with_name("scripts"))
BATCH_SCRIPT = "crictl_batch"
# Stands for the ID printed by the step named in ``id_from``; needs no quoting (msvcrt.py).
ID_PLACEHOLDER = "@hpc-e2e-id@"
# Writing a few small files and the host's polling (20 ms per round) on top of the steps.
SCRIPT_MARGIN = 30.0


@dataclass(frozen=True)
class Step:
    """One crictl invocation: ``argv`` (program first), the seconds the host lets it run
    before killing it, and optionally the index of an earlier step of the same group whose
    printed ID replaces :data:`ID_PLACEHOLDER` in ``argv``."""

    stage: str
    argv: tuple[str, ...]
    timeout: float
    object_id: str | None = None
    id_from: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "argv", tuple(str(a) for a in self.argv))
        if not self.argv:
            raise ValueError("a batch step needs a program")
        if self.timeout <= 0:
            raise ValueError(f"step {self.stage}: timeout must be positive")

    @property
    def arguments(self) -> str:
        """The command line after the program, as the host's CreateProcess receives it."""
        return " ".join(quote_arg(a) for a in self.argv[1:])

    @property
    def command_line(self) -> str:
        return f"{quote_program(self.argv[0])} {self.arguments}"


@dataclass(frozen=True)
class BatchFile:
    """A small file the batch writes on the host before its steps run."""

    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class StepResult:
    """What one step did; ``result`` is None when its group stopped before it."""

    step: Step
    group: int
    index: int
    result: CommandResult | None = None
    started: datetime | None = None
    ended: datetime | None = None
    timed_out: bool = False
    start_error: str | None = None
    command_line: str = ""

    @property
    def ran(self) -> bool:
        return self.result is not None

    @property
    def duration(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return (self.ended - self.started).total_seconds()

    def transcript(self) -> str:
        """The report's text for this step: command, exit code, output, times."""
        if self.result is None:
            return f"$ {self.step.command_line}\n[not run: an earlier step of its group failed]\n"
        text = self.result.transcript()
        when = (f"[started {self.started:%H:%M:%S.%f}"[:-3] + f", ended {self.ended:%H:%M:%S.%f}"[:-3]
                + "]\n") if self.started and self.ended else ""
        notes = ""
        if self.timed_out:
            notes += f"[killed by the batch after {self.step.timeout:g}s]\n"
        if self.start_error:
            notes += f"[could not be started: {self.start_error}]\n"
        return text + when + notes


@dataclass
class BatchResult:
    """Every step of a batch by group (in the order given) and the files written."""

    groups: list[list[StepResult]]
    files: list[dict] = field(default_factory=list)
    script: ScriptResult | None = None


class BatchStepError(HarnessError):
    """A step the host could not even start (its program is missing): an installation
    problem, never a runtime answer."""


def _stamp(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _args(groups: Sequence[Sequence[Step]], files: Sequence[BatchFile]) -> dict:
    steps = []
    for g, group in enumerate(groups):
        for i, step in enumerate(group):
            if step.id_from is not None and not 0 <= step.id_from < i:
                raise ValueError(f"step {step.stage}: id_from must name an earlier step of "
                                 f"its group, not {step.id_from}")
            if step.id_from is None and any(ID_PLACEHOLDER in a for a in step.argv):
                raise ValueError(f"step {step.stage} uses {ID_PLACEHOLDER} without id_from")
            entry = {"group": g, "stage": step.stage, "file": step.argv[0],
                     "arguments": step.arguments, "timeout_ms": int(step.timeout * 1000)}
            if step.id_from is not None:
                entry["id_from"] = step.id_from
            steps.append(entry)
    return {"files": [{"path": f.path, "size": len(f.data), "sha256": f.sha256}
                      for f in files],
            "steps": steps}


def deadline(groups: Sequence[Sequence[Step]]) -> float:
    """The transport deadline: the slowest group's steps one after another, plus a margin."""
    return max(sum(s.timeout for s in group) for group in groups) + SCRIPT_MARGIN


def run_batch(transport, groups: Sequence[Sequence[Step]], *,
              files: Sequence[BatchFile] = (), repeatable: bool = False,
              title: str | None = None, reporter: CriReporter = NO_REPORTER) -> BatchResult:
    """Run ``groups`` (and write ``files`` first) in one remote command.

    Raises what the transport raises (a lost answer leaves it unknown which steps ran: the
    caller reconciles), :class:`~harness.errors.RemoteCommandError` when the script itself
    failed (a file did not verify: then no step ran), :class:`HarnessError` when the host's
    answer is not the script's protocol.  Step failures are *not* raised: they are in the
    results, for the caller to map per stage.  ``reporter`` gets one group around the call
    and one entry per step.
    """
    groups = [list(g) for g in groups if g]
    if not groups:
        raise ValueError("a batch needs at least one step")
    args = _args(groups, files)
    # one chunk for all the files: small, and every chunk may be a request of its own
    stdin = [b"".join(base64.b64encode(f.data) + b"\r\n" for f in files)] if files else None
    with reporter.report_group(title or describe(groups)):
        script = run_script(transport, BATCH_SCRIPT, args, stdin_chunks=stdin,
                            timeout=deadline(groups), catalog=SCRIPTS, check=False,
                            repeatable=repeatable)
        if script.exit_code != 0:
            raise RemoteCommandError(script.command, hint="the batch wrote no file and ran no "
                                     "step; its stderr says which file or argument it refused")
        outcome = parse(groups, script)
        reporter.report_substeps([ReportedStep(s.step.command_line, s.transcript(),
                                               None if s.result is None else s.result.exit_code)
                                  for group in outcome.groups for s in group])
    return outcome


def describe(groups: Sequence[Sequence[Step]]) -> str:
    """``crictl batch: runp p1, create c0 + start | runp p2`` (the report's group title)."""
    parts = []
    for group in groups:
        parts.append(" + ".join(s.stage + (f" {s.object_id}" if s.object_id else "")
                                for s in group))
    return "crictl batch: " + " | ".join(parts)


def parse(groups: Sequence[Sequence[Step]], script: ScriptResult) -> BatchResult:
    value = script.value
    if not isinstance(value, dict) or not isinstance(value.get("steps"), list):
        raise HarnessError(f"the crictl batch wrote no result with steps: {value!r}"[:300],
                           hint="the host is not answering with the hpc-e2e script protocol")
    out = [[StepResult(step, g, i) for i, step in enumerate(group)]
           for g, group in enumerate(groups)]
    host = getattr(script.command, "host", "")
    for raw in value["steps"]:
        try:
            g, i = int(raw["group"]), int(raw["index"])
            slot = out[g][i]
        except (KeyError, TypeError, ValueError, IndexError):
            raise HarnessError(f"the crictl batch reported a step it was not given: "
                               f"{str(raw)[:200]}") from None
        started, ended = _stamp(raw.get("started")), _stamp(raw.get("ended"))
        code = raw.get("exit_code")
        slot.started, slot.ended = started, ended
        slot.timed_out = bool(raw.get("timed_out"))
        slot.start_error = raw.get("start_error") or None
        slot.command_line = str(raw.get("command_line") or slot.step.command_line)
        slot.result = CommandResult(
            command=slot.command_line, exit_code=-1 if code is None else int(code),
            stdout_bytes=str(raw.get("stdout") or "").encode("utf-8"),
            stderr_bytes=str(raw.get("stderr") or "").encode("utf-8"),
            duration=slot.duration, host=host)
    for group in out:  # a group runs in order and stops at a failure: nothing else is sane
        seen_gap = False
        for slot in group:
            if slot.result is None:
                seen_gap = True
            elif seen_gap:
                raise HarnessError(f"the crictl batch ran step {slot.index} of group "
                                   f"{slot.group} after an earlier step did not run")
    return BatchResult(out, list(value.get("files") or []), script)


__all__ = ["BATCH_SCRIPT", "ID_PLACEHOLDER", "SCRIPTS", "BatchFile", "BatchResult",
           "BatchStepError", "Step", "StepResult", "deadline", "describe", "parse",
           "run_batch"]
