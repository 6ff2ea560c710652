"""crictl's command table: each sub-command's name, flags and action, and the lookup by name.

The table needs every command module and the commands need the table (for their help), so
it fills ``cli.COMMANDS`` from here, after the command modules are imported.
"""

from __future__ import annotations

from harness.sim.programs.crictl.cli import COMMANDS, Command
from harness.sim.programs.crictl.commands_containers import (
    cmd_create,
    cmd_inspect,
    cmd_logs,
    cmd_ps,
    cmd_rm,
    cmd_start,
    cmd_stop,
)
from harness.sim.programs.crictl.commands_exec import cmd_exec
from harness.sim.programs.crictl.commands_images import cmd_images, cmd_pull
from harness.sim.programs.crictl.commands_pods import (
    cmd_inspectp,
    cmd_pods,
    cmd_rmp,
    cmd_runp,
    cmd_stopp,
)
from harness.sim.programs.crictl.commands_runtime import cmd_info, cmd_version
from harness.sim.programs.crictl.flags import _flag
from harness.sim.programs.crictl.invocation import CrictlInvocation

# --- the command table --------------------------------------------------------------------------
_LIST_POD_FLAGS = (
    _flag("name", kind="string"), _flag("namespace", kind="string"),
    _flag("state", "s", kind="string"), _flag("label", kind="strings"),
    _flag("latest", "l"), _flag("last", "n", kind="int"))
_LIST_CTR_FLAGS = (
    _flag("name", kind="string"), _flag("pod", "p", kind="string"),
    _flag("image", kind="string"), _flag("state", "s", kind="string"),
    _flag("label", kind="strings"), _flag("latest", "l"), _flag("last", "n", kind="int"))
_PULL_FLAGS = (
    _flag("creds", kind="string"), _flag("auth", kind="string"),
    _flag("username", kind="string"), _flag("cancel-timeout", "T", kind="duration"),
    _flag("pull-timeout", "pt", kind="duration"))
_EXEC_FLAGS_OLD = (
    _flag("sync", "s"), _flag("timeout", kind="int64"), _flag("tty", "t"),
    _flag("interactive", "i"), _flag("transport", "r", kind="string", default="spdy"))
_EXEC_FLAGS_NEW = _EXEC_FLAGS_OLD + (
    _flag("name", kind="string"), _flag("pod", "p", kind="string"),
    _flag("image", kind="string"), _flag("state", kind="string"),
    _flag("label", kind="strings"), _flag("latest", "l"), _flag("last", "n", kind="int"),
    _flag("quiet", "q"), _flag("ignore-errors", "e"), _flag("parallel", "x"),
    _flag("tls-sni", "tls-server-name", kind="string", default="localhost"),
    _flag("tls-ca", kind="string"), _flag("tls-cert", kind="string"),
    _flag("tls-key", kind="string"))

