"""The simulated host's WS-Management listener, driven by pywinrm and by raw SOAP.

Most tests run commands on a small fake machine whose programs are chosen to exercise the
protocol (echo stdin, emit N bytes, sleep forever, exit with a code); one test goes through
the real :class:`harness.sim.machine.Machine`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import stat
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError

from harness.sim.filesystem import FileSystem
from harness.sim.host import SimHost
from harness.sim.machine import ProcessContext
from harness.sim.process import EXIT_TERMINATED, SimProcess
from harness.sim.winrm_server import BasicAuthenticator, WinRMLimits, WinRMServer
from harness.sim.wsman import NS

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD = "Administrator", "Sim-Test-Passw0rd!"
SHELL_NOT_FOUND = 2150858843


# --- a fake machine with protocol-shaped programs ---------------------------------------

def _prog_echo(ctx: ProcessContext) -> int:
    ctx.stdout.line(" ".join(ctx.argv[1:]))
    return 0


def _prog_cat(ctx: ProcessContext) -> int:
    while True:
        data = ctx.stdin.read(4096)
        if not data:
            return 0
        ctx.stdout.write(data)


def _prog_emit(ctx: ProcessContext) -> int:
    """emit <stdout bytes> [<stderr bytes>]: deterministic, position-dependent bytes."""
    n = int(ctx.argv[1])
    m = int(ctx.argv[2]) if len(ctx.argv) > 2 else 0
    ctx.stdout.write(_pattern(n))
    if m:
        ctx.stderr.write(_pattern(m)[::-1])
    return 0


def _prog_sleep(ctx: ProcessContext) -> int:
    ctx.sleep(3600)
    return 0


def _prog_exit(ctx: ProcessContext) -> int:
    ctx.stderr.line("leaving")
    return int(ctx.argv[1])


def _prog_unicode(ctx: ProcessContext) -> int:
    ctx.stdout.write("h\u00e9llo \u2713\r\n")
    return 0


def _prog_where(ctx: ProcessContext) -> int:
    ctx.stdout.line(f"cwd={ctx.cwd} HPC_TEST={ctx.env.get('HPC_TEST', '')}")
    return 0


PROGRAMS = {"echo": _prog_echo, "cat": _prog_cat, "emit": _prog_emit, "sleep": _prog_sleep,
            "exit": _prog_exit, "unicode": _prog_unicode, "where": _prog_where}


def _pattern(n: int) -> bytes:
    block = bytes(range(256)) * 4
    return (block * (n // len(block) + 1))[:n]


class FakeMachine:
    """Just enough of docs/internals.md's machine API for the servers."""

    name = "FAKEHOST"

    def __init__(self) -> None:
        self.fs = FileSystem()
        self.fs.makedirs(r"C:\Users\Administrator")
        self.spawns: list[dict] = []
        self.processes: list[SimProcess] = []

    def add_user(self, name: str, password: object) -> None:
        self.fs.makedirs(f"C:\\Users\\{name}")

    def spawn(self, command_line: str, *, shell: bool = True, codepage: int = 65001,
              user: str | None = None, cwd: str | None = None, env=None) -> SimProcess:
        argv = command_line.split()
        self.spawns.append({"line": command_line, "shell": shell, "codepage": codepage,
                            "user": user, "cwd": cwd, "env": dict(env or {})})
        program = PROGRAMS.get(argv[0] if argv else "")
        if program is None:
            if not shell:
                exc = FileNotFoundError(2, "The system cannot find the file specified.")
                exc.winerror = 2
                raise exc

            def program(ctx: ProcessContext) -> int:
                ctx.stderr.line(f"'{argv[0]}' is not recognized as an internal or external "
                                "command,\r\noperable program or batch file.")
                return 9009

        def factory(stdin, stdout, stderr, cancel) -> ProcessContext:
            return ProcessContext(machine=self, command_line=command_line, argv=argv,
                                  env=dict(env or {}), cwd=cwd or r"C:\Users\Administrator",
                                  stdin=stdin, stdout=stdout, stderr=stderr, cancelled=cancel,
                                  codepage=codepage)

        proc = SimProcess(factory, program, argv[0] if argv else "empty", codepage=codepage)
        self.processes.append(proc)
        return proc


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # Clients pin the sim's CA explicitly; an ambient bundle must not make a test pass.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def machine() -> FakeMachine:
    return FakeMachine()


