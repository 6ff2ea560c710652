"""Remote calls as report steps: :class:`ReportingTransport` and the step titles.

One Allure step per remote call, titled with the (redacted, shortened) command and holding its
redacted transcript; the wrapper adds no round trip and keeps only a bounded head and tail of
a streamed output.  A call of the PowerShell bootstrap is titled with its script's name and
arguments (docs/internals.md "Remote command contract").  ``report_group`` and
``report_substeps`` give a remote call that does several things (a crictl batch,
harness/cri/batch.py) one step per thing it ran.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import itertools
import json
import ntpath
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import allure

from harness.secrets import redact
from harness.errors import CommandTimeout, TransportError
from harness.plugin.limits import IN_FLIGHT
from harness.transport import retry as _retry
from harness.transport.base import (
    DEFAULT_TIMEOUT,
    CommandResult,
    Stdin,
    Transport,
    run_repeatable,
)
from harness.transport.outage import outage_reason
from harness.transport.powershell import bootstrap_command_line, describe

TITLE_LIMIT = 160
CAPTURE_HEAD = 48 * 1024  # kept from the start of a streamed output
CAPTURE_TAIL = 16 * 1024  # and from its end


_WIN_PATH = re.compile(r'"([A-Za-z]:\\[^"]*)"|(?<![\w"\\])([A-Za-z]:\\[^\s"]*)')


def short_title(line: str, limit: int = TITLE_LIMIT) -> str:
    """A one-line, redacted step title; long lines lose their paths' folders, then their end."""
    text = " ".join(redact(line).split())
    if text.startswith('""') and text.endswith('"'):
        # the outer quotes harness.cmdline adds for cmd.exe /c when the program is quoted
        text = text[1:-1]
    if len(text) > limit:
        text = re.sub(r"\^(.)", r"\1", text)  # cmd.exe escapes: exact in the transcript
        def base(m: re.Match) -> str:
            path = m.group(1) or m.group(2)
            return ntpath.basename(path.rstrip("\\")) or m.group(0)
        text = _WIN_PATH.sub(base, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _script_label(first_line: bytes) -> str | None:
    """``[ps:name] {args}`` from the bootstrap's header line (docs/internals.md)."""
    try:
        header = json.loads(base64.b64decode(first_line.split(b"\n", 1)[0].strip(),
                                             validate=True))
        return describe(str(header["name"]), header.get("args") or {})
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def _peek_script(line: str, stdin: Stdin) -> tuple[str | None, Stdin]:
    """For a bootstrap call, the script's label; ``stdin`` handed back still whole.

    The header is the first stdin line (docs/internals.md "Remote command contract"); an
    iterable is advanced by one chunk and chained back, so streaming is kept.
    """
    if line != bootstrap_command_line() or stdin is None or hasattr(stdin, "read"):
        return None, stdin
    if isinstance(stdin, (bytes, bytearray, memoryview)):
        return _script_label(bytes(stdin)), stdin
    it = iter(stdin)
    try:
        first = next(it)
    except StopIteration:
        return None, ()
    return _script_label(bytes(first)), itertools.chain([first], it)


class _Capture:
    """The head and tail of a stream, so a transcript of any size stays bounded."""

    def __init__(self, head: int = CAPTURE_HEAD, tail: int = CAPTURE_TAIL):
        self._head_limit, self._tail_limit = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self._tail_limit:
                del self.tail[: len(self.tail) - self._tail_limit]

    def kept(self) -> bytes:
        dropped = self.total - len(self.head) - len(self.tail)
        if dropped <= 0:
            return bytes(self.head + self.tail)
        return (bytes(self.head) + f"\n... ({dropped} bytes not kept) ...\n".encode()
                + bytes(self.tail))


def _attach_text(text: str, name: str) -> None:
    allure.attach(redact(text), name=name, attachment_type=allure.attachment_type.TEXT)


class _CallStep:
    """The step of one remote call, and what it knows while the call runs.

    During an outage the run expects (:func:`outage_reason`: a restart, whose polls fail by
    design) the title says the call is a wait, and an error of a host that does not answer
    yet is shown as one: its transcript is named "no answer yet" and the error reaches the
    caller after the step, so the step passes instead of reading as a broken call.
    """

    def __init__(self, title: str):
        self.waiting = outage_reason()
        self.title = short_title(f"waiting ({self.waiting}): {title}") if self.waiting else title
        self.started = time.monotonic()
        self.expected: BaseException | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def name_for(self, exc: BaseException, name: str) -> str:
        """The name of the transcript of a call that raised ``exc``: "no answer yet" when it
        is a host not answering during the expected outage (then raised after the step),
        else ``name``."""
        if self.waiting and isinstance(exc, (TransportError, CommandTimeout)):
            self.expected = exc
            return f"no answer yet ({self.waiting})"
        return name


@contextlib.contextmanager
def _call_step(host: str, title: str) -> Iterator[_CallStep]:
    """One Allure step (and one call in flight, harness/plugin/limits.py) around a remote
    call; the error :meth:`_CallStep.name_for` found expected is raised after the step."""
    call = _CallStep(title)
    with allure.step(call.title), IN_FLIGHT.call(host, call.title):
        try:
            yield call
        except BaseException as exc:
            if exc is not call.expected:
                raise
    if call.expected is not None:
        raise call.expected


class ReportingTransport(Transport):
    """Any transport, with one Allure step per remote call holding its redacted transcript.

    Only the calling side is wrapped: no extra remote call is made, output is not held
    beyond a bounded head and tail, ``run_streaming`` exists exactly when the wrapped
    transport has it (``run_script`` chooses by ``getattr``) and streams as before.
    Every other attribute is the wrapped transport's.
    """

    def __init__(self, inner: Transport):
        super().__init__(inner.target)
        self.inner = inner
        self.NAME = getattr(inner, "NAME", Transport.NAME)
        if callable(getattr(inner, "run_streaming", None)):
            self.run_streaming = self._run_streaming

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def __repr__(self) -> str:
        return f"<ReportingTransport {self.inner!r}>"

    # --- commands ---------------------------------------------------------------------------
    def _describe(self, line: str, stdin: Stdin) -> tuple[str, str, Stdin]:
        """``(step title, command shown in the transcript, stdin)``."""
        label, stdin = _peek_script(line, stdin)
        if label is None:
            return short_title(line), line, stdin
        return (short_title(label),
                f"powershell.exe -EncodedCommand <bootstrap.ps1> < {label}", stdin)

    @property
    def retry_policy(self):
        """The wrapped transport's policy: retries are driven from here (one step each)."""
        return _retry.policy_of(self.inner)

    @retry_policy.setter
    def retry_policy(self, policy) -> None:
        self.inner.retry_policy = policy

    def run(self, command, *, timeout: float = DEFAULT_TIMEOUT, stdin: Stdin = None,
            check: bool = False, repeatable: bool = False) -> CommandResult:
        if repeatable:
            # The attempts loop over this method, so each one is its own step and transcript.
            return run_repeatable(self, command, timeout=timeout, stdin=stdin, check=check)
        line = self.inner.command_line(command)
        title, shown, stdin = self._describe(line, stdin)
        with _call_step(self.target.name, title) as call:
            try:
                result = self.inner.run(line, timeout=timeout, stdin=stdin, check=False)
            except BaseException as exc:
                kind = type(exc).__name__
                _attach_text(f"$ {shown}\n[no result after {call.elapsed():.3f}s: "
                             f"{kind}: {exc}]\n", call.name_for(exc, f"transcript ({kind})"))
                raise
            shown_result = (result if shown == line
                            else dataclasses.replace(result, command=shown))
            _attach_text(shown_result.transcript(), f"transcript (exit {result.exit_code})")
            if check:
                result.check()
        return result

    def _run_streaming(self, command_line: str, *, timeout: float = DEFAULT_TIMEOUT,
                       stdin: Stdin = None, on_stdout=None, on_stderr=None) -> int:
        title, shown, stdin = self._describe(command_line, stdin)
        out, err = _Capture(), _Capture()

        def tee(capture: _Capture, callback):
            def feed(data: bytes) -> None:
                capture.feed(data)
                if callback is not None:
                    callback(data)
            return feed

        def transcript(call: _CallStep, code: int | None) -> str:
            record = CommandResult(command=shown, exit_code=-1 if code is None else code,
                                   stdout_bytes=out.kept(), stderr_bytes=err.kept(),
                                   duration=call.elapsed(),
                                   host=getattr(self.target, "name", ""))
            text = record.transcript()
            if code is None:
                text = text.replace("[exit -1 ", "[no exit code (the call raised) ", 1)
            return text + f"[streamed: {out.total} bytes stdout, {err.total} bytes stderr]\n"

        with _call_step(self.target.name, title) as call:
            try:
                code = self.inner.run_streaming(command_line, timeout=timeout, stdin=stdin,
                                                on_stdout=tee(out, on_stdout),
                                                on_stderr=tee(err, on_stderr))
            except BaseException as exc:
                _attach_text(transcript(call, None), call.name_for(exc, "transcript (raised)"))
                raise
            _attach_text(transcript(call, code), f"transcript (exit {code})")
        return code

    def _run(self, command_line: str, *, timeout: float, stdin: Stdin) -> tuple[int, bytes, bytes]:
        return self.inner._run(command_line, timeout=timeout, stdin=stdin)

    # --- steps inside one remote call (harness/cri/batch.py) ---------------------------------
    @contextlib.contextmanager
    def report_group(self, title: str) -> Iterator[None]:
        """One step around a remote call that does several things (a crictl batch): the
        call's own step and :meth:`report_substeps` go inside it."""
        with allure.step(short_title(title)):
            yield

    def report_substeps(self, entries: Iterable[tuple[str, str, int | None]]) -> None:
        """One step per ``(command line, transcript, exit code or None = not run)`` that a
        remote call ran on the host, titled and attached like a call of its own (redacted);
        no remote call is made."""
        for command_line, text, code in entries:
            title = short_title(command_line)
            with allure.step(title if code is not None else short_title(f"[not run] {title}")):
                _attach_text(text, "transcript (not run)" if code is None
                             else f"transcript (exit {code})")

    # --- files ------------------------------------------------------------------------------
    def _transfer(self, verb: str, local, remote: str, call):
        # The local side is often a temporary file: its name is enough in the title.
        if verb == "put":
            what, title = f"put {local} -> {remote}", f"put {Path(local).name} -> {remote}"
        else:
            what, title = f"get {remote} -> {local}", f"get {remote} -> {Path(local).name}"
        started = time.monotonic()
        with allure.step(short_title(title)):
            try:
                res = call()
            except BaseException as exc:
                _attach_text(f"{what}\n[failed after {time.monotonic() - started:.3f}s: "
                             f"{type(exc).__name__}: {exc}]\n", "transfer")
                raise
            _attach_text(f"{what}\n{res.size} bytes, sha256 {res.sha256}, "
                         f"{res.duration:.3f}s, {res.chunks} chunks\n", "transfer")
        return res

    def put(self, local_path, remote_path: str, *, timeout: float | None = None):
        return self._attempts("put", local_path, remote_path, "_put",
                              lambda f: f(local_path, remote_path, timeout=timeout))

    def get(self, remote_path: str, local_path, *, timeout: float | None = None):
        return self._attempts("get", local_path, remote_path, "_get",
                              lambda f: f(remote_path, local_path, timeout=timeout))

    def _attempts(self, verb: str, local, remote: str, once_name: str, call):
        """A transfer, one step per attempt: the inner transport's single attempt
        (``_put``/``_get``) retried here when it has one, else its own ``put``/``get``."""
        once = getattr(type(self.inner), once_name, None)
        whole = getattr(type(self.inner), verb, None)
        if once is None or once is getattr(Transport, once_name) or \
                whole is not getattr(Transport, verb):
            return self._transfer(verb, local, remote, lambda: call(getattr(self.inner, verb)))
        return self.retry_policy.call(
            lambda: self._transfer(verb, local, remote,
                                   lambda: call(getattr(self.inner, once_name))),
            what=f"{verb} {remote}", host=getattr(self.target, "name", ""))

    def close(self) -> None:
        self.inner.close()


__all__ = ["CAPTURE_HEAD", "CAPTURE_TAIL", "TITLE_LIMIT", "ReportingTransport", "short_title"]
