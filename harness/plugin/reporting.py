"""Allure (and JUnit) reporting for the suite: labels, remote-call steps, diagnostics, run files.

What a reader of the report gets (DESIGN.md "Reporting"):

* Every scenario under epic "HostProcess containers", its feature from the scenario module
  (``FEATURE = "..."`` or the module's name), its story from the test's docstring, links to
  the upstream change and to the reference section it checks (``@pytest.mark.reference``),
  and its parameters: isolation, handler, image, host build, host.
* One step per remote call, titled with the (redacted, shortened) command and holding its
  redacted transcript: :class:`ReportingTransport` wraps the host's transport, adding no
  round trip.
* On a failed call phase, a diagnostics bundle (:mod:`harness.plugin.diagnostics`), and on
  every failure its class (:mod:`harness.plugin.categories`) as a marker line in the trace,
  which ``categories.json`` matches, and as a JUnit property.
* ``environment.properties`` and ``categories.json``, written by the controller once,
  after the xdist workers are done (docs/behaviour/protocols.md §3: allure-pytest writes
  neither; §4: worker data reaches the controller as ``workeroutput``).

Secrets: every title and attachment is passed through :func:`harness.config.secrets.redact`
where it is made, and as a last line of defence every Allure result, container and
attachment is redacted on its way to the file writer, and every pytest report (the JUnit
XML's source) is redacted in ``pytest_runtest_makereport``.

The plugin core calls :func:`register` from its ``pytest_configure``; loading this module
as a plugin (``-p harness.plugin.reporting``) does the same.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import dataclasses
import inspect
import itertools
import json
import logging
import ntpath
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import allure
import pytest

from harness.config.secrets import redact
from harness.errors import CommandTimeout, TransportError
from harness.plugin import categories as _categories
from harness.plugin import diagnostics as _diagnostics
from harness.plugin.limits import IN_FLIGHT, describe_limits
from harness.plugin.targets import CONTROLLER
from harness.transport import retry as _retry
from harness.transport.outage import outage_reason
from harness.transport.base import (
    DEFAULT_TIMEOUT,
    CommandResult,
    Stdin,
    Transport,
    run_repeatable,
)

log = logging.getLogger("harness.plugin.reporting")

PLUGIN_NAME = "hpc-e2e-reporting"
EPIC = "HostProcess containers"
# The change whose behaviour the suite pins down (HostProcess containers in a UVM).
UPSTREAM_LINKS = (("hcsshim PR #2531", "https://github.com/microsoft/hcsshim/pull/2531"),)
# Where ``@pytest.mark.reference("file.md §N")`` links point; a browsable copy of the
# reference folder can be named with this variable, otherwise the link is relative.
REFERENCE_URL_ENV = "HPC_E2E_REFERENCE_URL"
REFERENCE_MARKER = ("reference(section, ...): the reference section(s) a scenario checks, "
                    "e.g. \"docs/behaviour/runtime.md §2.5\"; linked from the report")

TITLE_LIMIT = 160
CAPTURE_HEAD = 48 * 1024  # kept from the start of a streamed output
CAPTURE_TAIL = 16 * 1024  # and from its end

# What other layers may put on a test item.
FAILURE_CLASS = pytest.StashKey[str]()
DIAGNOSTIC_OBJECTS = pytest.StashKey[list]()  # pods/containers to inspect on failure
OBSERVATIONS = pytest.StashKey[list]()
_LABELLED = pytest.StashKey[bool]()
_PARAMETRIZED = pytest.StashKey[bool]()

WORKER_OUTPUT_KEY = "hpc_e2e_reporting"

_current_item: contextvars.ContextVar[Any] = contextvars.ContextVar("hpc_e2e_item", default=None)


# --- step titles --------------------------------------------------------------------------------
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
    from harness.transport.powershell import describe

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
    from harness.transport.powershell import bootstrap_command_line

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
        waiting = outage_reason()
        if waiting:
            title = short_title(f"waiting ({waiting}): {title}")
        started = time.monotonic()
        expected: BaseException | None = None
        with allure.step(title), IN_FLIGHT.call(self.target.name, title):
            try:
                result = self.inner.run(line, timeout=timeout, stdin=stdin, check=False)
            except BaseException as exc:
                kind = type(exc).__name__
                text = (f"$ {shown}\n[no result after {time.monotonic() - started:.3f}s: "
                        f"{kind}: {exc}]\n")
                if not waiting or not isinstance(exc, (TransportError, CommandTimeout)):
                    _attach_text(text, f"transcript ({kind})")
                    raise
                # The host is expected not to answer yet: a wait, shown as one (the caller
                # still gets the error, outside the step).
                _attach_text(text, f"no answer yet ({waiting})")
                expected = exc
            else:
                shown_result = (result if shown == line
                                else dataclasses.replace(result, command=shown))
                _attach_text(shown_result.transcript(), f"transcript (exit {result.exit_code})")
                if check:
                    result.check()
        if expected is not None:
            raise expected
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

        waiting = outage_reason()
        if waiting:
            title = short_title(f"waiting ({waiting}): {title}")
        started = time.monotonic()
        expected: BaseException | None = None
        with allure.step(title), IN_FLIGHT.call(self.target.name, title):
            code: int | None = None
            try:
                code = self.inner.run_streaming(command_line, timeout=timeout, stdin=stdin,
                                                on_stdout=tee(out, on_stdout),
                                                on_stderr=tee(err, on_stderr))
            except (TransportError, CommandTimeout) as exc:
                if not waiting:
                    raise
                expected = exc  # a wait, shown as one; the caller gets the error below
            finally:
                record = CommandResult(command=shown, exit_code=-1 if code is None else code,
                                       stdout_bytes=out.kept(), stderr_bytes=err.kept(),
                                       duration=time.monotonic() - started,
                                       host=getattr(self.target, "name", ""))
                text = record.transcript()
                if code is None:
                    text = text.replace("[exit -1 ", "[no exit code (the call raised) ", 1)
                label = ("transcript (raised)" if code is None and not expected
                         else f"no answer yet ({waiting})" if code is None
                         else f"transcript (exit {code})")
                _attach_text(text + f"[streamed: {out.total} bytes stdout, {err.total} bytes "
                             "stderr]\n", label)
        if expected is not None:
            raise expected
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


# --- observations -------------------------------------------------------------------------------
def observation(key: str, actual: Any, why: str, *, request=None) -> None:
    """Record an expectation the profile does not assert: never a silent pass.

    An Allure step "observation: <key>" with the actual value and why it is not asserted,
    a log line, and (when the test is known: ``request`` or the running item) a JUnit
    property ``observation:<key>`` (the name ``Expectations.observe`` uses without this
    module) plus an entry in ``item.stash[OBSERVATIONS]``.
    """
    shown = actual if isinstance(actual, str) else repr(actual)
    text = redact(f"{key}\nactual: {shown}\nnot asserted because: {why}\n")
    log.debug("observation %s = %s (%s)", key, redact(shown), redact(why))
    try:
        with allure.step(redact(f"observation: {key}")):
            allure.attach(text, name=redact(f"observation: {key}"),
                          attachment_type=allure.attachment_type.TEXT)
    except Exception as exc:  # noqa: BLE001 - a report problem must not fail the scenario
        log.warning("could not attach observation %s: %s", key, exc)
    item = getattr(request, "node", None) if request is not None else _current_item.get()
    if item is not None:
        item.user_properties.append((f"observation:{key}", redact(shown)))
        item.stash.setdefault(OBSERVATIONS, []).append(
            {"key": key, "actual": redact(shown), "why": redact(why)})


# --- labels and parameters ----------------------------------------------------------------------
def _marked_label(item, label_type: str) -> bool:
    return any(m.kwargs.get("label_type") == label_type for m in item.iter_markers("allure_label"))


def feature_of(item) -> str | None:
    module = getattr(item, "module", None)
    if module is None:
        return None
    explicit = getattr(module, "FEATURE", None)
    if explicit:
        return str(explicit)
    name = module.__name__.rsplit(".", 1)[-1]
    return name.removeprefix("test_").removesuffix("_test") or name


def story_of(item) -> str | None:
    doc = inspect.getdoc(getattr(item, "function", None) or getattr(item, "obj", None))
    if doc:
        first = doc.strip().splitlines()[0].strip()
        if first:
            return first
    name = getattr(item, "originalname", None) or getattr(item, "name", "")
    return name.removeprefix("test_").replace("_", " ") or None


def reference_url(section: str) -> str:
    """A link for ``"docs/behaviour/runtime.md §2.5"``: that file, at that heading, in a
    browsable copy of the repository ($HPC_E2E_REFERENCE_URL, e.g. a forge's URL of the
    commit under test), else in this checkout (a ``file://`` URL, which works where the
    report is read on the machine that ran it)."""
    parts = section.split()
    file = parts[0] if parts else section
    base = os.environ.get(REFERENCE_URL_ENV) or (_REPOSITORY.as_uri() + "/")
    anchor = _heading_anchor(_REPOSITORY / file, parts[1] if len(parts) > 1 else "")
    return base.rstrip("/") + "/" + file + (f"#{anchor}" if anchor else "")


_REPOSITORY = Path(__file__).resolve().parents[2]  # the checkout holding docs/behaviour/


def _heading_anchor(path: Path, section: str) -> str:
    """The anchor a Markdown renderer gives the heading numbered ``section`` (``§2.5``) in
    ``path``: GitHub's rule, lower case, punctuation dropped, spaces to hyphens; "" if
    there is no such heading."""
    number = section.lstrip("§").rstrip(",;.")
    if not number:
        return ""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for line in lines:
        m = re.match(r"#{1,6}\s+(\d+(?:\.\d+)*)\.?\s+(.*)", line)
        if m and m.group(1) == number:
            text = f"{m.group(1)} {m.group(2)}".lower()
            text = re.sub(r"[^\w\- ]", "", text)
            return text.replace(" ", "-")
    return ""


def label_scenario(item) -> None:
    """Epic, feature, story and links, from the module, docstring and markers; once per item.

    Labels a scenario already sets with ``allure.epic/feature/story`` markers are left alone.
    """
    if item.stash.get(_LABELLED, False):
        return
    item.stash[_LABELLED] = True
    if not _marked_label(item, "epic"):
        allure.dynamic.epic(EPIC)
    feature = feature_of(item)
    if feature and not _marked_label(item, "feature"):
        allure.dynamic.feature(feature)
    story = story_of(item)
    if story and not _marked_label(item, "story"):
        allure.dynamic.story(story)
    for name, url in UPSTREAM_LINKS:
        allure.dynamic.link(url, name=name)
    for marker in item.iter_markers("reference"):
        for section in marker.args:
            allure.dynamic.link(reference_url(str(section)), name=str(section))


def _isolation(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("isolation") if callspec is not None else None
    if value is None:
        value = getattr(item, "funcargs", {}).get("isolation")
    return None if value is None else str(getattr(value, "value", value))


def handler_for(isolation: str) -> str | None:
    from harness.runtime.containerd_config import HYPERVISOR_HANDLER, PROCESS_HANDLER

    return {"process": PROCESS_HANDLER, "hyperv": HYPERVISOR_HANDLER}.get(isolation)


def scenario_parameters(item) -> dict[str, tuple[str, bool]]:
    """name -> (value, excluded from the history id) for what the item ran against.

    The host's name is excluded: the same case on another host of the pool is the same
    history.  Its *build* is not: in a report merged from several LTSC jobs, one case on
    two builds must stay two results, not one result and a retry.
    """
    params: dict[str, tuple[str, bool]] = {}
    isolation = _isolation(item)
    if isolation:
        params["isolation"] = (isolation, False)
        handler = handler_for(isolation)
        if handler:
            params["handler"] = (handler, False)
    host = getattr(item, "funcargs", {}).get("hpc_host")
    callspec = getattr(item, "callspec", None)
    image = callspec.params.get("image") if callspec is not None else None
    if image is None:
        image = getattr(getattr(host, "images", None), "probe", None)
    if image is not None:
        params["image"] = (str(getattr(image, "ref", image)), False)
    facts = getattr(host, "facts", None)
    if getattr(facts, "build", None) is not None:
        params["host build"] = (str(facts.build), False)
    name = getattr(getattr(host, "target", None), "name", None)
    if name:
        params["host name"] = (str(name), True)
    return params


def label_parameters(item) -> None:
    """Allure parameters of the running item (fixtures are set up by now); once per item."""
    if item.stash.get(_PARAMETRIZED, False):
        return
    item.stash[_PARAMETRIZED] = True
    for name, (value, excluded) in scenario_parameters(item).items():
        allure.dynamic.parameter(name, redact(value), excluded=excluded or None)
    host = getattr(item, "funcargs", {}).get("hpc_host")
    if host is not None:
        note_host(item.config, host)
        # allure-pytest's own ``host`` label is the controller's name; the one a reader
        # filters by is the Windows host the scenario ran on (the writer drops the other).
        allure.dynamic.label("host", str(getattr(host, "name", host)))


# --- redaction of reports -----------------------------------------------------------------------
def _scrub(value: Any, seen: set[int]) -> Any:
    """``value`` with every string redacted; containers and records are changed in place."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bytes, bytearray, int, float, bool)):
        return value
    if id(value) in seen:
        return value
    seen.add(id(value))
    if isinstance(value, list):
        value[:] = [_scrub(v, seen) for v in value]
    elif type(value) is tuple:
        return tuple(_scrub(v, seen) for v in value)
    elif isinstance(value, dict):
        for key in list(value):
            value[key] = _scrub(value[key], seen)
    else:
        names: Iterable[str] = ()
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            names = [f.name for f in dataclasses.fields(value)]
        elif hasattr(value, "__attrs_attrs__"):
            names = [a.name for a in value.__attrs_attrs__]
        for name in names:
            try:
                old = getattr(value, name)
            except AttributeError:
                continue
            new = _scrub(old, seen)
            if new is not old:
                try:
                    setattr(value, name, new)
                except (AttributeError, dataclasses.FrozenInstanceError):
                    object.__setattr__(value, name, new)
    return value


