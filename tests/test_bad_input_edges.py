"""Bad inputs at the edges (issue 17, item 5): each answered in one line, no hang.

The issue's campaign found inputs outside the catalogue that ended in an internal error, a
traceback, a hang, or were accepted and failed later with a misleading message.  Each
example is a case here, by kind: addresses (IPv6 with and without brackets, a port inside
the address, an invisible character, a 64-character label), typed values (``true`` is not
a port, ``1e11`` is not an envelope size), password file encodings (UTF-16 and UTF-8 with a
byte order mark are read, not refused), special files (FIFO, device, folder) refused
without being opened, recursion (deep TOML, a 2,000-long ``extends`` chain), numbers out of
range (``--older-than 99999999999d``, a latency of ``1e300``, deadlines), and a port in use.

Every case runs the real entry point from an empty working folder under a short
pytest-timeout, so a hang fails the case instead of the suite.  Part of the bad-input
catalogue (tests/checks/bad_input.py counts it).
"""

from __future__ import annotations

import codecs
import os
import socket
from pathlib import Path

import pytest
from checks.bad_input import clear_error

from harness.cli import main
from harness.commands import run as run_mod
from harness.config.inventory import load_inventory
from harness.errors import EXIT_CONFIG
from harness.sim.bundle import write_sim_bundle

pytest_plugins = ["checks.bad_input_count"]

PW_ENV = "HPC_E2E_EDGE_PW"
FIFO, DIR = b"<make a FIFO here>", b"<make a folder here>"  # file contents that are not
HEAD = f'[hosts.lab1]\nuser = "u"\npassword_env = "{PW_ENV}"\n'


def inv(body: str) -> dict[str, bytes]:
    return {"inv.toml": body.encode("utf-8")}


def pw_file(data: bytes | None) -> dict[str, bytes]:
    files = inv('[hosts.lab1]\naddress = "lab1.example.test"\nuser = "u"\n'
                'password_file = "pw.txt"\n')
    if data is not None:
        files["pw.txt"] = data
    return files


def chain(n: int) -> dict[str, bytes]:
    files = {f"p{i}.toml": f'[profile]\nextends = "p{i + 1}.toml"\n'.encode()
             for i in range(n)}
    files[f"p{n}.toml"] = b'[profile]\nextends = "current"\n'
    return files


DEEP = "a = " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_TABLES = "[" + ".".join(["t"] * 200) + "]\nx = 1\n"

