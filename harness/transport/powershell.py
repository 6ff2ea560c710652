"""The one PowerShell entry point: a fixed bootstrap that runs named scripts read from stdin.

PowerShell work never travels on the command line (docs/internals.md "Remote command
contract").  The command line is always the same encoded bootstrap, well under cmd.exe's
8191-character limit whatever the script (docs/behaviour/protocols.md §1.8, §1.9), and the
script text arrives on stdin with its SHA-256, so no script is ever quoted per call and a
host never runs a text that was altered on the way.  The same bytes go to a real host and
to the simulated one, which recognises scripts by name and pinned hash.

Scripts are loaded from a directory (:class:`ScriptCatalog`); this package ships the few the
transports need (``scripts/``), the windows layer brings its own catalog directory.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import CommandTimeout, HarnessError, RemoteCommandError
from harness.transport.base import DEFAULT_TIMEOUT, CommandResult, Transport, log
from harness.transport.retry import is_transient, policy_of

SCRIPTS_DIR = Path(__file__).resolve().with_name("scripts")
RESULT_PREFIX = "##hpc-e2e-result "
# -OutputFormat Text: with stderr redirected (always, here) powershell.exe would otherwise
# write warning and error records as CLIXML ("#< CLIXML" and <Objs> XML), which no report
# should show (about_PowerShell_exe, -OutputFormat; issue 12, finding 4).
BOOTSTRAP_ARGV = ("powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive",
                  "-ExecutionPolicy", "Bypass", "-OutputFormat", "Text", "-EncodedCommand")
# cmd.exe's longest command line (docs/behaviour/protocols.md §1.8); the bootstrap stays far below.
CMD_LINE_LIMIT = 8191
# Lines longer than this from a script mean the host is not speaking our protocol.
MAX_LINE = 16 << 20
# How much stderr is kept when stdout is streamed elsewhere.
MAX_STDERR = 1 << 20


def read_script_text(path: str | Path) -> str:
    """The text of a ``.ps1`` as it is sent: UTF-8 without BOM, ``\\n`` line endings.

    Line endings are normalised so that a checkout with ``core.autocrlf`` sends (and
    hashes) exactly the same text as any other.
    """
    raw = Path(path).read_bytes().decode("utf-8-sig")
    return raw.replace("\r\n", "\n")


def script_sha256(text: str) -> str:
    """Hex SHA-256 of a script's UTF-8 bytes: what the bootstrap checks and the sim pins."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Script:
    name: str
    text: str
    path: Path | None = None

    @property
    def sha256(self) -> str:
        return script_sha256(self.text)


