"""``crictl.exe`` on the simulated host: crictl's command line, config, output and errors.

The harness drives containerd only through crictl, so this model follows the released
crictl it stands in for — cri-tools' ``cmd/crictl`` on urfave/cli v2, logrus and
``k8s.io/cri-client`` — rather than an idea of it (docs/behaviour/ecosystem.md §3, §7; the details
below were read from the cri-tools sources at the release tags).  The behaviour depends on
the version in the placeholder file (``hpc-e2e-sim program=sim:crictl version=1.31.1``):

* 1.32+: ``exec`` names the container in its error and takes container filters;
* 1.34+: a pod config without ``metadata.uid`` gets one generated (before: an error);
* 1.31-1.35: ``rmp`` (and from 1.32 ``rm``/``exec``) print their errors plain (a k8s
  aggregate that urfave/cli prints itself); 1.36 joins them into one logrus entry;
* 1.37: the final error is logged at ``level=error``, not ``fatal`` (its new global
  ``--max-retries`` is not modelled: an unknown flag here).

What it does, as crictl does:

* the command line is parsed with Go's ``flag`` rules (flags stop at the first positional
  argument, ``-x`` and ``--x`` are the same, ``-t 5`` needs a Go duration for the global
  ``--timeout``); an unknown flag prints ``Incorrect Usage: ...`` and the help on stdout
  and fails; an unknown command is ``No help topic for 'x'`` with exit code 3; a command
  given the wrong number of arguments prints its help and **exits 0** (§7);
* ``crictl.yaml`` comes from ``--config``/``CRI_CONFIG_FILE``, else
  ``%USERPROFILE%\\.crictl\\crictl.yaml``, else the executable's folder (§3.1);
* every failure ends as logrus' fatal line on stderr (an error line from 1.37),
  ``time="<RFC3339>" level=fatal msg="<Go-quoted error>"``, exit code 1 (crictl's ``main``
  calls ``logrus.Fatal``; the output is not a terminal over WinRM/SSH, so logrus uses its
  key=value form).  A failed RPC is preceded by the CRI client's klog error line
  (``E0102 15:04:05.000000 ... "RunPodSandbox from runtime service failed" err=...``);
* RPC deadlines: the global timeout (default 2 s; ``0`` means 200 s on Windows), doubled for
  RunPodSandbox, plus the exec timeout for ExecSync (none when that is 0) — §3.1;
* ``exec -s`` prints stdout then stderr on stdout, each followed by ``\\n``; a non-zero exit
  is ``execing command in container synchronously: command '<argv>' exited with N:
  <stderr>`` and exit code 1, stdout discarded (§3.4);
* no containerd (``machine.cri is None``) or a wrong pipe name: the gRPC dial error for the
  named pipe.

It reads pod/container configs like crictl: JSON decoded into the CRI structs with Go's
``encoding/json`` (keys matched case-insensitively, unknown keys such as ``hostProcess``
dropped, type errors reported Go's way).  YAML configs, ``-o yaml``/``go-template``,
streaming ``exec``/``attach``/``port-forward`` and the commands the harness does not use
fail loudly, naming what the simulated crictl does not model.
"""

from __future__ import annotations

from typing import Any

from harness.sim.machine import ProcessContext
from harness.sim.programs.containerd import image_words
from harness.sim.programs.crictl.cli import COMMANDS, _help_exit, _show_help
from harness.sim.programs.crictl.client import parse_endpoint
from harness.sim.programs.crictl.command_table import _command
from harness.sim.programs.crictl.config import GLOBAL_FLAGS, _before, read_crictl_yaml
from harness.sim.programs.crictl.errors import (
    AggregateError,
    CrictlError,
    ExitCoder,
    GoPanic,
    Unmodelled,
    _Done,
)
from harness.sim.programs.crictl.flags import (
    HELP_FLAG,
    Flag,
    FlagError,
    _flag,  # noqa: F401 - tests/test_sim_crictl.py imports it from here
    parse_flags,
)
from harness.sim.programs.crictl.goformat import go_duration, go_quote, parse_go_duration
from harness.sim.programs.crictl.gojson import (
    _Num,  # noqa: F401 - tests/test_sim_crictl.py imports it from here
    decode_struct,
)
from harness.sim.programs.crictl.invocation import CrictlInvocation

BEHAVIOUR_KEY = "sim:crictl"