# id -> (files: name -> bytes, FIFO/DIR/DEVICE words in argv, argv, exit code, fragments)
CASES: dict[str, tuple[dict[str, bytes], list[str], int, tuple[str, ...]]] = {
    # --- addresses
    "address with a port": (inv(HEAD + 'address = "127.0.0.1:5986"\n'),
                            ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                            ("host 'lab1': address: holds a port (:5986)", "port = 5986")),
    "hostname with a port": (inv(HEAD + 'address = "lab1.example.test:5985"\n'),
                             ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                             ("address: holds a port (:5985)",)),
    "bracketed IPv6 with a port": (inv(HEAD + 'address = "[::1]:5986"\n'),
                                   ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                                   ("address: holds ':5986' after the IPv6 address",)),
    "bracket not closed": (inv(HEAD + 'address = "[::1"\n'),
                           ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                           ("address: has '[' without ']'",)),
    "not an IPv6 address": (inv(HEAD + 'address = "fe80:::1"\n'),
                            ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                            ("address: is not an IPv6 address",)),
    "zero-width space": (inv(HEAD + 'address = "lab1\u200b.example.test"\n'),
                         ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                         ("address: contains an invisible or space character U+200B",)),
    "no-break space": (inv(HEAD + 'address = "lab1\u00a0"\n'),
                       ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                       ("address: contains an invisible or space character U+00A0",)),
    "64-character label": (inv(HEAD + f'address = "{"a" * 64}.example.test"\n'),
                           ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                           ("address: has a label of 64 characters",)),
    "254-character name": (inv(HEAD + f'address = "{".".join(["a" * 50] * 5)}"\n'),
                           ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                           ("address: is 254 characters",)),
    "bad IPv4": (inv(HEAD + 'address = "10.0.0.256"\n'),
                 ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                 ("address: is not an IPv4 address",)),
    "two dots": (inv(HEAD + 'address = "lab1..example"\n'),
                 ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                 ("address: has an empty label",)),
    "a URL as address": (inv(HEAD + 'address = "https://lab1/wsman"\n'),
                         ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                         ("address: must be a host name or IP address alone",)),
    "non-ASCII name": (inv(HEAD + 'address = "läb1.example.test"\n'),
                       ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                       ("address: holds non-ASCII letters", "xn--")),
    # --- typed values, sizes
    "port = true": (inv(HEAD + 'address = "lab1"\nport = true\n'),
                    ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                    ("host 'lab1': port: must be a whole number (got True)",)),
    "port = 5986.0": (inv(HEAD + 'address = "lab1"\nport = 5986.5\n'),
                      ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                      ("port: must be a whole number",)),
    "max_envelope_size = 1e11": (inv(HEAD + 'address = "lab1"\n[hosts.lab1.winrm]\n'
                                            "max_envelope_size = 1e11\n"),
                                 ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                                 ("winrm.max_envelope_size: must be a whole number",)),
    "max_envelope_size too large": (inv(HEAD + 'address = "lab1"\n[hosts.lab1.winrm]\n'
                                               "max_envelope_size = 100000000\n"),
                                    ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                                    ("winrm.max_envelope_size:", "512000")),
    "max_leases = true": (inv(HEAD + 'address = "lab1"\n[hosts.lab1.labels]\n'
                                     "max_leases = true\n"),
                          ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                          ("labels.max_leases: must be a whole number",)),
    "connect_timeout = true": (inv('[hosts.lab1]\naddress = "lab1"\nuser = "u"\n'
                                   'transport = "ssh"\n[hosts.lab1.ssh]\nauth = "agent"\n'
                                   "connect_timeout = true\n"),
                               ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                               ("ssh: connect_timeout: must be a number of seconds",)),
    "connect_timeout = inf": (inv('[hosts.lab1]\naddress = "lab1"\nuser = "u"\n'
                                  'transport = "ssh"\n[hosts.lab1.ssh]\nauth = "agent"\n'
                                  "connect_timeout = inf\n"),
                              ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                              ("ssh.connect_timeout:",)),
    # --- password files: special files are refused without being opened
    "password file is a FIFO": (pw_file(FIFO), ["doctor", "--inventory", "inv.toml"],
                                 EXIT_CONFIG,
                                 ("password_file: secret file", "is a named pipe (FIFO)")),
    "password file is /dev/zero": (inv('[hosts.lab1]\naddress = "lab1"\nuser = "u"\n'
                                       'password_file = "/dev/zero"\n'),
                                   ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                                   ("password_file: secret file /dev/zero is a character "
                                    "device",)),
    "password file is a folder": (pw_file(DIR), ["doctor", "--inventory", "inv.toml"],
                                  EXIT_CONFIG,
                                  ("password_file: secret file", "is a folder, not a file")),
    "password file UTF-32": (pw_file("s3cret!".encode("utf-32")),
                             ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                             ("password_file:", "UTF-32")),
    "password file Latin-1": (pw_file("caf\xe9-pass".encode("latin-1")),
                              ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                              ("password_file:", "is not UTF-8 text")),
    "password file two lines": (pw_file(b"first\nsecond\n"),
                                ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                                ("password_file:", "more than one line")),
    "password file NUL": (pw_file(b"pa\x00ss\n"),
                          ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                          ("password_file:", "control character (U+0000)")),
    # --- TOML: encodings and depth
    "inventory UTF-16": ({"inv.toml": (HEAD + 'address = "lab1"\n').encode("utf-16")},
                         ["doctor", "--inventory", "inv.toml"], EXIT_CONFIG,
                         ("inv.toml: inventory is not UTF-8 text (it is UTF-16",)),
    "inventory deeply nested": (inv(DEEP), ["doctor", "--inventory", "inv.toml"],
                                EXIT_CONFIG, ("inv.toml: inventory nests", "32 levels")),
    "inventory deep dotted tables": (inv(DEEP_TABLES), ["doctor", "--inventory", "inv.toml"],
                                     EXIT_CONFIG, ("inv.toml: inventory nests",)),
    "inventory is a FIFO": ({}, ["doctor", "--inventory", "FIFO:inv.toml"], EXIT_CONFIG,
                            ("inv.toml: inventory is a named pipe (FIFO), not a file",)),
    "inventory is /dev/zero": ({}, ["doctor", "--inventory", "/dev/zero"], EXIT_CONFIG,
                               ("/dev/zero: inventory is a character device",)),
    "profile is a FIFO": ({}, ["run", "--profile", "FIFO:p.toml"], EXIT_CONFIG,
                          ("--profile:", "p.toml: profile is a named pipe (FIFO)",)),
    "profile deeply nested": ({"p.toml": ("[expect]\n" + DEEP).encode()},
                              ["run", "--profile", "p.toml"], EXIT_CONFIG,
                              ("--profile:", "p.toml: profile nests",)),
    "profile extends 2000 deep": (chain(2000), ["run", "--profile", "p0.toml"], EXIT_CONFIG,
                                  ("--profile:", "profile.extends: a chain of more than 16",)),
    # found by tests/test_fuzz_inputs.py (an OSError, then a line break, before the fix)
    "profile extends a 300-character name": (
        {"p.toml": f'[profile]\nextends = "{"a" * 300}"\n'.encode()},
        ["run", "--profile", "p.toml"], EXIT_CONFIG,
        ("--profile:", "profile.extends:", "no such profile", "cannot be read")),
    "-k with a record separator": ({}, ["run", "-k", "\x1e"], EXIT_CONFIG,
                                   ("-k:", "is not a valid expression",)),
    "profile extends itself": ({"p.toml": b'[profile]\nextends = "p.toml"\n'},
                               ["run", "--profile", "p.toml"], EXIT_CONFIG,
                               ("--profile:", "circular")),
    "bundle is a FIFO": ({}, ["run", "--bundle", "FIFO:b.toml"], EXIT_CONFIG,
                         ("--bundle: b.toml is a named pipe (FIFO), not a file",)),
    "bundle source is a folder": ({}, ["run", "--bundle", "BUNDLE_DIR_SOURCE"], EXIT_CONFIG,
                                  ("artifact 'crictl': source: file", "is a folder, not a "
                                   "file")),
    "bundle source is /dev/zero": ({}, ["run", "--bundle", "BUNDLE_DEV_SOURCE"], EXIT_CONFIG,
                                   ("artifact 'crictl': source: file /dev/zero is a "
                                    "character device",)),
    # found by tests/test_fuzz_inputs.py (ValueError: embedded null byte, before the fix)
    "bundle source holds a NUL": ({}, ["run", "--bundle", "BUNDLE_NUL_SOURCE"], EXIT_CONFIG,
                                  ("artifact 'crictl': source: file", "holds a NUL character")),
    # --- numbers out of range
    "older-than 99999999999d": ({}, ["clean", "--older-than", "99999999999d"], EXIT_CONFIG,
                                ("--older-than: '99999999999d' is more than 36500 days",)),
    "latency 1e300": ({}, ["run", "--sim-latency", "request=1e300"], EXIT_CONFIG,
                      ("--sim-latency: latency: request=1e300 is more than 3600",)),
    "latency scale 1e300": ({}, ["run", "--sim-latency", "realistic,scale=1e300"],
                            EXIT_CONFIG, ("--sim-latency:", "at scale=1e+300 is more than 3600 "
                                          "seconds")),
    "serve latency 1e300": ({}, ["sim", "serve", "--latency", "uvm_boot=1e300"], EXIT_CONFIG,
                            ("--latency: latency: uvm_boot=1e300 is more than 3600",)),
    "lease-timeout 1e300": ({}, ["run", "--lease-timeout", "1e300"], EXIT_CONFIG,
                            ("--lease-timeout: 1e+300 seconds is more than a week",)),
    "lease-timeout inf": ({}, ["run", "--lease-timeout", "inf"], EXIT_CONFIG,
                          ("--lease-timeout: inf is not a positive number of seconds",)),
    "provision-timeout 0": ({}, ["run", "--provision-timeout", "0"], EXIT_CONFIG,
                            ("--provision-timeout: 0 is not a positive number",)),
    "flavor is a FIFO": ({}, ["run", "--sim-flavor", "FIFO:f.py"], EXIT_CONFIG,
                         ("--sim-flavor: f.py is a named pipe (FIFO), not a file",)),
    "authorized key is a FIFO": ({}, ["sim", "serve", "--authorized-key", "FIFO:k.pub",
                                      "--state-dir", "st"], EXIT_CONFIG,
                                 ("--authorized-key: k.pub is a named pipe (FIFO)",)),
    # --- a port somebody else holds
    "serve port in use": ({}, ["sim", "serve", "--port", "BUSY_PORT", "--state-dir", "st"],
                          EXIT_CONFIG, ("--port: port", "is already in use on 127.0.0.1")),
    "serve same port twice": ({}, ["sim", "serve", "--port", "45999", "--ssh-port", "45999",
                                   "--state-dir", "st"], EXIT_CONFIG,
                              ("--ssh-port: port 45999 is also given to --port",)),
}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(PW_ENV, "edge-case-password")
    calls: list = []
    monkeypatch.setattr(run_mod, "pytest_main", lambda argv, plugins: calls.append(argv) or 0)
    return tmp_path, calls


