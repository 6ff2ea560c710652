"""``crictl exec -s``: how the harness runs commands in a HostProcess container.

Its argument rules, timeouts and error text changed in crictl 1.32, and the harness reads
its stdout/stderr layout, so it is modelled apart from the other container commands.
"""

from __future__ import annotations

from harness.sim.programs.crictl.cli import COMMANDS, _help_exit
from harness.sim.programs.crictl.client import Client, runtime_client
from harness.sim.programs.crictl.commands_containers import list_containers
from harness.sim.programs.crictl.errors import (
    CrictlError,
    RpcError,
    Unmodelled,
    _raise_aggregate,
    _wrap,
)
from harness.sim.programs.crictl.flags import Parsed
from harness.sim.programs.crictl.goformat import go_duration, go_quote
from harness.sim.programs.crictl.invocation import CrictlInvocation


# exec -------------------------------------------------------------------------------------------
def cmd_exec(app: CrictlInvocation, p: Parsed) -> int | None:
    new = app.v >= (1, 32)
    if len(p.args) < (1 if new else 2):
        return _help_exit(app, COMMANDS["exec"])
    client = runtime_client(app)
    ids, argv = [p.args[0]], p.args[1:]
    show_ids = False
    if new:
        if p["ignore-errors"] and not p["quiet"]:
            app.logrus("warning", "The `--ignore-errors` option has been set all errors "
                                  "returned by the command will be ignored.")
        if p.set & {"name", "pod", "image", "state", "label", "latest", "last"}:
            if p["image"]:
                raise Unmodelled("crictl exec --image")
            argv = list(p.args)
            show_ids = not p["quiet"] and not p["parallel"]
            try:
                ids = [c["id"] for c in list_containers(app, client, p, all_states=False)]
            except CrictlError as exc:
                raise _wrap("listing containers", exc) from None
            if not ids:
                app.logrus("error", "No containers found per filter flags")
                return _help_exit(app, COMMANDS["exec"])
        elif len(p.args) < 2:
            return _help_exit(app, COMMANDS["exec"])
    if not p["sync"]:
        raise Unmodelled("crictl exec without -s (streaming exec); use exec -s")
    errors: list[str] = []
    for cid in ids:
        if show_ids:
            app.println(cid + ":")
        try:
            _exec_sync(app, client, cid, argv, p["timeout"])
        except CrictlError as exc:
            where = f"container {cid} synchronously" if new else "container synchronously"
            errors.append(f"execing command in {where}: {exc}")
    if new and p["ignore-errors"]:
        return None
    if not new and errors:  # one container, no aggregate before 1.32
        raise CrictlError(errors[0])
    _raise_aggregate(errors)
    return None


def _exec_sync(app: CrictlInvocation, client: Client, cid: str, argv: list[str],
               timeout: int) -> None:
    """crictl ``ExecSync`` over cri-client's ``execSyncV1``."""
    joined = " ".join(argv)
    timed_out = CrictlError(f"command timed out: {go_quote(joined)} timed out after "
                            f"{go_duration(timeout)}")
    try:
        result = client.call(lambda: client.rt.exec_sync(cid, list(argv), timeout),
                             deadline=None if timeout == 0 else client.timeout + timeout,
                             klog="ExecSync cmd from runtime service failed",
                             kv=[("containerID", cid), ("cmd", argv)])
    except RpcError as exc:
        if exc.code == "DeadlineExceeded":
            raise timed_out from None
        raise
    if getattr(result, "timed_out", False):
        raise timed_out
    if result.exit_code != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        raise CrictlError(f"command '{joined}' exited with {result.exit_code}: {stderr}")
    app.ctx.stdout.write(result.stdout + b"\n" + result.stderr + b"\n")
