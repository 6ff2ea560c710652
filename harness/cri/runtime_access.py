"""What deploying the runtime asks of CRI, carried out with crictl.

:func:`harness.runtime.deploy.deploy` waits for containerd's ``RuntimeReady`` and, before it
replaces containerd or the shim, removes the pods earlier runs left; both need CRI, a layer
above the runtime.  The deployment therefore takes a factory of :class:`RuntimeCri`
(``cri=crictl_runtime_access``), and the layers above it (provisioning: ``hpc-e2e provision``
and the plugin) hand this one in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.cri.crictl import Crictl
from harness.cri.spec import RUN_ID_LABEL


@dataclass(frozen=True)
class HostPod:
    """A pod on the host, as the deployment needs to know it."""

    id: str
    namespace: str
    name: str
    state: str
    run_id: str | None  # the harness's run-id label; None: not made by hpc-e2e


class RuntimeCri:
    """``runtime_problem``, ``pods`` and ``remove_pods`` through crictl (``layout``'s paths)."""

    def __init__(self, transport, layout, *, timeout: float, margin: float):
        self.crictl = Crictl(transport, crictl_path=layout.crictl_exe,
                             config_path=layout.crictl_yaml, timeout=timeout, margin=margin)

    def runtime_problem(self) -> str | None:
        """None when the runtime reports RuntimeReady; else why not (errors are raised)."""
        info = self.crictl.info()
        if info.runtime_ready:
            return None
        return "RuntimeReady is false: " + (info.condition_reasons.get("RuntimeReady") or
                                            "(no reason given)")

    def pods(self) -> list[HostPod]:
        return [HostPod(p.id, p.namespace, p.name, p.state, p.labels.get(RUN_ID_LABEL))
                for p in self.crictl.pods(all_runs=True)]

    def remove_pods(self, pod_ids: Sequence[str]) -> list[str]:
        """Stop and remove the pods; the problems (empty: all gone)."""
        return self.crictl.rmp_many(list(pod_ids), force=True)


def crictl_runtime_access(transport, layout, *, timeout: float, margin: float) -> RuntimeCri:
    """The factory :func:`harness.runtime.deploy.deploy` takes as ``cri``."""
    return RuntimeCri(transport, layout, timeout=timeout, margin=margin)


__all__ = ["HostPod", "RuntimeCri", "crictl_runtime_access"]