def redact_report(report) -> None:
    """Mask secrets in a pytest report: its traceback, captured output and properties.

    The JUnit XML and the terminal are written from these reports (on the xdist controller,
    from their serialized copies), so this is where their text is made safe.
    """
    seen: set[int] = set()
    if report.longrepr is not None:
        report.longrepr = _scrub(report.longrepr, seen)
    report.sections = [(redact(title), redact(text)) for title, text in report.sections]
    report.user_properties = [(name, _scrub(value, seen)) for name, value in
                              report.user_properties]


def _mark_report(report, failure_class: str) -> None:
    """Put the failure-class marker line into the failure's trace (see categories.py)."""
    line = _categories.marker_line(failure_class)
    longrepr = report.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection("hpc-e2e", line)
    elif isinstance(longrepr, str):
        report.longrepr = f"{longrepr}\n{line}"
    elif longrepr is None:
        report.longrepr = line
    else:
        report.longrepr = f"{report.longreprtext}\n{line}"


class _AllureRedaction:
    """Redact every Allure result, container and text attachment before it is written.

    The file writer's hooks receive their data as keyword arguments; pluggy's documented
    ``add_hookcall_monitoring`` ``before`` tracer sees that very dict before any hook
    implementation runs, which is the one place a string body can still be replaced.
    """

    def __init__(self):
        self._undo = None

    def install(self) -> None:
        import allure_commons

        if self._undo is None:
            self._undo = allure_commons.plugin_manager.add_hookcall_monitoring(
                self._before, lambda *a: None)

    def uninstall(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None

    @staticmethod
    def _before(hook_name: str, hook_impls, kwargs: dict) -> None:
        if hook_name in ("report_result", "report_container", "report_globals"):
            for value in kwargs.values():
                _scrub(value, set())
                _host_label(value)
        elif hook_name == "report_attached_data":
            body = kwargs.get("body")
            if isinstance(body, str):
                kwargs["body"] = redact(body)
            elif isinstance(body, (bytes, bytearray)):
                try:
                    text = bytes(body).decode("utf-8")
                except UnicodeDecodeError:
                    return  # binary (an image): nothing we could mask in it
                masked = redact(text)
                if masked != text:
                    kwargs["body"] = masked.encode("utf-8")


def _host_label(result) -> None:
    """Drop allure-pytest's ``host`` label (the controller's name, ``allure_commons.utils
    .host_tag()``) from a test result that also names the host under test."""
    from allure_commons.utils import host_tag

    labels = getattr(result, "labels", None)
    if not isinstance(labels, list):
        return
    hosts = [label for label in labels if getattr(label, "name", None) == "host"]
    if len(hosts) > 1:
        controller = host_tag()
        for label in hosts:
            if label.value == controller:
                labels.remove(label)
                break


# --- environment.properties ---------------------------------------------------------------------
_ENV = pytest.StashKey[dict]()


def _env_state(config) -> dict:
    state = config.stash.get(_ENV, None)
    if state is None:
        state = config.stash[_ENV] = {"run": {}, "hosts": {}}
    return state


def record_run_info(config, **values: Any) -> None:
    """Run-level facts for ``environment.properties`` (run id, profile, bundle digest...).

    Callable from the controller or a worker; worker values reach the controller.
    """
    run = _env_state(config)["run"]
    for key, value in values.items():
        if value is not None and value != "":
            run[key.replace("_", ".")] = str(value)


def record_host(config, name: str, **values: Any) -> None:
    """Facts about one host (build, os, containerd/shim/crictl versions, bundle digest)."""
    host = _env_state(config)["hosts"].setdefault(str(name), {})
    for key, value in values.items():
        if value is not None and value != "":
            host[key.replace("_", ".")] = str(value)


def _summary_dict(host: Any) -> dict | None:
    for name in ("provision_summary", "summary", "provisioned"):
        value = getattr(host, name, None)
        if callable(getattr(value, "to_dict", None)):
            return value.to_dict()
        if isinstance(value, Mapping):
            return dict(value)
    return None


def note_host(config, host: Any) -> None:
    """Record what an ``hpc_host`` fixture knows about its host; reads memory only."""
    try:
        target = getattr(host, "target", None)
        facts = getattr(host, "facts", None)
        name = getattr(target, "name", None) or getattr(facts, "computer_name", None)
        if not name:
            return
        values: dict[str, Any] = {"transport": getattr(target, "transport", None)}
        if facts is not None:
            values["build"] = getattr(facts, "build", None)
            os_version = getattr(facts, "os_version", None)
            values["os"] = " ".join(str(v) for v in (getattr(facts, "caption", None),
                                                     os_version) if v) or None
        summary = _summary_dict(host)
        if summary:
            values.update({k: v for k, v in _summary_values(summary).items()
                           if k not in ("build", "os") or values.get(k) is None})
        record_host(config, name, **values)
        run_id = getattr(getattr(host, "crictl", None), "run_id", None)
        if run_id:
            record_run_info(config, run_id=run_id)
    except Exception as exc:  # noqa: BLE001 - diagnostics and reports must never fail a test
        log.debug("could not record host facts for the report: %s", exc)


def _merge(state: dict, other: Mapping) -> None:
    state["run"].update(other.get("run") or {})
    for name, values in (other.get("hosts") or {}).items():
        state["hosts"].setdefault(name, {}).update(values)


def _summary_values(summary: Mapping) -> dict[str, Any]:
    """Environment values of one host from a ``ProvisionSummary.to_dict()``."""
    runtime = summary.get("runtime") or {}
    values: dict[str, Any] = {"build": summary.get("build"), "os": summary.get("os"),
                              "bundle.digest": runtime.get("bundle_digest")}
    for artifact, version in (runtime.get("versions") or {}).items():
        if isinstance(version, Mapping):
            values[artifact] = version.get("reported") or version.get("declared")
    return values


def _from_options(config) -> dict[str, str]:
    """What the run was asked for: the plugin core's validated settings, else raw options."""
    env: dict[str, str] = {}
    try:
        from harness.plugin.options import SETTINGS

        settings = config.stash.get(SETTINGS, None)
    except ImportError:
        settings = None
    if settings is not None:
        env["profile"] = str(getattr(settings.profile, "name", settings.profile))
        if settings.simulated:
            env.update({"sim.flavor": str(settings.sim_flavor),
                        "sim.build": str(settings.sim_build),
                        "sim.hosts": str(settings.sim_hosts)})
        else:
            env["inventory"] = str(settings.inventory)
        if settings.run_id:
            env["run.id"] = str(settings.run_id)
        env["limits"] = describe_limits(config, settings.provision_timeout)
        return env
    for key, option in (("profile", "--hpc-profile"), ("run.id", "--hpc-run-id"),
                        ("inventory", "--hpc-inventory")):
        value = config.getoption(option, None)
        if value is not None and value != "":
            env[key] = str(value)
    return env


def _from_run(config, state: dict) -> dict[str, str]:
    """The controller's run (id, bundle) and the provisioning records its workers wrote."""
    env: dict[str, str] = {}
    try:
        from harness.plugin.provisioning import provisioned_hosts, read_records
        from harness.plugin.targets import CONTROLLER
    except ImportError:
        return env
    controller = config.stash.get(CONTROLLER, None)
    if controller is None or not getattr(controller, "started", False):
        return env
    run = controller.run()
    env["run.id"] = str(run.run_id)
    env.update(_bundle_values(run.bundle))
    try:
        for host in provisioned_hosts(Path(run.run_dir)):
            for record in read_records(Path(run.run_dir), host).values():
                if "summary" in record:
                    known = state["hosts"].setdefault(host, {})
                    for key, value in _summary_values(record["summary"]).items():
                        if value is not None and value != "" and key not in known:
                            known[key] = str(value)
    except Exception as exc:  # noqa: BLE001 - a report file must not fail the run
        log.warning("reporting: could not read the provisioning records: %s", exc)
    return env


def _bundle_values(manifest) -> dict[str, str]:
    """The bundle's name and each program's version and hash: what identifies the runtime
    under test (the manifest's path is often a temporary folder, gone when the report is read).
    """
    from harness.runtime.bundle import load_bundle

    try:
        bundle = load_bundle(manifest)
    except Exception as exc:  # noqa: BLE001 - a report file must not fail the run
        log.warning("reporting: could not read the bundle %s: %s", manifest, exc)
        return {"bundle": Path(str(manifest)).name}
    values = {"bundle": bundle.name, "bundle.digest": bundle.digest}
    for artifact in bundle.all_artifacts():
        values[f"bundle.{artifact.name}"] = f"{artifact.version} sha256:{artifact.sha256}"
    return values


def environment(config) -> dict[str, str]:
    """The key/value pairs of ``environment.properties`` for this run, sorted by key."""
    state = _env_state(config)
    env = _from_options(config)
    env.update(_from_run(config, state))
    env.update(state["run"])
    hosts = state["hosts"]
    if hosts:
        env["hosts"] = ",".join(sorted(hosts))
        builds = sorted({v["build"] for v in hosts.values() if v.get("build")}, key=_num)
        if builds:
            env["host.builds"] = ",".join(builds)
        digests = {v["bundle.digest"] for v in hosts.values() if v.get("bundle.digest")}
        if len(digests) == 1 and "bundle.digest" not in env:
            env["bundle.digest"] = digests.pop()
    for name, values in hosts.items():
        for key, value in values.items():
            env[f"host.{name}.{key}"] = value
    return {k: redact(v) for k, v in sorted(env.items())}


def _num(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (0, text)


def _escape_property(text: str, *, key: bool) -> str:
    """java.util.Properties text: ISO-8859-1 with \\uXXXX escapes (Allure reads it so)."""
    out = []
    for i, ch in enumerate(text):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}[ch])
        elif (key and ch in " =:#!") or (not key and i == 0 and ch in " #!"):
            out.append("\\" + ch)
        elif code < 0x20 or code > 0x7E:
            encoded = ch.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(encoded[j:j + 2], 'big'):04x}"
                       for j in range(0, len(encoded), 2))
        else:
            out.append(ch)
    return "".join(out)


