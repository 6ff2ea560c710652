"""Refusals a scenario expects, and refusals it did not: failures whose first line names them.

A scenario that expects the runtime to refuse says at which stage (docs/behaviour/runtime.md
§8 item 4: where a refusal surfaces is part of the behaviour)::

    with expect_refusal("start", "HV-HPC: an unsafe rootfs location") as refused:
        hpc = pod.container()
        hpc.start()
    assert UNSAFE_PATH in refused.runtime_message

The block wraps every call that could refuse, so a refusal that moved to an earlier stage is
reported as such ("refused at create instead of start"), never as a raw crictl error, and an
accepted request fails with "not refused" instead of pytest's bare ``DID NOT RAISE``.

A refusal nobody expected (a :class:`~harness.cri.CriStageError` leaving the test) becomes an
:class:`UnexpectedRefusal`: the same error (same stage, gRPC code and text, so it is
classified as before, harness/plugin/categories.py) whose first line names the behaviour
under test, the stage and what the runtime said, with a reading of well-known Win32 texts.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from harness.cri import CriStageError

# crictl sub-command -> the CRI call it makes (what a reader of the reference knows).
STAGE_RPC = {"runp": "RunPodSandbox", "create": "CreateContainer", "start": "StartContainer",
             "exec": "ExecSync", "stop": "StopContainer", "rm": "RemoveContainer",
             "stopp": "StopPodSandbox", "rmp": "RemovePodSandbox",
             "inspect": "ContainerStatus", "inspectp": "PodSandboxStatus",
             "pull": "PullImage", "logs": "ContainerLog"}
# Win32 texts that name a cause the raw text hides (hcsshim passes them through).
READINGS = (
    ("The directory name is invalid",
     "the process's working directory does not exist in the container (is the rootfs "
     "mounted where expected, is the working directory right?)"),
    ("The system cannot find the file specified",
     "the program was not found where the process is created"),
    ("failed to find executable",
     "the program was not found where the process is created"),
)


def stage_name(stage: str) -> str:
    return f"{stage} ({STAGE_RPC[stage]})" if stage in STAGE_RPC else stage


def reading(message: str) -> str:
    """What a well-known runtime text means, or ""."""
    for text, meaning in READINGS:
        if text in message:
            return meaning
    return ""


@dataclass
class Refusal:
    """The refusal :func:`expect_refusal` caught (its attributes once the block is done)."""

    error: CriStageError | None = None

    @property
    def stage(self) -> str:
        return self.error.stage if self.error else ""

    @property
    def runtime_message(self) -> str:
        return self.error.runtime_message if self.error else ""

    @property
    def grpc_code(self) -> str | None:
        return self.error.grpc_code if self.error else None


@contextmanager
def expect_refusal(stage: str, what: str) -> Iterator[Refusal]:
    """The block must be refused at ``stage`` (a crictl sub-command: runp, create, start,
    exec, inspect...); ``what`` names the request and the rule, e.g.
    ``"HV-HPC: rootfs location 'C:\\\\Windows' (§2.4)"``."""
    __tracebackhide__ = True
    box = Refusal()
    try:
        yield box
    except CriStageError as exc:
        box.error = exc
    if box.error is None:
        pytest.fail(f"{what}: not refused: the runtime accepted it (expected a refusal at "
                    f"{stage_name(stage)})")
    if box.error.stage != stage:
        pytest.fail(f"{what}: refused at {box.error.stage} instead of {stage} "
                    f"(docs/behaviour/runtime.md §8 item 4: {stage_name(stage)}): "
                    f"{box.error.runtime_message}")


class UnexpectedRefusal(CriStageError):
    """A refusal the scenario did not expect, its first line naming the behaviour."""

    def __init__(self, original: CriStageError, behaviour: str):
        super().__init__(original.stage, original.runtime_message, result=original.result,
                         object_id=original.object_id, crictl_message=original.crictl_message,
                         grpc_code=original.grpc_code, hint=getattr(original, "hint", None))
        meaning = reading(original.runtime_message)
        self.headline = (f"{behaviour}: refused at {stage_name(original.stage)}"
                         + (f": {meaning}" if meaning else "")
                         + f"; the runtime said: {original.runtime_message}")

    def __str__(self) -> str:
        return self.headline


__all__ = ["STAGE_RPC", "Refusal", "UnexpectedRefusal", "expect_refusal", "reading",
           "stage_name"]
