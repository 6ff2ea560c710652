"""The ``hpc-e2e`` command.

One sub-command per verb; this module only declares the options, and each verb's module in
:mod:`harness.commands` does the work (imported when the verb runs, so ``hpc-e2e --help``
loads nothing else).  Bad options are reported by argparse (exit 2); a
:class:`~harness.errors.HarnessError` is printed as ``error: <message>`` plus its hint and
ends the process with the error's exit code — never a traceback for a user mistake.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from pathlib import Path

from harness import __version__
from harness.errors import EXIT_INTERRUPTED, EXIT_PIPE, EXIT_USAGE, ConfigError, HarnessError
from harness.secrets import install_log_redaction, redact


class Parser(argparse.ArgumentParser):
    """argparse with the harness's exit code for a command line that does not parse: 64, not
    argparse's 2, which ``run`` would be confused with pytest's "interrupted"."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


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
    serve.add_argument("--basic", action="store_true",
                       help="also accept Basic on the HTTPS listener (a stock Windows host has "
                            "it off: NTLM/Negotiate only)")
    serve.add_argument("--ntlm", action="store_true",
                       help="also listen for WinRM over plain HTTP with NTLM and message "
                            "encryption (endpoint.json: winrm_http_url / winrm_ntlm_url)")
    serve.add_argument("--ntlm-port", type=int, default=None, metavar="N",
                       help="port of the --ntlm listener (default: a free port; implies --ntlm)")
    serve.add_argument("--ssh-port", type=int, default=0, metavar="N",
                       help="SSH port (default: a free port)")
    serve.add_argument("--authorized-key", type=Path, action="append", default=[],
                       metavar="FILE", help="OpenSSH public key file allowed to log in (repeatable)")
    host = serve.add_argument_group("the simulated machine")
    host.add_argument("--build", type=int, choices=(20348, 26100), default=26100,
                      help="Windows Server build: 26100 (LTSC2025, runs HPC in a UVM) or "
                           "20348 (LTSC2022) (default: %(default)s)")
    host.add_argument("--no-virtualization", action="store_true",
                      help="a machine without virtualization extensions (Hyper-V cannot be "
                           "enabled), like a VM without nested virtualization")
    host.add_argument("--not-elevated", action="store_true",
                      help="the WinRM/SSH user is not an elevated administrator")
    _add_sim_flavor(serve)
    host.add_argument("--faults", metavar="SPEC",
                      help="inject faults: rate=R[,seed=N][,kinds=K1+K2], recorded in "
                           "<state-dir>/faults.jsonl (kinds: harness/sim/faults.py)")
    host.add_argument("--latency", metavar="SPEC",
                      help="latency model, e.g. realistic,scale=0.05 (harness/sim/latency.py)")
    serve.set_defaults(func=_delegate("sim"))
    bundle = sim_sub.add_parser(
        "bundle", help="write a runtime bundle of the simulated host's programs",
        description="Write DIR/bundle.toml and the placeholder programs it names: a bundle "
                    "that `provision --bundle` and `run --bundle` deploy to a simulated host "
                    "exactly as they deploy a real one (docs/lab-vm.md, the rehearsal).")
    bundle.add_argument("directory", type=Path, metavar="DIR", help="where to write the bundle")
    bundle.add_argument("--containerd-version", metavar="X.Y.Z", default=None,
                        help="the containerd version the bundle declares (2.x renders config "
                             "version 3; default: the simulated host's default)")
    bundle.add_argument("--cni", action="append", default=[], metavar="PLUGIN",
                        help="ship this CNI plugin (repeatable; default: nat)")
    bundle.set_defaults(func=_delegate("sim"))


# --- options several verbs share -------------------------------------------------------------
def _add_host_options(parser: argparse.ArgumentParser, *, verb: str) -> None:
    """Which hosts: an inventory (all hosts, or those named), else the simulated host."""
    parser.add_argument("--inventory", type=Path, metavar="FILE", help="TOML inventory of hosts")
    parser.add_argument("--host", action="append", default=[], metavar="NAME",
                        help=f"{verb} only this inventory host (repeatable)")