@pytest.fixture
def host(tmp_path, machine):
    with SimHost(tmp_path / "sim", machine=machine, http_port=0, ssh_port=None,
                 password=PASSWORD) as h:
        yield h


@pytest.fixture
def http_server(machine):
    """A plain-HTTP listener with small limits, for tests of quotas and raw SOAP."""
    limits = WinRMLimits(max_shells_per_user=2, max_commands_per_shell=2)
    with WinRMServer(machine, BasicAuthenticator({USER: PASSWORD}), limits=limits) as srv:
        yield srv


def protocol(url: str, **kw) -> winrm.protocol.Protocol:
    kw.setdefault("transport", "plaintext")
    return winrm.protocol.Protocol(url, username=USER, password=PASSWORD, **kw)


def wait_for(pred, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


# --- a raw SOAP client (to control headers pywinrm fixes, and to send garbage) ------------

CMD_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"


def envelope(action: str, body: str = "", *, shell_id: str | None = None,
             timeout: str = "PT20S", max_env: int = 153600, message_id: str | None = None,
             options: str = "") -> tuple[str, bytes]:
    message_id = message_id or f"uuid:{uuid.uuid4()}"
    selector = (f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector>'
                f"</w:SelectorSet>" if shell_id else "")
    xml = (f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" '
           f'xmlns:rsp="{NS["rsp"]}"><s:Header>'
           f"<a:To>http://windows-host:5985/wsman</a:To>"
           f"<w:MaxEnvelopeSize>{max_env}</w:MaxEnvelopeSize>"
           f"<a:MessageID>{message_id}</a:MessageID>"
           f"<w:OperationTimeout>{timeout}</w:OperationTimeout>"
           f"<w:ResourceURI>{CMD_URI}</w:ResourceURI><a:Action>{action}</a:Action>"
           f"{selector}{options}</s:Header><s:Body>{body}</s:Body></s:Envelope>")
    return message_id, xml.encode()


def post(session: requests.Session, url: str, data: bytes, **kw) -> requests.Response:
    headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    return session.post(url, data=data, headers=headers, auth=(USER, PASSWORD), timeout=30,
                        **kw)


def fault_code(resp: requests.Response) -> int | None:
    """The WSManFault Code, or for quota faults the MSFT_WmiError error_Code."""
    root = ET.fromstring(resp.content)
    el = root.find(f".//{{{NS['f']}}}WSManFault")
    if el is not None:
        return int(el.get("Code"))
    wmi = root.find(".//{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError}"
                    "error_Code")
    return None if wmi is None else int(wmi.text)


def fault_subcode(resp: requests.Response) -> str:
    root = ET.fromstring(resp.content)
    return root.find(f".//{{{NS['s']}}}Subcode/{{{NS['s']}}}Value").text


def relates_to(resp: requests.Response) -> str:
    return ET.fromstring(resp.content).find(f".//{{{NS['a']}}}RelatesTo").text


def raw_create(session, url) -> str:
    _, data = envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                       "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
                       "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
    r = post(session, url, data)
    assert r.status_code == 200, r.text
    return ET.fromstring(r.content).find(f".//{{{NS['w']}}}Selector").text


def raw_command(session, url, shell_id, line) -> str:
    _, data = envelope(SHELL + "/Command",
                       f"<rsp:CommandLine><rsp:Command>{line}</rsp:Command></rsp:CommandLine>",
                       shell_id=shell_id)
    r = post(session, url, data)
    assert r.status_code == 200, r.text
    return ET.fromstring(r.content).find(f".//{{{NS['rsp']}}}CommandId").text


def raw_receive(session, url, shell_id, command_id, **kw) -> requests.Response:
    _, data = envelope(SHELL + "/Receive",
                       f'<rsp:Receive><rsp:DesiredStream CommandId="{command_id}">stdout stderr'
                       f"</rsp:DesiredStream></rsp:Receive>", shell_id=shell_id, **kw)
    return post(session, url, data)


# --- pywinrm Session over HTTPS and HTTP --------------------------------------------------

def test_run_cmd_https_with_pinned_ca(host, machine):
    ep = json.loads((host.state_dir / "endpoint.json").read_text())
    assert ep["winrm_url"].startswith("https://127.0.0.1:") and ep["winrm_url"].endswith("/wsman")
    s = winrm.Session(ep["winrm_url"], auth=(ep["user"], PASSWORD), transport="ntlm",
                      server_cert_validation="validate", ca_trust_path=ep["ca_bundle"])
    r = s.run_cmd("echo", ["hello", "world"])
    assert (r.status_code, r.std_out, r.std_err) == (0, b"hello world\r\n", b"")
    spawn = machine.spawns[-1]
    # Session.open_shell's default code page is 437 (docs/behaviour/protocols.md §1.8).
    assert spawn == {"line": "echo hello world", "shell": True, "codepage": 437,
                     "user": USER, "cwd": None, "env": {}}


def test_https_validation_fails_without_the_ca(host):
    s = winrm.Session(host.winrm.url, auth=(USER, PASSWORD), transport="ntlm",
                      server_cert_validation="validate", ca_trust_path=None)
    with pytest.raises(requests.exceptions.SSLError):
        s.run_cmd("echo", ["x"])


def test_run_cmd_http_plaintext_and_exit_code(host):
    s = winrm.Session(host.winrm_http.url, auth=(USER, PASSWORD), transport="plaintext")
    r = s.run_cmd("exit 3")
    assert (r.status_code, r.std_out, r.std_err) == (3, b"", b"leaving\r\n")
    r = s.run_cmd("frobnicate")
    assert r.status_code == 9009 and b"'frobnicate' is not recognized" in r.std_err


def test_wrong_password_is_rejected(host):
    s = winrm.Session(host.winrm_http.url, auth=(USER, "wrong"), transport="plaintext")
    with pytest.raises(InvalidCredentialsError):
        s.run_cmd("echo", ["x"])
    r = requests.post(host.winrm_http.url, data=b"<x/>",
                      headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="WSMAN"'
    assert host.winrm_http.request_count(action="(unauthenticated)") == 2


def test_user_name_is_case_insensitive(host, machine):
    s = winrm.Session(host.winrm_http.url, auth=("administrator", PASSWORD))
    assert s.run_cmd("echo", ["hi"]).status_code == 0
    assert machine.spawns[-1]["user"] == USER


# --- Protocol used directly --------------------------------------------------------------

def test_protocol_codepage_stdin_and_cleanup(host, machine):
    p = protocol(host.winrm_http.url)
    shell = p.open_shell(codepage=65001)
    cmd = p.run_command(shell, "unicode")
    out, err, code = p.get_command_output(shell, cmd)
    assert (out.decode("utf-8"), code) == ("h\u00e9llo \u2713\r\n", 0)
    assert machine.spawns[-1]["codepage"] == 65001
    p.cleanup_command(shell, cmd)

    cmd = p.run_command(shell, "cat")
    p.send_command_input(shell, cmd, b"line one\r\n")
    p.send_command_input(shell, cmd, b"line two\r\n", end=True)
    out, err, code = p.get_command_output(shell, cmd)
    assert (out, err, code) == (b"line one\r\nline two\r\n", b"", 0)
    p.cleanup_command(shell, cmd)
    p.close_shell(shell)
    assert host.winrm.shell_count == 0


def test_shell_options_reach_the_machine(host, machine):
    p = protocol(host.winrm_http.url)
    shell = p.open_shell(working_directory=r"C:\work", env_vars={"HPC_TEST": "42"},
                         noprofile=True)
    p.run_command(shell, "where")
    assert machine.spawns[-1]["cwd"] == r"C:\work"
    assert machine.spawns[-1]["env"] == {"HPC_TEST": "42"}
    cmd = p.run_command(shell, "echo", ["a", "b"], skip_cmd_shell=True)
    assert machine.spawns[-1]["shell"] is False
    assert p.get_command_output(shell, cmd)[0] == b"a b\r\n"
    with pytest.raises(WSManFaultError) as exc:
        p.run_command(shell, "nosuch.exe", skip_cmd_shell=True)
    assert exc.value.wsman_fault_code == 2
    p.close_shell(shell)


def test_receive_is_held_then_times_out_with_the_fault(host):
    p = protocol(host.winrm_http.url, operation_timeout_sec=1, read_timeout_sec=5)
    shell = p.open_shell()
    cmd = p.run_command(shell, "sleep")
    t0 = time.monotonic()
    with pytest.raises(WinRMOperationTimeoutError):
        p.get_command_output_raw(shell, cmd)
    assert 0.9 <= time.monotonic() - t0 < 3
    p.cleanup_command(shell, cmd)
    p.close_shell(shell)


def test_receive_timeout_honours_decimal_seconds(http_server):
    s = requests.Session()
    shell = raw_create(s, http_server.url)
    cmd = raw_command(s, http_server.url, shell, "sleep")
    t0 = time.monotonic()
    r = raw_receive(s, http_server.url, shell, cmd, timeout="PT0.400S")
    elapsed = time.monotonic() - t0
    assert r.status_code == 500 and fault_code(r) == 2150858793
    assert fault_subcode(r) == "w:TimedOut"
    assert 0.35 <= elapsed < 1.5


def test_receive_returns_as_soon_as_output_arrives(host):
    p = protocol(host.winrm_http.url, operation_timeout_sec=10, read_timeout_sec=15)
    shell = p.open_shell()
    cmd = p.run_command(shell, "cat")
    threading.Timer(0.3, p.send_command_input, (shell, cmd, b"ping\n")).start()
    t0 = time.monotonic()
    out, _, _, done = p.get_command_output_raw(shell, cmd)
    assert (out, done) == (b"ping\n", False)
    assert time.monotonic() - t0 < 3


@pytest.mark.parametrize("max_env", [153600, 20000])
def test_large_output_is_chunked_under_the_envelope_size(http_server, max_env):
    s = requests.Session()
    shell = raw_create(s, http_server.url)
    total_out, total_err = 1_000_000, 70_000
    cmd = raw_command(s, http_server.url, shell, f"emit {total_out} {total_err}")
    out, err, sizes = bytearray(), bytearray(), []
    for _ in range(1000):
        r = raw_receive(s, http_server.url, shell, cmd, max_env=max_env)
        assert r.status_code == 200, r.text
        sizes.append(len(r.content))
        root = ET.fromstring(r.content)
        for st in root.iter(f"{{{NS['rsp']}}}Stream"):
            if st.text:
                (out if st.get("Name") == "stdout" else err).extend(base64.b64decode(st.text))
        state = root.find(f".//{{{NS['rsp']}}}CommandState")
        if state.get("State").endswith("/Done"):
            assert state.find(f"{{{NS['rsp']}}}ExitCode").text == "0"
            break
    assert bytes(out) == _pattern(total_out)
    assert bytes(err) == _pattern(total_err)[::-1]
    assert max(sizes) <= max_env
    # Not a response per byte either: the chunks use most of the room.
    assert len(sizes) <= (total_out + total_err) * 4 / 3 / (max_env * 0.8) + 3


def test_large_output_through_pywinrm(host):
    p = protocol(host.winrm_http.url)
    shell = p.open_shell()
    cmd = p.run_command(shell, "emit 2000000")
    host.winrm_http.reset_counters()
    out, _, code = p.get_command_output(shell, cmd)
    assert out == _pattern(2_000_000) and code == 0
    assert host.winrm_http.request_count(action="Receive") >= 2_000_000 * 4 / 3 / 153600


def test_signal_terminates_the_command(host, machine):
    p = protocol(host.winrm_http.url)
    shell = p.open_shell()
    cmd = p.run_command(shell, "sleep")
    proc = machine.processes[-1]
    assert not proc.done
    p.cleanup_command(shell, cmd)  # Signal terminate; asserts RelatesTo itself
    assert wait_for(lambda: proc.done) and proc.exit_code == EXIT_TERMINATED
    with pytest.raises(WSManFaultError):
        p.get_command_output_raw(shell, cmd)  # the command is gone after terminate


def test_signal_code_is_case_insensitive(http_server, machine):
    s = requests.Session()
    shell = raw_create(s, http_server.url)
    cmd = raw_command(s, http_server.url, shell, "sleep")
    mid, data = envelope(SHELL + "/Signal",
                         f'<rsp:Signal CommandId="{cmd}"><rsp:Code>{SHELL}/signal/Terminate'
                         f"</rsp:Code></rsp:Signal>", shell_id=shell)
    r = post(s, http_server.url, data)
    assert r.status_code == 200 and relates_to(r) == mid
    assert wait_for(lambda: machine.processes[-1].done)
    cmd = raw_command(s, http_server.url, shell, "sleep")
    _, data = envelope(SHELL + "/Signal",
                       f'<rsp:Signal CommandId="{cmd}"><rsp:Code>{SHELL}/signal/explode'
                       f"</rsp:Code></rsp:Signal>", shell_id=shell)
    r = post(s, http_server.url, data)
    assert r.status_code == 500 and fault_subcode(r) == "w:InvalidParameter"
    time.sleep(0.1)
    assert not machine.processes[-1].done  # an unknown signal does nothing


def test_delete_drops_the_shell_and_its_commands(host, machine):
    p = protocol(host.winrm_http.url)
    shell = p.open_shell()
    p.run_command(shell, "sleep")
    proc = machine.processes[-1]
    p.close_shell(shell, close_session=False)
    assert wait_for(lambda: proc.done)
    with pytest.raises(WSManFaultError) as exc:
        p.run_command(shell, "echo")
    assert exc.value.wsman_fault_code == SHELL_NOT_FOUND
    with pytest.raises(WSManFaultError) as exc:
        p.close_shell(shell)
    assert exc.value.wsman_fault_code == SHELL_NOT_FOUND


def test_unknown_shell_and_unknown_command(host):
    p = protocol(host.winrm_http.url)
    with pytest.raises(WSManFaultError) as exc:
        p.run_command(str(uuid.uuid4()).upper(), "echo")
    assert exc.value.wsman_fault_code == SHELL_NOT_FOUND
    assert "shell was not found" in exc.value.reason
    shell = p.open_shell()
    with pytest.raises(WSManFaultError) as exc:
        p.get_command_output_raw(shell, str(uuid.uuid4()))
    assert exc.value.wsman_fault_code != SHELL_NOT_FOUND
    with pytest.raises(WSManFaultError):
        p.send_command_input(shell, str(uuid.uuid4()), b"x")


def test_drop_shells_ends_processes_and_later_requests_fault(host, machine):
    p = protocol(host.winrm_http.url)
    shell = p.open_shell()
    cmd = p.run_command(shell, "sleep")
    proc = machine.processes[-1]
    assert host.winrm.drop_shells() == 1
    assert wait_for(lambda: proc.done)
    for call in (lambda: p.get_command_output_raw(shell, cmd),
                 lambda: p.run_command(shell, "echo")):
        with pytest.raises(WSManFaultError) as exc:
            call()
        assert exc.value.wsman_fault_code == SHELL_NOT_FOUND
    # The service itself is fine: a new shell works.
    s2 = p.open_shell()
    assert p.get_command_output(s2, p.run_command(s2, "echo", ["ok"]))[0] == b"ok\r\n"


def test_drop_shells_wakes_a_held_receive(host):
    p = protocol(host.winrm_http.url, operation_timeout_sec=20, read_timeout_sec=30)
    shell = p.open_shell()
    cmd = p.run_command(shell, "sleep")
    threading.Timer(0.3, host.winrm.drop_shells).start()
    t0 = time.monotonic()
    with pytest.raises(WSManFaultError) as exc:
        p.get_command_output_raw(shell, cmd)
    assert exc.value.wsman_fault_code == SHELL_NOT_FOUND
    assert time.monotonic() - t0 < 5


def test_request_counter_per_connection(host):
    srv = host.winrm_http
    srv.reset_counters()
    winrm.Session(srv.url, auth=(USER, PASSWORD)).run_cmd("echo", ["a"])
    winrm.Session(srv.url, auth=(USER, PASSWORD)).run_cmd("echo", ["b"])
    conns = sorted({c for c, _ in srv.requests})
    assert len(conns) == 2  # one keep-alive connection per Session
    first = [a for c, a in srv.requests if c == conns[0]]
    assert first[:2] == ["Create", "Command"] and first[-2:] == ["Signal", "Delete"]
    assert set(first[2:-2]) == {"Receive"}
    assert srv.request_count(connection=conns[1], action="Create") == 1
    assert srv.request_count(action="Delete") == 2
    assert srv.request_count() == len(srv.requests)
    srv.reset_counters()
    assert srv.request_count() == 0 and srv.requests == []


def test_close_connections_forces_a_new_connection(http_server):
    s = requests.Session()
    raw_create(s, http_server.url)
    raw_create(s, http_server.url)
    (c1,) = {c for c, _ in http_server.requests}
    assert http_server.close_connections() == 1
    time.sleep(0.1)
    http_server.drop_shells()
    raw_create(s, http_server.url)
    assert http_server.requests[-1][0] != c1


def test_quotas(http_server):
    s = requests.Session()
    a, b = raw_create(s, http_server.url), raw_create(s, http_server.url)
    _, data = envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                       "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
                       "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
    r = post(s, http_server.url, data)
    assert r.status_code == 500 and fault_code(r) == 2150859173
    # Quota violations carry their code in an MSFT_WmiError, not a WSManFault element.
    assert ET.fromstring(r.content).find(f".//{{{NS['f']}}}WSManFault") is None
    raw_command(s, http_server.url, a, "sleep")
    raw_command(s, http_server.url, a, "sleep")
    _, data = envelope(SHELL + "/Command", "<rsp:CommandLine><rsp:Command>sleep</rsp:Command>"
                       "</rsp:CommandLine>", shell_id=a)
    r = post(s, http_server.url, data)
    assert r.status_code == 500 and fault_code(r) == 2150859174
    raw_command(s, http_server.url, b, "echo x")  # the quota is per shell


def test_idle_shells_expire(machine):
    limits = WinRMLimits(idle_timeout=0.3)
    with WinRMServer(machine, BasicAuthenticator({USER: PASSWORD}), limits=limits) as srv:
        p = protocol(srv.url)
        shell = p.open_shell()
        assert wait_for(lambda: srv.shell_count == 0, timeout=4)
        with pytest.raises(WSManFaultError) as exc:
            p.run_command(shell, "echo")
        assert exc.value.wsman_fault_code == SHELL_NOT_FOUND


# --- robustness ---------------------------------------------------------------------------

@pytest.mark.parametrize("body, status", [
    (b"this is not xml", 400),
    (b"<a><b></a>", 400),
    (b"<root/>", 400),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', 400),
    (b"", 400),
    (envelope(SHELL + "/Receive")[1].replace(b"<a:MessageID>", b"<a:Nope>")
     .replace(b"</a:MessageID>", b"</a:Nope>"), 400),
], ids=["not-xml", "not-well-formed", "not-soap", "doctype", "empty", "no-message-id"])
def test_malformed_requests_get_a_fault_not_a_crash(http_server, body, status):
    s = requests.Session()
    r = post(s, http_server.url, body)
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("application/soap+xml")
    assert ET.fromstring(r.content).find(f".//{{{NS['s']}}}Fault") is not None
    raw_create(s, http_server.url)  # still serving, on the same connection


def test_oversized_request_is_refused_and_the_connection_closed(machine):
    limits = WinRMLimits(max_request_bytes=10_000)
    with WinRMServer(machine, BasicAuthenticator({USER: PASSWORD}), limits=limits) as srv:
        s = requests.Session()
        _, data = envelope(SHELL + "/Send", "<rsp:Send>" + "A" * 20_000 + "</rsp:Send>",
                           shell_id="X")
        r = post(s, srv.url, data)
        assert r.status_code == 500 and fault_subcode(r) == "w:EncodingLimit"
        assert r.headers.get("Connection", "").lower() == "close"
        raw_create(s, srv.url)  # a fresh connection is served
        assert srv.request_count(action="(too large)") == 1


def test_unknown_action_is_a_fault(http_server):
    mid, data = envelope("http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate")
    r = post(requests.Session(), http_server.url, data)
    assert r.status_code == 500
    assert fault_subcode(r) == "w:ActionNotSupported"
    assert relates_to(r) == mid


def test_every_response_relates_to_its_request(http_server):
    s = requests.Session()
    mid, data = envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                         "<rsp:Shell/>", message_id="uuid:11111111-2222-3333-4444-555555555555")
    r = post(s, http_server.url, data)
    assert r.status_code == 200 and relates_to(r) == mid
    shell = ET.fromstring(r.content).find(f".//{{{NS['w']}}}Selector").text
    mid, data = envelope(SHELL + "/Command", "<rsp:CommandLine><rsp:Command>echo hi"
                         "</rsp:Command></rsp:CommandLine>", shell_id=shell)
    assert relates_to(post(s, http_server.url, data)) == mid


def test_client_vanishing_mid_receive_does_not_hurt_the_server(http_server):
    s = requests.Session()
    shell = raw_create(s, http_server.url)
    cmd = raw_command(s, http_server.url, shell, "sleep")
    _, data = envelope(SHELL + "/Receive",
                       f'<rsp:Receive><rsp:DesiredStream CommandId="{cmd}">stdout stderr'
                       f"</rsp:DesiredStream></rsp:Receive>", shell_id=shell, timeout="PT1S")
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    sock = socket.create_connection((http_server.host, http_server.port))
    sock.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
                 + f"Authorization: Basic {auth}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                 + data)
    time.sleep(0.2)
    sock.close()  # gone while the Receive is held
    half = socket.create_connection((http_server.host, http_server.port))
    half.sendall(b"POST /wsman HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort")
    half.close()  # gone mid-body
    time.sleep(1.2)
    out = raw_receive(s, http_server.url, shell, raw_command(s, http_server.url, shell,
                                                              "echo still alive"))
    assert b"c3RpbGwgYWxpdmU" in out.content  # base64 of "still alive"


def test_stop_terminates_processes_and_frees_the_port(machine):
    srv = WinRMServer(machine, BasicAuthenticator({USER: PASSWORD})).start()
    p = protocol(srv.url)
    shell = p.open_shell()
    p.run_command(shell, "sleep")
    before = threading.active_count()
    srv.stop()
    assert wait_for(lambda: machine.processes[-1].done)
    with pytest.raises(OSError):
        socket.create_connection((srv.host, srv.port), timeout=1)
    assert threading.active_count() <= before


# --- SimHost ------------------------------------------------------------------------------

def test_endpoint_file_and_restart_stability(tmp_path, machine):
    state = tmp_path / "state"
    with SimHost(state, machine=machine, ssh_port=None) as h:
        ep = json.loads((state / "endpoint.json").read_text())
        pw_file = ep["password_file"]
        ca = (state / "ca.pem").read_bytes()
        assert ep["winrm_http_url"] is None and ep["user"] == "Administrator"
        assert ep["winrm_url"] == h.winrm.url
        assert stat.S_IMODE(os.stat(pw_file).st_mode) == 0o600
        password = Path(pw_file).read_text().strip()
        assert len(password) >= 16
        assert password not in (state / "endpoint.json").read_text()
        r = winrm.Session(ep["winrm_url"], auth=("Administrator", password), transport="ntlm",
                          ca_trust_path=ep["ca_bundle"]).run_cmd("echo", ["x"])
        assert r.status_code == 0
    with SimHost(state, machine=machine, ssh_port=None):
        assert (state / "ca.pem").read_bytes() == ca  # reused, still valid
        assert Path(pw_file).read_text().strip() == password


def test_certificates_cover_localhost_and_are_replaced_when_broken(tmp_path, machine):
    state = tmp_path / "state"
    with SimHost(state, machine=machine, ssh_port=None, password=PASSWORD) as h:
        url = h.winrm.url.replace("127.0.0.1", "localhost")
        r = winrm.Session(url, auth=(USER, PASSWORD), transport="ntlm",
                          ca_trust_path=h.endpoint["ca_bundle"]).run_cmd("echo", ["dns"])
        assert r.std_out == b"dns\r\n"
    old_ca = (state / "ca.pem").read_bytes()
    (state / "server.pem").write_text("not a certificate")
    with SimHost(state, machine=machine, ssh_port=None, password=PASSWORD) as h:
        assert (state / "ca.pem").read_bytes() != old_ca  # a new chain, consistent again
        r = winrm.Session(h.winrm.url, auth=(USER, PASSWORD), transport="ntlm",
                          ca_trust_path=h.endpoint["ca_bundle"]).run_cmd("echo", ["new"])
        assert r.status_code == 0


def test_real_machine_behind_the_server(tmp_path):
    from harness.sim.machine import Machine  # noqa: F401 - the real model, not the fake

    with SimHost(tmp_path / "sim", http_port=0, ssh_port=None, password=PASSWORD) as h:
        s = winrm.Session(h.winrm_http.url, auth=(USER, PASSWORD))
        r = s.run_cmd("hostname")
        assert r.status_code == 0, r.std_err
        assert r.std_out.strip().decode() == h.machine.name
        r = s.run_cmd("surely-not-a-program")
        assert r.status_code == 9009
        assert re.search(rb"not recognized as an internal or external command", r.std_err)
