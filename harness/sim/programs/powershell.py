"""``powershell.exe`` on the simulated host: the harness's bootstrap and nothing else.

The sim does not interpret PowerShell.  It accepts exactly the bootstrap command line
(``-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass [-OutputFormat Text|XML]
-EncodedCommand <b64>``) whose
decoded text has the hash pinned in :mod:`harness.sim.catalog`, then does what that text
does: read the header line from stdin, check the script's SHA-256, bind ``args`` to the
script's parameters as PowerShell would, and run the Python model registered for the
script's name and pinned hash.  Anything else exits 1 with a message naming what the
simulated host does not understand.

The models of the transport's own scripts (``receive_file``, ``send_file``, ``file_hash``)
live here; each follows its ``.ps1`` line by line, on ``ctx.machine.fs``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

from harness.sim import catalog
from harness.sim.machine import ProcessContext
from harness.sim.winparse import split_argv

BOOTSTRAP_FLAGS = ("-nologo", "-noprofile", "-noninteractive", "-executionpolicy", "bypass",
                   "-encodedcommand")
# ``-OutputFormat Text|XML`` may stand before ``-EncodedCommand``.  Without ``Text``, what a
# script writes to its warning and error streams leaves powershell.exe, whose stderr is a
# pipe (WinRS, OpenSSH, the local transport), as CLIXML: a ``#< CLIXML`` line, then
# ``<Objs>`` documents with ``<S S="warning">`` / ``<S S="Error">`` strings (Ansible decodes
# the same shape: ansible/plugins/shell/powershell.py ``_parse_clixml``; PowerShell's
# about_PowerShell_exe, -OutputFormat: "Text" or "XML" (serialized CLIXML)).
CLIXML_HEADER = "#< CLIXML\r\n"
CLIXML_NS = "http://schemas.microsoft.com/powershell/2004/04"
BOOTSTRAP_FORM = ("powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass "
                  "[-OutputFormat Text|XML] -EncodedCommand <base64 of the hpc-e2e bootstrap>")
RESULT_PREFIX = "##hpc-e2e-result "
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


class ScriptError(Exception):
    """A terminating error inside a script: the bootstrap's catch prints it and exits 1."""


def _not_understood(ctx: ProcessContext, what: str) -> int:
    ctx.stderr.line(f"the simulated host does not understand {what}")
    return 1


# --- powershell.exe -------------------------------------------------------------------------
def powershell_program(ctx: ProcessContext) -> int:
    argv = split_argv(ctx.command_line)
    args = argv[1:]
    output_format = None
    lowered = [a.lower() for a in args]
    if "-outputformat" in lowered:
        i = lowered.index("-outputformat")
        if i + 1 >= len(args) or lowered[i + 1] not in ("text", "xml"):
            return _not_understood(ctx, "-OutputFormat without Text or XML")
        output_format = lowered[i + 1]
        args = args[:i] + args[i + 2:]
    if len(args) != len(BOOTSTRAP_FLAGS) + 1 or \
            [a.lower() for a in args[:-1]] != list(BOOTSTRAP_FLAGS):
        shown = " ".join(args) if len(" ".join(args)) < 300 else " ".join(args)[:300] + "..."
        return _not_understood(ctx, f"powershell.exe {shown}: its powershell.exe only runs "
                                    f"the hpc-e2e bootstrap ({BOOTSTRAP_FORM})")
    try:
        raw = base64.b64decode(args[-1], validate=True)
        text = raw.decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return _not_understood(ctx, "an -EncodedCommand that is not base64 of UTF-16LE text")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != catalog.BOOTSTRAP_SHA256:
        return _not_understood(
            ctx, f"the -EncodedCommand script with sha256 {digest}: it knows only the hpc-e2e "
                 f"bootstrap with sha256 {catalog.BOOTSTRAP_SHA256} ({catalog.BOOTSTRAP_SOURCE}"
                 "); if the bootstrap changed, review its model and update the pin")
    ctx.extra["ps_output_format"] = output_format or "xml"
    return _bootstrap(ctx)


def _bootstrap(ctx: ProcessContext) -> int:
    """What bootstrap.ps1 does, step by step."""
    name = "bootstrap"

    def fail(message: str) -> int:
        # the bootstrap's catch block
        ctx.stderr.write(f"hpc-e2e: {name}: {message}\r\n")
        return 1

    line = _read_line(ctx)
    if not line:
        return fail("no script header on stdin")
    try:
        header_bytes = _from_base64(line.strip())
    except ScriptError as exc:
        return fail(str(exc))
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return fail(f"Invalid JSON primitive: {exc}")
    if not isinstance(header, dict) or not isinstance(header.get("name"), str) or \
            not isinstance(header.get("sha256"), str) or \
            not isinstance(header.get("script"), str) or \
            not isinstance(header.get("args", {}), (dict, type(None))):
        keys = sorted(header) if isinstance(header, dict) else type(header).__name__
        return _not_understood(ctx, f"the script header {keys}: it expects "
                                    "{name, sha256, script, args} as the harness sends them")
    name = header["name"]
    try:
        script = _from_base64(header["script"])
    except ScriptError as exc:
        return fail(str(exc))
    actual = hashlib.sha256(script).hexdigest()
    if actual != header["sha256"].lower():  # PowerShell's -ne ignores case
        return fail(f"sha256 of the script text is {actual}, the header says {header['sha256']}")
    try:
        entry = catalog.lookup(name, actual)
    except catalog.UnknownScript as exc:
        ctx.stderr.line(str(exc))
        return 1
    try:
        bound = bind_parameters(entry, header.get("args") or {})
        code = entry.resolve()(ScriptContext(ctx, entry, bound))
    except ScriptError as exc:
        return fail(str(exc))
    return 0 if code is None else int(code)