def render_properties(values: Mapping[str, str]) -> str:
    return "".join(f"{_escape_property(k, key=True)}={_escape_property(v, key=False)}\n"
                   for k, v in values.items())


def _write_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding=encoding)
    os.replace(tmp, path)


def write_run_files(config) -> list[Path]:
    """``environment.properties`` and ``categories.json`` into ``--alluredir``; the paths."""
    alluredir = getattr(config.option, "allure_report_dir", None)
    if not alluredir:
        return []
    folder = Path(alluredir).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    env_path = folder / "environment.properties"
    _write_atomic(env_path, render_properties(environment(config)), encoding="ascii")
    cat_path = folder / "categories.json"
    _write_atomic(cat_path, json.dumps(_categories.categories(), indent=2) + "\n")
    return [env_path, cat_path]


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


# --- the pytest plugin --------------------------------------------------------------------------
def _safe(fn, *args) -> None:
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - reporting must never change a test's outcome
        log.warning("reporting: %s failed: %s", getattr(fn, "__name__", fn), exc)


def _host_restart_check(item, report, failure: str) -> str:
    """A runtime-regression failure on a host that restarted meanwhile is infrastructure:
    the pods went with the restart (:meth:`HpcHost.restarted`).  The report says so."""
    host = getattr(item, "funcargs", {}).get("hpc_host")
    restarted = getattr(host, "restarted", None)
    if restarted is None:
        return failure
    try:
        seen = restarted()
    except Exception as exc:  # noqa: BLE001 - an unreachable host says nothing about the runtime
        log.info("reporting: could not read the boot time of %s after a failure: %s",
                 getattr(host, "name", "?"), exc)
        return failure
    if seen is None:
        return failure
    previous, now = seen
    report.sections.append(("hpc-e2e", f"the host {host.name} restarted during this test "
                                        f"(boot time {previous.isoformat()} -> "
                                        f"{now.isoformat()}): classified infrastructure"))
    return _categories.INFRASTRUCTURE


