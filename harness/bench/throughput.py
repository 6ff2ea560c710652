"""WinRM command throughput: the harness transport against pywinrm's own ways of running a
command, on one simulated host, in one run.

Three clients run the same short command (``hostname``) ``commands`` times per repetition,
taking turns every :data:`BLOCK` commands, so a slow moment of the shared machine hits all
of them alike; the figure is the median rate over the repetitions.

* ``harness`` — :class:`harness.transport.winrm.WinRMTransport`: reused shells, Command +
  Receive per command, the shell replaced every 32 commands (docs/behaviour/protocols.md §6);
* ``run_cmd`` — ``winrm.Session.run_cmd``: a shell opened and deleted per command (§1.8);
* ``shell-per-command`` — ``Protocol`` open_shell / run_command / get_command_output /
  cleanup_command / close_shell per command, with the harness's shell options.

Requests per command are counted on the client (:mod:`.counting`).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import winrm
from winrm.protocol import Protocol

from harness.bench.counting import RequestCounter
from harness.transport.winrm import WinRMTransport

COMMAND = "hostname"
BLOCK = 10  # commands a client runs before the next takes its turn
log = logging.getLogger("harness.bench")
CLIENTS = ("harness", "run_cmd", "shell-per-command")


@dataclass
class ClientThroughput:
    client: str
    commands_per_second: float  # median over repetitions
    requests_per_command: float
    rates: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ThroughputResult:
    command: str
    commands: int  # per repetition and client
    repetitions: int
    clients: dict[str, ClientThroughput]

    def ratio(self, baseline: str) -> float:
        return (self.clients["harness"].commands_per_second
                / self.clients[baseline].commands_per_second)

    def to_dict(self) -> dict:
        return {"command": self.command, "commands": self.commands,
                "repetitions": self.repetitions,
                "clients": {k: v.to_dict() for k, v in self.clients.items()},
                "ratio_vs_run_cmd": self.ratio("run_cmd"),
                "ratio_vs_shell_per_command": self.ratio("shell-per-command")}


def _protocol(target) -> Protocol:
    """A bare pywinrm Protocol with the harness target's endpoint, credentials and CA."""
    return Protocol(endpoint=target.winrm_url, transport=target.winrm.auth, username=target.user,
                    password=target.password.reveal(),
                    ca_trust_path=str(target.winrm.ca_bundle),  # type: ignore[arg-type]
                    server_cert_validation="validate", proxy=None)


def _clients(target, counters: dict[str, RequestCounter]
             ) -> tuple[dict[str, Callable[[], bytes]], list]:
    transport = WinRMTransport(target)
    for protocol in transport.protocols():  # the background connection counts too
        counters["harness"].attach(protocol)

    def harness_cmd() -> bytes:
        return transport.run([COMMAND], timeout=60).check().stdout_bytes

    session = winrm.Session(target.winrm_url, auth=(target.user, target.password.reveal()),
                            transport=target.winrm.auth, server_cert_validation="validate",
                            ca_trust_path=str(target.winrm.ca_bundle), proxy=None)
    counters["run_cmd"].attach(session.protocol)

    def run_cmd() -> bytes:
        r = session.run_cmd(COMMAND)
        if r.status_code != 0:
            raise RuntimeError(f"run_cmd {COMMAND}: exit {r.status_code}: {r.std_err!r}")
        return r.std_out

    proto = counters["shell-per-command"].attach(_protocol(target))
    codepage = target.winrm.codepage

    def shell_per_command() -> bytes:
        shell = proto.open_shell(codepage=codepage, noprofile=True)
        cid = proto.run_command(shell, COMMAND)
        out, err, code = proto.get_command_output(shell, cid)
        proto.cleanup_command(shell, cid)
        proto.close_shell(shell, close_session=False)
        if code != 0:
            raise RuntimeError(f"{COMMAND}: exit {code}: {err!r}")
        return out

    # a replaced shell's Delete may still be in flight when the harness's loop ends: the
    # timing and the request count wait for it (flush_background)
    harness_cmd.settle = transport.flush_background  # type: ignore[attr-defined]
    return ({"harness": harness_cmd, "run_cmd": run_cmd,
             "shell-per-command": shell_per_command},
            [transport, session.protocol.transport, proto.transport])


def measure(target, *, commands: int = 100, repetitions: int = 3) -> ThroughputResult:
    counters = {name: RequestCounter() for name in CLIENTS}
    clients, closers = _clients(target, counters)
    rates: dict[str, list[float]] = {name: [] for name in clients}
    requests: dict[str, int] = dict.fromkeys(clients, 0)

    def settle(fn) -> None:
        getattr(fn, "settle", lambda: None)()

    try:
        for fn in clients.values():  # warm up: connections, the harness's shell
            fn()
            settle(fn)
        for c in counters.values():
            c.reset()
        for _ in range(repetitions):
            elapsed = dict.fromkeys(clients, 0.0)
            done = dict.fromkeys(clients, 0)
            while any(n < commands for n in done.values()):
                for name, fn in clients.items():
                    n = min(BLOCK, commands - done[name])
                    if n <= 0:
                        continue
                    t0 = time.perf_counter()
                    for _ in range(n):
                        fn()
                    if done[name] + n >= commands:
                        settle(fn)  # the repetition's work includes what is in flight
                    elapsed[name] += time.perf_counter() - t0
                    done[name] += n
            for name in clients:
                rates[name].append(commands / elapsed[name])
                requests[name] += counters[name].reset()
    finally:
        for c in closers:
            _close(c)
    return ThroughputResult(COMMAND, commands, repetitions, {
        name: ClientThroughput(name, statistics.median(rates[name]),
                               requests[name] / (commands * repetitions), rates[name])
        for name in clients})


def _close(thing) -> None:
    try:
        if hasattr(thing, "close"):
            thing.close()
        elif hasattr(thing, "close_session"):
            thing.close_session()
    except Exception as exc:  # noqa: BLE001 - the measurement is over either way
        log.debug("closing %r after the benchmark: %s", thing, exc)
