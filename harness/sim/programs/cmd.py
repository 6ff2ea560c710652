"""``cmd.exe /c``: the command processor every remote command line passes through.

WinRS and Windows OpenSSH hand each command line to ``cmd.exe /c`` (docs/internals.md
"Remote command contract"), and so does the HPC shim for every container process
(docs/behaviour/runtime.md §3.3), so the harness's quoting and its reading of exit codes are
only tested if this model follows cmd's rules:

* the line is ``%VAR%``-expanded once, before it is parsed and before anything runs (so
  ``set X=1 & echo %X%`` does not see the new X, as on Windows);
* ``&`` always runs the next command, ``&&`` only after success, ``||`` only after failure;
  the exit code of ``cmd /c`` is ERRORLEVEL at the end; a program sets ERRORLEVEL to its exit
  code, a failing built-in sets 1 and a succeeding one leaves it alone;
* each side of a pipe runs in its own command processor (built-ins there cannot change
  this one's variables or directory);
* redirections apply left to right (``>f 2>&1`` sends both to f, ``2>&1 >f`` does not);
* an unknown command is ``'x' is not recognized…`` with ERRORLEVEL 9009.

Built-ins: ``echo``, ``set``, ``cd``/``chdir``, ``dir``, ``type``, ``exit``, ``ver``, ``rem``,
``mkdir``/``md``, ``del``/``erase``, ``copy``, ``move`` — each in the forms listed in its
docstring.  Batch files (``.bat``/``.cmd``) run line by line (:meth:`Shell.run_batch`).
Any other built-in, switch or construct fails loudly, naming what the simulated
host does not support: it never pretends.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from harness.sim import winparse
from harness.sim.filesystem import UnsupportedPathError
from harness.sim.machine import Environ, ProcessContext
from harness.sim.process import OutputWriter, Pipe, StdinReader, Terminated
from harness.sim.programs.cmd_builtins import (
    BUILTINS,
    UNSUPPORTED_BUILTINS,
    CmdExit,
    Handles,
    Unsupported,
)

NOT_RECOGNIZED = ("'{}' is not recognized as an internal or external command,\r\n"
                  "operable program or batch file.")
EXIT_NOT_RECOGNIZED = 9009
# A built-in's name ends where cmd stops reading one: "echo.", "cd..", "dir/b".
_BUILTIN_NAME = re.compile(r"([A-Za-z]+)(?=$|[\s.:/(\\,;=+\[\]])(.*)\Z", re.DOTALL)


# --- standard handles ---------------------------------------------------------------------
class _NullSink:
    def __init__(self, encoding: str):
        self.encoding = encoding

    def write(self, data: bytes | str) -> None:
        pass

    def line(self, text: str = "") -> None:
        pass


class _FileSink:
    def __init__(self, f: Any, cancel: threading.Event, encoding: str):
        self._f = f
        self._cancel = cancel
        self.encoding = encoding

    def write(self, data: bytes | str) -> None:
        if self._cancel.is_set():
            raise Terminated()
        if isinstance(data, str):
            data = data.encode(self.encoding, "replace")
        self._f.write(data)

    def line(self, text: str = "") -> None:
        self.write(text + "\r\n")


class _FileSource:
    """Standard input read from a file (``< file``), with StdinReader's interface."""

    def __init__(self, f: Any | None):
        self._f = f
        self._buf = bytearray()

    def read(self, n: int = -1) -> bytes:
        if self._buf:
            k = len(self._buf) if n < 0 else min(n, len(self._buf))
            out = bytes(self._buf[:k])
            del self._buf[:k]
            return out
        return self._f.read(n) if self._f is not None else b""

    def readline(self) -> bytes:
        while b"\n" not in self._buf:
            chunk = self._f.read(65536) if self._f is not None else b""
            if not chunk:
                out = bytes(self._buf)
                self._buf.clear()
                return out
            self._buf += chunk
        i = self._buf.index(b"\n") + 1
        out = bytes(self._buf[:i])
        del self._buf[:i]
        return out

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class _DynamicEnv(Mapping[str, str]):
    """The environment as ``%VAR%`` sees it: real variables, then cmd's dynamic ones."""

    def __init__(self, shell: Shell):
        self._shell = shell

    def _dynamic(self) -> dict[str, str]:
        now = time.localtime()
        return {"CD": self._shell.cwd, "ERRORLEVEL": str(self._shell.errorlevel),
                "CMDCMDLINE": self._shell.ctx.command_line, "CMDEXTVERSION": "2",
                "DATE": time.strftime("%a %m/%d/%Y", now),
                "TIME": f"{now.tm_hour:>2}:{now.tm_min:02}:{now.tm_sec:02}.00",
                "RANDOM": str(self._shell.random())}

    def __getitem__(self, name: str) -> str:
        if name in self._shell.env:
            return self._shell.env[name]
        return self._dynamic()[name.upper()]

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._shell.env
                                          or name.upper() in self._dynamic())

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for k in self._shell.env:
            seen.add(k.upper())
            yield k
        for k in self._dynamic():
            if k not in seen:
                yield k

    def __len__(self) -> int:
        return sum(1 for _ in self)


