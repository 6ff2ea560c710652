"""The sim's PowerShell catalog: pins that match the shipped scripts, and faithful models.

Every pinned hash must equal the hash of the ``.ps1`` it was modelled on.  When one does not,
the script was edited: its model in the sim must be re-read against the new text before the
pin is updated (that review is the point of pinning).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import sys
from pathlib import Path

import pytest

from harness.sim import catalog
from harness.sim.machine import POWERSHELL_EXE, Machine
from harness.sim.programs import powershell as sim_ps
from harness.sim.programs import standard_machine

ROOT = Path(__file__).resolve().parents[1]
TRANSPORT_SCRIPTS = ROOT / "harness" / "transport" / "scripts"


def shipped_sha256(relative: str) -> str:
    """Hash a script the way the harness sends it: UTF-8, no BOM, LF line endings."""
    text = (ROOT / relative).read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def review_message(name: str, source: str, pinned: str, actual: str) -> str:
    return (f"{source} changed (sha256 {actual}) but the simulated host's model of {name} "
            f"was written for {pinned}.\nReview the model against the new script "
            f"(harness/sim/programs/powershell.py or wherever {name} is registered), then set "
            f"its pin in harness/sim/catalog.py to {actual}.")


def test_the_bootstrap_pin_matches_the_shipped_bootstrap():
    actual = shipped_sha256(catalog.BOOTSTRAP_SOURCE)
    assert actual == catalog.BOOTSTRAP_SHA256, review_message(
        "the bootstrap", catalog.BOOTSTRAP_SOURCE, catalog.BOOTSTRAP_SHA256, actual)


@pytest.mark.parametrize("entry", catalog.entries(), ids=lambda e: e.name)
def test_every_pin_matches_its_shipped_script(entry):
    assert entry.source, f"{entry.name}: the catalog entry does not say which .ps1 it models"
    actual = shipped_sha256(entry.source)
    assert actual == entry.sha256, review_message(entry.name, entry.source, entry.sha256, actual)
    assert callable(entry.resolve())


def test_every_transport_script_has_a_model():
    modelled = {e.source for e in catalog.entries()}
    for path in sorted(TRANSPORT_SCRIPTS.glob("*.ps1")):
        relative = path.relative_to(ROOT).as_posix()
        if relative == catalog.BOOTSTRAP_SOURCE:
            continue
        assert relative in modelled, f"{relative} has no model in the simulated host"


def test_the_declared_parameters_match_the_scripts_param_blocks():
    for entry in catalog.entries():
        text = (ROOT / entry.source).read_text(encoding="utf-8")
        block = text[text.index("param("):text.index(")\n", text.index("param("))]
        for name in entry.params:
            assert f"${name}" in block, f"{entry.name}: ${name} is not in its param() block"
        assert block.count("$") == len(entry.params) + block.count("$true"), \
            f"{entry.name}: the param() block and the model's params differ"


def test_lookup_names_what_it_does_not_know():
    with pytest.raises(catalog.UnknownScript, match="does not know script 'nope'"):
        catalog.lookup("nope", "a" * 64)
    known = catalog.entries()[0]
    with pytest.raises(catalog.UnknownScript, match="must be reviewed"):
        catalog.lookup(known.name, "b" * 64)
    assert catalog.lookup(known.name.upper(), known.sha256) is known


# --- the models, run on a machine directly ---------------------------------------------------
def bootstrap_line() -> str:
    text = (ROOT / catalog.BOOTSTRAP_SOURCE).read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    encoded = base64.b64encode(text.encode("utf-16-le")).decode()
    return ("powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass "
            f"-EncodedCommand {encoded}")


def header(name: str, args: dict, *, script: bytes | None = None) -> bytes:
    text = (TRANSPORT_SCRIPTS / f"{name}.ps1").read_bytes().decode("utf-8-sig")
    body = script if script is not None else text.replace("\r\n", "\n").encode()
    obj = {"name": name, "sha256": hashlib.sha256(body).hexdigest(),
           "script": base64.b64encode(body).decode(), "args": args}
    return base64.b64encode(json.dumps(obj).encode()) + b"\r\n"


def run(machine: Machine, stdin: bytes, line: str | None = None) -> tuple[int, bytes, bytes]:
    proc = machine.spawn(line or bootstrap_line())
    proc.write_stdin(stdin, eof=True)
    out, err = bytearray(), bytearray()
    while True:
        o, e, done = proc.read_output(1 << 20, 5.0)
        out += o
        err += e
        if done:
            return proc.exit_code, bytes(out), bytes(err)


def results(out: bytes) -> list[dict]:
    return [json.loads(line[len(sim_ps.RESULT_PREFIX):])
            for line in out.decode().splitlines() if line.startswith(sim_ps.RESULT_PREFIX)]


@pytest.fixture
def machine():
    return standard_machine()


def test_receive_file_writes_verifies_and_renames(machine):
    data = bytes(range(256)) * 50
    lines = b"".join(base64.b64encode(data[i:i + 999]) + b"\r\n"
                     for i in range(0, len(data), 999))
    path = r"C:\Users\Administrator\in.bin"
    args = {"path": path, "sha256": hashlib.sha256(data).hexdigest().upper(), "size": len(data)}
    code, out, err = run(machine, header("receive_file", args) + lines)
    assert (code, err) == (0, b"")
    assert machine.fs.read_bytes(path) == data
    assert results(out) == [{"path": path, "size": len(data),
                             "sha256": hashlib.sha256(data).hexdigest()}]
    assert machine.fs.listdir(r"C:\Users\Administrator").count("in.bin") == 1
    assert not [n for n in machine.fs.listdir(r"C:\Users\Administrator")
                if n.endswith(".hpce2e-tmp")]


@pytest.mark.parametrize("args, stdin, message", [
    ({"sha256": "0" * 64, "size": 5}, b"aGVsbG8=\n", "sha256 of the bytes received"),
    ({"sha256": hashlib.sha256(b"hello").hexdigest(), "size": 6}, b"aGVsbG8=\n",
     "received 5 bytes"),
    ({"sha256": "0" * 64, "size": 5}, b"not base64!\n", "not a valid Base-64 string"),
])
def test_receive_file_failures_leave_nothing_behind(machine, args, stdin, message):
    path = r"C:\Users\Administrator\keep.bin"
    machine.fs.write_bytes(path, b"original")
    code, out, err = run(machine, header("receive_file", {"path": path, **args}) + stdin)
    assert code == 1 and message in err.decode() and results(out) == []
    assert err.decode().startswith("hpc-e2e: receive_file: ")
    assert machine.fs.read_bytes(path) == b"original"
    assert not [n for n in machine.fs.listdir(r"C:\Users\Administrator")
                if n.endswith(".hpce2e-tmp")]


def test_send_file_writes_lines_of_chunk_bytes(machine):
    data = b"abcdefghij" * 10
    machine.fs.write_bytes(r"C:\f.bin", data)
    code, out, err = run(machine, header("send_file", {"path": r"C:\f.bin", "chunk": 30}))
    assert code == 0, err
    lines = out.decode().split("\r\n")
    assert [len(base64.b64decode(x)) for x in lines[:4]] == [30, 30, 30, 10]
    assert b"".join(base64.b64decode(x) for x in lines[:4]) == data
    assert results(out) == [{"path": r"C:\f.bin", "size": 100,
                             "sha256": hashlib.sha256(data).hexdigest()}]


def test_send_file_refuses_a_chunk_below_one(machine):
    machine.fs.write_bytes(r"C:\f.bin", b"x")
    code, _, err = run(machine, header("send_file", {"path": r"C:\f.bin", "chunk": 0}))
    assert code == 1 and b"chunk must be at least 1 byte" in err


def test_argument_types_are_converted_or_refused(machine):
    machine.fs.write_bytes(r"C:\f.bin", b"x" * 10)
    code, out, _ = run(machine, header("send_file", {"path": r"C:\f.bin", "chunk": "4"}))
    assert code == 0 and results(out)[0]["size"] == 10  # PowerShell converts "4" to [int]
    code, _, err = run(machine, header("send_file", {"path": r"C:\f.bin", "chunk": "four"}))
    assert code == 1 and b'Cannot convert value "four" to type "System.Int32"' in err
    code, _, err = run(machine, header("send_file", {"path": r"C:\f.bin", "chunk": 2**31}))
    assert code == 1 and b"System.Int32" in err


def test_file_hash_reports_size_and_hash(machine):
    machine.fs.write_bytes(r"C:\h.bin", b"hash me")
    code, out, _ = run(machine, header("file_hash", {"path": r"c:\H.BIN"}))
    assert code == 0
    assert results(out)[0]["sha256"] == hashlib.sha256(b"hash me").hexdigest()
    assert results(out)[0]["size"] == 7


@pytest.mark.parametrize("line", [
    "powershell.exe -Command hostname",
    "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass",
    "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Unrestricted "
    "-EncodedCommand AAAA",
    "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass "
    "-EncodedCommand %%%%",
    "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -OutputFormat "
    "Json -EncodedCommand AAAA",
    f"{POWERSHELL_EXE} -nologo -noprofile -noninteractive -executionpolicy bypass "
    f"-encodedcommand {base64.b64encode('Get-Date'.encode('utf-16-le')).decode()}",
])
def test_anything_but_the_bootstrap_is_not_understood(machine, line):
    code, out, err = run(machine, b"", line=line)
    assert code == 1 and out == b""
    assert b"the simulated host does not understand" in err


def test_an_unknown_script_is_named_with_its_hash(machine):
    body = b"Write-Output 1\n"
    obj = {"name": "surprise", "sha256": hashlib.sha256(body).hexdigest(),
           "script": base64.b64encode(body).decode(), "args": {}}
    code, _, err = run(machine, base64.b64encode(json.dumps(obj).encode()) + b"\n")
    assert code == 1
    assert f"does not know script 'surprise' with sha256 {obj['sha256']}".encode() in err


def test_a_malformed_header_is_not_understood(machine):
    code, _, err = run(machine, base64.b64encode(b'{"name": "x"}') + b"\n")
    assert code == 1 and b"does not understand the script header" in err


def test_a_catalog_imported_anew_still_knows_the_model_modules_scripts(monkeypatch):
    """pytester's in-process runs drop modules they imported from sys.modules, so a later
    import of the catalog can be a new module while the model modules stay the old ones; the
    catalog must still learn their entries (a full-suite order lost ``host_facts`` this way)."""
    known = catalog.lookup("host_facts", next(e.sha256 for e in catalog.entries()
                                               if e.name == "host_facts"))
    monkeypatch.setattr(sys.modules["harness.sim"], "catalog", catalog)  # restored after
    monkeypatch.delitem(sys.modules, "harness.sim.catalog")
    fresh = importlib.import_module("harness.sim.catalog")
    assert fresh is not catalog
    assert fresh.lookup("host_facts", known.sha256).implementation is known.implementation
