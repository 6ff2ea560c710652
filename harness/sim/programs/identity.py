"""``hostname.exe``, ``whoami.exe`` and ``net.exe user NAME``: who and where a process runs.

The HPC scenarios read the first two to tell the host from a container and SYSTEM from the
pod's user (docs/behaviour/runtime.md §5.3: ``TestHostProcess_whoami``,
``TestHostProcess_hostname``), and ``net user NAME`` to see whether the temporary user of a
process-isolated HPC is gone with its container (§3.3).  Only these forms are modelled;
every other form fails loudly rather than print something invented.
"""

from __future__ import annotations

from harness.sim.machine import ProcessContext


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


# net.exe's texts for an unknown account (NERR_UserNotFound, 2221); see ASSUMPTIONS.md.
NET_USER_NOT_FOUND = ("The user name could not be found.", "",
                      "More help is available by typing NET HELPMSG 2221.", "")


def net_program(ctx: ProcessContext) -> int:
    """``net user NAME``: the account's name line and success, or NERR_UserNotFound (exit 2)."""
    args = ctx.argv[1:]
    users = getattr(ctx.machine, "users", None)
    if len(args) != 2 or args[0].lower() != "user" or users is None:
        ctx.stderr.line(f"the simulated host does not model net {' '.join(args)}"
                        + ("" if users is not None else " inside a container"))
        return 1
    name = args[1]
    found = next((u for u in users if u.upper() == name.upper()), None)
    if found is None:
        for line in NET_USER_NOT_FOUND:
            ctx.stderr.line(line)
        return 2
    ctx.stdout.line(f"User name                    {found}")
    ctx.stdout.line("Account active               Yes")
    ctx.stdout.line("The command completed successfully.")
    ctx.stdout.line()
    return 0
