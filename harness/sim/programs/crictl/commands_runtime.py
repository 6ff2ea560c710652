"""The runtime-level sub-commands: ``version`` and ``info``.

The harness uses them to probe containerd before anything else; they share nothing with the
pod, container or image commands.
"""

from __future__ import annotations

from typing import Any

from harness.sim.programs.crictl.cli import COMMANDS, _help_exit
from harness.sim.programs.crictl.client import runtime_client
from harness.sim.programs.crictl.errors import RpcError, _wrap
from harness.sim.programs.crictl.flags import Parsed
from harness.sim.programs.crictl.invocation import CrictlInvocation
from harness.sim.programs.crictl.output import _output_status_data


# version / info ---------------------------------------------------------------------------
def cmd_version(app: CrictlInvocation, p: Parsed) -> int | None:
    if p.args:
        return _help_exit(app, COMMANDS["version"])
    client = runtime_client(app)
    try:
        v = client.call(client.rt.version, deadline=client.timeout,
                        klog="Version from runtime service failed")
    except RpcError as exc:
        raise _wrap("getting the runtime version", exc) from None
    app.println(f"Version:  {v.get('version', '')}")
    app.println(f"RuntimeName:  {v.get('runtimeName', '')}")
    app.println(f"RuntimeVersion:  {v.get('runtimeVersion', '')}")
    app.println(f"RuntimeApiVersion:  {v.get('runtimeApiVersion', '')}")
    return None


def cmd_info(app: CrictlInvocation, p: Parsed) -> int | None:
    if p.args:
        return _help_exit(app, COMMANDS["info"])
    client = runtime_client(app)
    try:
        st = client.call(client.rt.status, deadline=client.timeout,
                         klog="Status from runtime service failed")
    except RpcError as exc:
        raise _wrap("getting status of runtime", exc) from None
    data: dict[str, Any] = {"status": st.get("status", {})}
    if not p["quiet"]:
        for key, value in (st.get("info") or {}).items():
            data[key] = value if isinstance(value, dict) else str(value).strip('"')
    if st.get("runtimeHandlers") is not None:
        data["runtimeHandlers"] = st["runtimeHandlers"]
    _output_status_data(app, [data], p["output"])
    return None