def _words(folder: Path, argv: list[str], busy: socket.socket) -> list[str]:
    out = []
    for word in argv:
        kind, sep, name = word.partition(":")
        if sep and kind == "FIFO":
            os.mkfifo(folder / name)
            word = name
        elif sep and kind == "DIR":
            (folder / name).mkdir()
            word = name
        elif word == "BUSY_PORT":
            word = str(busy.getsockname()[1])
        elif word in ("BUNDLE_DIR_SOURCE", "BUNDLE_DEV_SOURCE", "BUNDLE_NUL_SOURCE"):
            bundle = write_sim_bundle(folder / "bundle")
            target = {"BUNDLE_DIR_SOURCE": "'bin'", "BUNDLE_DEV_SOURCE": "'/dev/zero'",
                      "BUNDLE_NUL_SOURCE": '"bin/a\\u0000b.exe"'}[word]  # TOML escape
            bundle.write_text(bundle.read_text(encoding="utf-8").replace(
                "source = { file = 'bin/crictl.exe' }", f"source = {{ file = {target} }}"),
                encoding="utf-8")
            word = str(bundle)
        out.append(word)
    return [w for w in out if w]


@pytest.mark.bad_input
@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_an_edge_input_is_one_line(case, workdir, capsys):
    folder, pytest_calls = workdir
    files, argv, want, fragments = CASES[case]
    for name, data in files.items():
        if data == FIFO:
            os.mkfifo(folder / name)
        elif data == DIR:
            (folder / name).mkdir()
        else:
            (folder / name).write_bytes(data)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        argv = _words(folder, argv, busy)
        if argv[0] == "doctor":  # an inventory field: the same line from load_inventory
            argv.append("--json")
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
    captured = capsys.readouterr()
    assert code == want, f"exit {code}, wanted {want}:\n{captured.err}{captured.out}"
    line = clear_error(captured.err, *fragments, out=captured.out)
    assert "edge-case-password" not in captured.err + captured.out
    assert pytest_calls == [], "pytest was started"
    print(f"{case}: {line}")


