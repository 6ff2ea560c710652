"""``hpc-e2e provision``: bring hosts to a running runtime under test.

The hosts are chosen by :func:`harness.hosts.provision_plan` (an inventory, or the simulated
host), each is provisioned by :func:`harness.runtime.provision.run_plan`, and the summary is
printed as tables or JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from harness.cri.runtime_access import crictl_runtime_access
from harness.errors import ConfigError
from harness.hosts import provision_plan, served_endpoint, sim_options
from harness.runtime.provision import run_plan
from harness.runtime.summary import render_provision


def command(args: argparse.Namespace) -> int:
    """``hpc-e2e provision``."""
    flavor = _provision_flavor(args) if args.sim_flavor is not None else None
    the_plan = provision_plan(inventory=args.inventory, hosts=args.host, bundle=args.bundle,
                              sim=args.sim, sim_state_dir=args.sim_state_dir, flavor=flavor)
    err = Console(stderr=True)
    try:
        outcomes = run_plan(the_plan, cri=crictl_runtime_access,
                            progress=None if args.json else
                            (lambda host, message: err.print(f"[dim]{host}: {message}[/dim]")))
    finally:
        the_plan.close()
    done = [o.summary for o in outcomes if o.summary is not None]
    failed = [o for o in outcomes if o.error is not None]
    if args.json:
        print(json.dumps({
            "changed": any(s.changed for s in done),
            "hosts": [s.to_dict() for s in done],
            "errors": [{"host": o.name, "error": str(o.error),
                        "exit_code": o.error.exit_code} for o in failed],
        }, indent=2))
    else:
        render_provision(done, Console())
    for o in failed:
        # Host errors already name the host (they start with its name); say it once.
        text = str(o.error)
        print(f"error: {text if text.startswith(f'{o.name}:') else f'{o.name}: {text}'}",
              file=sys.stderr)
    return failed[0].error.exit_code if failed else 0


def _provision_flavor(args: argparse.Namespace) -> str | None:
    """``provision --sim-flavor``: the flavor a simulated host started for the command gets;
    None (with a warning) when one is served already (the plan then uses it, whatever flavor
    it was started with)."""
    if args.inventory is not None:
        raise ConfigError("--sim-flavor applies to the simulated host, not to an --inventory")
    flavor = sim_options(flavor=args.sim_flavor).flavor
    if served_endpoint(args.sim_state_dir) is not None:
        print(f"warning: --sim-flavor ignored: a simulated host is already served from "
              f"{args.sim_state_dir} with the flavor it was started with", file=sys.stderr)
        return None
    return flavor


__all__ = ["command"]
