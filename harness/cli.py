"""The ``hpc-e2e`` command.

One sub-command per verb.  Bad options are reported by argparse (exit 2); a
:class:`~harness.errors.HarnessError` is printed as ``error: <message>`` plus its hint and
ends the process with the error's exit code — never a traceback for a user mistake.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness import __version__
from harness.config.secrets import redact
from harness.errors import HarnessError


def _add_sim(sub: argparse._SubParsersAction) -> None:
    sim = sub.add_parser("sim", help="the simulated Windows host")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, metavar="COMMAND")
    serve = sim_sub.add_parser(
        "serve", help="run a simulated host on loopback until interrupted",
        description="Start the simulated Windows host (WinRM over HTTPS and SSH on 127.0.0.1) "
                    "and write DIR/endpoint.json so any WinRM or SSH client can reach it.")
    serve.add_argument("--state-dir", type=Path, default=Path(".hpc-e2e/sim"), metavar="DIR",
                       help="where endpoint.json, the CA bundle, keys and the password file go "
                            "(default: %(default)s)")
    serve.add_argument("--port", type=int, default=0, metavar="N",
                       help="WinRM HTTPS port (default: a free port)")
    serve.add_argument("--http-port", type=int, default=None, metavar="N",
                       help="also listen for WinRM over plain HTTP on this port (Basic auth)")
    serve.add_argument("--ssh-port", type=int, default=0, metavar="N",
                       help="SSH port (default: a free port)")
    serve.add_argument("--authorized-key", type=Path, action="append", default=[],
                       metavar="FILE", help="OpenSSH public key file allowed to log in (repeatable)")
    serve.set_defaults(func=_cmd_sim_serve)


def _cmd_sim_serve(args: argparse.Namespace) -> int:
    from harness.errors import ConfigError
    from harness.sim.host import serve

    for port, flag in ((args.port, "--port"), (args.ssh_port, "--ssh-port"),
                       (args.http_port, "--http-port")):
        if port is not None and not 0 <= port <= 65535:
            raise ConfigError(f"{flag}: {port} is not a TCP port (0-65535)")
    for key in args.authorized_key:
        if not key.is_file():
            raise ConfigError(f"--authorized-key: {key} does not exist")
    return serve(args.state_dir, port=args.port, ssh_port=args.ssh_port,
                 authorized_key_files=args.authorized_key, http_port=args.http_port) or 0


def _add_provision(sub: argparse._SubParsersAction) -> None:
    prov = sub.add_parser(
        "provision", help="enable Windows features, restart, deploy the runtime bundle",
        description="Bring hosts to a running runtime under test: Windows features "
                    "(Containers, Hyper-V where possible), a restart if needed, then the "
                    "runtime bundle (containerd, the runhcs shim, crictl, config). Idempotent: "
                    "a second run reports no change. Without --inventory the simulated host "
                    "is used (the one `hpc-e2e sim serve --state-dir DIR` serves, if running).")
    prov.add_argument("--inventory", type=Path, metavar="FILE", help="TOML inventory of hosts")
    prov.add_argument("--host", action="append", default=[], metavar="NAME",
                      help="provision only this inventory host (repeatable)")
    prov.add_argument("--bundle", type=Path, metavar="FILE",
                      help="runtime bundle manifest (default with the sim: the sim bundle)")
    prov.add_argument("--sim", action="store_true",
                      help="use the simulated host (the default when no inventory is given)")
    prov.add_argument("--sim-state-dir", type=Path, default=Path(".hpc-e2e/sim"), metavar="DIR",
                      help="the simulated host's state directory (default: %(default)s)")
    prov.add_argument("--json", action="store_true",
                      help="print the summary as JSON on stdout instead of tables")
    prov.set_defaults(func=_cmd_provision)


def _cmd_provision(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from harness.runtime.provision import plan, run_plan
    from harness.runtime.summary import render_provision

    the_plan = plan(inventory=args.inventory, hosts=args.host, bundle=args.bundle,
                    sim=args.sim, sim_state_dir=args.sim_state_dir)
    err = Console(stderr=True)
    try:
        outcomes = run_plan(the_plan, progress=None if args.json else
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
        print(f"error: {o.name}: {o.error}", file=sys.stderr)
    return failed[0].error.exit_code if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpc-e2e",
        description="End-to-end tests for Windows HostProcess containers (hcsshim), "
                    "process-isolated and inside a Hyper-V utility VM.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-vv for every remote call)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sim(sub)
    _add_provision(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a harness bug: say so, without leaking secrets
        print(redact(f"internal error (please report): {type(exc).__name__}: {exc}"), file=sys.stderr)
        if args.verbose:
            import traceback

            print(redact(traceback.format_exc()), file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
