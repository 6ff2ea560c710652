"""``hostname.exe`` and ``whoami.exe``: who and where a process runs.

The HPC scenarios read these two to tell the host from a container and SYSTEM from the
pod's user (hcsshim-hpc-behaviour.md §5.3: ``TestHostProcess_whoami``,
``TestHostProcess_hostname``).  Only the forms without options are modelled; every option
fails loudly rather than print something invented.
"""

from __future__ import annotations

from harness.sim.process import ProcessContext


def hostname_program(ctx: ProcessContext) -> int:
    if len(ctx.argv) > 1:
        # What hostname.exe answers to any argument: it cannot set the name.
        ctx.stderr.line("sethostname: Use the Network Control Panel Applet to set hostname.")
        return 1
    ctx.stdout.line(ctx.machine.name)
    return 0


_WHOAMI_OPTIONS = {"/upn", "/fqdn", "/logonid", "/user", "/groups", "/claims", "/priv",
                   "/all", "/fo", "/nh"}


def whoami_program(ctx: ProcessContext) -> int:
    args = ctx.argv[1:]
    if not args:
        account = ctx.extra.get("account") or ctx.machine.account(None)
        # whoami prints DOMAIN\user in lower case ("nt authority\system", "host\user").
        ctx.stdout.line(account.qualified.lower())
        return 0
    first = args[0].lower().replace("-", "/", 1)
    if first in _WHOAMI_OPTIONS:
        ctx.stderr.line(f"the simulated host does not model whoami {args[0]}")
        return 1
    ctx.stderr.line(f"ERROR: Invalid argument/option - '{args[0]}'.")
    ctx.stderr.line('Type "WHOAMI /?" for usage.')
    return 1
