"""The CRI client: endpoint parsing, dialling the named pipe, and RPCs with deadlines.

RPC timeouts and the gRPC/klog error text are what the harness's timeout and failure handling
is tested against, so every call to the CRI model goes through ``Client.call``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from harness.sim.cri.runtime import CriError
from harness.sim.programs.containerd import crash
from harness.sim.programs.crictl.errors import CrictlError, RpcError
from harness.sim.programs.crictl.goformat import go_quote
from harness.sim.programs.crictl.invocation import CrictlInvocation

DEFAULT_ENDPOINTS = ("npipe:////./pipe/containerd-containerd", "npipe:////./pipe/cri-dockerd")


# --- connecting --------------------------------------------------------------------------
class Client:
    """A connected CRI client (runtime or image service) with its per-RPC timeout."""

    def __init__(self, app: CrictlInvocation, runtime: Any, timeout: float):
        self.app = app
        self.rt = runtime
        self.timeout = timeout

    def call(self, fn: Callable[[], Any], *, deadline: float | None,
             klog: str | None = None, kv: Sequence[tuple[str, Any]] = ()) -> Any:
        """Run one RPC against the CRI model with a client-side deadline (seconds)."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["result"] = fn()
            except CriError as exc:
                box["error"] = RpcError(str(exc.code), exc.message)
            except BaseException as exc:  # noqa: BLE001 - a model bug, re-raised below
                box["bug"] = exc

        worker = threading.Thread(target=run, daemon=True, name="sim-crictl-rpc")
        worker.start()
        end = None if deadline is None else time.monotonic() + deadline
        while worker.is_alive():
            self.app.ctx.check_cancelled()
            wait = 0.05 if end is None else max(0.0, min(0.05, end - time.monotonic()))
            worker.join(wait)
            if end is not None and time.monotonic() >= end and worker.is_alive():
                box["error"] = RpcError("DeadlineExceeded", "context deadline exceeded")
                break
        if "bug" in box:
            raise box["bug"]
        if "error" in box:
            err: RpcError = box["error"]
            if klog:
                self.app.klog_error(klog, str(err), kv)
            raise err
        return box.get("result")


def parse_endpoint(endpoint: str) -> tuple[str, str]:
    """cri-client ``parseEndpoint`` (util_windows.go): ``(protocol, address)``."""
    text = endpoint.replace("\\", "/")
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", text)
    if m is None:
        raise CrictlError(f"Using {go_quote(endpoint)} as endpoint is deprecated, please "
                          "consider using full url format")
    scheme, rest = m.group(1).lower(), m.group(2)
    host, path = "", rest
    if rest.startswith("//"):
        after = rest[2:]
        slash = after.find("/")
        host, path = (after, "") if slash < 0 else (after[:slash], after[slash:])
    if scheme == "tcp":
        return "tcp", host
    if scheme == "npipe":
        if path.startswith("//./pipe"):
            return "npipe", path
        return "npipe", f"//{host or '.'}{path}"
    raise CrictlError(f"protocol {go_quote(scheme)} not supported")


def _pipe_key(address: str) -> str:
    return address.replace("/", "\\").lower()


def connect(app: CrictlInvocation, endpoint: str, timeout: float, service: str) -> Client:
    """``NewRemoteRuntimeService`` / ``NewRemoteImageService`` including the validation RPC."""
    protocol, address = parse_endpoint(endpoint)
    api = "runtime" if service == "runtime" else "image"
    prefix = f"validate service connection: validate CRI v1 {api} API for endpoint " \
             f"{go_quote(endpoint)}: "
    if protocol == "tcp":
        dial = (f"dial tcp {address}: connectex: No connection could be made because the "
                "target machine actively refused it.")
        raise CrictlError(prefix + str(_unavailable(dial)))
    _maybe_crash_containerd(app)
    rt = app.ctx.machine.cri
    if rt is None or _pipe_key(address) != _pipe_key(getattr(rt, "address", "")):
        dial = f"open {address}: The system cannot find the file specified."
        raise CrictlError(prefix + str(_unavailable(dial)))
    client = Client(app, rt, timeout)
    probe = rt.version if service == "runtime" else rt.list_images
    try:
        client.call(probe, deadline=timeout)
    except RpcError as exc:
        raise CrictlError(prefix + str(exc)) from None
    return client


def _maybe_crash_containerd(app: CrictlInvocation) -> None:
    """Fault ``containerd-crash`` (harness/sim/faults.py): rolled once per invocation, before
    the first dial; on a hit containerd is gone and this call fails like any call during
    its downtime.  Only rolled while the SCM would restart it, so the fault stays transient.
    """
    machine = app.ctx.machine
    injector = getattr(machine, "faults", None)
    if injector is None or app.fault_rolled:
        return
    app.fault_rolled = True
    service = getattr(getattr(machine, "cri", None), "service_name", None)
    applicable = service is not None and machine.services.will_recover(service)
    if injector.roll("crictl", ("containerd-crash",) if applicable else (),
                     detail=" ".join(app.ctx.argv[1:])[:200]):
        crash(machine)


def _unavailable(dial_error: str) -> RpcError:
    desc = "transport: Error while dialing: " + dial_error
    return RpcError("Unavailable", "connection error: desc = " + go_quote(desc))


def runtime_client(app: CrictlInvocation, timeout: float = 0) -> Client:
    """crictl ``getRuntimeService``."""
    if app.runtime_endpoint_set and app.runtime_endpoint == "":
        raise CrictlError("--runtime-endpoint is not set")
    app.debugf("get runtime connection")
    t = timeout or app.timeout
    if not app.runtime_endpoint_set:
        return _default_endpoints(app, t, "runtime")
    return connect(app, app.runtime_endpoint, t, "runtime")


def image_client(app: CrictlInvocation) -> Client:
    """crictl ``getImageService``."""
    if app.image_endpoint == "":
        if app.runtime_endpoint_set and app.runtime_endpoint == "":
            raise CrictlError("--image-endpoint is not set")
        app.image_endpoint = app.runtime_endpoint
        app.image_endpoint_set = app.runtime_endpoint_set
    app.debugf("get image connection")
    if not app.image_endpoint_set:
        return _default_endpoints(app, app.timeout, "image")
    return connect(app, app.image_endpoint, app.timeout, "image")


def _default_endpoints(app: CrictlInvocation, timeout: float, service: str) -> Client:
    app.logrus("warning", f"{service} connect using default endpoints: "
                          f"[{' '.join(DEFAULT_ENDPOINTS)}]. As the default settings are now "
                          "deprecated, you should set the endpoint instead.")
    last: CrictlError | None = None
    for endpoint in DEFAULT_ENDPOINTS:
        try:
            return connect(app, endpoint, timeout, service)
        except CrictlError as exc:
            app.logrus("error", str(exc))
            last = exc
    assert last is not None
    raise last