# --- what is read, not refused ----------------------------------------------------------
@pytest.mark.parametrize("data", [
    "s3cret-Pa55\r\n".encode("utf-16"),  # PowerShell 5: 'pw' > pw.txt (UTF-16 LE, BOM)
    codecs.BOM_UTF16_BE + "s3cret-Pa55".encode("utf-16-be"),
    codecs.BOM_UTF8 + b"s3cret-Pa55\n",  # Notepad's "UTF-8 with BOM"
    b"s3cret-Pa55",
], ids=["utf-16-le-bom", "utf-16-be-bom", "utf-8-bom", "utf-8"])
def test_password_file_encodings_are_decoded(tmp_path, data):
    (tmp_path / "pw.txt").write_bytes(data)
    (tmp_path / "inv.toml").write_bytes(pw_file(None)["inv.toml"])
    (target,) = load_inventory(tmp_path / "inv.toml")
    assert target.password.reveal() == "s3cret-Pa55"


@pytest.mark.parametrize("address, stored, url", [
    ("[::1]", "::1", "https://[::1]:5986/wsman"),
    ("::1", "::1", "https://[::1]:5986/wsman"),
    ("[2001:DB8::1]", "2001:db8::1", "https://[2001:db8::1]:5986/wsman"),
    ("127.0.0.1", "127.0.0.1", "https://127.0.0.1:5986/wsman"),
    ("lab1.example.test", "lab1.example.test", "https://lab1.example.test:5986/wsman"),
    ("lab1.example.test.", "lab1.example.test.", "https://lab1.example.test.:5986/wsman"),
    ("LAB_1", "LAB_1", "https://LAB_1:5986/wsman"),  # NetBIOS names may hold '_'
])
def test_good_addresses_in_both_ipv6_spellings(tmp_path, monkeypatch, address, stored, url):
    monkeypatch.setenv(PW_ENV, "edge-case-password")
    (tmp_path / "inv.toml").write_text(HEAD + f'address = "{address}"\n', encoding="utf-8")
    (target,) = load_inventory(tmp_path / "inv.toml")
    assert target.address == stored and target.winrm_url == url