# --- the command processor ----------------------------------------------------------------
class Shell:
    """The state of one command processor: variables, directory, ERRORLEVEL."""

    def __init__(self, ctx: ProcessContext, env: Environ, cwd: str, errorlevel: int = 0):
        self.ctx = ctx
        self.machine = ctx.machine
        self.fs = ctx.machine.fs
        self.env = env
        self.cwd = cwd
        self.errorlevel = errorlevel
        self._rand = 0

    def random(self) -> int:
        self._rand = (self._rand * 1103515245 + 12345 + int(time.time())) & 0x7FFF
        return self._rand

    def fail(self, h: Handles, message: str, level: int = 1) -> bool:
        h.stderr.line(message)
        self.errorlevel = level
        return False

    # --- the tree ---------------------------------------------------------------------
    def run(self, node: Any, h: Handles) -> bool:
        if isinstance(node, winparse.Chain):
            ok = self.run(node.first, h)
            for op, nxt in node.rest:
                if op == "&" or (op == "&&" and ok) or (op == "||" and not ok):
                    ok = self.run(nxt, h)
                elif op not in ("&", "&&", "||"):
                    raise Unsupported(f"the command separator {op!r}")
            return ok
        if isinstance(node, winparse.Pipeline):
            if len(node.commands) == 1:
                return self.run(node.commands[0], h)
            return self.run_pipeline(node.commands, h)
        if isinstance(node, winparse.Simple):
            return self.run_simple(node, h)
        raise Unsupported(f"the cmd.exe construct {type(node).__name__}")

    def run_pipeline(self, commands: list[Any], h: Handles) -> bool:
        cancel = self.ctx.cancelled
        enc = getattr(h.stdout, "encoding", "utf-8")
        pipes = [Pipe() for _ in commands[1:]]
        codes: list[int | None] = [None] * len(commands)
        errors: list[BaseException] = []

        def side(i: int, node: Any) -> None:
            stdin = h.stdin if i == 0 else StdinReader(pipes[i - 1], cancel)
            stdout = h.stdout if i == len(commands) - 1 else OutputWriter(pipes[i], cancel,
                                                                          enc)
            # Each side runs in a command processor of its own (a fresh ERRORLEVEL).
            sub = Shell(self.ctx, self.env.copy(), self.cwd)
            try:
                sub.run(node, Handles(stdin, stdout, h.stderr))
                codes[i] = sub.errorlevel
            except CmdExit as exc:
                codes[i] = exc.code
            except Terminated:
                # Either the whole process is being terminated, or the reader went away
                # and the write failed: a broken pipe ends this side with an error.
                codes[i] = 1
            except Unsupported as exc:
                h.stderr.line(f"the simulated host does not support {exc}")
                codes[i] = 1
            except BaseException as exc:  # a bug: re-raised on the main thread
                errors.append(exc)
                codes[i] = 1
            finally:
                if i < len(pipes):
                    pipes[i].close()
                if i > 0:
                    pipes[i - 1].close()  # the writer before us sees a broken pipe

        threads = [threading.Thread(target=side, args=(i, c), daemon=True,
                                    name=f"sim-cmd-pipe-{i}")
                   for i, c in enumerate(commands)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.1)
                if cancel.is_set():
                    for p in pipes:
                        p.close()
        if cancel.is_set():
            raise Terminated()
        if errors:
            raise errors[0]
        last = codes[-1] or 0
        self.errorlevel = last
        return last == 0

    # --- one command ------------------------------------------------------------------
    def run_simple(self, node: Any, h: Handles) -> bool:
        try:
            inner, opened = self.open_redirects(node.redirects, h)
        except _RedirectFailed as exc:
            return self.fail(h, exc.message)
        try:
            text = node.text.lstrip(" \t")
            if text.startswith("@"):
                text = text[1:].lstrip(" \t")
            if not text.strip():
                return True  # only redirections: the files are created, nothing runs
            m = _BUILTIN_NAME.match(text)
            if m is not None:
                name = m.group(1).lower()
                builtin = BUILTINS.get(name)
                if builtin is not None:
                    rest = m.group(2)
                    if rest.strip() == "/?":
                        raise Unsupported(f"the help text of {name} ({name} /?)")
                    return builtin(self, rest, inner)
                if name in UNSUPPORTED_BUILTINS:
                    raise Unsupported(f"the cmd.exe built-in command '{name}'")
            return self.run_external(text, inner)
        finally:
            for f in opened:
                f.close()

    def run_external(self, text: str, h: Handles) -> bool:
        name, after = winparse.program_token(text, style="cmd")
        raw = text[:len(text) - len(after)].lstrip(" \t,;=")  # as typed, for messages
        try:
            image = self.machine.find_program(name, cwd=self.cwd, env=self.env, style="cmd")
        except UnsupportedPathError as exc:
            return self.fail(h, exc.strerror)
        except OSError:
            image = None
        if image is None:
            if re.search(r"[\\/]", name):
                parent = re.split(r"[\\/]", name)
                folder = "\\".join(parent[:-1]) or "\\"
                try:
                    missing_dir = not self.fs.is_dir(folder, self.cwd)
                except (OSError, ValueError):
                    missing_dir = True
                if missing_dir:
                    return self.fail(h, "The system cannot find the path specified.", 3)
            return self.fail(h, NOT_RECOGNIZED.format(raw), EXIT_NOT_RECOGNIZED)
        if image.lower().endswith((".bat", ".cmd")):
            return self.run_batch(image, raw, after, h)
        # The rest of the line goes to the program as it is, trailing blanks included: a
        # blank may sit inside the C runtime's quotes though outside cmd's (``"\" ``), and
        # Wine's cmd.exe passes it on (tests/test_wine_oracle.py; ASSUMPTIONS.md).
        code = self.machine.run_child(self.ctx, image, text, stdin=h.stdin,
                                      stdout=h.stdout, stderr=h.stderr, cwd=self.cwd,
                                      env=self.env)
        self.errorlevel = code
        return code == 0

    # --- batch files -------------------------------------------------------------------
    def run_batch(self, image: str, name: str, params_text: str, h: Handles) -> bool:
        """Run a ``.bat``/``.cmd`` file in this command processor, line by line.

        Modelled: ``@``, ``echo on|off`` (an echoed line shows the ``$P$G`` prompt),
        ``rem`` and label/``::`` lines (skipped), ``%0``-``%9``, ``%*``, ``%%`` and
        ``%VAR%`` (undefined expands to nothing, as in batch files).  ``goto``, ``call``,
        ``if``, ``for``, ``shift``, ``setlocal`` and ``%~`` modifiers fail loudly (they are
        unsupported built-ins or constructs of this model).  Invoked from ``cmd /c`` the
        batch returns to the rest of the line afterwards.
        """
        try:
            data = self.fs.read_bytes(image)
        except OSError as exc:
            return self.fail(h, exc.strerror or str(exc))
        params = [name, *_batch_params(params_text)]
        echo = True
        for raw_line in data.decode("utf-8", "replace").splitlines():
            line = _expand_batch(raw_line, _DynamicEnv(self), params,
                                 params_text.strip(" \t,;="))
            text = line.lstrip(" \t")
            if not text or text.startswith(":"):
                continue  # blank lines, labels and :: comments
            silent = text.startswith("@")
            if silent:
                text = text[1:].lstrip(" \t")
                if not text:
                    continue
            if echo and not silent:
                prompt = self.env.get("PROMPT", "$P$G")
                if prompt.upper() != "$P$G":
                    raise Unsupported(f"batch echo with the prompt {prompt!r}")
                h.stdout.line()
                h.stdout.line(f"{self.cwd}>{text}")
            state = re.fullmatch(r"(?i)echo[ \t]+(on|off)[ \t]*", text)
            if state is not None:
                echo = state.group(1).lower() == "on"
                continue
            if re.match(r"(?i)rem(?=$|[ \t/])", text):
                continue
            self.run(winparse.parse_cmd(text), h)
        return self.errorlevel == 0

    # --- redirections -----------------------------------------------------------------
    def open_redirects(self, redirects: Any, h: Handles) -> tuple[Handles, list[Any]]:
        table = {0: h.stdin, 1: h.stdout, 2: h.stderr}
        opened: list[Any] = []
        enc = getattr(h.stdout, "encoding", "utf-8")
        try:
            for r in redirects:
                fd, op, target = int(r.fd), r.op, str(r.target)
                if fd not in table:
                    raise Unsupported(f"redirection of handle {fd}")
                dup = op.endswith("&") or target.startswith("&")
                if dup:
                    src = int(target.lstrip("&"))
                    if src not in table:
                        raise Unsupported(f"redirection to handle {src}")
                    table[fd] = table[src]
                    continue
                path = target.replace('"', "").strip()
                if op in (">", ">>"):
                    device = self._device(path)
                    if device == "nul":
                        table[fd] = _NullSink(enc)
                        continue
                    f = self._open(path, "wb" if op == ">" else "ab")
                    opened.append(f)
                    table[fd] = _FileSink(f, self.ctx.cancelled, enc)
                elif op == "<":
                    if self._device(path) == "nul":
                        table[fd] = _FileSource(None)
                        continue
                    f = self._open(path, "rb")
                    opened.append(f)
                    table[fd] = _FileSource(f)
                else:
                    raise Unsupported(f"the redirection operator {op!r}")
        except BaseException:
            for f in opened:
                f.close()
            raise
        return Handles(table[0], table[1], table[2]), opened

    def _device(self, path: str) -> str | None:
        last = re.split(r"[\\/]", path)[-1].rstrip(": ")
        base = last.split(".")[0].lower()
        if base == "nul":
            return "nul"
        if re.fullmatch(r"con|prn|aux|com[1-9]|lpt[1-9]", base):
            raise Unsupported(f"redirection to the device {last}")
        return None

    def _open(self, path: str, mode: str) -> Any:
        try:
            if mode == "rb" and self.fs.is_dir(path, self.cwd):
                raise _RedirectFailed("Access is denied.")
            return self.fs.open(path, mode, cwd=self.cwd)
        except UnsupportedPathError as exc:
            raise Unsupported(str(exc.strerror)) from None
        except OSError as exc:
            raise _RedirectFailed(exc.strerror or str(exc)) from None


