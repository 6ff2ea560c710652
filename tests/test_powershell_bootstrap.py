"""The PowerShell bootstrap: its command line, the header it reads, and run_script().

The command line and header are checked by decoding them as a host would; run_script is
checked end to end against the simulated host over WinRM, where the sim's powershell.exe
accepts nothing but this bootstrap and scripts it knows by pinned hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import urlparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.config.secrets import Secret
from harness.config.target import Target, WinRMOptions
from harness.errors import HarnessError, RemoteCommandError
from harness.sim.host import SimHost
from harness.transport import powershell as ps
from harness.transport.winrm import WinRMTransport

HOME = r"C:\Users\Administrator"


# --- the command line and the header ---------------------------------------------------------
def test_the_command_line_is_the_encoded_bootstrap():
    line = ps.bootstrap_command_line()
    prefix = ("powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass "
              "-OutputFormat Text -EncodedCommand ")
    assert line.startswith(prefix)
    encoded = line[len(prefix):]
    assert " " not in encoded
    assert base64.b64decode(encoded).decode("utf-16-le") == ps.BOOTSTRAP
    assert len(line) < 8191 - 2048


def test_the_bootstrap_is_the_shipped_file_with_lf_endings():
    shipped = (ps.SCRIPTS_DIR / "bootstrap.ps1").read_bytes().decode("utf-8-sig")
    assert shipped.replace("\r\n", "\n") == ps.BOOTSTRAP
    assert ps.BOOTSTRAP.count("\r") == 0
    # what the bootstrap promises to check, it checks
    assert "ComputeHash" in ps.BOOTSTRAP and "[Console]::In.ReadLine()" in ps.BOOTSTRAP


def decode_header(line: bytes) -> dict:
    assert line.endswith(b"\r\n") and b"\n" not in line[:-2]
    return json.loads(base64.b64decode(line[:-2]).decode("utf-8"))


def test_the_header_carries_name_hash_script_and_args():
    text = "param([string]$path)\n'héllo ✓'\n"
    header = decode_header(ps.header_line("demo", text, {"path": r"C:\tmp\ü.txt", "n": 3}))
    assert set(header) == {"name", "sha256", "script", "args"}
    assert header["name"] == "demo"
    script = base64.b64decode(header["script"])
    assert script.decode("utf-8") == text
    assert header["sha256"] == hashlib.sha256(script).hexdigest() == ps.script_sha256(text)
    assert header["args"] == {"path": r"C:\tmp\ü.txt", "n": 3}


def test_scripts_are_found_by_name_and_hashed_the_same_whatever_the_line_endings(tmp_path):
    (tmp_path / "lf.ps1").write_bytes(b"param($a)\n$a\n")
    (tmp_path / "crlf.ps1").write_bytes(b"\xef\xbb\xbfparam($a)\r\n$a\r\n")
    catalog = ps.ScriptCatalog(tmp_path)
    assert catalog.names() == ["crlf", "lf"]
    assert catalog.get("lf").sha256 == catalog.get("crlf").sha256
    assert "lf" in catalog and "nope" not in catalog
    with pytest.raises(HarnessError, match="no PowerShell script named 'nope'") as info:
        catalog.get("nope")
    assert "crlf, lf" in info.value.hint


def test_the_transport_ships_its_scripts():
    assert {"receive_file", "send_file", "file_hash"} <= set(ps.TRANSPORT_SCRIPTS.names())


@given(st.lists(st.binary(max_size=40), max_size=20), st.data())
def test_lines_come_out_the_same_however_the_stream_is_cut(pieces, data):
    stream = b"\r\n".join(pieces) + data.draw(st.sampled_from([b"", b"\n", b"\r\n"]))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    got: list[bytes] = []
    splitter = ps.LineSplitter(got.append)
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        splitter.feed(stream[a:b])
    splitter.close()
    expected = [line[:-1] if line.endswith(b"\r") else line
                for line in stream.split(b"\n")]
    if stream.endswith(b"\n") or not stream:
        expected = expected[:-1]
    assert got == expected


def test_an_endless_line_is_refused():
    splitter = ps.LineSplitter(lambda line: None, max_line=100)
    with pytest.raises(HarnessError, match="exceeded"):
        splitter.feed(b"x" * 101)


# --- run_script against the simulated host --------------------------------------------------
@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with SimHost(tmp_path_factory.mktemp("sim"), ssh_port=None) as host:
        yield host


@pytest.fixture(scope="module")
def transport(sim):
    ep = json.loads(sim.endpoint_file.read_text())
    target = Target(name="sim", address="127.0.0.1", port=urlparse(ep["winrm_url"]).port,
                    user=ep["user"], password=Secret.from_file(ep["password_file"]),
                    winrm=WinRMOptions(scheme="https", auth="ntlm", ca_bundle=ep["ca_bundle"]))
    with WinRMTransport(target) as t:
        yield t


def test_a_script_result_comes_back_parsed(sim, transport):
    sim.machine.fs.write_bytes(rf"{HOME}\data.txt", b"0123456789")
    res = ps.run_script(transport, "file_hash", {"path": "data.txt"})  # relative: to the cwd
    assert res.succeeded
    assert res.value == {"path": rf"{HOME}\data.txt", "size": 10,
                         "sha256": hashlib.sha256(b"0123456789").hexdigest()}
    assert res.command.command.startswith("[ps:file_hash] ")


def test_a_failing_script_raises_with_its_stderr(transport):
    with pytest.raises(RemoteCommandError) as info:
        ps.run_script(transport, "file_hash", {"path": rf"{HOME}\absent.txt"})
    assert "Could not find file" in str(info.value)
    assert info.value.result.exit_code == 1
    res = ps.run_script(transport, "file_hash", {"path": rf"{HOME}\absent.txt"}, check=False)
    assert res.exit_code == 1 and res.value is None


@pytest.mark.parametrize("args, message", [
    ({"path": "x", "bogus": 1}, "A parameter cannot be found that matches parameter name 'bogus'"),
    ({}, "missing mandatory parameters: path"),
    ({"path": ""}, "because it is an empty string"),
])
def test_parameters_are_bound_as_powershell_binds_them(transport, args, message):
    with pytest.raises(RemoteCommandError, match=message):
        ps.run_script(transport, "file_hash", args)


def test_a_script_the_host_does_not_know_fails_loudly(transport, tmp_path):
    script = tmp_path / "mystery.ps1"
    script.write_text("param($x)\nWrite-Output $x\n")
    with pytest.raises(RemoteCommandError, match="does not know script 'mystery'"):
        ps.run_script(transport, script, {"x": 1})


def test_an_edited_script_is_not_run_under_its_old_name(transport):
    edited = ps.Script("file_hash", ps.TRANSPORT_SCRIPTS.get("file_hash").text + "\n# edit\n")
    with pytest.raises(RemoteCommandError) as info:
        ps.run_script(transport, edited, {"path": "x"})
    assert "must be reviewed" in str(info.value)


def test_a_header_whose_hash_does_not_match_the_script_is_refused(transport):
    text = ps.TRANSPORT_SCRIPTS.get("file_hash").text
    header = json.loads(base64.b64decode(ps.header_line("file_hash", text, {"path": "x"})))
    header["script"] = base64.b64encode(text.encode() + b"\n").decode()
    line = base64.b64encode(json.dumps(header).encode()) + b"\r\n"
    result = transport.run(ps.bootstrap_command_line(), stdin=line)
    assert result.exit_code == 1
    assert "hpc-e2e: file_hash: sha256 of the script text is" in result.stderr


def test_the_host_runs_no_other_powershell(transport):
    result = transport.run("powershell.exe -NoProfile -Command Get-Date")
    assert result.exit_code == 1 and "does not understand" in result.stderr
    other = base64.b64encode("Get-Date".encode("utf-16-le")).decode()
    result = transport.run("powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy "
                           f"Bypass -EncodedCommand {other}")
    assert result.exit_code == 1 and "bootstrap" in result.stderr


def test_without_a_header_the_bootstrap_says_so(transport):
    result = transport.run(ps.bootstrap_command_line(), stdin=b"")
    assert result.exit_code == 1
    assert "no script header on stdin" in result.stderr


def test_scripts_can_be_loaded_from_another_catalog_directory(transport, tmp_path):
    (tmp_path / "file_hash.ps1").write_text(ps.TRANSPORT_SCRIPTS.get("file_hash").text)
    other = ps.ScriptCatalog(tmp_path)
    res = ps.run_script(transport, "file_hash", {"path": r"C:\Windows\System32\hostname.exe"},
                        catalog=other)
    assert res.value["size"] > 0


def test_scripts_stream_their_output_lines(sim, transport):
    payload = bytes(range(256)) * 100
    sim.machine.fs.write_bytes(rf"{HOME}\stream.bin", payload)
    lines: list[bytes] = []
    res = ps.run_script(transport, "send_file", {"path": rf"{HOME}\stream.bin", "chunk": 3000},
                        on_line=lines.append)
    assert len(lines) == 9 and all(not line.endswith(b"\r") for line in lines)
    assert b"".join(base64.b64decode(line) for line in lines) == payload
    assert res.value["sha256"] == hashlib.sha256(payload).hexdigest()
    assert res.command.stdout_bytes == b""  # streamed, not kept


# --- small in-memory stdin travels with the header ----------------------------------------------
def test_small_in_memory_stdin_is_joined_to_the_header_and_a_generator_is_not():
    head = b"HEADER\r\n"
    assert list(ps._coalesced(head, [b"a\r\n", b"b\r\n"])) == [b"HEADER\r\na\r\nb\r\n"]
    big = b"x" * ps.COALESCE_LIMIT
    assert list(ps._coalesced(head, [b"a\r\n", big, b"c"])) == [b"HEADER\r\na\r\n", big, b"c"]
    assert list(ps._coalesced(head, None)) == [head]
    assert list(ps._coalesced(head, iter([b"a", b"b"]))) == [head, b"a", b"b"]


def test_a_small_file_upload_by_script_costs_one_send(sim, transport):
    data = b"hpc-e2e" * 10
    line = base64.b64encode(data) + b"\r\n"
    transport.flush_background()
    sim.winrm.reset_counters()
    res = ps.run_script(transport, "receive_file",
                        {"path": rf"{HOME}\small.bin", "size": len(data),
                         "sha256": hashlib.sha256(data).hexdigest()}, stdin_chunks=[line])
    assert res.succeeded and sim.machine.fs.read_bytes(rf"{HOME}\small.bin") == data
    assert sim.winrm.request_count(action="Send") == 1
