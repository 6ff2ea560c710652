"""The CRI layer: pods and containers as crictl sees them.

* :mod:`.spec` — :class:`PodSpec` / :class:`ContainerSpec` rendered to crictl's JSON
  (snake_case CRI json tags only; the run-id label on everything);
* :mod:`.crictl` — :class:`Crictl`, the client: one method per crictl sub-command, over a
  Transport;
* :mod:`.launch` — runp -> create -> start reconciled by looking, one algorithm carried out
  by a batch executor or one call at a time;
* :mod:`.output` — what crictl's output and errors mean (IDs, exec output, refusals);
* :mod:`.batch` — several crictl steps (and their config files) in one remote command;
* :mod:`.reporter` — :class:`CriReporter`, how a batch's steps reach a report (given, not
  looked for);
* :mod:`.status` — typed views of ``inspectp``/``inspect``/``pods``/``ps``/``info`` output;
* :mod:`.errors` — :class:`CriStageError` (the runtime refused a stage) and friends.
"""

from __future__ import annotations

from harness.cri.crictl import (
    DEFAULT_CONFIG,
    DEFAULT_CRICTL,
    ContainerRef,
    Crictl,
    ExecResult,
    Launch,
    LogsResult,
    PodRef,
)
from harness.cri.errors import CrictlOutputError, CriExecTimeout, CriStageError, CriUnavailable
from harness.cri.reporter import NO_REPORTER, CriReporter
from harness.cri.spec import RUN_ID_LABEL, ContainerSpec, HostMount, PodSpec, new_run_id
from harness.cri.status import (
    HOSTPROCESS_ANNOTATION,
    ContainerStatus,
    ContainerSummary,
    PodStatus,
    PodSummary,
    RuntimeInfo,
    RuntimeVersion,
)

__all__ = [
    "DEFAULT_CONFIG", "DEFAULT_CRICTL", "HOSTPROCESS_ANNOTATION", "NO_REPORTER", "RUN_ID_LABEL",
    "ContainerRef", "ContainerSpec", "ContainerStatus", "ContainerSummary", "CriExecTimeout",
    "CriReporter", "CriStageError", "CriUnavailable", "Crictl", "CrictlOutputError", "ExecResult",
    "HostMount", "Launch", "LogsResult", "PodRef",
    "PodSpec", "PodStatus", "PodSummary", "RuntimeInfo", "RuntimeVersion", "new_run_id",
]
