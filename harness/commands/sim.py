"""``hpc-e2e sim serve`` and ``hpc-e2e sim bundle``: the simulated host's own verbs.

The options are checked here (ports, key files, the sim's options through
:func:`harness.hosts.sim_options`); the simulated host is served and its bundle written
through :mod:`harness.hosts`, the one module that imports it.
"""

from __future__ import annotations

import argparse
import errno
import re
import socket
from pathlib import Path

from harness.config.files import file_kind_problem
from harness.errors import ConfigError
from harness.hosts import serve_sim, sim_options, write_sim_bundle


def command(args: argparse.Namespace) -> int:
    """``hpc-e2e sim serve|bundle``."""
    return {"serve": serve, "bundle": bundle}[args.sim_command](args)


def serve(args: argparse.Namespace) -> int:
    """``hpc-e2e sim serve``: a simulated host until interrupted."""
    ports = ((args.port, "--port"), (args.ssh_port, "--ssh-port"),
             (args.http_port, "--http-port"), (args.ntlm_port, "--ntlm-port"))
    for port, flag in ports:
        if port is not None and not 0 <= port <= 65535:
            raise ConfigError(f"{flag}: {port} is not a TCP port (0-65535)")
    given = [(port, flag) for port, flag in ports if port]
    for i, (port, flag) in enumerate(given):
        twin = next((f for p, f in given[:i] if p == port), None)
        if twin is not None:
            raise ConfigError(f"{flag}: port {port} is also given to {twin}")
        _check_port_free(port, flag)
    for key in args.authorized_key:
        problem = file_kind_problem(key)
        if problem is not None:
            raise ConfigError(f"--authorized-key: {key} {problem}")
    options = sim_options(flavor=args.sim_flavor, faults=args.faults, latency=args.latency,
                          faults_flag="--faults", latency_flag="--latency")
    try:
        return serve_sim(args.state_dir, options=options, build=args.build,
                         virtualization=not args.no_virtualization,
                         elevated=not args.not_elevated, port=args.port,
                         ssh_port=args.ssh_port, authorized_key_files=args.authorized_key,
                         http_port=args.http_port, basic=args.basic,
                         ntlm_port=(args.ntlm_port if args.ntlm_port is not None
                                    else 0 if args.ntlm else None))
    except OSError as exc:  # a port taken between the check and the listen, say
        raise ConfigError(f"sim serve: cannot listen: {exc.strerror or exc}") from None


def _check_port_free(port: int, flag: str) -> None:
    """Refuse a loopback port something else listens on, in one line (the simulated host
    listens on 127.0.0.1 only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"{flag}: port {port} is already in use on 127.0.0.1",
                                  hint="pick another port, or 0 for a free one") from None
            raise ConfigError(f"{flag}: cannot listen on port {port}: "
                              f"{exc.strerror or exc}") from None


def bundle(args: argparse.Namespace) -> int:
    """``hpc-e2e sim bundle DIR``: the sim bundle's manifest path on stdout."""
    folder = Path(args.directory)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"DIR: {folder} exists and is not a folder")
    version = args.containerd_version
    if version is not None and not re.fullmatch(r"\d{1,3}\.\d{1,3}\.\d{1,3}", version):
        raise ConfigError(f"--containerd-version: {version!r} is not a version like 1.7.22")
    for plugin in args.cni:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", plugin):
            raise ConfigError(f"--cni: {plugin!r} is not a plugin name (letters, digits, "
                              "'.', '_', '-')")
    print(write_sim_bundle(folder, containerd_version=version, cni_plugins=args.cni))
    return 0


__all__ = ["bundle", "command", "serve"]