def bind_parameters(entry: catalog.CatalogEntry, args: Mapping[str, Any]) -> dict[str, Any]:
    """PowerShell's binding of a splatted hashtable to the script's ``param()`` block."""
    by_lower = {k.lower(): k for k in entry.params}
    bound: dict[str, Any] = {}
    for given, value in args.items():
        key = by_lower.get(given.lower())
        if key is None:
            raise ScriptError(f"A parameter cannot be found that matches parameter name "
                              f"'{given}'.")
        bound[key] = _convert(key, entry.params[key], value)
    missing = [k for k, p in entry.params.items() if p.mandatory and k not in bound]
    if missing:
        raise ScriptError("Cannot process command because of one or more missing mandatory "
                          f"parameters: {' '.join(missing)}.")
    for key in entry.params:
        bound.setdefault(key, None)
    return bound


def _convert(name: str, param: catalog.Param, value: Any) -> Any:
    if value is None or (value == "" and param.type == "string"):
        if param.mandatory:
            what = "null" if value is None else "an empty string"
            raise ScriptError(f"Cannot bind argument to parameter '{name}' because it is "
                              f"{what}.")
        return value
    kind = param.type
    if kind == "string":
        if isinstance(value, bool):
            return "True" if value else "False"
        if isinstance(value, (str, int, float)):
            return str(value)
    elif kind in ("int", "long"):
        low, high = INT32 if kind == "int" else INT64
        dotnet = "System.Int32" if kind == "int" else "System.Int64"
        number = None
        if isinstance(value, bool):
            number = int(value)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            number = int(value.strip())
        if number is None or not low <= number <= high:
            raise ScriptError(f"Cannot process argument transformation on parameter '{name}'. "
                              f"Cannot convert value \"{value}\" to type \"{dotnet}\".")
        return number
    elif kind in ("bool", "switch"):
        if isinstance(value, bool):
            return value
    elif kind == "object":
        return value
    raise ScriptError(f"the simulated host does not model converting {value!r} to the "
                      f"[{kind}] parameter '{name}'")


def _read_line(ctx: ProcessContext) -> str | None:
    """``[Console]::In.ReadLine()``: the next line without its terminator, None at EOF."""
    raw = ctx.stdin.readline()
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    text = text.removesuffix("\n")
    text = text.removesuffix("\r")
    return text