class ReportingPlugin:
    def __init__(self, config):
        self.config = config
        self._redaction = _AllureRedaction()

    def install(self) -> None:
        if getattr(self.config.option, "allure_report_dir", None):
            self._redaction.install()
        self.config.add_cleanup(self._redaction.uninstall)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        token = _current_item.set(item)
        try:
            return (yield)
        finally:
            _current_item.reset(token)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        _safe(label_scenario, item)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item):
        _safe(label_parameters, item)

    # trylast: the innermost wrapper, so the report is final here and allure-pytest's own
    # wrapper (and the JUnit writer after it) sees the marker line and the redacted text.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        try:
            if report.failed and call.excinfo is not None:
                failure = _categories.classify(call.excinfo)
                if failure == _categories.RUNTIME_REGRESSION:
                    failure = _host_restart_check(item, report, failure)
                item.stash.setdefault(FAILURE_CLASS, failure)
                _mark_report(report, failure)
                # JUnit XML takes a test's properties from its *teardown* report, which is
                # made from the item's list; the report of this phase gets it too.
                prop = ("hpc-e2e.failure-class", failure)
                if not any(name == prop[0] for name, _ in item.user_properties):
                    item.user_properties.append(prop)
                if prop not in report.user_properties:
                    report.user_properties.append(prop)
                if call.when == "call":
                    self._diagnose(item)
            if call.when == "setup" and not report.passed:
                # a test skipped or broken in setup still says what it was to run against
                label_parameters(item)
            redact_report(report)
        except Exception as exc:  # noqa: BLE001 - diagnostics and reports must never fail a test
            log.warning("reporting: could not finish the %s report of %s: %s",
                        call.when, item.nodeid, exc)
        return report

    def _diagnose(self, item) -> None:
        funcargs = getattr(item, "funcargs", {})
        host = funcargs.get("hpc_host")
        if host is None:
            return
        objects = list(item.stash.get(DIAGNOSTIC_OBJECTS, []))
        objects += _diagnostics.objects_of(funcargs.get("pods"))
        bundle = _diagnostics.collect_diagnostics(host, objects)
        _diagnostics.attach_bundle(bundle)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        data = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if data:
            try:
                _merge(_env_state(self.config), json.loads(data))
            except ValueError as exc:
                log.warning("reporting: unreadable report data from %s: %s", node, exc)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        config = self.config
        if _is_worker(config):
            config.workeroutput[WORKER_OUTPUT_KEY] = json.dumps(_env_state(config))
            return
        if config.option.collectonly:
            return
        if not session.testscollected or exitstatus in (pytest.ExitCode.USAGE_ERROR,
                                                        pytest.ExitCode.NO_TESTS_COLLECTED):
            return  # nothing ran: the previous run's files stay as they were (outputs.py)
        if not _suite_ran(config):
            # No test used the suite's hosts: another project's run with this plugin
            # installed (entry point), whose Allure results are none of the suite's business.
            return
        try:
            write_run_files(config)
        except OSError as exc:
            log.warning("reporting: could not write environment.properties/categories.json: "
                        "%s", exc)