class ScriptCatalog:
    """Scripts found by name (file stem) in one directory, read once."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._cache: dict[str, Script] = {}

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.ps1"))

    def get(self, name: str) -> Script:
        script = self._cache.get(name)
        if script is None:
            path = self.directory / f"{name}.ps1"
            if not path.is_file() or path.stem != name:
                raise HarnessError(
                    f"no PowerShell script named {name!r} in {self.directory}",
                    hint=f"known scripts: {', '.join(self.names()) or '(none)'}")
            script = self._cache[name] = Script(name, read_script_text(path), path)
        return script

    def __contains__(self, name: str) -> bool:
        return (self.directory / f"{name}.ps1").is_file()


TRANSPORT_SCRIPTS = ScriptCatalog(SCRIPTS_DIR)
BOOTSTRAP = read_script_text(SCRIPTS_DIR / "bootstrap.ps1")


@functools.lru_cache(maxsize=1)
def bootstrap_command_line() -> str:
    """``powershell.exe ... -EncodedCommand <base64 of the UTF-16LE bootstrap>``."""
    encoded = base64.b64encode(BOOTSTRAP.encode("utf-16-le")).decode("ascii")
    line = " ".join(BOOTSTRAP_ARGV) + " " + encoded
    # Well below the limit, with room for cmd.exe's own prefix ("cmd.exe /c ") and growth.
    assert len(line) <= CMD_LINE_LIMIT - 2048, f"bootstrap command line is {len(line)} characters"
    return line


def header_line(name: str, script_text: str, args: Mapping[str, Any] | None) -> bytes:
    """The first stdin line the bootstrap reads: base64 of the UTF-8 JSON header, CRLF."""
    script_bytes = script_text.encode("utf-8")
    header = {
        "name": name,
        "sha256": hashlib.sha256(script_bytes).hexdigest(),
        "script": base64.b64encode(script_bytes).decode("ascii"),
        "args": dict(args or {}),
    }
    payload = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.b64encode(payload) + b"\r\n"


@dataclass
class ScriptResult:
    """What a script did: its parsed result line (``value``) and the command record."""

    name: str
    value: Any
    command: CommandResult

    @property
    def exit_code(self) -> int:
        return self.command.exit_code

    @property
    def succeeded(self) -> bool:
        return self.command.succeeded

    @property
    def stdout(self) -> str:
        return self.command.stdout

    @property
    def stderr(self) -> str:
        return self.command.stderr


class LineSplitter:
    """Cut a byte stream into lines (``\\n`` or ``\\r\\n``) without holding more than one."""

    def __init__(self, on_line: Callable[[bytes], None], max_line: int = MAX_LINE):
        self._on_line = on_line
        self._max = max_line
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._buf += data
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end < 0:
                break
            line = bytes(self._buf[start:end])
            start = end + 1
            self._on_line(line[:-1] if line.endswith(b"\r") else line)
        del self._buf[:start]
        if len(self._buf) > self._max:
            raise HarnessError(f"a line of script output exceeded {self._max} bytes",
                               hint="the host is not answering with the hpc-e2e script protocol")

    def close(self) -> None:
        if self._buf:
            line = bytes(self._buf)
            self._buf.clear()
            self._on_line(line[:-1] if line.endswith(b"\r") else line)


def _resolve(script: Script | str | Path, catalog: ScriptCatalog) -> Script:
    if isinstance(script, Script):
        return script
    if isinstance(script, Path) or str(script).endswith(".ps1"):
        path = Path(script)
        return Script(path.stem, read_script_text(path), path)
    return catalog.get(str(script))


def describe(name: str, args: Mapping[str, Any] | None) -> str:
    """How a script call is named in transcripts and errors (redacted by CommandResult)."""
    return f"[ps:{name}] {json.dumps(dict(args or {}), separators=(',', ':'), default=str)}"


# Small stdin pieces that are already in memory travel with the header in one Send.
COALESCE_LIMIT = 32 * 1024


def _coalesced(first: bytes, rest: Iterable[bytes] | None) -> Iterator[bytes]:
    """The header line and the script's stdin, with small *in-memory* pieces (a list or
    tuple: a batch's config files) joined to the header, so that a script and its small
    data cost one Send instead of one per piece.  A generator is streamed as it comes: its
    pieces may not exist yet (an upload reads its file as it goes)."""
    if not isinstance(rest, (list, tuple)):
        yield first
        if rest is not None:
            yield from rest
        return
    head = bytearray(first)
    pieces = iter(rest)
    for piece in pieces:
        if len(head) + len(piece) > COALESCE_LIMIT:
            yield bytes(head)
            yield piece
            yield from pieces
            return
        head += piece
    yield bytes(head)


def run_script(transport: Transport, script: Script | str | Path,
               args: Mapping[str, Any] | None = None, *,
               stdin_chunks: Iterable[bytes] | None = None,
               timeout: float = DEFAULT_TIMEOUT,
               catalog: ScriptCatalog = TRANSPORT_SCRIPTS,
               check: bool = True,
               on_line: Callable[[bytes], None] | None = None,
               repeatable: bool = False) -> ScriptResult:
    """Run ``script`` through the bootstrap with ``args`` as named parameters.

    ``stdin_chunks`` follow the header line on stdin.  With ``on_line``, every stdout line
    other than the result line is handed to it as it arrives instead of being kept (large
    downloads); this needs a transport with ``run_streaming``.  Raises
    :class:`~harness.errors.RemoteCommandError` for a non-zero exit when ``check``.

    ``repeatable=True`` (scripts that only read, or whose effect a repeat does not change)
    runs the whole script again after a transient transport failure — a fresh command with
    fresh stdin (``stdin_chunks`` must then be a list or tuple), and never once a line was
    handed to ``on_line``: what a caller already consumed cannot be taken back.
    """
    if repeatable:
        return _run_script_repeatable(transport, script, args, stdin_chunks=stdin_chunks,
                                      timeout=timeout, catalog=catalog, check=check,
                                      on_line=on_line)
    resolved = _resolve(script, catalog)
    label = describe(resolved.name, args)
    first = header_line(resolved.name, resolved.text, args)

    def stdin() -> Iterator[bytes]:
        yield from _coalesced(first, stdin_chunks)

    values: list[Any] = []
    kept = bytearray()

    def line(raw: bytes) -> None:
        if raw.startswith(RESULT_PREFIX.encode()):
            text = raw[len(RESULT_PREFIX):].decode("utf-8", "replace")
            try:
                values.append(json.loads(text))
            except ValueError:
                raise HarnessError(f"script {resolved.name} wrote a result line that is not "
                                   f"JSON: {text[:200]!r}") from None
        elif on_line is not None:
            on_line(raw)
        else:
            kept.extend(raw + b"\n")

    splitter = LineSplitter(line)
    err = bytearray()

    def on_stderr(data: bytes) -> None:
        room = MAX_STDERR - len(err)
        if room > 0:
            err.extend(data[:room])

    started = time.monotonic()
    try:
        streaming = getattr(transport, "run_streaming", None)
        if streaming is not None:
            code = streaming(bootstrap_command_line(), timeout=timeout, stdin=stdin(),
                             on_stdout=splitter.feed, on_stderr=on_stderr)
        else:  # a transport without streaming: same result, output held in memory
            res = transport.run(bootstrap_command_line(), timeout=timeout, stdin=stdin())
            code = res.exit_code
            splitter.feed(res.stdout_bytes)
            on_stderr(res.stderr_bytes)
        splitter.close()
    except CommandTimeout as exc:
        raise CommandTimeout(label, exc.timeout, hint=exc.hint) from None
    result = CommandResult(command=label, exit_code=code, stdout_bytes=bytes(kept),
                           stderr_bytes=bytes(err), duration=time.monotonic() - started,
                           host=transport.target.name)
    log.debug("%s", result.transcript(limit=4096))
    if check and result.failed:
        raise RemoteCommandError(result)
    return ScriptResult(resolved.name, values[-1] if values else None, result)


def _run_script_repeatable(transport: Transport, script: Script | str | Path,
                           args: Mapping[str, Any] | None, *,
                           stdin_chunks: Iterable[bytes] | None, timeout: float,
                           catalog: ScriptCatalog, check: bool,
                           on_line: Callable[[bytes], None] | None) -> ScriptResult:
    if stdin_chunks is not None and not isinstance(stdin_chunks, (list, tuple)):
        raise TypeError("a repeatable script needs stdin_chunks as a list or tuple "
                        "(a stream cannot be sent again)")
    resolved = _resolve(script, catalog)
    delivered = 0

    def counted(line: bytes) -> None:
        nonlocal delivered
        delivered += 1
        on_line(line)  # type: ignore[misc]

    def classify(exc: BaseException) -> str | None:
        return "transient" if is_transient(exc) and delivered == 0 else None

    return policy_of(transport).call(
        lambda: run_script(transport, resolved, args, stdin_chunks=stdin_chunks,
                           timeout=timeout, catalog=catalog, check=check,
                           on_line=counted if on_line is not None else None),
        what=f"script {resolved.name}",
        host=getattr(getattr(transport, "target", None), "name", ""),
        classify=classify)
