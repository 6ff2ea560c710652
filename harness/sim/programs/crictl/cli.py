"""urfave/cli's command objects and help output, and the registry the command table fills.

The sub-commands print their own help on bad arguments, and the table refers to the
sub-commands; this module holds what both need so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.sim.programs.crictl.flags import Flag, Parsed
from harness.sim.programs.crictl.invocation import CrictlInvocation


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    args_usage: str = ""
    aliases: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()
    short_options: bool = False
    action: Callable[[CrictlInvocation, Parsed], int | None] | None = None
    subcommands: tuple[str, ...] = ()  # names only: their actions are not modelled


COMMANDS: dict[str, Command] = {}  # filled by command_table.py


def _show_help(app: CrictlInvocation, cmd: Command | None) -> None:
    """urfave's help, abbreviated (the option list is not reproduced)."""
    if cmd is None:
        app.out("NAME:\n   crictl - client for CRI\n\nUSAGE:\n   crictl [global options] "
                f"command [command options]\n\nVERSION:\n   v{app.version}\n\n"
                "COMMANDS:\n   (the simulated crictl does not reproduce the command list)\n")
        return
    usage = f"crictl {cmd.name} [command options]" + (f" {cmd.args_usage}"
                                                       if cmd.args_usage else "")
    app.out(f"NAME:\n   crictl {cmd.name} - {cmd.usage}\n\nUSAGE:\n   {usage}\n\n"
            "OPTIONS:\n   (the simulated crictl does not reproduce the option list)\n")


def _help_exit(app: CrictlInvocation, cmd: Command | None) -> int:
    _show_help(app, cmd)
    return 0