class _RedirectFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _batch_params(text: str) -> list[str]:
    """Batch parameters as cmd splits them: blanks , ; = separate, quotes are kept."""
    params: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch in " \t,;=" and not quoted:
            if cur:
                params.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        params.append("".join(cur))
    return params


def _expand_batch(line: str, env: Mapping[str, str], params: list[str], rest: str) -> str:
    """Percent expansion of one batch-file line (before it is parsed)."""
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        nxt = line[i + 1:i + 2]
        if nxt == "%":
            out.append("%")
            i += 2
        elif nxt.isdigit():
            k = int(nxt)
            out.append(params[k] if k < len(params) else "")
            i += 2
        elif nxt == "*":
            out.append(rest)
            i += 2
        elif nxt == "~":
            raise Unsupported("batch parameter modifiers (%~...)")
        else:
            end = line.find("%", i + 1)
            if end == -1:
                i += 1  # a lone percent sign disappears
                continue
            var = line[i + 1:end]
            if ":" in var:
                raise Unsupported(f"%{var}% substring/substitution expansion in a batch file")
            out.append(env.get(var, "") or "")
            i = end + 1
    return "".join(out)


# --- the program --------------------------------------------------------------------------
# Switches that change nothing this model can show.  /V:ON (delayed expansion), /E:OFF and
# /Y (no command extensions), /U (UTF-16 output) change what commands mean: not modelled.
_HARMLESS_SWITCHES = {"/D", "/S", "/Q", "/A", "/X", "/E:ON", "/V:OFF", "/F:ON", "/F:OFF"}


