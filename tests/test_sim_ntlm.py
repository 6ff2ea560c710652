"""NTLM over plain HTTP with WinRM message encryption, the usual lab configuration.

pywinrm and the harness's WinRMTransport talk to the simulated host's NTLM listener
exactly as to a Windows host with AllowUnencrypted=false (docs/behaviour/protocols.md §1.7);
the listener records what content types arrived, so the tests see that bodies really
travelled encrypted.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError

from harness.config.secrets import Secret
from harness.config.target import Target, WinRMOptions
from harness.sim.host import SimHost
from harness.sim.ntlm_auth import ENCRYPTED_CONTENT_TYPE, PROTOCOL, _frame, _split_encrypted
from harness.sim.programs.simtools import pattern
from harness.transport.winrm import WinRMTransport

BIN = r"C:\hpc-e2e-sim\bin"
HOME = r"C:\Users\Administrator"
SOAP = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with SimHost(tmp_path_factory.mktemp("sim"), ntlm_port=0, ssh_port=None) as host:
        yield host


def endpoint(host: SimHost) -> dict:
    return json.loads(host.endpoint_file.read_text())


def password(host: SimHost) -> str:
    return Secret.from_file(endpoint(host)["password_file"]).reveal()


def test_endpoint_names_the_ntlm_listener_and_the_user_file_is_private(sim):
    ep = endpoint(sim)
    assert ep["winrm_ntlm_url"] == sim.winrm_ntlm.url
    assert ep["winrm_http_url"] == ep["winrm_ntlm_url"]
    assert ep["winrm_ntlm_url"].startswith("http://127.0.0.1:")
    assert ep["winrm_url"].startswith("https://")
    mode = stat.S_IMODE(os.stat(sim.ntlm_auth.user_file).st_mode)
    assert mode == 0o600
    assert "NTLM_USER_FILE" not in os.environ  # only set while the acceptor reads it


def test_pywinrm_ntlm_runs_a_command_with_encrypted_bodies(sim):
    before = len(sim.ntlm_auth.content_types)
    s = winrm.Session(sim.winrm_ntlm.url, auth=(sim.user, password(sim)), transport="ntlm")
    r = s.run_cmd("echo", ["hello", "ntlm"])
    assert r.status_code == 0
    assert r.std_out.strip() == b"hello ntlm"
    seen = sim.ntlm_auth.content_types[before:]
    # Create, Command, Receive..., Signal, Delete: every non-empty body was sealed.
    assert len(seen) >= 5
    assert all(c.startswith("multipart/encrypted") and PROTOCOL in c for c in seen), seen


def test_domain_spellings_of_the_local_account_are_accepted(sim):
    for user in (f".\\{sim.user}", sim.user.lower()):
        s = winrm.Session(sim.winrm_ntlm.url, auth=(user, password(sim)), transport="ntlm")
        assert s.run_cmd("echo", ["x"]).std_out.strip() == b"x"


def test_wrong_password_is_rejected(sim):
    s = winrm.Session(sim.winrm_ntlm.url, auth=(sim.user, "not-the-password"),
                      transport="ntlm")
    with pytest.raises(InvalidCredentialsError):
        s.run_cmd("echo", ["x"])


def test_unknown_user_is_rejected(sim):
    s = winrm.Session(sim.winrm_ntlm.url, auth=("Mallory", password(sim)), transport="ntlm")
    with pytest.raises(InvalidCredentialsError):
        s.run_cmd("echo", ["x"])


def test_plain_soap_with_basic_is_refused(sim):
    r = requests.post(sim.winrm_ntlm.url, data=SOAP, auth=(sim.user, password(sim)),
                      headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
                      proxies={"http": None, "https": None})
    assert r.status_code == 401
    offered = r.headers["WWW-Authenticate"].lower()
    assert "ntlm" in offered and "negotiate" in offered and "basic" not in offered


def test_unencrypted_soap_on_an_ntlm_connection_is_refused(sim):
    """Authenticated by NTLM but sending the body in the clear: 400, as AllowUnencrypted=false."""
    from requests_ntlm import HttpNtlmAuth

    with requests.Session() as http:
        http.auth = HttpNtlmAuth(sim.user, password(sim))
        http.proxies = {"http": None, "https": None}
        r = http.post(sim.winrm_ntlm.url, data=SOAP,
                      headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
    assert r.status_code == 400
    assert b"message-encrypted" in r.content


def test_framing_round_trip_and_length_is_checked():
    sig, sealed = b"S" * 16, b"sealed-bytes"
    body = _frame(b"12345", sig, sealed)
    assert _split_encrypted(body) == (sig, sealed, 5)
    assert 'boundary="Encrypted Boundary"' in ENCRYPTED_CONTENT_TYPE
    from harness.sim.wsman import WSManFault

    with pytest.raises(WSManFault):
        _split_encrypted(body.replace(b"Length=5", b"Length="))
    with pytest.raises(WSManFault):
        _split_encrypted(body[:-5])


def test_replies_are_sealed_and_tampered_bodies_refused(sim):
    """The answer to a sealed request is sealed too; a body that does not verify is refused."""
    import spnego

    user = sim.user
    client = spnego.client(user, password(sim), protocol="ntlm")
    with requests.Session() as http:
        http.proxies = {"http": None, "https": None}
        r1 = http.post(sim.winrm_ntlm.url, data=b"", headers={
            "Authorization": "Negotiate " + base64.b64encode(client.step()).decode()})
        assert r1.status_code == 401
        challenge = r1.headers["WWW-Authenticate"].split(" ", 1)[1]
        r2 = http.post(sim.winrm_ntlm.url, data=b"", headers={
            "Authorization": "Negotiate " + base64.b64encode(
                client.step(base64.b64decode(challenge))).decode()})
        assert r2.status_code == 200
        ok = client.wrap_winrm(SOAP)  # sealed, but not a WS-Man request: a fault comes back
        r3 = http.post(sim.winrm_ntlm.url, data=_frame(SOAP, ok.header, ok.data),
                       headers={"Content-Type": ENCRYPTED_CONTENT_TYPE})
        assert r3.status_code == 400
        assert r3.headers["Content-Type"] == ENCRYPTED_CONTENT_TYPE
        assert b"Fault" not in r3.content
        sig, sealed, length = _split_encrypted(r3.content)
        reply = client.unwrap_winrm(sig, sealed)
        assert len(reply) == length and b"Fault" in reply
        wrapped = client.wrap_winrm(SOAP)
        data = bytearray(wrapped.data)
        data[0] ^= 0xFF
        r4 = http.post(sim.winrm_ntlm.url, data=_frame(SOAP, wrapped.header, bytes(data)),
                       headers={"Content-Type": ENCRYPTED_CONTENT_TYPE})
    assert r4.status_code == 400
    assert b"does not verify" in r4.content


@pytest.fixture(scope="module")
def remote(sim):
    ep = endpoint(sim)
    target = Target(name="sim-ntlm", address="127.0.0.1",
                    port=urlparse(ep["winrm_http_url"]).port, transport="winrm",
                    user=ep["user"], password=Secret.from_file(ep["password_file"]),
                    winrm=WinRMOptions(scheme="http", auth="ntlm"))
    with WinRMTransport(target) as t:
        yield t


def test_transport_runs_with_stdin(remote):
    data = bytes(range(256)) * 64
    result = remote.run(rf"{BIN}\simcat.exe", stdin=data, check=True)
    assert result.stdout_bytes == data


def test_transport_1mb_of_output(remote):
    size = 2**20
    result = remote.run(rf"{BIN}\simgen.exe {size}", check=True)
    assert result.stdout_bytes == pattern(size)


def test_transport_put_get_round_trip(remote, sim, tmp_path):
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(300_000))
    remote_path = rf"{HOME}\ntlm-round-trip.bin"
    before = len(sim.ntlm_auth.content_types)
    up = remote.put(src, remote_path)
    down = remote.get(remote_path, tmp_path / "down.bin")
    assert (tmp_path / "down.bin").read_bytes() == src.read_bytes()
    assert up.sha256 == down.sha256
    seen = sim.ntlm_auth.content_types[before:]
    assert seen and all(c.startswith("multipart/encrypted") for c in seen)


def test_ntlm_only_host_comes_back_after_a_restart(tmp_path):
    """An NTLM-only host: after a restart the listener returns on the same port and authenticates."""
    import time

    from harness.sim.hostmodel import HostProfile

    with SimHost(tmp_path, https=False, ntlm_port=0, ssh_port=None,
                 profile=HostProfile(restart_seconds=0.2)) as host:
        ep = endpoint(host)
        assert ep["winrm_url"] is None and ep["winrm_http_url"] == host.winrm_ntlm.url
        port = host.winrm_ntlm.port
        booted = host.machine.facts.boot_time
        assert host.machine.request_restart(delay=0.0)
        deadline = time.monotonic() + 10
        while host.machine.facts.boot_time == booted:  # until it has really rebooted
            assert time.monotonic() < deadline, "the machine did not restart"
            time.sleep(0.05)
        while True:
            try:
                s = winrm.Session(f"http://127.0.0.1:{port}/wsman",
                                  auth=(host.user, password(host)), transport="ntlm")
                assert s.run_cmd("echo", ["back"]).std_out.strip() == b"back"
                break
            except (requests.ConnectionError, winrm.exceptions.WinRMTransportError):
                assert time.monotonic() < deadline, "the NTLM listener did not come back"
                time.sleep(0.1)
        assert host.winrm is host.winrm_ntlm and host.winrm_ntlm.port == port


# --- the HTTPS listener: what a stock host offers (issue 12, finding 9) ----------------------
@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    """A host as it comes: one HTTPS listener, Negotiate/NTLM, Basic off."""
    with SimHost(tmp_path_factory.mktemp("stock"), ssh_port=None) as host:
        yield host


def _https_session(host: SimHost, **kw) -> winrm.Session:
    ep = endpoint(host)
    return winrm.Session(ep["winrm_url"], auth=(host.user, password(host)),
                         server_cert_validation="validate", ca_trust_path=ep["ca_bundle"], **kw)


def test_pywinrm_ntlm_over_https_runs_a_command(stock):
    r = _https_session(stock, transport="ntlm").run_cmd("echo", ["hello", "https"])
    assert (r.status_code, r.std_out.strip()) == (0, b"hello https")


def test_basic_over_https_is_refused_unless_enabled(stock, tmp_path):
    with pytest.raises(InvalidCredentialsError):
        _https_session(stock, transport="basic").run_cmd("echo", ["x"])
    ep = endpoint(stock)
    r = requests.post(ep["winrm_url"], data=SOAP, auth=(stock.user, password(stock)),
                      headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
                      verify=ep["ca_bundle"], proxies={"http": None, "https": None})
    offered = r.headers["WWW-Authenticate"].lower()
    assert r.status_code == 401 and "negotiate" in offered and "basic" not in offered
    with SimHost(tmp_path / "basic", ssh_port=None, basic=True) as host:
        r = _https_session(host, transport="basic").run_cmd("echo", ["basic"])
        assert r.std_out.strip() == b"basic"
        assert _https_session(host, transport="ntlm").run_cmd("echo", ["x"]).status_code == 0


def _ntlm_handshake(host: SimHost, bindings: bytes | None) -> int:
    """An NTLM login over HTTPS with the given channel bindings; the final HTTP status."""
    import spnego
    from spnego.channel_bindings import GssChannelBindings

    ep = endpoint(host)
    cbt = GssChannelBindings(application_data=bindings) if bindings is not None else None
    ctx = spnego.client(host.user, password(host), protocol="ntlm", channel_bindings=cbt)
    headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    with requests.Session() as http:
        http.trust_env = False
        token = ctx.step()
        r = http.post(ep["winrm_url"], data=b"", verify=ep["ca_bundle"], headers={
            **headers, "Authorization": "Negotiate " + base64.b64encode(token).decode()})
        challenge = r.headers["WWW-Authenticate"].split()[1]
        token = ctx.step(base64.b64decode(challenge))
        r = http.post(ep["winrm_url"], data=SOAP, verify=ep["ca_bundle"], headers={
            **headers, "Authorization": "Negotiate " + base64.b64encode(token).decode()})
        return r.status_code


def test_channel_binding_is_checked_over_https(stock):
    from harness.sim.ntlm_auth import tls_server_end_point

    good = tls_server_end_point(Path(endpoint(stock)["ca_bundle"]).with_name("server.pem")
                                .read_bytes())
    assert _ntlm_handshake(stock, good) != 401
    assert _ntlm_handshake(stock, b"tls-server-end-point:" + b"\0" * 31 + b"\1") == 401
    # Windows' default CbtHardeningLevel (Relaxed) lets a client without bindings in.
    assert _ntlm_handshake(stock, None) != 401


def test_the_suites_simulated_target_logs_in_like_a_lab_vm(stock):
    """`hpc-e2e run`, doctor and provision reach the sim through endpoint_target."""
    from harness.hosts import endpoint_target

    target = endpoint_target(endpoint(stock))
    assert (target.winrm.scheme, target.winrm.auth) == ("https", "ntlm")
    with WinRMTransport(target) as t:
        assert t.run("hostname", check=True).stdout.strip() == stock.machine.computer_name
