"""One crictl invocation's state and the lines it writes (stdout, logrus, klog).

Every command reads the global settings and writes through the same logrus/klog formats;
holding them on one object keeps those formats in one place.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.sim.machine import ProcessContext
from harness.sim.programs.crictl.goformat import go_quote, version_tuple

DEFAULT_TIMEOUT = 2.0  # seconds, main.go defaultTimeout


def _needs_quoting(text: str) -> bool:
    return any(not (c.isascii() and (c.isalnum() or c in "-._/@^+")) for c in text)


def _utc_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the program state ---------------------------------------------------------------------


@dataclass
class CrictlInvocation:
    """One invocation of the simulated crictl.exe: its context, version and global settings.

    (The harness's own crictl *client* is ``harness.cri.crictl.Crictl``; this is the program
    it talks to on a simulated host.)
    """

    ctx: ProcessContext
    version: str
    runtime_endpoint: str = ""
    runtime_endpoint_set: bool = False
    image_endpoint: str = ""
    image_endpoint_set: bool = False
    timeout: float = DEFAULT_TIMEOUT
    debug: bool = False
    pull_image_on_create: bool = False
    disable_pull_on_run: bool = False
    pid: int = field(default_factory=lambda: 1000 + int(time.time() * 1000) % 8000)
    fault_rolled: bool = False  # the containerd-crash fault was rolled for this invocation

    @property
    def v(self) -> tuple[int, ...]:
        return version_tuple(self.version)

    # --- output -------------------------------------------------------------------------
    def out(self, text: str) -> None:
        """``fmt.Print*`` to stdout (Go writes ``\\n``, not ``\\r\\n``)."""
        self.ctx.stdout.write(text)

    def println(self, text: str = "") -> None:
        self.out(text + "\n")

    def logrus(self, level: str, msg: str) -> None:
        shown = go_quote(msg) if _needs_quoting(msg) else msg
        self.ctx.stderr.write(f'time="{_utc_rfc3339()}" level={level} msg={shown}\n')

    def debugf(self, msg: str) -> None:
        if self.debug:
            self.logrus("debug", msg)

    def klog_error(self, msg: str, err: str, kv: Sequence[tuple[str, Any]] = ()) -> None:
        """k8s.io/cri-client's ``logErr``: a klog error line (remote_runtime.go)."""
        now = datetime.now(UTC)
        head = f"E{now:%m%d} {now:%H:%M:%S}.{now.microsecond:06d} {self.pid:>7} " \
               f"{_KLOG_SITE.get(msg, 'remote_runtime.go:1')}]"
        parts = [go_quote(msg), f"err={go_quote(err)}"]
        for key, value in kv:
            if isinstance(value, (list, tuple)):
                parts.append(f"{key}=[{' '.join(map(str, value))}]")
            else:
                parts.append(f"{key}={go_quote(str(value))}")
        self.ctx.stderr.write(head + " " + " ".join(parts) + "\n")


# Where k8s.io/cri-client v0.31 logs each failed RPC (remote_runtime.go / remote_image.go).
_KLOG_SITE = {
    "Version from runtime service failed": "remote_runtime.go:177",
    "RunPodSandbox from runtime service failed": "remote_runtime.go:208",
    "StopPodSandbox from runtime service failed": "remote_runtime.go:237",
    "RemovePodSandbox from runtime service failed": "remote_runtime.go:256",
    "ListPodSandbox with filter from runtime service failed": "remote_runtime.go:309",
    "CreateContainer in sandbox from runtime service failed": "remote_runtime.go:334",
    "StartContainer from runtime service failed": "remote_runtime.go:358",
    "StopContainer from runtime service failed": "remote_runtime.go:381",
    "RemoveContainer from runtime service failed": "remote_runtime.go:400",
    "ListContainers with filter from runtime service failed": "remote_runtime.go:422",
    "ContainerStatus from runtime service failed": "remote_runtime.go:447",
    "ExecSync cmd from runtime service failed": "remote_runtime.go:511",
    "Status from runtime service failed": "remote_runtime.go:648",
    "ListImages with filter from image service failed": "remote_image.go:142",
    "Get ImageStatus from image service failed": "remote_image.go:163",
    "PullImage from image service failed": "remote_image.go:194",
}
