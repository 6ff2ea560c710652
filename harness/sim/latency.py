"""How long things take on the simulated host: a switchable latency model.

By default the sim answers as fast as the CPU allows, which hides what dominates a real run:
round trips to the WinRM service and the runtime's own slow steps (a utility VM boot above
all).  A :class:`LatencyModel` put on ``machine.latency`` makes the sim sleep where a real
host would spend the time, so parallelism and round-trip counts are *measured* against a
plausible host (``hpc-e2e bench``, ``--sim-latency``).  The hooks — one per WS-Man request
in harness/sim/winrm_server.py, one per CRI RPC in harness/sim/cri/runtime.py — sleep
outside every lock, so pods on one host overlap as they do under containerd.

Text form (``--sim-latency``), fields comma-separated::

    realistic                     the preset below
    realistic,scale=0.05          the preset, every delay x 0.05 (a run that fits in minutes)
    request=0.03,uvm_boot=8       only these delays (others 0)
    none                          no delay at all (the sim's default)

The ``realistic`` numbers are *estimates*, not measurements: there is no Windows host here
and reference/ gives no timings beyond "UVM boot takes seconds" (docs/behaviour/ecosystem.md §0
item 6).  The reasoning per field:

``request`` 30 ms
    One WS-Man request on a lab host: HTTP.sys, the WinRM service, the WinRS plugin and
    process plumbing; a LAN hop is well under a millisecond, so the service dominates.
``uvm_boot`` 8 s
    RunPodSandbox with a hypervisor handler creates and boots a WCOW utility VM from the
    pause image's UtilityVM folder (docs/behaviour/runtime.md §2.2); a Windows guest boot is
    several seconds even when templated.
``pod_start`` 1.5 s
    RunPodSandbox with a process handler: the shim starts, the pause container's job object
    and its layers are set up (HostProcess pods skip CNI, docs/behaviour/ecosystem.md §0 item 4).
``create`` 0.5 s, ``start`` 1 s / ``start_hyperv`` 2 s
    CreateContainer prepares the spec and snapshot; StartContainer mounts the layers and
    starts the init process, inside the UVM through the GCS for hypervisor pods (slower).
``exec`` 0.3 s / ``exec_hyperv`` 0.6 s
    ExecSync of a short command: a new process in the job object, or in the UVM via the GCS.
``restart`` (not in the preset: 0 keeps the sim's short default)
    How long a restarting host stays down; ``restart=360,scale=0.01`` models a feature
    install whose restart takes six minutes, longer than the 300 s per-test limit, in 3.6 s
    (a test scales the per-test limit the same way: ``-o timeout=3``).
``stop`` 0.5 s, ``remove`` 0.5 s
    StopContainer/StopPodSandbox of a process that exits on the signal, and the Remove RPCs
    (snapshot and state clean-up).  A hypervisor pod's stop also tears its UVM down,
    which ``stop_hyperv`` (default = ``stop``) can model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields, replace

# CRI RPC name -> (field for process isolation, field for hypervisor isolation)
CRI_FIELDS: dict[str, tuple[str, str]] = {
    "RunPodSandbox": ("pod_start", "uvm_boot"),
    "CreateContainer": ("create", "create"),
    "StartContainer": ("start", "start_hyperv"),
    "ExecSync": ("exec", "exec_hyperv"),
    "StopContainer": ("stop", "stop_hyperv"),
    "StopPodSandbox": ("stop", "stop_hyperv"),
    "RemoveContainer": ("remove", "remove"),
    "RemovePodSandbox": ("remove", "remove"),
}
HYPERV = "hyperv"
# The longest delay a model may ask for (a latency of 1e300 would hang the sim for ever).
MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class LatencyModel:
    """Seconds the sim spends per WS-Man request and per CRI RPC, times ``scale``."""

    request: float = 0.0
    uvm_boot: float = 0.0
    pod_start: float = 0.0
    create: float = 0.0
    start: float = 0.0
    start_hyperv: float = 0.0
    exec: float = 0.0
    exec_hyperv: float = 0.0
    stop: float = 0.0
    stop_hyperv: float = 0.0
    remove: float = 0.0
    restart: float = 0.0  # seconds a restarting host is down; 0: the sim's default
    scale: float = 1.0

    # --- text form --------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> LatencyModel:
        """``realistic,scale=0.05`` / ``request=0.03,uvm_boot=8`` / ``none``.

        A bad spec raises ValueError naming the field (the CLI and the plugin turn it into
        a one-line usage error).
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("latency: empty spec (use 'realistic', 'none' or "
                             "field=seconds pairs)")
        names = {f.name for f in fields(cls)}
        model = cls()
        values: dict[str, float] = {}
        for i, part in enumerate(p.strip() for p in text.split(",")):
            if not part:
                raise ValueError(f"latency: empty field in {text!r}")
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep:
                if i != 0:
                    raise ValueError(f"latency: {key!r} is not field=value (a preset name "
                                     "may only come first)")
                if key not in PRESETS:
                    raise ValueError(f"latency: unknown preset {key!r} "
                                     f"(known: {', '.join(PRESETS)})")
                model = PRESETS[key]
                continue
            if key not in names:
                raise ValueError(f"latency: unknown field {key!r} "
                                 f"(known: {', '.join(sorted(names))})")
            if key in values:
                raise ValueError(f"latency: field {key!r} given twice")
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"latency: {key}={raw.strip()!r} is not a number "
                                 "of seconds") from None
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"latency: {key}={raw.strip()} must be a finite number >= 0")
            if value > MAX_SECONDS and key != "scale":  # a factor: checked with the delays
                raise ValueError(f"latency: {key}={raw.strip()} is more than {MAX_SECONDS:g} "
                                 "seconds")
            values[key] = value
        model = replace(model, **values)
        longest = max(getattr(model, f.name) for f in fields(model) if f.name != "scale")
        if longest * model.scale > MAX_SECONDS:
            raise ValueError(f"latency: a delay of {longest:g}s at scale={model.scale:g} is "
                             f"more than {MAX_SECONDS:g} seconds")
        if model.stop_hyperv == 0 and "stop_hyperv" not in values:
            model = replace(model, stop_hyperv=model.stop)
        return model

    def describe(self) -> str:
        """The spec text that parses back to this model (every non-zero field)."""
        parts = [f"{f.name}={getattr(self, f.name):g}" for f in fields(self)
                 if f.name != "scale" and getattr(self, f.name)]
        if self.scale != 1.0:
            parts.append(f"scale={self.scale:g}")
        return ",".join(parts) or "none"

    # --- what the hooks ask -------------------------------------------------------------
    def request_delay(self, action: str = "") -> float:
        return self.request * self.scale

    def cri_delay(self, rpc: str, handler: str = "") -> float:
        """Seconds for ``rpc``; ``handler`` is the pod's isolation (``hyperv`` for a
        hypervisor runtime handler, anything else is process isolation)."""
        pair = CRI_FIELDS.get(rpc)
        if pair is None:
            return 0.0
        name = pair[1] if handler == HYPERV else pair[0]
        return getattr(self, name) * self.scale

    def restart_seconds(self, default: float) -> float:
        """How long a restarting host is down: ``restart`` x ``scale``, else ``default``."""
        return self.restart * self.scale if self.restart else default

    def on_request(self, action: str) -> None:
        """Called by the WinRM server once per WS-Man request, before dispatch, no lock held."""
        _sleep(self.request_delay(action))

    def on_cri(self, rpc: str, handler: str) -> None:
        """Called by the CRI runtime once per RPC, outside its locks."""
        _sleep(self.cri_delay(rpc, handler))


def _sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


PRESETS: dict[str, LatencyModel] = {
    "none": LatencyModel(),
    "realistic": LatencyModel(request=0.03, uvm_boot=8.0, pod_start=1.5, create=0.5,
                              start=1.0, start_hyperv=2.0, exec=0.3, exec_hyperv=0.6,
                              stop=0.5, stop_hyperv=0.5, remove=0.5),
}

__all__ = ["CRI_FIELDS", "HYPERV", "MAX_SECONDS", "PRESETS", "LatencyModel"]
