"""What the runtime and the host looked like when a scenario failed.

A failed HostProcess scenario is diagnosed from the objects' CRI status (the OCI spec the
shim was given, the user, the mounts), containerd's own log and the host's build and
features (docs/behaviour/ecosystem.md §5.4 lists what the upstream log collectors gather; this is
the part a single failed test needs).  The bundle is collected while the test's pods still
exist (in the call phase's report, before fixtures are torn down).

Two promises:

* Collecting never raises.  A host that cannot answer is often *why* the test failed, so
  each item that cannot be collected becomes a line saying why, and the test's own error
  stays the one reported.
* Collecting is bounded.  Every remote call has its own deadline and the whole bundle a
  budget; an item left when the budget is gone says so instead of waiting, and once the
  host failed to answer (connection error or deadline) it is not asked again.

The calls go to the transport *under* the reporting wrapper, so diagnostics appear as one
"diagnostics" step with one attachment per item, not as a dozen remote-call steps.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import allure

from harness.cri.crictl import DEFAULT_CONFIG, DEFAULT_CRICTL, go_duration
from harness.cri.spec import RUN_ID_LABEL
from harness.errors import CommandTimeout, TransportError
from harness.secrets import redact

log = logging.getLogger("harness.plugin.diagnostics")

# harness/runtime/layout.py: RuntimeLayout.for_bundle puts containerd's log here.
DEFAULT_LOG_FILE = r"C:\ProgramData\hpc-e2e\logs\containerd.log"
LOG_LINES = 200
CALL_TIMEOUT = 30.0  # one remote call
TOTAL_TIMEOUT = 90.0  # the whole bundle
# crictl's own RPC deadline inside a call: well under the transport's, so crictl's error
# (which names what it waited for) arrives first.
CRICTL_RPC_TIMEOUT = 10.0
MAX_LINE = 64 * 1024  # a longer log line is cut when it is kept
MAX_TEXT = 512 * 1024  # one bundle item


class _Budget:
    def __init__(self, total: float):
        self.total = total
        self.end = time.monotonic() + total

    def remaining(self) -> float:
        return self.end - time.monotonic()


class _NoTime(Exception):
    """The bundle's budget is used up."""


class TailBuffer:
    """The last ``lines`` lines of a byte stream, holding no more than that in memory."""

    def __init__(self, lines: int = LOG_LINES, max_line: int = MAX_LINE):
        self._lines: deque[bytes] = deque(maxlen=max(1, lines))
        self._partial = bytearray()
        self._max_line = max_line
        self.total = 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        self._partial += data
        *complete, rest = bytes(self._partial).split(b"\n")
        for line in complete:
            self._lines.append(line.rstrip(b"\r")[: self._max_line])
        self._partial = bytearray(rest[-self._max_line:])

    def text(self) -> str:
        lines = list(self._lines)
        if self._partial:
            lines.append(bytes(self._partial))
        return "\n".join(line.decode("utf-8", "replace") for line in lines[-self._lines.maxlen:])


# --- what to look at ------------------------------------------------------------------------
def _ident(obj: Any) -> str | None:
    try:
        value = getattr(obj, "id", None)
    except Exception:  # noqa: BLE001 - a wrapper whose id is not known yet
        return None
    return str(value) if value else None


def split_objects(objects: Iterable[Any]) -> tuple[list[str], list[str]]:
    """``(pod ids, container ids)`` of the objects a test created.

    Accepted: ``("pod" | "container", id)`` pairs; objects with an ``id`` that say what they
    are with ``kind``; otherwise an object with a ``pod`` attribute is a container (as
    :class:`harness.cri.crictl.ContainerRef`) and any other is a pod, whose ``containers``
    (if it lists them) are taken too.  Duplicates are dropped, order is kept.
    """
    pods: dict[str, None] = {}
    containers: dict[str, None] = {}

    def add(obj: Any) -> None:
        if isinstance(obj, tuple) and len(obj) == 2 and obj[0] in ("pod", "container"):
            (pods if obj[0] == "pod" else containers)[str(obj[1])] = None
            return
        ident = _ident(obj)
        kind = getattr(obj, "kind", None)
        is_container = kind == "container" or (kind is None and hasattr(obj, "pod"))
        if ident:
            (containers if is_container else pods)[ident] = None
        if not is_container:
            try:
                children = list(getattr(obj, "containers", None) or ())
            except Exception:  # noqa: BLE001 - diagnostics and reports must never fail a test
                children = []
            for child in children:
                cid = _ident(child)
                if cid:
                    containers[cid] = None

    for obj in objects or ():
        try:
            add(obj)
        except Exception as exc:  # noqa: BLE001 - never let a strange object stop the bundle
            log.debug("diagnostics: cannot tell what %r is: %s", obj, exc)
    return list(pods), list(containers)