def _from_base64(text: str) -> bytes:
    """``[Convert]::FromBase64String``: whitespace ignored, anything else strict."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ScriptError(
            'Exception calling "FromBase64String" with "1" argument(s): "The input is not a '
            "valid Base-64 string as it contains a non-base 64 character, more than two "
            'padding characters, or an illegal character among the padding characters. "'
        ) from None


class ScriptContext:
    """What a script model sees: its bound parameters and the process it runs in."""

    def __init__(self, proc: ProcessContext, entry: catalog.CatalogEntry,
                 args: dict[str, Any]):
        self.proc = proc
        self.entry = entry
        self.args = args
        self.machine = proc.machine
        self.fs = proc.machine.fs

    def lines(self) -> Iterator[str]:
        """``while ($null -ne ($line = [Console]::In.ReadLine()))``."""
        while True:
            line = _read_line(self.proc)
            if line is None:
                return
            yield line

    def warning(self, text: str) -> None:
        """A record on the warning stream (``Write-Warning``, a cmdlet's warning).

        With ``-OutputFormat Text`` the console host prints ``WARNING: <text>``; otherwise
        it goes to stderr as CLIXML (see :data:`CLIXML_HEADER`).
        """
        if self.proc.extra.get("ps_output_format") == "text":
            self.proc.stdout.line(f"WARNING: {text}")
            return
        if not self.proc.extra.get("clixml_started"):
            self.proc.extra["clixml_started"] = True
            self.proc.stderr.write(CLIXML_HEADER)
        escaped = (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                   .replace("\r", "_x000D_").replace("\n", "_x000A_"))
        self.proc.stderr.write(f'<Objs Version="1.1.0.1" xmlns="{CLIXML_NS}">'
                               f'<S S="warning">{escaped}_x000D__x000A_</S></Objs>')

    def result(self, value: Any) -> None:
        """The bootstrap's ``Write-HpcE2EResult``."""
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        self.proc.stdout.write(f"{RESULT_PREFIX}{text}\r\n")

    def full_path(self, path: str) -> str:
        """``[IO.Path]::GetFullPath`` against the process's working directory."""
        try:
            return self.fs.resolve(path, self.proc.cwd)
        except OSError as exc:
            raise ScriptError(f'Exception calling "GetFullPath" with "1" argument(s): '
                              f'"{_io_message(exc, path)}"') from None

    def open(self, path: str, mode: str, share: str = "rw"):
        """``[IO.File]::Open`` (4 arguments; ``share`` = its FileShare: ``r``, ``rw``) with
        .NET's messages on failure."""
        try:
            return self.fs.open(path, mode, share=share)
        except OSError as exc:
            raise ScriptError(f'Exception calling "Open" with "4" argument(s): '
                              f'"{_io_message(exc, path)}"') from None


def _io_message(exc: OSError, path: str) -> str:
    """The .NET exception text for a Win32 error on ``path``."""
    code = getattr(exc, "winerror", None)
    if code == 2:
        return f"Could not find file '{path}'."
    if code == 3:
        return f"Could not find a part of the path '{path}'."
    if code in (80, 183):
        return f"The file '{path}' already exists."
    if code == 5:
        return f"Access to the path '{path}' is denied."
    if code == 32:
        return (f"The process cannot access the file '{path}' because it is being used by "
                "another process.")
    if code == 123:
        return "The given path's format is not supported."
    return exc.strerror or str(exc)


# --- models of harness/transport/scripts/*.ps1 ------------------------------------------------
def receive_file(sc: ScriptContext) -> int:
    """receive_file.ps1: base64 lines → temporary file → size and hash check → rename."""
    full = sc.full_path(sc.args["path"])
    directory, _ = sc.fs.split(full)
    if not sc.fs.is_dir(directory):
        raise ScriptError(f"the directory {directory} does not exist")
    tmp = f"{full}.{secrets.token_hex(4)}.hpce2e-tmp"
    hasher = hashlib.sha256()
    written = 0
    stream = sc.open(tmp, "xb")  # FileMode.CreateNew
    try:
        for line in sc.lines():
            line = line.strip()
            if not line:
                continue
            data = _from_base64(line)
            hasher.update(data)
            stream.write(data)
            written += len(data)
        stream.close()
        actual = hasher.hexdigest()
        if written != sc.args["size"]:
            raise ScriptError(f"received {written} bytes for {full}, expected {sc.args['size']}")
        if actual != sc.args["sha256"].lower():
            raise ScriptError(f"sha256 of the bytes received for {full} is {actual}, "
                              f"expected {sc.args['sha256']}")
        try:  # [IO.File]::Replace when the destination exists, else [IO.File]::Move
            sc.fs.rename(tmp, full, replace=True)
        except OSError as exc:
            method, nargs = ("Replace", 3) if sc.fs.exists(full) else ("Move", 2)
            raise ScriptError(f'Exception calling "{method}" with "{nargs}" argument(s): '
                              f'"{_io_message(exc, full)}"') from None
    except BaseException:
        stream.close()
        # A terminated process runs no finally block: Windows closes its handles and the
        # temporary file stays, as it would on a real host.  (Termination may also show
        # here first as EOF on stdin, hence the check of the flag, not the exception.)
        if not sc.proc.cancelled.is_set() and sc.fs.exists(tmp):
            sc.fs.remove(tmp)
        raise
    stream.close()
    sc.result({"path": full, "size": written, "sha256": actual})
    return 0


def send_file(sc: ScriptContext) -> int:
    """send_file.ps1: the file as base64 lines of ``chunk`` raw bytes, then the result."""
    chunk = sc.args["chunk"]
    if chunk < 1:
        raise ScriptError(f"chunk must be at least 1 byte, not {chunk}")
    full = sc.full_path(sc.args["path"])
    hasher = hashlib.sha256()
    total = 0
    # FileMode.Open, FileAccess.Read, FileShare.ReadWrite
    stream = sc.open(full, "rb", share="rw")
    try:
        while True:
            data = stream.read(chunk)
            if not data:
                break
            hasher.update(data)
            sc.proc.stdout.write(base64.b64encode(data) + b"\r\n")
            total += len(data)
            if len(data) < chunk:
                break
    finally:
        stream.close()
    sc.result({"path": full, "size": total, "sha256": hasher.hexdigest()})
    return 0


def file_hash(sc: ScriptContext) -> int:
    """file_hash.ps1: size and SHA-256 of one file, computed on the host."""
    full = sc.full_path(sc.args["path"])
    hasher = hashlib.sha256()
    stream = sc.open(full, "rb")
    try:
        while data := stream.read(1 << 20):
            hasher.update(data)
        size = sc.fs.stat(full).size
    finally:
        stream.close()
    sc.result({"path": full, "size": size, "sha256": hasher.hexdigest()})
    return 0
