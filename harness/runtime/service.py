"""containerd as a Windows service: the command that registers it, and recognising stale ones.

containerd registers itself (``containerd.exe --register-service``): an auto-start SCM
service whose command line is ``--run-service`` plus the other flags given
(docs/behaviour/ecosystem.md §2.4).  ``--log-file`` is always given, or the service's logs are lost.

A service named ``containerd`` may already exist from an earlier deployment or from another
tool, pointing at another binary or another config.  :func:`service_matches` reads the
registered command line (MSVCRT rules, as the SCM's CreateProcess will:
:func:`harness.cmdline.split_command_line`) and says whether it
is ours; a stale one is stopped and deleted before registering again.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.cmdline import split_command_line
from harness.runtime.layout import RuntimeLayout


def register_argv(layout: RuntimeLayout) -> list[str]:
    return [layout.containerd_exe, "--register-service", "--service-name", layout.service_name,
            "--log-file", layout.log_file, "--config", layout.config_toml]


@dataclass(frozen=True)
class ServiceCheck:
    ok: bool
    reason: str = ""


def service_matches(binary_path: str, layout: RuntimeLayout) -> ServiceCheck:
    """Whether a registered service command line runs our containerd with our config and log."""
    argv = split_command_line(binary_path or "")
    if not argv or not argv[0]:
        return ServiceCheck(False, "the service has no command line")
    if argv[0].lower() != layout.containerd_exe.lower():
        return ServiceCheck(False, f"it runs {argv[0]}, not {layout.containerd_exe}")
    flags = _flags(argv[1:])
    if "run-service" not in flags:
        return ServiceCheck(False, "its command line has no --run-service")
    for flag, want in (("config", layout.config_toml), ("log-file", layout.log_file)):
        got = flags.get(flag)
        if got is None or got.lower() != want.lower():
            return ServiceCheck(False, f"its --{flag} is {got or '(none)'}, not {want}")
    name = flags.get("service-name", layout.service_name)
    if name.lower() != layout.service_name.lower():
        return ServiceCheck(False, f"its --service-name is {name}")
    return ServiceCheck(True)


def _flags(args: list[str]) -> dict[str, str]:
    """Go ``flag``/urfave-cli style: ``--name value``, ``--name=value``, ``-name value``."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            name = arg.lstrip("-")
            if "=" in name:
                name, _, value = name.partition("=")
                out[name] = value
            elif name == "run-service" or i + 1 >= len(args) or args[i + 1].startswith("--"):
                out[name] = ""
            else:
                out[name] = args[i + 1]
                i += 1
        i += 1
    return out


__all__ = ["ServiceCheck", "register_argv", "service_matches"]