def _command_text(ctx: ProcessContext) -> str:
    """The command ``cmd.exe [switches] /c <command>`` runs (cmd /? for the rules)."""
    _, after = winparse.program_token(ctx.command_line, style="createprocess")
    switches, text = winparse.split_cmd_switches(after)
    for switch in switches:
        if switch == "/K":
            raise Unsupported("cmd.exe /k (a command processor that stays open)")
        if switch != "/C" and switch not in _HARMLESS_SWITCHES \
                and not switch.startswith("/T:"):
            raise Unsupported(f"cmd.exe {switch}")

    def is_executable(inner: str) -> bool:
        try:
            return ctx.machine.find_program(inner, cwd=ctx.cwd, env=ctx.env) is not None
        except (OSError, ValueError):
            return False

    return winparse.cmd_c_argument(text, s_switch="/S" in switches,
                                   is_executable=is_executable)


def cmd_program(ctx: ProcessContext) -> int:
    env = ctx.env.copy() if isinstance(ctx.env, Environ) else Environ(ctx.env.items())
    shell = Shell(ctx, env, ctx.cwd)
    h = Handles(ctx.stdin, ctx.stdout, ctx.stderr)
    try:
        text = _command_text(ctx)
        tree = winparse.parse_cmd(winparse.expand_vars(text, _DynamicEnv(shell)))
        shell.run(tree, h)
    except winparse.CmdSyntaxError as exc:
        # Either cmd's own complaint ("The syntax of the command is incorrect.", "& was
        # unexpected at this time.") or the parser naming what it does not model.
        ctx.stderr.line(str(exc))
        return 1
    except CmdExit as exc:
        return exc.code & 0xFFFFFFFF
    except Unsupported as exc:
        ctx.stderr.line(f"the simulated host does not support {exc}")
        return 1
    return shell.errorlevel & 0xFFFFFFFF