def _suite_ran(config) -> bool:
    """The run used the suite: the controller made its run (hosts, run folder), or a test's
    host facts were recorded (here, or by a worker and merged)."""
    controller = config.stash.get(CONTROLLER, None)
    state = _env_state(config)
    return bool(controller is not None and controller.started) or \
        bool(state["hosts"] or state["run"])


def register(config) -> ReportingPlugin:
    """Add the reporting plugin to this pytest run (idempotent); call from pytest_configure."""
    existing = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if existing is not None:
        return existing
    config.addinivalue_line("markers", REFERENCE_MARKER)
    plugin = ReportingPlugin(config)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    plugin.install()
    return plugin


def pytest_configure(config) -> None:
    register(config)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session) -> None:
    """Mask secrets in pytest's own log handlers too (live log, captured log, log file):
    they format records before any report hook sees them."""
    from harness.config.secrets import install_log_redaction

    plugin = session.config.pluginmanager.get_plugin("logging-plugin")
    if plugin is not None:
        install_log_redaction(*(getattr(plugin, name, None) for name in (
            "log_cli_handler", "caplog_handler", "report_handler", "log_file_handler")))


__all__ = ["DIAGNOSTIC_OBJECTS", "EPIC", "FAILURE_CLASS", "OBSERVATIONS", "UPSTREAM_LINKS",
           "ReportingPlugin", "ReportingTransport", "environment", "feature_of", "label_parameters",
           "label_scenario", "note_host", "observation", "record_host", "record_run_info",
           "redact_report", "register", "render_properties", "scenario_parameters",
           "short_title", "story_of", "write_run_files"]