# --- main -------------------------------------------------------------------------------------
def _version_of(ctx: ProcessContext) -> str | None:
    version = image_words(ctx).get("version")
    return version.lstrip("v") if version else None


def crictl_program(ctx: ProcessContext) -> int:
    """``crictl.exe``: one invocation (see the module docstring)."""
    version = _version_of(ctx)
    if version is None:
        ctx.stderr.line(f"the simulated host cannot tell the version of "
                        f"{ctx.extra.get('image')} (its placeholder has no version=)")
        return 1
    app = CrictlInvocation(ctx, version)
    try:
        return _main(app) or 0
    except _Done as done:
        return done.code
    except ExitCoder as exc:
        ctx.stderr.write(f"{exc}\n")
        return exc.code
    except Unmodelled as exc:
        ctx.stderr.write(f"the simulated crictl does not model {exc}\n")
        return 1
    except GoPanic as exc:
        ctx.stderr.write(f"panic: {exc}\n[signal 0xc0000005 code=0x0 addr=0x0 pc=0x0]\n\n"
                         "goroutine 1 [running]:\nmain.CreateContainer(...)\n")
        return 2
    except AggregateError as exc:
        if app.v >= (1, 36):  # errors.Join: one entry
            app.logrus(_final_level(app), "\n".join(exc.errors))
        else:  # a urfave/cli v2 MultiError: each error on its own, plain
            for error in exc.errors:
                ctx.stderr.write(f"{error}\n")
        return 1
    except CrictlError as exc:
        app.logrus(_final_level(app), str(exc))
        return 1


def _final_level(app: CrictlInvocation) -> str:
    """``logrus.Fatal(err)`` in ``main`` up to 1.36; from 1.37 ``main`` logs the error with
    ``logrus.Error`` and exits 1 (cri-tools v1.37.0 cmd/crictl/main.go; seen with the real
    binary: ``level=error``)."""
    return "error" if app.v >= (1, 37) else "fatal"


def _main(app: CrictlInvocation) -> int | None:
    ctx = app.ctx
    try:
        root = parse_flags(ctx.argv[1:], GLOBAL_FLAGS, short_options=False, env=ctx.env)
    except FlagError as exc:
        app.out(f"Incorrect Usage: {exc}\n\n")
        _show_help(app, None)
        raise CrictlError(str(exc)) from None
    if root["help"]:
        return _help_exit(app, None)
    if root["version"]:
        app.println(f"crictl version v{app.version}")
        return 0
    _before(app, root)
    if not root.args:
        return _help_exit(app, None)
    name, rest = root.args[0], root.args[1:]
    if name in ("help", "h"):
        if rest:
            cmd = _command(app, rest[0])
            if cmd is None:
                raise ExitCoder(f"No help topic for '{rest[0]}'", 3)
            return _help_exit(app, cmd)
        return _help_exit(app, None)
    cmd = _command(app, name)
    if cmd is None:
        raise ExitCoder(f"No help topic for '{name}'", 3)
    if cmd.action is None:
        raise Unmodelled(f"`crictl {cmd.name}`")
    try:
        parsed = parse_flags(rest, cmd.flags + (HELP_FLAG,), short_options=cmd.short_options,
                             env=ctx.env)
    except FlagError as exc:
        app.out(f"Incorrect Usage: {exc}\n\n")
        _show_help(app, cmd)
        raise CrictlError(str(exc)) from None
    if parsed["help"]:
        return _help_exit(app, cmd)
    if parsed.args and parsed.args[0] in cmd.subcommands:
        raise Unmodelled(f"`crictl {cmd.name} {parsed.args[0]}` (the CRI JSON schema)")
    return cmd.action(app, parsed)


def install(machine: Any) -> None:
    """Register ``sim:crictl`` on ``machine`` (placeholders name it; harness/sim/bundle.py)."""
    machine.register_behaviour(BEHAVIOUR_KEY, crictl_program)


__all__ = [
    "BEHAVIOUR_KEY",
    "COMMANDS",
    "GLOBAL_FLAGS",
    "CrictlError",
    "Flag",
    "FlagError",
    "crictl_program",
    "decode_struct",
    "go_duration",
    "go_quote",
    "install",
    "parse_endpoint",
    "parse_flags",
    "parse_go_duration",
    "read_crictl_yaml",
]
