"""Errors of the CRI client, and reading them out of crictl's stderr.

A refusal by the runtime is the product's answer, which scenarios assert on; it is raised
as :class:`CriStageError` naming the crictl sub-command (the *stage*: ``runp``, ``create``,
``start``, ``exec``, ...) with ``runtime_message`` set to containerd's or the shim's own
text, so a scenario can match substrings quoted in reference/ (docs/behaviour/runtime.md
§8.4 says at which stage each refusal surfaces).  None of these derive from
``AssertionError``: whether a refusal is a regression is for the scenario to decide.

crictl reports every error through logrus and exits 1 (docs/behaviour/ecosystem.md §3.4).  With
stderr not a console (WinRS, OpenSSH) logrus writes ``time="..." level=error msg="..."``
with ``msg`` Go-quoted (``%q``: backslashes of Windows paths doubled, CR/LF escaped); on
a console it writes ``ERRO[0000] ...``.  The vendored CRI client may also log through
klog (``E0813 07:07:37.123456 4312 file.go:636] ...``).  :func:`crictl_error_text`
accepts all three and plain text, so the exact runtime text survives any of them.
"""

from __future__ import annotations

import re

from harness.errors import EXIT_CONNECT, EXIT_TIMEOUT, HarnessError

# klog's header: severity, MMDD, time, thread id, file:line]
_KLOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+\s+\S+:\d+\]")
# logrus TextFormatter without a console: key=value pairs, the value quoted when needed.
_LOGRUS_KV = re.compile(r'(?:^|\s)level=(?P<level>\w+)(?:\s|$)')
_LOGRUS_MSG = re.compile(r'(?:^|\s)msg=(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>\S*))')
# logrus TextFormatter on a console: four-letter level, seconds since start.
_LOGRUS_TTY = re.compile(r"^(?P<level>PANI|FATA|ERRO|WARN|INFO|DEBU|TRAC)\[\d+\]\s?(?P<msg>.*)$")
_ERROR_LEVELS = {"error", "fatal", "panic", "ERRO", "FATA", "PANI"}
_OTHER_LEVELS = {"warning", "warn", "info", "debug", "trace", "WARN", "INFO", "DEBU", "TRAC"}
_GRPC = re.compile(r"rpc error: code = (?P<code>\w+) desc = ")
_PULLING = "pulling image: "

_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"', "'": "'"}


def go_unquote(body: str) -> str:
    r"""Undo Go's ``%q`` on the text between the quotes.

    ``\xNN`` stands for a raw byte (Go quotes invalid UTF-8 that way), so bytes are
    collected and decoded together.
    """
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch != "\\" or i + 1 >= n:
            out += ch.encode("utf-8")
            i += 1
            continue
        esc = body[i + 1]
        if esc in _GO_ESCAPES:
            out += _GO_ESCAPES[esc].encode("utf-8")
            i += 2
        elif esc == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2:i + 4]):
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
            out += chr(int(body[i + 2:i + 6], 16)).encode("utf-8", "surrogatepass")
            i += 6
        elif esc == "U" and re.fullmatch(r"[0-9a-fA-F]{8}", body[i + 2:i + 10]):
            out += chr(int(body[i + 2:i + 10], 16)).encode("utf-8")
            i += 10
        else:  # not something %q writes: keep it as it stands
            out += ch.encode("utf-8")
            i += 1
    return out.decode("utf-8", "replace")


def crictl_error_text(stderr: str) -> str:
    """The text of crictl's error: the last error-level log entry that carries a gRPC
    status, else the last error-level entry, unquoted.

    Commands that act on several objects log each object's error and then end with a
    summary without the runtime's answer: crictl before v1.34 ends ``rm`` with ``unable to
    remove container(s)`` after ``removing container "<id>" failed: rpc error: ...``
    (cri-tools v1.31 cmd/crictl/container.go, removeContainerCommand), so the entry with
    the status is the error.  Without any log entry the whole stderr (klog lines removed)
    is the text, so an error printed by something other than crictl (cmd.exe's "is not
    recognized") is kept whole.
    """
    errors: list[str] = []
    plain: list[str] = []
    for line in stderr.splitlines():
        if not line.strip():
            if plain:
                plain.append("")  # a blank line inside plain text is part of it
            continue
        if _KLOG.match(line):
            continue
        kv_level = _LOGRUS_KV.search(line)
        if kv_level and line.lstrip().startswith(("time=", "level=")):
            if kv_level.group("level") in _ERROR_LEVELS:
                m = _LOGRUS_MSG.search(line)
                if m:
                    errors.append(go_unquote(m.group("quoted")) if m.group("quoted") is not None
                                  else m.group("bare"))
            continue
        tty = _LOGRUS_TTY.match(line)
        if tty:
            if tty.group("level") in _ERROR_LEVELS:
                errors.append(tty.group("msg").strip())
            continue
        plain.append(line.rstrip())
    if errors:
        with_status = [e for e in errors if _GRPC.search(e)]
        return (with_status or errors)[-1]
    # Plain text: crictl 1.32-1.35 print the errors of rm/exec/rmp with fmt.Fprintln
    # (urfave/cli v2's MultiError handling), so the last LF is Fprintln's and a blank line
    # before it is the end of the command's own stderr ("exited with 3: err\n").
    text = "\n".join(plain).strip(" \t\n")
    return text + "\n" if plain and plain[-1] == "" and text else text


