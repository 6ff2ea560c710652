"""The pod sandbox sub-commands: ``runp``, ``stopp``, ``rmp``, ``pods`` and ``inspectp``.

Each reproduces crictl's own error wrapping for that command, which the harness's error
messages are matched against.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from harness.sim.programs.crictl.cli import COMMANDS, _help_exit
from harness.sim.programs.crictl.client import Client, runtime_client
from harness.sim.programs.crictl.cri_configs import load_pod_config
from harness.sim.programs.crictl.errors import (
    CrictlError,
    RpcError,
    Unmodelled,
    _raise_aggregate,
    _wrap,
)
from harness.sim.programs.crictl.flags import Parsed
from harness.sim.programs.crictl.goformat import go_quote, human_duration, rfc3339_nano
from harness.sim.programs.crictl.invocation import CrictlInvocation
from harness.sim.programs.crictl.listing import _go_log_fatal, _labels, _regex_match, _select
from harness.sim.programs.crictl.output import _output_status_data, protojson_indent, table


# pods ---------------------------------------------------------------------------------------
def cmd_runp(app: CrictlInvocation, p: Parsed) -> int | None:
    if len(p.args) != 1 or not p.args[0]:
        return _help_exit(app, COMMANDS["runp"])
    client = runtime_client(app, p["cancel-timeout"])
    try:
        config = load_pod_config(app, p.args[0])
    except CrictlError as exc:
        raise _wrap("load podSandboxConfig", exc) from None
    handler = p["runtime"]
    try:
        pod_id = client.call(lambda: client.rt.run_pod_sandbox(config, handler),
                             deadline=2 * client.timeout,
                             klog="RunPodSandbox from runtime service failed")
    except RpcError as exc:
        raise _wrap("run pod sandbox", exc) from None
    app.println(pod_id)
    return None


def cmd_stopp(app: CrictlInvocation, p: Parsed) -> int | None:
    if not p.args:
        return _help_exit(app, COMMANDS["stopp"])
    client = runtime_client(app)
    for pod_id in p.args:
        try:
            _stop_pod(app, client, pod_id)
        except CrictlError as exc:
            raise _wrap(f"stopping the pod sandbox {go_quote(pod_id)}", exc) from None
    return None


def _stop_pod(app: CrictlInvocation, client: Client, pod_id: str) -> None:
    if not pod_id:
        raise CrictlError("ID cannot be empty")
    client.call(lambda: client.rt.stop_pod_sandbox(pod_id), deadline=client.timeout,
                klog="StopPodSandbox from runtime service failed",
                kv=[("podSandboxID", pod_id)])
    app.println(f"Stopped sandbox {pod_id}")


def cmd_rmp(app: CrictlInvocation, p: Parsed) -> int | None:
    client = runtime_client(app)
    ids = list(p.args)
    if p["all"]:
        ids = [s["id"] for s in _list_pods_rpc(client, None)]
    if not ids:
        if p["all"]:
            app.logrus("info", "No pods to remove")
            return None
        return _help_exit(app, COMMANDS["rmp"])
    errors: list[str] = []
    for pod_id in ids:
        try:
            try:
                status = client.call(lambda pod_id=pod_id: client.rt.pod_sandbox_status(pod_id),
                                     deadline=client.timeout)
            except RpcError as exc:
                raise _wrap(f"getting sandbox status of pod {go_quote(pod_id)}", exc) from None
            if (status.get("status") or {}).get("state") == "SANDBOX_READY":
                if not p["force"]:
                    raise CrictlError(f"pod sandbox {go_quote(pod_id)} is running, please "
                                      "stop it first")
                try:
                    _stop_pod(app, client, pod_id)
                except CrictlError as exc:
                    raise _wrap(f"stopping the pod sandbox {go_quote(pod_id)} failed",
                                exc) from None
            try:
                client.call(lambda pod_id=pod_id: client.rt.remove_pod_sandbox(pod_id),
                            deadline=client.timeout,
                            klog="RemovePodSandbox from runtime service failed",
                            kv=[("podSandboxID", pod_id)])
            except RpcError as exc:
                raise _wrap(f"removing the pod sandbox {go_quote(pod_id)}", exc) from None
            app.println(f"Removed sandbox {pod_id}")
        except CrictlError as exc:
            errors.append(str(exc))
    _raise_aggregate(errors)
    return None


def _list_pods_rpc(client: Client, flt: Mapping[str, Any] | None) -> list[dict]:
    try:
        return client.call(lambda: client.rt.list_pod_sandboxes(flt), deadline=client.timeout,
                           klog="ListPodSandbox with filter from runtime service failed",
                           kv=[("filter", "&PodSandboxFilter{}" if flt else "nil")])
    except RpcError as exc:
        raise _wrap("call list sandboxes RPC", exc) from None


def list_pods(app: CrictlInvocation, client: Client, p: Parsed) -> list[dict]:
    """crictl ``ListPodSandboxes``: RPC filter, then name/namespace regex and ordering."""
    flt: dict[str, Any] = {}
    if p.values.get("id"):
        flt["id"] = p["id"]
    state = p.values.get("state", "")
    if state:
        wanted = {"ready": "SANDBOX_READY", "notready": "SANDBOX_NOTREADY"}.get(state.lower())
        if wanted is None:
            _go_log_fatal(app, "--state should be ready or notready")
        flt["state"] = {"state": wanted}
    labels = _labels(p.values.get("label", ()))
    if labels:
        flt["label_selector"] = labels
    pods = _list_pods_rpc(client, flt)
    pods = [s for s in pods
            if _regex_match(p.values.get("name", ""), (s.get("metadata") or {}).get("name", ""))
            and _regex_match(p.values.get("namespace", ""),
                             (s.get("metadata") or {}).get("namespace", ""))]
    return _select(pods, p.values.get("latest", False), p.values.get("last", 0))


def cmd_pods(app: CrictlInvocation, p: Parsed) -> int | None:
    client = runtime_client(app)
    _labels(p["label"])  # parseLabelStringSlice's error is returned as it is
    try:
        pods = list_pods(app, client, p)
    except CrictlError as exc:
        raise _wrap("listing pod sandboxes", _wrap("list pod sandboxes", exc)) from None
    fmt = p["output"]
    if fmt == "json":
        app.println(protojson_indent({"items": pods}))
        return None
    if fmt == "yaml":
        raise Unmodelled("-o yaml (use -o json)")
    if fmt != "table":
        raise CrictlError(f"listing pod sandboxes: unsupported output format {go_quote(fmt)}")
    if p["verbose"]:
        raise Unmodelled("crictl pods --verbose (use -o json)")
    rows = [] if p["quiet"] else [["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE",
                                   "ATTEMPT", "RUNTIME"]]
    now = time.time()
    for s in pods:
        if p["quiet"]:
            app.println(s["id"])
            continue
        meta = s.get("metadata") or {}
        rows.append([s["id"] if p["no-trunc"] else s["id"][:13],
                     human_duration(now - int(s.get("createdAt") or 0) / 1e9) + " ago",
                     {"SANDBOX_READY": "Ready"}.get(s.get("state"), "NotReady"),
                     meta.get("name", ""), meta.get("namespace", ""),
                     str(meta.get("attempt", 0)), s.get("runtimeHandler") or "(default)"])
    app.out(table(rows))
    return None


def cmd_inspectp(app: CrictlInvocation, p: Parsed) -> int | None:
    client = runtime_client(app)
    ids = list(p.args)
    if not ids:
        _labels(p["label"])
        try:
            ids = [s["id"] for s in list_pods(app, client, p)]
        except CrictlError as exc:
            raise _wrap("listing pod sandboxes", exc) from None
    if not ids:
        app.logrus("error", "No IDs provided or nothing found per filter")
        return _help_exit(app, COMMANDS["inspectp"])
    fmt = p["output"] or "json"
    statuses = []
    for pod_id in ids:
        try:
            r = client.call(lambda pod_id=pod_id: client.rt.pod_sandbox_status(pod_id),
                            deadline=client.timeout)
        except RpcError as exc:
            raise _wrap("get the status of pod sandboxes",
                        _wrap("get pod sandbox status", exc)) from None
        status = dict(r.get("status") or {})
        status["createdAt"] = rfc3339_nano(int(status.get("createdAt") or 0))
        if fmt == "table":
            raise Unmodelled("crictl inspectp -o table (use -o json)")
        data: dict[str, Any] = {"status": status}
        if not p["quiet"] and r.get("info") is not None:
            data["info"] = r["info"]
        statuses.append(data)
    _output_status_data(app, statuses, fmt)
    return None