def objects_of(pods_fixture: Any) -> list[Any]:
    """The pods (and containers) a ``pods`` fixture object created, by duck typing.

    Looked for, in order: a ``diagnostic_objects()`` method, then a ``created`` or ``pods``
    attribute (a list, or a method returning one).
    """
    if pods_fixture is None:
        return []
    for name in ("diagnostic_objects", "created", "pods"):
        value = getattr(pods_fixture, name, None)
        if value is None:
            continue
        try:
            value = value() if callable(value) else value
            return list(value or ())
        except Exception as exc:  # noqa: BLE001 - diagnostics and reports must never fail a test
            log.debug("diagnostics: %s.%s failed: %s", type(pods_fixture).__name__, name, exc)
    return []


# --- collectors --------------------------------------------------------------------------------
def raw_transport(hpc_host: Any):
    """The host's transport without the reporting wrapper (no Allure step per call)."""
    transport = getattr(hpc_host, "transport", None)
    return getattr(transport, "inner", transport)


def _crictl_argv(hpc_host: Any, args: Sequence[str], rpc_timeout: float) -> list[str]:
    crictl = getattr(hpc_host, "crictl", None)
    argv = getattr(crictl, "argv", None)
    if callable(argv):
        return list(argv(*args, timeout=rpc_timeout))
    return [DEFAULT_CRICTL, "--config", DEFAULT_CONFIG, "--timeout", go_duration(rpc_timeout),
            *args]


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _crictl(hpc_host: Any, args: Sequence[str], timeout: float) -> str:
    transport = raw_transport(hpc_host)
    rpc = max(1.0, min(CRICTL_RPC_TIMEOUT, timeout / 3))
    result = transport.run(_crictl_argv(hpc_host, args, rpc), timeout=timeout)
    if result.exit_code == 0:
        return _pretty(result.stdout)
    return (f"crictl exited with {result.exit_code}\n--- stderr ---\n{result.stderr}"
            f"\n--- stdout ---\n{result.stdout}")


def _log_tail(hpc_host: Any, path: str, lines: int, timeout: float) -> str:
    """The last lines of a host file, streamed through ``type`` and kept in a bounded buffer.

    ``type`` is a cmd.exe built-in, so this needs no script and works over any transport.
    The whole file crosses the wire; the deadline bounds how long that may take.
    """
    transport = raw_transport(hpc_host)
    tail = TailBuffer(lines)
    err = TailBuffer(20)
    argv = ["type", path]
    note = ""
    try:
        streaming = getattr(transport, "run_streaming", None)
        if callable(streaming):
            code = streaming(transport.command_line(argv), timeout=timeout, stdin=None,
                             on_stdout=tail.feed, on_stderr=err.feed)
        else:
            result = transport.run(argv, timeout=timeout)
            tail.feed(result.stdout_bytes)
            err.feed(result.stderr_bytes)
            code = result.exit_code
    except CommandTimeout:
        code = None
        note = (f"[incomplete: the {timeout:g}s deadline expired after {tail.total} bytes; "
                f"these are the last lines read, not the file's end]\n")
    if code not in (0, None):
        return f"type {path} exited with {code}: {err.text().strip() or '(no message)'}"
    header = f"[last {lines} lines of {path}; {tail.total} bytes read]\n"
    return note + header + tail.text()


def _facts(hpc_host: Any) -> str:
    facts = getattr(hpc_host, "facts", None)
    if facts is None:
        return "the host fixture holds no facts"
    parts = []
    summary = getattr(facts, "summary", None)
    if callable(summary):
        parts.append(summary())
    raw = getattr(facts, "raw", None)
    if raw:
        parts.append(json.dumps(dict(raw), indent=2, default=str, ensure_ascii=False))
    return "\n".join(parts) or repr(facts)


def _provisioning(hpc_host: Any) -> str | None:
    for name in ("provision_summary", "summary", "provisioned"):
        value = getattr(hpc_host, name, None)
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict):
            return json.dumps(to_dict(), indent=2, default=str, ensure_ascii=False)
        if isinstance(value, Mapping):
            return json.dumps(dict(value), indent=2, default=str, ensure_ascii=False)
    return None


