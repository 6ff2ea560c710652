"""The crictl flag tables (fixtures/crictl-flags.json) against the real crictl releases.

The harness checks every argv it builds against the table of each supported release
(tests/test_crictl_flags.py); the table was read from cri-tools' sources.  Here the real
binaries say what they take: for the global options and every command in the table, the
flag names, their aliases and whether a flag is a switch, takes a value or repeats must be
what ``crictl [command] --help`` lists (urfave/cli v2's help: ``--name value, -n value``,
``[ --name value ]`` for a repeatable flag, no placeholder for a bool).
"""

from __future__ import annotations

import re
import subprocess

import pytest

from checks.crictl_argv import crictl_flags

pytestmark = pytest.mark.real_cri


def _kind(flag_type: str) -> str:
    return "switch" if flag_type == "bool" else (
        "repeats" if flag_type.endswith("slice") else "value")


def table_flags(flags: list[dict]) -> dict[str, tuple[tuple[str, ...], str]]:
    return {f["name"]: (tuple(sorted(f["aliases"])), _kind(f["type"])) for f in flags}


def help_flags(crictl: str, *command: str) -> dict[str, tuple[tuple[str, ...], str]]:
    out = subprocess.run([crictl, *command, "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    assert "OPTIONS:" in out, f"crictl {' '.join(command)} --help printed no options: {out}"
    flags = {}
    for line in out.split("OPTIONS:", 1)[1].splitlines():
        if not line.startswith("   -"):
            continue
        left = re.split(r"\s{2,}", line.strip())[0]
        repeats = " [ " in left
        parts = [p.split() for p in left.split(" [ ")[0].split(", ")]
        name = parts[0][0].lstrip("-")
        kind = "switch" if len(parts[0]) == 1 else ("repeats" if repeats else "value")
        flags[name] = (tuple(sorted(p[0].lstrip("-") for p in parts[1:])), kind)
    return flags


@pytest.mark.parametrize("version", ["1.34.0", "1.37.0"])
def test_the_flag_table_is_what_the_real_crictl_takes(real_tools, version):
    crictl = real_tools.crictl.get(version)
    if crictl is None:
        pytest.fail(f"no crictl {version} in tools.json (run ci/real-cri/setup)")
    table = crictl_flags()["versions"][version]
    wrong = {}
    for command, flags in [((), table["global"]),
                           *(((name,), entry["flags"]) for name, entry in
                             table["commands"].items())]:
        real, ours = help_flags(crictl, *command), table_flags(flags)
        if real != ours:
            wrong[" ".join(command) or "(global)"] = {
                k: {"real": real.get(k), "table": ours.get(k)}
                for k in set(real) | set(ours) if real.get(k) != ours.get(k)}
    assert not wrong, wrong