COMMANDS.update({c.name: c for c in (
    Command("version", "Display runtime version information", action=cmd_version),
    Command("info", "Display information of the container runtime", short_options=True,
            flags=(_flag("output", "o", kind="string", default="json"), _flag("quiet", "q"),
                   _flag("template", kind="string")), action=cmd_info),
    Command("pull", "Pull an image from a registry", "NAME[:TAG|@DIGEST]", short_options=True,
            flags=(_flag("creds", kind="string"), _flag("auth", kind="string"),
                   _flag("username", "u", kind="string"), _flag("pod-config", kind="string"),
                   _flag("annotation", "a", kind="strings"),
                   _flag("pull-timeout", "pt", kind="duration")),
            action=cmd_pull, subcommands=("jsonschema", "js")),
    Command("images", "List images", "[REPOSITORY[:TAG]]", aliases=("image", "img"),
            short_options=True,
            flags=(_flag("verbose", "v"), _flag("quiet", "q"), _flag("filter", "f",
                                                                      kind="strings"),
                   _flag("output", "o", kind="string"), _flag("digests"), _flag("no-trunc"),
                   _flag("pinned")), action=cmd_images),
    Command("runp", "Run a new pod", "pod-config.[json|yaml]",
            flags=(_flag("runtime", "r", kind="string"),
                   _flag("cancel-timeout", "T", kind="duration")),
            action=cmd_runp, subcommands=("jsonschema", "js")),
    Command("stopp", "Stop one or more running pods", "POD-ID [POD-ID...]", action=cmd_stopp),
    Command("rmp", "Remove one or more pods", "POD-ID [POD-ID...]", short_options=True,
            flags=(_flag("force", "f"), _flag("all", "a")), action=cmd_rmp),
    Command("inspectp", "Display the status of one or more pods", "POD-ID [POD-ID...]",
            short_options=True,
            flags=(_flag("output", "o", kind="string"), _flag("quiet", "q"),
                   _flag("template", kind="string")) + _LIST_POD_FLAGS, action=cmd_inspectp),
    Command("pods", "List pods", short_options=True,
            flags=(_flag("id", kind="string"), _flag("verbose", "v"), _flag("quiet", "q"),
                   _flag("output", "o", kind="string", default="table"), _flag("no-trunc"))
            + _LIST_POD_FLAGS, action=cmd_pods),
    Command("create", "Create a new container",
            "POD container-config.[json|yaml] pod-config.[json|yaml]",
            flags=(_flag("no-pull"), _flag("with-pull")) + _PULL_FLAGS, action=cmd_create,
            subcommands=("jsonschema", "js")),
    Command("start", "Start one or more created containers", "CONTAINER-ID [CONTAINER-ID...]",
            action=cmd_start),
    Command("stop", "Stop one or more running containers", "CONTAINER-ID [CONTAINER-ID...]",
            short_options=True, flags=(_flag("timeout", "t", kind="int64"),), action=cmd_stop),
    Command("rm", "Remove one or more containers", "CONTAINER-ID [CONTAINER-ID...]",
            short_options=True,
            flags=(_flag("force", "f"), _flag("keep-logs", "k"), _flag("all", "a")),
            action=cmd_rm),
    Command("inspect", "Display the status of one or more containers",
            "CONTAINER-ID [CONTAINER-ID...]",
            flags=(_flag("output", "o", kind="string"), _flag("quiet", "q"),
                   _flag("template", kind="string")) + _LIST_CTR_FLAGS, action=cmd_inspect),
    Command("ps", "List containers", short_options=True,
            flags=(_flag("verbose", "v"), _flag("id", kind="string"), _flag("quiet", "q"),
                   _flag("output", "o", kind="string", default="table"), _flag("all", "a"),
                   _flag("no-trunc"), _flag("resolve-image-path", "r")) + _LIST_CTR_FLAGS,
            action=cmd_ps),
    Command("logs", "Fetch the logs of a container", "CONTAINER-ID", short_options=True,
            flags=(_flag("follow", "f"), _flag("previous", "p"), _flag("reopen", "r"),
                   _flag("tail", kind="int64", default=-1),
                   _flag("limit-bytes", kind="int64", default=-1),
                   _flag("since", kind="string"), _flag("timestamps", "t")),
            action=cmd_logs),
    Command("exec", "Run a command in a running container", "CONTAINER-ID COMMAND [ARG...]",
            short_options=True, flags=_EXEC_FLAGS_OLD, action=cmd_exec),
    # crictl commands the harness does not use: known, so they fail as "not modelled".
    *(Command(name, "") for name in (
        "attach", "checkpoint", "completion", "config", "events", "imagefsinfo", "inspecti",
        "metricdescs", "metricsp", "port-forward", "rmi", "run", "runtime-config", "stats",
        "statsp", "update", "update-runtime-config")),
)})


def _command(app: CrictlInvocation, name: str) -> Command | None:
    for cmd in COMMANDS.values():
        if name == cmd.name or name in cmd.aliases:
            if cmd.name == "exec" and app.v >= (1, 32):
                return Command(cmd.name, cmd.usage, "[CONTAINER-ID] COMMAND [ARG...]",
                               flags=_EXEC_FLAGS_NEW, short_options=True, action=cmd_exec)
            return cmd
    return None
