"""The simulated host as one object: a machine behind WinRM (HTTPS, optionally HTTP) and SSH.

The HTTPS listener offers what a stock host's does: Negotiate/NTLM with channel binding, and
Basic only when asked for (``basic=True``, ``sim serve --basic``).
Optional plain-HTTP listeners: ``http_port`` (Basic, AllowUnencrypted=true) and
``ntlm_port`` (NTLM with message encryption, the usual lab setup; harness.sim.ntlm_auth).
All listeners share one shell table, as one WinRM service does.  ``endpoint.json`` names
the NTLM one ``winrm_ntlm_url``; ``winrm_http_url`` is the NTLM listener when there is one,
else the Basic one (so ``--ntlm`` wins when both are served).

``SimHost`` is what tests and ``hpc-e2e sim serve`` start.  It writes ``endpoint.json``
(docs/internals.md "The simulated host") so a client finds the host exactly as it would
find a lab machine from an inventory: URL, user, a password *file* (never the password
itself on a command line or in JSON), the CA bundle to pin, and the SSH host key.

``faults=`` (a :class:`harness.sim.faults.FaultPlan`) and ``latency=`` (a
``harness.sim.latency.LatencyModel``) switch on fault injection and delays: they become
``machine.faults`` (a live :class:`~harness.sim.faults.FaultInjector`, also ``host.faults``,
recording to ``<state_dir>/faults.jsonl``) and ``machine.latency``.

A restart of the machine (:meth:`Machine.request_restart`) is carried out here as a client
sees one: every connection drops, the ports refuse connections for the profile's
``restart_seconds``, then the same listeners (same ports, certificate and host key) return.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

from harness.sim.faults import FaultInjector, FaultPlan
from harness.sim.ntlm_auth import USER_FILE as NTLM_USER_FILE
from harness.sim.ntlm_auth import NtlmAuthenticator, tls_server_end_point
from harness.sim.password import Password, Revealable, reveal
from harness.sim.programs import standard_machine
from harness.sim.ssh_server import SSHServer, ensure_host_key
from harness.sim.tls import ensure_certificates
from harness.sim.winrm_server import BasicAuthenticator, WinRMLimits, WinRMServer

ENDPOINT_FILE = "endpoint.json"
PASSWORD_FILE = "password"
KNOWN_HOSTS_FILE = "known_hosts"
LOOPBACK = "127.0.0.1"


def _new_password() -> str:
    # Meets the Windows complexity rule (three of: upper, lower, digit, symbol).
    return f"Sim-{secrets.token_urlsafe(18)}-9a"


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class SimHost:
    """Servers on loopback around one machine; ``start``/``stop`` or use as a context manager."""

    def __init__(self, state_dir: str | os.PathLike[str], *, machine: Any = None,
                 winrm_port: int = 0, https: bool = True, http_port: int | None = None,
                 ssh_port: int | None = 0, user: str = "Administrator",
                 password: str | Revealable | None = None, authorized_keys: Iterable[Any] = (),
                 flavor: Any = None, limits: WinRMLimits | None = None,
                 profile: Any = None, ntlm_port: int | None = None,
                 faults: FaultPlan | None = None, latency: Any = None, basic: bool = False):
        if not https and http_port is None and ntlm_port is None:
            raise ValueError("SimHost needs at least one WinRM listener "
                             "(https, http_port or ntlm_port)")
        self.state_dir = Path(state_dir).resolve()
        self._machine_arg = machine
        self._winrm_port = winrm_port
        self._https = https
        self._http_port = http_port
        self._ntlm_port = ntlm_port
        self._basic = basic  # HTTPS accepts Basic too (a stock host has it off)
        self._ssh_port = ssh_port
        self.user = user
        self._password_arg = password
        self._authorized_keys = list(authorized_keys)
        self._flavor = flavor
        self._limits = limits
        self._profile = profile  # a harness.sim.hostmodel.HostProfile for a new machine
        self._fault_plan = faults
        self._latency = latency  # a harness.sim.latency.LatencyModel
        self.faults: FaultInjector | None = None  # live while started with a FaultPlan
        self._owns_machine = machine is None
        self.machine: Any = machine
        self.winrm: WinRMServer | None = None  # the HTTPS listener (HTTP if https=False)
        self.winrm_http: WinRMServer | None = None  # plain HTTP, Basic
        self.winrm_ntlm: WinRMServer | None = None  # plain HTTP, NTLM + message encryption
        self.ntlm_auth: NtlmAuthenticator | None = None
        self.https_auth: NtlmAuthenticator | None = None
        self.ssh: SSHServer | None = None
        self.password: Password | None = None
        self.endpoint: dict[str, Any] = {}
        self.endpoint_file = self.state_dir / ENDPOINT_FILE
        self._started = False
        self._servers_lock = threading.RLock()  # a restart and stop() may race
        self._live: list[Any] = []  # listeners started and not stopped yet

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> SimHost:
        if self._started:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        self.password = self._load_password()
        if self.machine is None:
            kwargs: dict[str, Any] = {"users": {self.user: self.password}}
            if self._flavor is not None:
                kwargs["flavor"] = self._flavor
            if self._profile is not None:
                kwargs["profile"] = self._profile
            self.machine = standard_machine(**kwargs)
        else:
            self.machine.add_user(self.user, self.password)
        if self._fault_plan is not None:
            self.faults = FaultInjector(self._fault_plan, self.state_dir)
        self.machine.faults = self.faults
        self.machine.latency = self._latency
        try:
            self._start_servers()
        except BaseException:
            self.stop()
            raise
        self._keep_ports()
        if hasattr(self.machine, "add_restart_listener"):  # tests may serve a stand-in
            self.machine.add_restart_listener(self._on_restart)
        self._started = True
        return self

    def _keep_ports(self) -> None:
        """Pin the ports the OS chose, so the host comes back where clients know it."""
        if self._https and self.winrm is not None:
            self._winrm_port = self.winrm.port
        if self.winrm_http is not None:
            self._http_port = self.winrm_http.port
        if self.winrm_ntlm is not None:
            self._ntlm_port = self.winrm_ntlm.port
        if self.ssh is not None:
            self._ssh_port = self.ssh.port

    def _on_restart(self, phase: str) -> None:
        """The machine's restart as the network sees it (docs/internals.md)."""
        with self._servers_lock:
            if phase == "down":
                self._stop_servers()
            elif phase == "up" and self._started:
                self._start_servers()

    def _load_password(self) -> Password:
        path = self.state_dir / PASSWORD_FILE
        if self._password_arg:
            secret = Password(reveal(self._password_arg), source="SimHost(password=...)")
        else:
            # Reuse the previous run's password so a client holding the file keeps working.
            kept = Password.read_file(path)
            if kept is not None:
                return kept
            secret = Password(_new_password(), source=f"file:{path}")
        _write_private(path, secret.reveal() + "\n")
        return secret

    def _start_servers(self) -> None:
        assert self.password is not None
        auth = BasicAuthenticator({self.user: self.password})
        tls = ensure_certificates(self.state_dir)
        name = getattr(self.machine, "name", "localhost")
        # What the listeners below accept is the WinRM service's config (read by the model of
        # winrm_service_auth.ps1): Basic only when enabled (or for the plain-HTTP Basic
        # listener, which also needs AllowUnencrypted); channel binding Relaxed (ntlm_auth).
        plain_basic = self._http_port is not None
        self.machine.winrm_service = {
            "auth": {"Basic": self._basic or plain_basic, "Kerberos": True, "Negotiate": True,
                     "Certificate": False, "CredSSP": False, "CbtHardeningLevel": "Relaxed"},
            "allow_unencrypted": plain_basic,
        }
        if self._https:
            # What a stock HTTPS listener offers: Negotiate/NTLM with channel binding, Basic
            # only when enabled (issue 12, finding 9; harness/sim/ntlm_auth.py).
            https_auth = NtlmAuthenticator({self.user: self.password},
                                           self.state_dir / NTLM_USER_FILE, machine_name=name,
                                           channel_binding=tls_server_end_point(
                                               tls.cert.read_bytes()),
                                           basic=auth if self._basic else None)
            self.https_auth = https_auth
            self.winrm = WinRMServer(self.machine, https_auth, port=self._winrm_port,
                                     ssl_context=tls.server_context(), limits=self._limits,
                                     machine_name=name).start()
            self._live.append(self.winrm)
        if self._http_port is not None:
            self.winrm_http = WinRMServer(self.machine, auth, port=self._http_port,
                                          limits=self._limits, machine_name=name,
                                          shells_from=self.winrm if self._https else None
                                          ).start()
            self._live.append(self.winrm_http)
            if not self._https:
                self.winrm = self.winrm_http
        if self._ntlm_port is not None:
            # This start's first listener (after a restart, self.winrm may be a stopped one).
            shared = self.winrm if (self._https or self._http_port is not None) else None
            self.ntlm_auth = NtlmAuthenticator({self.user: self.password},
                                               self.state_dir / NTLM_USER_FILE,
                                               machine_name=name)
            self.winrm_ntlm = WinRMServer(self.machine, self.ntlm_auth, port=self._ntlm_port,
                                          limits=self._limits, machine_name=name,
                                          shells_from=shared).start()
            self._live.append(self.winrm_ntlm)
            if shared is None:
                self.winrm = self.winrm_ntlm
        known_hosts = self.state_dir / KNOWN_HOSTS_FILE
        fingerprint = None
        if self._ssh_port is not None:
            host_key = ensure_host_key(self.state_dir)
            self.ssh = SSHServer(self.machine, host_key, users={self.user: self.password},
                                 authorized_keys=self._authorized_keys,
                                 port=self._ssh_port).start()
            self._live.append(self.ssh)
            known_hosts.write_text(self.ssh.known_hosts_line() + "\n", encoding="utf-8")
            fingerprint = self.ssh.fingerprint
        https_server = self.winrm if self._https else None
        self.endpoint = {
            "winrm_url": https_server.url if https_server else None,
            "winrm_http_url": (self.winrm_ntlm or self.winrm_http).url
            if (self.winrm_ntlm or self.winrm_http) else None,
            "winrm_ntlm_url": self.winrm_ntlm.url if self.winrm_ntlm else None,
            # How winrm_url lets clients in: a stock host's NTLM, Basic only when asked for.
            "winrm_auth": ["ntlm", "basic"] if self._basic else ["ntlm"],
            "ssh_host": LOOPBACK if self.ssh else None,
            "ssh_port": self.ssh.port if self.ssh else None,
            "user": self.user,
            "password_file": str(self.state_dir / PASSWORD_FILE),
            "ca_bundle": str(tls.ca_bundle),
            "ssh_host_key_fingerprint": fingerprint,
            "ssh_known_hosts": str(known_hosts) if self.ssh else None,
        }
        tmp = self.endpoint_file.with_name(ENDPOINT_FILE + ".tmp")
        tmp.write_text(json.dumps(self.endpoint, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.endpoint_file)

    def stop(self) -> None:
        """Stop every listener; their shells' and sessions' processes are terminated."""
        with self._servers_lock:
            self._started = False
            if self.machine is not None and hasattr(self.machine, "remove_restart_listener"):
                self.machine.remove_restart_listener(self._on_restart)
                if self._owns_machine:
                    self.machine.restart_cancelled.set()  # nobody will see this machine again
            self._stop_servers()

    def _stop_servers(self) -> None:
        """Stop the listeners that run (each once; ``sim.winrm`` stays readable)."""
        live, self._live = self._live, []
        for server in reversed(live):
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(state_dir: str | os.PathLike[str], port: int = 0, ssh_port: int = 0,
          authorized_key_files: Iterable[str | os.PathLike[str]] = (),
          http_port: int | None = None, flavor: Any = None, profile: Any = None,
          ntlm_port: int | None = None, faults: FaultPlan | None = None,
          latency: Any = None, basic: bool = False) -> int:
    """Run a simulated host until SIGINT or SIGTERM (``hpc-e2e sim serve``)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with SimHost(state_dir, winrm_port=port, ssh_port=ssh_port, http_port=http_port,
                     ntlm_port=ntlm_port, authorized_keys=[Path(p) for p in authorized_key_files],
                     flavor=flavor, profile=profile, faults=faults, latency=latency,
                     basic=basic) as host:
            print(f"simulated host ready; endpoint file: {host.endpoint_file}", flush=True)
            if host.faults is not None:
                print(f"injecting faults {host.faults.plan}; record: {host.faults.path}",
                      flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return 0