def test_an_inventory_with_a_utf8_bom_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv(PW_ENV, "edge-case-password")
    (tmp_path / "inv.toml").write_bytes(codecs.BOM_UTF8 + (HEAD + 'address = "lab1"\n').encode())
    (target,) = load_inventory(tmp_path / "inv.toml")
    assert target.address == "lab1"


@pytest.mark.bad_input(n=3)
def test_a_home_folder_that_does_not_exist_is_one_line(tmp_path):
    """``~user`` of no such user: ``Path.expanduser`` raises RuntimeError (found by
    tests/test_fuzz_inputs.py as an internal error before the fix)."""
    from harness.config.inventory import load_inventory
    from harness.errors import ConfigError
    from harness.plugin.profiles import load_profile
    from harness.runtime.bundle import load_bundle

    bundle = write_sim_bundle(tmp_path / "bundle")
    bundle.write_text(bundle.read_text(encoding="utf-8").replace(
        "source = { file = 'bin/crictl.exe' }", "source = { file = '~0nosuchuser/c.exe' }"),
        encoding="utf-8")
    inventory = tmp_path / "inv.toml"
    inventory.write_text('[hosts.lab1]\naddress = "lab1"\nuser = "u"\n'
                         'password_file = "~0nosuchuser/pw"\n', encoding="utf-8")
    profile = tmp_path / "p.toml"
    profile.write_text('[profile]\nextends = "~0nosuchuser/base.toml"\n', encoding="utf-8")
    for load, path, says in ((load_bundle, bundle, "artifact 'crictl': source: file"),
                             (load_inventory, inventory, "host 'lab1': password_file"),
                             (load_profile, profile, "profile.extends")):
        with pytest.raises(ConfigError) as info:
            load(path)
        text = str(info.value)
        assert says in text and "cannot expand '~'" in text and "\n" not in text, text


@pytest.mark.bad_input
def test_a_member_of_a_file_that_is_no_archive_is_one_line(tmp_path):
    """tarfile lists every method it tried on a line of its own (found by the fuzz)."""
    from harness.errors import ConfigError
    from harness.runtime.bundle import load_bundle

    bundle = write_sim_bundle(tmp_path / "bundle")
    bundle.write_text(bundle.read_text(encoding="utf-8").replace(
        "source = { file = 'bin/crictl.exe' }",
        "source = { file = 'bin/crictl.exe', member = 'crictl.exe' }"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_bundle(bundle)
    text = str(info.value)
    assert "cannot read archive" in text and "\n" not in text, text
