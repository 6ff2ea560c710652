"""Model of ``harness/cri/scripts/crictl_batch.ps1``: files, then groups of processes.

The script writes the files whose content follows on stdin (size and SHA-256 checked, a
temporary name renamed over the destination), then starts one process per group with
``System.Diagnostics.Process`` and polls them: a group's next step starts when its step
exited 0, a group stops at a failure or a timeout (the process is killed: exit code -1),
and a step with ``id_from`` gets the ID printed by that earlier step in place of
``@hpc-e2e-id@``.  Here every group is a Python thread that runs its steps as real children
of the script's process (``machine.run_child``: the sim's crictl.exe, with its fault rolls
and the runtime's latency), so groups overlap exactly as far as the runtime lets them.

A step the model does not understand (a key the script does not read, a value it would
convert in a way not modelled here) fails the script loudly; .NET's and PowerShell's texts
are used where the script would show them (``Exception calling "Start" ...``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from harness.sim.catalog import CatalogEntry, Param
from harness.sim.process import Terminated
from harness.sim.programs.powershell import (
    ScriptContext,
    ScriptError,
    _from_base64,
    _io_message,
    _read_line,
)

SOURCE = "harness/cri/scripts/crictl_batch.ps1"
PLACEHOLDER = "@hpc-e2e-id@"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_STEP_KEYS = {"group", "stage", "file", "arguments", "timeout_ms"}
_OPTIONAL_STEP_KEYS = {"id_from"}
_FILE_KEYS = {"path", "size", "sha256"}
KILL_WAIT = 10.0  # how long the model waits for a killed child's thread to end


def _stamp() -> str:
    """``[DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'")``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _objects(name: str, value: Any, keys: set[str], optional: set[str]) -> list[dict]:
    """The ``[object[]]`` parameter as the script reads it: objects with these properties."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict) or not keys <= set(item) or \
                not set(item) <= keys | optional:
            shown = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise ScriptError(f"the simulated host does not understand the {name} entry "
                              f"{shown}: crictl_batch.ps1 reads {sorted(keys | optional)}")
    return items


def _number(name: str, value: Any) -> int:
    """``[long]`` / ``[int]`` of a JSON number (anything else is not modelled)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScriptError(f"the simulated host does not model converting {value!r} to the "
                          f"number '{name}'")
    return value


class _StepCancel:
    """The cancel flag of one child: set by a kill, or by the script's own termination."""

    def __init__(self, parent: threading.Event):
        self._parent = parent
        self._own = threading.Event()

    def set(self) -> None:
        self._own.set()

    def is_set(self) -> bool:
        return self._own.is_set() or self._parent.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._own.wait(0.05 if left is None else min(0.05, left))
        return True


class _Capture:
    """A redirected output stream, read to the end (``ReadToEndAsync``)."""

    def __init__(self, cancel: _StepCancel):
        self.data = bytearray()
        self._cancel = cancel
        self.encoding = "utf-8"

    def write(self, data: bytes | str) -> None:
        if self._cancel.is_set():
            raise Terminated()
        self.data += data.encode("utf-8", "replace") if isinstance(data, str) else data

    def line(self, text: str = "") -> None:
        self.write(text + "\r\n")

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", "replace")


class _ClosedInput:
    """Standard input redirected and closed at once (``StandardInput.Close()``)."""

    def read(self, n: int = -1) -> bytes:
        return b""

    def readline(self) -> bytes:
        return b""

    def __iter__(self):
        return iter(())


def _write_files(sc: ScriptContext, files: list[dict]) -> list[dict]:
    written = []
    for f in files:
        full = sc.full_path(str(f["path"]))
        line = _read_line(sc.proc)
        if line is None:
            raise ScriptError(f"stdin ended before the content of {full}")
        data = _from_base64(line.strip())
        digest = hashlib.sha256(data).hexdigest()
        size = _number("size", f["size"])
        if len(data) != size:
            raise ScriptError(f"received {len(data)} bytes for {full}, expected {size}")
        if digest != str(f["sha256"]).lower():  # -ne ignores case
            raise ScriptError(f"sha256 of the bytes received for {full} is {digest}, "
                              f"expected {f['sha256']}")
        directory, _ = sc.fs.split(full)
        try:
            sc.fs.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise ScriptError(f'Exception calling "CreateDirectory" with "1" argument(s): '
                              f'"{_io_message(exc, directory)}"') from None
        tmp = f"{full}.{secrets.token_hex(4)}.hpce2e-tmp"
        try:
            sc.fs.write_bytes(tmp, data)
        except OSError as exc:
            raise ScriptError(f'Exception calling "WriteAllBytes" with "2" argument(s): '
                              f'"{_io_message(exc, tmp)}"') from None
        try:
            sc.fs.rename(tmp, full, replace=True)
        except OSError as exc:
            method, nargs = ("Replace", 3) if sc.fs.exists(full) else ("Move", 2)
            if sc.fs.exists(tmp):
                sc.fs.remove(tmp)
            raise ScriptError(f'Exception calling "{method}" with "{nargs}" argument(s): '
                              f'"{_io_message(exc, full)}"') from None
        written.append({"path": full, "size": len(data), "sha256": digest})
    return written


class _Batch:
    def __init__(self, sc: ScriptContext, steps: list[dict]):
        self.sc = sc
        self.queues: dict[int, list[dict]] = {}
        for s in steps:
            self.queues.setdefault(_number("group", s["group"]), []).append(s)
            _number("timeout_ms", s["timeout_ms"])
            if s.get("id_from") is not None:  # $null -ne $step.id_from
                _number("id_from", s["id_from"])
        self.results: list[dict] = []
        self.printed: dict[tuple[int, int], str] = {}
        self.lock = threading.Lock()

    def run(self) -> list[dict]:
        threads = [threading.Thread(target=self._group, args=(g,), daemon=True,
                                    name=f"crictl-batch-group-{g}") for g in self.queues]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():  # the script polls until every group is done
                t.join(0.05)
        self.sc.proc.check_cancelled()
        return self.results

    def _group(self, g: int) -> None:
        for index, step in enumerate(self.queues[g]):
            record = self._step(g, index, step)
            if record is None:
                return
            with self.lock:
                self.results.append(record)
                self.printed[(g, index)] = record["stdout"]
            if record["exit_code"] != 0 or record["timed_out"]:
                return

    def _arguments(self, g: int, step: dict) -> str | None:
        arguments = str(step["arguments"])
        if step.get("id_from") is None:
            return arguments
        with self.lock:
            text = self.printed.get((g, step["id_from"]), "")
        lines = [line.strip() for line in re.split(r"\r?\n", text) if line.strip()]
        if len(lines) != 1 or not _ID.match(lines[0]):
            return None
        return arguments.replace(PLACEHOLDER, lines[0])

    def _step(self, g: int, index: int, step: dict) -> dict | None:
        sc = self.sc
        arguments = self._arguments(g, step)
        if arguments is None:
            return None
        file = str(step["file"])
        started = _stamp()
        code: int | None = None
        timed_out = False
        error = None
        out = err = ""
        image = sc.machine.find_program(file, cwd=sc.proc.cwd, env=sc.proc.env,
                                        style="createprocess")
        if image is None:
            error = ('Exception calling "Start" with "1" argument(s): "The system cannot find '
                     'the file specified"')
        else:
            code, timed_out, out, err = self._process(image, file, arguments,
                                                      step["timeout_ms"] / 1000.0)
        return {"group": g, "index": index, "stage": str(step["stage"]),
                "command_line": f'"{file}" {arguments}', "exit_code": code,
                "stdout": out, "stderr": err, "timed_out": timed_out, "start_error": error,
                "started": started, "ended": _stamp()}

    def _process(self, image: str, file: str, arguments: str,
                 timeout: float) -> tuple[int, bool, str, str]:
        """``Process.Start`` (.NET quotes the file name before the arguments), then wait
        for the exit or the step's timeout (``Kill``: exit code -1)."""
        sc = self.sc
        cancel = _StepCancel(sc.proc.cancelled)
        stdout, stderr = _Capture(cancel), _Capture(cancel)
        parent = dataclasses.replace(sc.proc, cancelled=cancel)
        line = f'"{file}"' + (f" {arguments}" if arguments else "")
        box: dict[str, int] = {}

        def child() -> None:
            try:
                box["code"] = sc.machine.run_child(parent, image, line, stdin=_ClosedInput(),
                                                   stdout=stdout, stderr=stderr)
            except Terminated:
                box["code"] = -1  # TerminateProcess(-1), as Process.Kill does

        thread = threading.Thread(target=child, daemon=True, name="crictl-batch-step")
        thread.start()
        thread.join(timeout)
        timed_out = thread.is_alive()
        if timed_out:
            cancel.set()
            thread.join(KILL_WAIT)
            if thread.is_alive():
                raise ScriptError(f"the simulated host could not kill {file} after its "
                                  f"{timeout:g}s timeout (the program ignores termination)")
            box["code"] = -1
        return box["code"], timed_out, stdout.text(), stderr.text()


def crictl_batch(sc: ScriptContext) -> int:
    files = _objects("files", sc.args["files"], _FILE_KEYS, set())
    steps = _objects("steps", sc.args["steps"], _STEP_KEYS, _OPTIONAL_STEP_KEYS)
    written = _write_files(sc, files)
    results = _Batch(sc, steps).run()
    sc.result({"files": written, "steps": results})
    return 0


# Registered by harness.sim.catalog on its first lookup.
ENTRIES = [CatalogEntry(
    name="crictl_batch",
    sha256="4187ad2164b7876bb2392abc663ae02a9c858f921f7e3d7e033da383991aa077",
    implementation=crictl_batch,
    params={"files": Param("object", mandatory=False), "steps": Param("object")},
    source=SOURCE,
)]