def collect_diagnostics(hpc_host: Any, pods_and_containers: Iterable[Any] = (), *,
                        run_id: str | None = None, log_file: str | None = None,
                        log_lines: int = LOG_LINES, call_timeout: float = CALL_TIMEOUT,
                        total_timeout: float = TOTAL_TIMEOUT) -> dict[str, str]:
    """Name -> text of everything worth attaching to a failed test; never raises.

    Remote calls: one ``crictl inspectp`` for all pods and one ``crictl inspect`` for all
    containers (crictl takes several IDs), ``crictl pods``/``ps -a`` of this run (which shows
    what a failed ``runp`` may have left), and the tail of containerd's log.  Host facts and
    the provisioning summary are the ones the fixture read at session start.
    """
    budget = _Budget(total_timeout)
    bundle: dict[str, str] = {}
    unreachable: list[str] = []  # why the host is not asked again

    def item(name: str, collect: Callable[[float], str | None], remote: bool = True) -> None:
        try:
            timeout = min(call_timeout, budget.remaining())
            if remote and unreachable:
                text = f"not collected: {unreachable[0]}"
            elif remote and timeout < 1.0:
                raise _NoTime()
            else:
                text = collect(timeout)
            if text is None:
                return
        except _NoTime:
            text = (f"not collected: the diagnostics budget of {budget.total:g}s was used up "
                    f"by the items before")
        except (TransportError, CommandTimeout) as exc:
            # A host that did not answer one item would make every other item wait as long.
            unreachable.append(f"the host did not answer {name} ({type(exc).__name__})")
            text = f"could not collect {name}: {type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - diagnostics and reports must never fail a test
            text = f"could not collect {name}: {type(exc).__name__}: {exc}"
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT] + f"\n... ({len(text) - MAX_TEXT} more characters)"
        bundle[name] = redact(text)

    if hpc_host is None:
        return {"diagnostics": "no host: the test did not use the hpc_host fixture"}
    pods, containers = split_objects(pods_and_containers)
    if run_id is None:
        run_id = getattr(getattr(hpc_host, "crictl", None), "run_id", None)
    if log_file is None:
        log_file = _host_log_file(hpc_host)

    item("host facts", lambda t: _facts(hpc_host), remote=False)
    item("provisioning summary", lambda t: _provisioning(hpc_host), remote=False)
    if pods:
        item("crictl inspectp", lambda t: _crictl(hpc_host, ["inspectp", "--output", "json",
                                                             *pods], t))
    if containers:
        item("crictl inspect", lambda t: _crictl(hpc_host, ["inspect", "--output", "json",
                                                            *containers], t))
    if run_id:
        label = f"{RUN_ID_LABEL}={run_id}"
        item("crictl pods (this run)",
             lambda t: _crictl(hpc_host, ["pods", "--output", "json", "--label", label], t))
        item("crictl ps -a (this run)",
             lambda t: _crictl(hpc_host, ["ps", "--output", "json", "--all", "--label", label],
                               t))
    item(f"containerd log (last {log_lines} lines)",
         lambda t: _log_tail(hpc_host, log_file, log_lines, t))
    return bundle


def _host_log_file(hpc_host: Any) -> str:
    """containerd's log path as provisioning recorded it, else the layout's default."""
    for name in ("provision_summary", "summary", "provisioned"):
        value = getattr(hpc_host, name, None)
        try:
            data = value.to_dict() if callable(getattr(value, "to_dict", None)) else value
            path = data["runtime"]["paths"]["log"]
            if path:
                return str(path)
        except Exception:  # noqa: BLE001 - a summary of another shape: try the next
            log.debug("diagnostics: hpc_host.%s names no containerd log", name)
    layout = getattr(hpc_host, "layout", None)
    return str(getattr(layout, "log_file", None) or DEFAULT_LOG_FILE)


def attach_bundle(bundle: Mapping[str, str], *, title: str = "diagnostics") -> None:
    """One Allure step holding one attachment per item; never raises."""
    try:
        with allure.step(title):
            for name, text in bundle.items():
                kind = allure.attachment_type.TEXT
                stripped = text.lstrip()
                if stripped[:1] in "{[":
                    try:
                        json.loads(stripped)
                        kind = allure.attachment_type.JSON
                    except ValueError:
                        pass
                allure.attach(redact(text), name=name, attachment_type=kind)
    except Exception as exc:  # noqa: BLE001 - reporting must not turn a failure into a crash
        log.warning("could not attach the diagnostics bundle: %s", exc)


__all__ = ["CALL_TIMEOUT", "DEFAULT_LOG_FILE", "LOG_LINES", "TOTAL_TIMEOUT", "TailBuffer",
           "attach_bundle", "collect_diagnostics", "objects_of", "raw_transport",
           "split_objects"]