def split_grpc(text: str) -> tuple[str | None, str]:
    """``(gRPC code, runtime text)`` of ``... rpc error: code = C desc = <runtime text>``.

    The runtime text is everything after the *first* ``desc = ``: containerd's message
    whole, even when it quotes a nested error.  Text without a gRPC status is crictl's own
    (for example ``load podSandboxConfig: ...``) and is returned unchanged.
    """
    m = _GRPC.search(text)
    if not m:
        return None, text.strip()
    return m.group("code"), text[m.end():].strip()


class CriStageError(HarnessError):
    """crictl (or the runtime behind it) refused one stage of a pod's life.

    ``stage`` is the crictl sub-command; ``runtime_message`` is containerd's / the shim's
    text exactly (after ``desc = ``), or crictl's own text when no RPC was answered;
    ``crictl_message`` is crictl's whole error line; ``grpc_code`` the status code name
    (``Unknown``, ``NotFound``, ``DeadlineExceeded``...) when there was one.
    """

    def __init__(self, stage: str, message: str, *, result=None, object_id: str | None = None,
                 crictl_message: str | None = None, grpc_code: str | None = None,
                 hint: str | None = None):
        where = f" {object_id}" if object_id else ""
        if hint is None and grpc_code == "DeadlineExceeded":
            hint = ("crictl's own --timeout expired; raise Crictl(timeout=...) if the runtime "
                    "is slow (a UVM boots in seconds), or check the runtime endpoint "
                    "(docs/behaviour/ecosystem.md §3.1)")
        super().__init__(f"crictl {stage}{where} failed: {message}", hint=hint)
        self.stage = stage
        self.runtime_message = message
        self.crictl_message = crictl_message if crictl_message is not None else message
        self.grpc_code = grpc_code
        self.object_id = object_id
        self.result = result

    @classmethod
    def from_result(cls, stage: str, result, *, object_id: str | None = None) -> CriStageError:
        text = crictl_error_text(result.stderr) or crictl_error_text(result.stdout)
        if not text:
            text = f"crictl exited with {result.exit_code} and printed nothing"
        code, runtime = split_grpc(text)
        if stage == "pull" and code is None and text.startswith(_PULLING):
            # The CRI client drops the status of a PullImage error with code Unknown and
            # keeps only its message (kubernetes cri-client v0.37.0 pkg/remote_image.go
            # PullImage: "We can strip the code from unknown status errors"); crictl then
            # prefixes "pulling image: " (cri-tools v1.37.0 cmd/crictl/image.go).
            code, runtime = "Unknown", text[len(_PULLING):].strip()
        return cls(stage, runtime, result=result, object_id=object_id, crictl_message=text,
                   grpc_code=code)


class CriUnavailable(HarnessError):
    """crictl could not reach the runtime at all (gRPC ``Unavailable``: containerd is not
    running, or its named pipe is gone while the SCM restarts it).

    Deliberately *not* a :class:`CriStageError`: nobody refused anything, and a scenario
    that expects a refusal with ``pytest.raises(CriStageError)`` must never take an
    unreachable runtime for the refusal it is waiting for.  Raised once the harness's
    retries (``runtime_wait``) are used up; classified infrastructure.
    """

    exit_code = EXIT_CONNECT

    def __init__(self, cause: CriStageError):
        super().__init__(f"crictl {cause.stage}{f' {cause.object_id}' if cause.object_id else ''}"
                         f" got no answer from the runtime: {cause.runtime_message}",
                         hint="check that the containerd service is running on the host and "
                              "that crictl.yaml names its endpoint (docs/behaviour/ecosystem.md §3.1)")
        self.stage = cause.stage
        self.runtime_message = cause.runtime_message
        self.crictl_message = cause.crictl_message
        self.grpc_code = cause.grpc_code
        self.object_id = cause.object_id
        self.result = cause.result


class CriExecTimeout(HarnessError):
    """``crictl exec --timeout N`` gave up on the command (``... timed out after N``).

    A deadline, not a product answer: reported as broken, not failed.
    """

    exit_code = EXIT_TIMEOUT

    def __init__(self, container_id: str, argv: list[str], timeout: float, *, result=None,
                 crictl_message: str = ""):
        super().__init__(
            f"the command {argv!r} in container {container_id} did not finish within "
            f"{timeout:g}s: {crictl_message}",
            hint="raise the exec timeout if the command is expected to be slow")
        self.stage = "exec"
        self.container_id = container_id
        self.argv = argv
        self.timeout = timeout
        self.result = result
        self.crictl_message = crictl_message


class CrictlOutputError(HarnessError):
    """crictl exited 0 but did not print what the stage promises (an ID, JSON).

    crictl prints its help and exits 0 when its arguments are wrong (docs/behaviour/ecosystem.md
    §7), so a missing ID is a harness or installation problem, never a runtime answer.
    """

    def __init__(self, stage: str, expected: str, result=None):
        got = (result.stdout.strip()[:300] if result is not None else "") or "(nothing)"
        super().__init__(
            f"crictl {stage} exited 0 but printed no {expected}: {got}",
            hint="check the crictl version and the command line in the transcript; crictl "
                 "prints its help and exits 0 when flags follow positional arguments")
        self.stage = stage
        self.result = result
