"""What crictl's output and errors mean: IDs, exec output, refusals, batch steps.

Everything here reads text crictl printed (or a batch step's record of it) and says what it
means for the harness; nothing runs a command.  The JSON views of ``inspect``/``pods``/``ps``
are :mod:`harness.cri.status`; the error types and crictl's error line are
:mod:`harness.cri.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.cri.batch import BatchStepError, StepResult
from harness.cri.errors import (
    CrictlOutputError,
    CriStageError,
    CriUnavailable,
    split_grpc,
)
from harness.errors import CommandTimeout, HarnessError
from harness.transport.base import CommandResult
from harness.transport.retry import is_transient

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*\Z")
_EXITED = re.compile(r"exited with (-?\d+)(?::\s?)?")
# k8s.io/cri-client: ``command timed out: "<argv>" timed out after 5s`` (§3.4)
_TIMED_OUT = re.compile(r"command timed out: |timed out after \d\S*\s*$")
# containerd's name registrar: an earlier RunPodSandbox/CreateContainer of ours holds the
# name (``failed to reserve sandbox name "...": name "..." is reserved for "<id>"``).
RESERVED = re.compile(r'failed to reserve (?:sandbox|container) name .*is reserved for "')
# StartContainer while an earlier StartContainer of ours runs or has run.
START_CONFLICT = re.compile(r"container is (?:already in starting state|in "
                            r"CONTAINER_(?:RUNNING|EXITED) state)")
_NOT_FOUND = re.compile(r"rpc error: code = NotFound desc = ")


def expect_id(stage: str, result: CommandResult, expected: str | None = None) -> str:
    """The one ID ``runp``/``create``/``start``/``stop``/``rm`` print; crictl may print its
    help and exit 0 having done nothing, so anything else is :class:`CrictlOutputError`."""
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    got = lines[-1] if lines else ""
    if len(lines) != 1 or not _ID.match(got) or (expected is not None and got != expected):
        raise CrictlOutputError(stage, f"ID{f' {expected}' if expected else ''}", result)
    return got


def split_exec_output(text: str) -> tuple[str, str]:
    """``(stdout, stderr)`` from ``crictl exec -s`` output on success.

    crictl prints the command's stdout and then its stderr, each with ``fmt.Println``, both
    on its own stdout (cri-tools v1.37.0 cmd/crictl/exec.go ExecSync; docs/behaviour/ecosystem.md
    §3.4): the text is ``stdout + "\\n" + stderr + "\\n"`` and the separator is one of its
    LFs.  Programs end their lines (LF, or CRLF on Windows), so the separator is the last
    LF that leaves both parts empty or ending in a line end: ``out\\n`` and ``err\\n`` come
    back apart, and an empty stderr is always exact.  Only output with blank lines can be
    split more than one way, and then the shortest stderr is taken.  When no split leaves
    whole lines (a program that ends without a newline) the last LF not preceded by CR is
    the separator.
    """
    body = text.removesuffix("\n")
    for i in range(len(body) - 1, -1, -1):
        if body[i] != "\n":
            continue
        out, err = body[:i], body[i + 1:]
        if (not out or out.endswith("\n")) and (not err or err.endswith("\n")):
            return out, err
    i = len(body) - 1
    while i >= 0:
        if body[i] == "\n" and (i == 0 or body[i - 1] != "\r"):
            return body[:i], body[i + 1:]
        i -= 1
    return body, ""


def exec_exit(text: str, argv: Sequence[str]) -> tuple[int | None, str]:
    """Read ``command '<argv>' exited with N: <stderr>`` (docs/behaviour/ecosystem.md §3.4).

    The CRI client joins the argv with spaces, so the exact prefix is known and the
    command's stderr cannot be mistaken for it; a looser match is the fallback, and
    only when no gRPC status is in the text (then the RPC itself failed).
    """
    prefix = f"command '{' '.join(argv)}' exited with "
    at = text.find(prefix)
    if at >= 0:
        m = re.match(r"(-?\d+)(?::\s?)?", text[at + len(prefix):])
        if m:
            return int(m.group(1)), text[at + len(prefix) + m.end():]
    grpc_code, _ = split_grpc(text)
    if grpc_code is not None:
        return None, ""
    m = _EXITED.search(text)
    if m:
        return int(m.group(1)), text[m.end():]
    return None, ""


def exec_timed_out(text: str) -> bool:
    """crictl's error text says the command outlived ``exec --timeout``."""
    return bool(_TIMED_OUT.search(text))


def says_not_found(exc: BaseException) -> bool:
    """The runtime does not know the object: gRPC NotFound in crictl's error, also when
    crictl ends with a summary (``rm``: "unable to remove container(s)") after the
    per-object error that carries the code."""
    if not isinstance(exc, CriStageError):
        return False
    if exc.grpc_code == "NotFound":
        return True
    result = exc.result
    return exc.grpc_code is None and result is not None and \
        bool(_NOT_FOUND.search(result.stderr or ""))


def classify(exc: BaseException) -> str | None:
    """For :class:`~harness.transport.retry.RetryPolicy`: ``runtime`` (containerd
    unreachable), ``transient`` (the way to the host), else None (an answer: final)."""
    if isinstance(exc, CriUnavailable):
        return "runtime"
    if isinstance(exc, CriStageError):
        return "runtime" if exc.grpc_code == "Unavailable" else None
    return "transient" if is_transient(exc) else None


def step_output(result: StepResult, *, object_id: str | None = None) -> CommandResult:
    """A crictl step's CommandResult when it exited 0; else the error a single call of the
    same stage raises (``CriStageError``, ``CriUnavailable``), or the batch's own.
    ``object_id`` names the object in the error when the step could not know it (a
    ``start`` of the container its group created)."""
    step = result.step
    if result.result is None:
        raise HarnessError(f"crictl {step.stage} did not run: an earlier step of its "
                           "batch group failed")
    if result.start_error:
        raise BatchStepError(f"crictl {step.stage} could not be started on the host: "
                             f"{result.start_error}",
                             hint="check the crictl path of the runtime layout")
    if result.timed_out:
        raise CommandTimeout(result.command_line or step.command_line, step.timeout)
    if result.result.exit_code != 0:
        err = CriStageError.from_result(step.stage, result.result,
                                        object_id=object_id or step.object_id)
        if err.grpc_code == "Unavailable":
            raise CriUnavailable(err) from err
        raise err
    return result.result


def first_line(exc: BaseException) -> str:
    """The first line of an error, at most 200 characters (for a log line)."""
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= 200 else line[:199] + "…"


__all__ = ["RESERVED", "START_CONFLICT", "classify", "exec_exit", "exec_timed_out", "expect_id",
           "first_line", "says_not_found", "split_exec_output", "step_output"]
