"""The container sub-commands: ``create``, ``start``, ``stop``, ``rm``, ``ps``, ``inspect``
and ``logs``.

Each reproduces crictl's own error wrapping and output for that command, which the harness
parses; ``exec`` has its own module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from harness.sim.programs.crictl.cli import COMMANDS, _help_exit
from harness.sim.programs.crictl.client import Client, image_client, runtime_client
from harness.sim.programs.crictl.cri_configs import load_container_config, load_pod_config
from harness.sim.programs.crictl.errors import (
    CrictlError,
    GoPanic,
    RpcError,
    Unmodelled,
    _raise_aggregate,
    _wrap,
)
from harness.sim.programs.crictl.flags import Parsed
from harness.sim.programs.crictl.goformat import ZERO_TIME, go_quote, human_duration, rfc3339_nano
from harness.sim.programs.crictl.invocation import CrictlInvocation
from harness.sim.programs.crictl.listing import _go_log_fatal, _labels, _regex_match, _select
from harness.sim.programs.crictl.output import _output_status_data, protojson_indent, table

KUBERNETES_POD_NAME_LABEL = "io.kubernetes.pod.name"


# containers -------------------------------------------------------------------------------
def cmd_create(app: CrictlInvocation, p: Parsed) -> int | None:
    if len(p.args) != 3:
        return _help_exit(app, COMMANDS["create"])
    if p["no-pull"] and p["with-pull"]:
        raise CrictlError("confict: no-pull and with-pull are both set")
    with_pull = (not p["no-pull"] and app.pull_image_on_create) or p["with-pull"]
    if p.set & {"creds", "auth", "username", "pull-timeout"}:
        raise Unmodelled("crictl create with --creds/--auth/--username/--pull-timeout")
    images = image_client(app) if with_pull else None
    client = runtime_client(app, p["cancel-timeout"])
    pod_id, ctr_path, pod_path = p.args
    try:
        config = load_container_config(app, ctr_path)
        pod_config = load_pod_config(app, pod_path) if pod_path else None
        if "image" not in config:
            raise GoPanic("runtime error: invalid memory address or nil pointer dereference")
        image = config["image"].get("image", "")
        if not config["image"].get("user_specified_image"):
            config["image"]["user_specified_image"] = image
        if with_pull:
            assert images is not None
            app.logrus("info", f"Pulling container image: {image}")
            try:
                images.call(lambda: images.rt.pull_image(image), deadline=None,
                            klog="PullImage from image service failed", kv=[("image", image)])
            except RpcError as exc:
                raise exc from None
        cid = client.call(lambda: client.rt.create_container(pod_id, config, pod_config),
                          deadline=client.timeout,
                          klog="CreateContainer in sandbox from runtime service failed",
                          kv=[("podSandboxID", pod_id)])
    except GoPanic:
        raise
    except CrictlError as exc:
        raise _wrap("creating container", exc) from None
    app.println(cid)
    return None


def cmd_start(app: CrictlInvocation, p: Parsed) -> int | None:
    if not p.args:
        raise CrictlError("ID cannot be empty")
    client = runtime_client(app)
    for cid in p.args:
        try:
            if not cid:
                raise CrictlError("ID cannot be empty")
            client.call(lambda cid=cid: client.rt.start_container(cid), deadline=client.timeout,
                        klog="StartContainer from runtime service failed",
                        kv=[("containerID", cid)])
        except CrictlError as exc:
            raise _wrap(f"starting the container {go_quote(cid)}", exc) from None
        app.println(cid)
    return None


def cmd_stop(app: CrictlInvocation, p: Parsed) -> int | None:
    if not p.args:
        raise CrictlError("ID cannot be empty")
    client = runtime_client(app)
    for cid in p.args:
        try:
            _stop_container(app, client, cid, p["timeout"])
        except CrictlError as exc:
            raise _wrap(f"stopping the container {go_quote(cid)}", exc) from None
    return None


def _stop_container(app: CrictlInvocation, client: Client, cid: str, timeout: int) -> None:
    if not cid:
        raise CrictlError("ID cannot be empty")
    client.call(lambda: client.rt.stop_container(cid, timeout),
                deadline=client.timeout + max(0, timeout),
                klog="StopContainer from runtime service failed", kv=[("containerID", cid)])
    app.println(cid)


def _container_status(client: Client, cid: str) -> dict:
    return client.call(lambda: client.rt.container_status(cid), deadline=client.timeout,
                       klog="ContainerStatus from runtime service failed",
                       kv=[("containerID", cid)])


def cmd_rm(app: CrictlInvocation, p: Parsed) -> int | None:
    client = runtime_client(app)
    ids = list(p.args)
    if p["all"]:
        ids = [c["id"] for c in _list_containers_rpc(client, None)]
    if not ids:
        if p["all"]:
            app.logrus("info", "No containers to remove")
            return None
        return _help_exit(app, COMMANDS["rm"])
    if app.v >= (1, 32):
        return _rm_aggregated(app, client, p, ids)
    errored = False
    for cid in ids:
        try:
            status = _container_status(client, cid)
        except RpcError as exc:
            app.logrus("error", str(exc))
            errored = True
            continue
        if (status.get("status") or {}).get("state") == "CONTAINER_RUNNING":
            if not p["force"]:
                app.logrus("error", f"container {go_quote(cid)} is running, please stop it "
                                    "first")
                errored = True
                continue
            try:
                _stop_container(app, client, cid, 0)
            except CrictlError as exc:
                app.logrus("error", f"stopping the container {go_quote(cid)} failed: {exc}")
                errored = True
                continue
        try:
            client.call(lambda cid=cid: client.rt.remove_container(cid), deadline=client.timeout,
                        klog="RemoveContainer from runtime service failed",
                        kv=[("containerID", cid)])
        except RpcError as exc:
            app.logrus("error", f"removing container {go_quote(cid)} failed: {exc}")
            errored = True
            continue
        app.println(cid)
    if errored:
        raise CrictlError("unable to remove container(s)")
    return None


def _rm_aggregated(app: CrictlInvocation, client: Client, p: Parsed, ids: list[str]) -> None:
    """``rm`` from v1.32: each container's error is returned, not logged, and the
    errors end as an aggregate (cri-tools v1.34.0 cmd/crictl/container.go,
    removeContainerCommand)."""
    errors: list[str] = []
    for cid in ids:
        try:
            try:
                status = _container_status(client, cid)
            except RpcError as exc:
                raise _wrap(f"getting container status {go_quote(cid)}", exc) from None
            if (status.get("status") or {}).get("state") == "CONTAINER_RUNNING":
                if not p["force"]:
                    raise CrictlError(f"container {go_quote(cid)} is running, please stop "
                                      "it first")
                try:
                    _stop_container(app, client, cid, 0)
                except CrictlError as exc:
                    raise _wrap(f"stopping the container {go_quote(cid)}", exc) from None
            try:
                client.call(lambda cid=cid: client.rt.remove_container(cid),
                            deadline=client.timeout,
                            klog="RemoveContainer from runtime service failed",
                            kv=[("containerID", cid)])
            except RpcError as exc:
                raise _wrap(f"removing container {go_quote(cid)}", exc) from None
            app.println(cid)
        except CrictlError as exc:
            errors.append(str(exc))
    _raise_aggregate(errors)


def _list_containers_rpc(client: Client, flt: Mapping[str, Any] | None) -> list[dict]:
    try:
        return client.call(lambda: client.rt.list_containers(flt), deadline=client.timeout,
                           klog="ListContainers with filter from runtime service failed",
                           kv=[("filter", "&ContainerFilter{}" if flt else "nil")])
    except RpcError as exc:
        raise _wrap("call list containers RPC", exc) from None


_CONTAINER_STATES = {"created": "CONTAINER_CREATED", "running": "CONTAINER_RUNNING",
                     "exited": "CONTAINER_EXITED", "unknown": "CONTAINER_UNKNOWN"}


def list_containers(app: CrictlInvocation, client: Client, p: Parsed, *,
                    all_states: bool) -> list[dict]:
    """crictl ``ListContainers``: default state RUNNING unless ``-a``/``--state``."""
    flt: dict[str, Any] = {}
    if p.values.get("id"):
        flt["id"] = p["id"]
    if p.values.get("pod"):
        flt["pod_sandbox_id"] = p["pod"]
    state = p.values.get("state", "")
    if not all_states and not state:
        flt["state"] = {"state": "CONTAINER_RUNNING"}
    if state:
        wanted = _CONTAINER_STATES.get(state.lower())
        if wanted is None:
            _go_log_fatal(app, "--state should be one of created, running, exited or unknown")
        flt["state"] = {"state": wanted}
    latest, last = p.values.get("latest", False), p.values.get("last", 0)
    if latest or last > 0:
        flt.pop("state", None)
    labels = _labels(p.values.get("label", ()))
    if labels:
        flt["label_selector"] = labels
    ctrs = _list_containers_rpc(client, flt)
    ctrs = [c for c in ctrs
            if _regex_match(p.values.get("name", ""), (c.get("metadata") or {}).get("name", ""))]
    return _select(ctrs, latest, last)


def cmd_ps(app: CrictlInvocation, p: Parsed) -> int | None:
    if p.args:
        return _help_exit(app, COMMANDS["ps"])
    client = runtime_client(app)
    images = image_client(app)
    try:
        ctrs = list_containers(app, client, p, all_states=p["all"])
    except CrictlError as exc:
        raise _wrap("listing containers", _wrap("list containers", exc)) from None
    fmt = p["output"]
    if fmt == "json":
        app.println(protojson_indent({"containers": ctrs}))
        return None
    if fmt == "yaml":
        raise Unmodelled("-o yaml (use -o json)")
    if fmt != "table":
        raise CrictlError(f"listing containers: unsupported output format {go_quote(fmt)}")
    if p["verbose"] or p["resolve-image-path"]:
        raise Unmodelled("crictl ps --verbose/--resolve-image-path (use -o json)")
    rows = [] if p["quiet"] else [["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME",
                                   "ATTEMPT", "POD ID", "POD"]]
    now = time.time()
    for c in ctrs:
        if p["image"] and not _same_image(images, p["image"], c["image"]["image"]):
            continue
        if p["quiet"]:
            app.println(c["id"])
            continue
        meta = c.get("metadata") or {}
        image = c["image"]["image"]
        if not p["no-trunc"] and re.fullmatch(r"sha256:[0-9a-f]{64}", image):
            image = image[len("sha256:"):][:13]
        rows.append([c["id"] if p["no-trunc"] else c["id"][:13], image,
                     human_duration(now - int(c.get("createdAt") or 0) / 1e9) + " ago",
                     c.get("state", "").removeprefix("CONTAINER_").title(),
                     meta.get("name", ""), str(meta.get("attempt", 0)),
                     c["podSandboxId"] if p["no-trunc"] else c["podSandboxId"][:13],
                     (c.get("labels") or {}).get(KUBERNETES_POD_NAME_LABEL, "unknown")])
    app.out(table(rows))
    return None


def _same_image(images: Client, wanted: str, actual: str) -> bool:
    a = images.call(lambda: images.rt.image_status(wanted), deadline=images.timeout)
    b = images.call(lambda: images.rt.image_status(actual), deadline=images.timeout)
    return bool(a and b and a["image"]["id"] == b["image"]["id"])


def cmd_inspect(app: CrictlInvocation, p: Parsed) -> int | None:
    client = runtime_client(app)
    ids = list(p.args)
    if not ids:
        _labels(p["label"])
        if p["image"]:
            raise Unmodelled("crictl inspect --image")
        try:
            ids = [c["id"] for c in list_containers(app, client, p, all_states=False)]
        except CrictlError as exc:
            raise _wrap("listing containers", exc) from None
    if not ids:
        app.logrus("error", "No IDs provided or nothing found per filter")
        return _help_exit(app, COMMANDS["inspect"])
    fmt = p["output"] or "json"
    statuses = []
    for cid in ids:
        try:
            r = _container_status(client, cid)
        except RpcError as exc:
            raise _wrap("get the status of containers",
                        _wrap("get container status", exc)) from None
        status = dict(r.get("status") or {})
        state = status.get("state", "")
        status["createdAt"] = rfc3339_nano(int(status.get("createdAt") or 0))
        status["startedAt"] = ZERO_TIME if state == "CONTAINER_CREATED" else \
            rfc3339_nano(int(status.get("startedAt") or 0))
        finished = int(status.get("finishedAt") or 0)
        status["finishedAt"] = rfc3339_nano(finished) if state == "CONTAINER_EXITED" or (
            state == "CONTAINER_UNKNOWN" and finished > 0) else ZERO_TIME
        if fmt == "table":
            raise Unmodelled("crictl inspect -o table (use -o json)")
        data: dict[str, Any] = {"status": status}
        if not p["quiet"] and r.get("info") is not None:
            data["info"] = r["info"]
        statuses.append(data)
    _output_status_data(app, statuses, fmt)
    return None


def cmd_logs(app: CrictlInvocation, p: Parsed) -> int | None:
    cid = p.args[0] if p.args else ""
    if cid == "":
        raise CrictlError("ID cannot be empty")
    if len(p.args) > 1:
        return _help_exit(app, COMMANDS["logs"])
    unmodelled = p.set & {"follow", "previous", "reopen", "limit-bytes", "since", "timestamps"}
    if unmodelled:
        raise Unmodelled("crictl logs --" + " --".join(sorted(unmodelled)))
    client = runtime_client(app)
    r = client.call(lambda: client.rt.container_status(cid), deadline=client.timeout,
                    klog="ContainerStatus from runtime service failed",
                    kv=[("containerID", cid)])
    if not (r.get("status") or {}).get("logPath"):
        raise CrictlError("the container has not set log path")
    data = client.call(lambda: client.rt.container_log(cid), deadline=client.timeout)
    tail = p["tail"]
    if tail >= 0:
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[len(lines) - tail:]) if tail else b""
    app.ctx.stdout.write(data)
    return None