def _add_sim_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sim-state-dir", type=Path, default=Path(".hpc-e2e/sim"),
                        metavar="DIR",
                        help="the simulated host's state directory (default: %(default)s)")


def _add_sim_flavor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sim-flavor", metavar="NAME|PATH.py",
                        help="the simulated runtime's flavor: current (default), pre-fix, "
                             "no-capability, or a .py file defining FLAVOR "
                             "(harness/sim/cri/flavors.py)")


def _add_bundle(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--bundle", type=Path, metavar="FILE", help=help)


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the summary as JSON on stdout instead of tables")


def _add_provision(sub: argparse._SubParsersAction) -> None:
    prov = sub.add_parser(
        "provision", help="enable Windows features, restart, deploy the runtime bundle",
        description="Bring hosts to a running runtime under test: Windows features "
                    "(Containers, Hyper-V where possible), a restart if needed, then the "
                    "runtime bundle (containerd, the runhcs shim, crictl, config). Idempotent: "
                    "a second run reports no change. Without --inventory the simulated host "
                    "is used (the one `hpc-e2e sim serve --state-dir DIR` serves, if running).")
    _add_host_options(prov, verb="provision")
    _add_bundle(prov, "runtime bundle manifest (default with the sim: the sim bundle)")
    prov.add_argument("--sim", action="store_true",
                      help="use the simulated host (the default when no inventory is given)")
    _add_sim_state_dir(prov)
    _add_sim_flavor(prov)
    _add_json(prov)
    prov.set_defaults(func=_delegate("provision"))


# --- run, doctor, clean, report ----------------------------------------------------------------
def _add_run(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run", help="run the scenario suite (pytest) and print a summary",
        description="Run the scenario suite with pytest and the hpc-e2e plugin, print one "
                    "row per scenario and exit with pytest's exit code.  Without --inventory "
                    "the suite runs against simulated hosts started in this process.  "
                    "Allure results go to --alluredir (emptied of the previous run's results "
                    "first), JUnit XML beside it.  Arguments after -- go to pytest as they are.",
        epilog="example: hpc-e2e run -k identity -n 2 -- -x")
    _add_host_options(run, verb="run on")
    _add_bundle(run, "runtime bundle manifest (required with --inventory; default with the "
                     "sim: the sim bundle)")
    run.add_argument("--profile", metavar="NAME|FILE",
                     help="expectation profile (default: current, from "
                          "harness/plugin/builtin_profiles/)")
    run.add_argument("--keep-on-failure", action="store_true",
                     help="leave a failed scenario's pods on the host for inspection "
                          "(remove them later with `hpc-e2e clean --run-id ID`)")
    run.add_argument("--run-id", metavar="ID",
                     help="label value for everything this run creates (default: generated)")
    run.add_argument("--sim-hosts", type=int, metavar="N",
                     help="how many simulated hosts to start (default 1)")
    _add_sim_flavor(run)
    run.add_argument("--sim-build", type=int, metavar="N",
                     help="OS build of the simulated hosts (default 26100)")
    run.add_argument("--sim-faults", metavar="SPEC",
                     help="inject faults into the simulated hosts: rate=R[,seed=N]"
                          "[,kinds=K1+K2]")
    run.add_argument("--sim-latency", metavar="SPEC",
                     help="latency model of the simulated hosts, e.g. realistic,scale=0.05")
    run.add_argument("--lease-dir", type=Path, metavar="DIR",
                     help="host lease lock directory shared by concurrent runs")
    run.add_argument("--lease-timeout", type=float, metavar="SECONDS",
                     help="how long a worker waits for a free host")
    run.add_argument("--provision-timeout", type=float, metavar="SECONDS",
                     help="deadline of a host's provisioning (features, restarts, deployment), "
                          "which runs outside the per-test limit (default: 3600)")
    run.add_argument("-n", dest="workers", metavar="N",
                     help="pytest-xdist workers (a number, auto or logical)")
    run.add_argument("-k", dest="keyword", metavar="EXPR",
                     help="only scenarios matching this pytest keyword expression")
    run.add_argument("-m", dest="markers", metavar="EXPR",
                     help="only scenarios matching this pytest marker expression")
    run.add_argument("--alluredir", type=Path, default=Path("hpc-e2e-results/allure-results"),
                     metavar="DIR",
                     help="Allure results directory (default: %(default)s)")
    run.add_argument("--junitxml", type=Path, metavar="FILE",
                     help="JUnit XML file (default: junit.xml beside the results directory)")
    run.add_argument("--report", action="store_true",
                     help="build the HTML report afterwards (needs an Allure CLI, see "
                          "`hpc-e2e report --help`)")
    run.add_argument("--report-dir", type=Path, default=Path("hpc-e2e-results/allure-report"),
                     metavar="DIR",
                     help="where --report writes the report (default: %(default)s)")
    run.add_argument("--single-file", action="store_true",
                     help="with --report: one self-contained HTML file")
    run.add_argument("--summary-json", type=Path, metavar="FILE",
                     help="the summary as JSON (default: summary.json beside the results "
                          "directory)")
    run.add_argument("--all-rows", action="store_true",
                     help="the summary table shows every scenario (default: only failures, "
                          "errors and interrupted ones)")
    run.set_defaults(func=_delegate("run"), pytest_args=[])


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    doc = sub.add_parser(
        "doctor", help="check that hosts are ready for the suite",
        description="For each host: reachable, authenticated, elevated administrator, OS "
                    "build, virtualization extensions, Windows features, disk, the "
                    "containerd service, the CRI runtime and its HostProcess handlers.  "
                    "Every problem comes with what to do about it.  Exits 1 when a host is "
                    "not ready.  Without --inventory: the simulated host served from "
                    "--sim-state-dir, or one started for the command.")
    _add_host_options(doc, verb="check")
    _add_bundle(doc, "runtime bundle manifest, for where the runtime is installed "
                     "(default: C:\\Program Files\\containerd)")
    _add_sim_state_dir(doc)
    _add_json(doc)
    doc.add_argument("--assumptions", action="store_true",
                     help="instead of readiness, check each guess of the simulated host "
                          "(harness/sim/ASSUMPTIONS.md) that a host shows without being "
                          "changed: held, differs (what the host did) or not observed; exits "
                          "69 when one differs, as for a host not ready")
    doc.set_defaults(func=_delegate("doctor"))


def _add_clean(sub: argparse._SubParsersAction) -> None:
    clean = sub.add_parser(
        "clean", help="remove pods and files earlier runs left on the hosts",
        description="Stop and remove the pods (and their containers) that carry the "
                    "harness's run-id label, and their runs' config folders under "
                    "C:\\ProgramData\\hpc-e2e\\runs.  Nothing without the label is "
                    "touched.  Without --inventory: the simulated host served from "
                    "--sim-state-dir.")
    _add_host_options(clean, verb="clean")
    clean.add_argument("--run-id", metavar="ID", help="only this run's pods")
    clean.add_argument("--older-than", metavar="DURATION",
                       help="only pods created longer ago than this (30m, 2h, 1d, 1h30m)")
    clean.add_argument("--dry-run", action="store_true",
                       help="list what would be removed, remove nothing")
    _add_bundle(clean, "runtime bundle manifest, for where crictl is installed "
                       "(default: C:\\Program Files\\containerd\\bin)")
    _add_sim_state_dir(clean)
    _add_json(clean)
    clean.set_defaults(func=_delegate("clean"))


def _add_report(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser(
        "report", help="build the HTML report from Allure results",
        description="Run the Allure command-line tool found on PATH: Allure 2 (`allure "
                    "generate`, needs Java) or Allure 3 (`allure awesome`, npm package "
                    "`allure`).  Install one with `npm install -g allure` (Allure 3) or "
                    "`npm install -g allure-commandline` (Allure 2).")
    rep.add_argument("--results", type=Path, default=Path("hpc-e2e-results/allure-results"),
                     metavar="DIR",
                     help="Allure results directory (default: %(default)s)")
    rep.add_argument("--output", type=Path, default=Path("hpc-e2e-results/allure-report"),
                     metavar="DIR",
                     help="report directory (default: %(default)s)")
    rep.add_argument("--single-file", action="store_true",
                     help="one self-contained index.html that opens from disk")
    rep.add_argument("--allure", metavar="PATH",
                     help="the Allure executable (default: allure on PATH)")
    rep.set_defaults(func=_delegate("report"))


def _add_bench(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench", help="measure the harness against baselines on simulated hosts",
        description="Measure WinRM command throughput and HTTP requests per command "
                    "(against pywinrm's Session.run_cmd and a shell per command), upload "
                    "throughput and peak memory (against bare Send requests), the suite's "
                    "makespan under the sim's latency model over workers x hosts (against "
                    "the ideal), and the harness's overhead per scenario with no latency.  "
                    "Prints tables, writes bench.json and bench-makespan.png to --out.",
        epilog="example: hpc-e2e bench --quick --out bench-out")
    bench.add_argument("--quick", action="store_true",
                       help="the same tables from fewer repetitions and a slice of the "
                            "suite (about a minute, for CI)")
    bench.add_argument("--out", type=Path, default=Path(".hpc-e2e/bench"), metavar="DIR",
                       help="where bench.json, the PNG and the runs' files go "
                            "(default: %(default)s)")
    bench.add_argument("--only", metavar="LIST",
                       help="comma-separated sections: throughput,upload,makespan,overhead "
                            "(default: all)")
    bench.add_argument("--workers", metavar="LIST",
                       help="makespan: pytest-xdist worker counts (default 1,2,4,8; "
                            "--quick 1,2)")
    bench.add_argument("--sim-hosts", metavar="LIST",
                       help="makespan: simulated host counts (default 1,2,4; --quick 1)")
    bench.add_argument("--latency", metavar="SPEC",
                       help="makespan: the sim's latency model (default realistic,scale=0.1; "
                            "--quick realistic,scale=0.01; harness/sim/latency.py)")
    bench.add_argument("-k", dest="keyword", metavar="EXPR",
                       help="makespan and overhead: only scenarios matching this pytest "
                            "keyword expression (--quick: test_lifecycle)")
    bench.set_defaults(func=_delegate("bench"))


def _delegate(verb: str):
    """The verb's ``command(args)`` in ``harness.commands.<verb>``, imported when it runs."""
    def run(args: argparse.Namespace) -> int:
        return importlib.import_module(f"harness.commands.{verb}").command(args)

    run.__name__ = f"_cmd_{verb}"
    return run


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hpc-e2e",
        description="End-to-end tests for Windows HostProcess containers (hcsshim), "
                    "process-isolated and inside a Hyper-V utility VM.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-vv for every remote call)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_doctor(sub)
    _add_provision(sub)
    _add_clean(sub)
    _add_report(sub)
    _add_bench(sub)
    _add_sim(sub)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """argparse, except that for ``run`` everything after ``--`` goes to pytest untouched."""
    if "--" not in argv:
        return parser.parse_args(argv)
    i = argv.index("--")
    args = parser.parse_args(argv[:i])
    if args.command != "run":
        parser.error("arguments after -- are passed to pytest by `hpc-e2e run` only")
    args.pytest_args = argv[i + 1:]
    return args


def _check_state_dirs(args: argparse.Namespace) -> None:
    """A simulated host's state directory that is a file would surface as an OSError deep
    in the sim or the bundle writer; say which option instead."""
    for flag, attr in (("--sim-state-dir", "sim_state_dir"), ("--state-dir", "state_dir")):
        folder = getattr(args, attr, None)
        if folder is not None and folder.exists() and not folder.is_dir():
            raise ConfigError(f"{flag}: {folder} exists and is not a folder")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction(*logging.getLogger().handlers)
    try:
        _check_state_dirs(args)
        return args.func(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _reader_gone()
    except Exception as exc:  # a harness bug: say so, without leaking secrets
        print(redact(f"internal error (please report): {type(exc).__name__}: {exc}"), file=sys.stderr)
        if args.verbose:
            print(redact(traceback.format_exc()), file=sys.stderr)
        return 70


def _reader_gone() -> int:
    """``hpc-e2e doctor | head``: the reader closed the pipe.  Point stdout at /dev/null so
    the interpreter's final flush cannot fail again, and end quietly (Python's docs, "Note on
    SIGPIPE" in the signal module)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_PIPE


if __name__ == "__main__":
    sys.exit(main())
