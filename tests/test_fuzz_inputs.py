"""The bad-input catalogue grows by kind, not by case (issue 17, item 6): a property-based fuzz.

hypothesis generates inventories, bundle manifests and profiles (each near the real schema:
known keys with values of every TOML type, odd strings with invisible and control
characters, huge and non-finite numbers, unknown keys, deep nesting, random bytes and byte
order marks) and ``hpc-e2e run`` / ``clean`` command lines with odd option values.  The
properties, for every input:

* the loaders either accept it or raise :class:`~harness.errors.ConfigError` whose text is
  one line naming the file; never another exception (an "internal error");
* the CLI answers with exit 0, argparse's 2, or the harness's 64/73, with one clear line on
  stderr and no traceback, and starts no pytest for a refused input;
* ``clean --dry-run`` against a served simulated host changes nothing on it.

Each example runs under a pytest-timeout, so a hang fails the test.  Examples are bounded
(:data:`EXAMPLES`, ``HPC_E2E_FUZZ_EXAMPLES`` to raise it) and the database is off, so a
run takes seconds and does the same amount of work each time; the totals are printed at
the end (``-s``): inputs generated, internal errors, tracebacks (always 0 when it passes).
"""

from __future__ import annotations

import codecs
import ipaddress
import json
import math
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from checks.bad_input import clear_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.commands import run as run_mod
from harness.config.inventory import load_inventory
from harness.errors import EXIT_CONFIG, EXIT_OUTPUT, EXIT_USAGE, ConfigError
from harness.plugin.profiles import load_profile
from harness.runtime.bundle import load_bundle
from harness.sim.bundle import write_sim_bundle

EXAMPLES = int(os.environ.get("HPC_E2E_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(HealthCheck), print_blob=True)
TOTALS: Counter = Counter()


# --- TOML text for any value (the project's own writer knows only what it writes) ------------
def _string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\' or code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_dumps(doc: dict, path: tuple[str, ...] = ()) -> str:
    scalars = [(k, v) for k, v in doc.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in doc.items() if isinstance(v, dict)]
    lines = []
    if path:
        lines.append("[" + ".".join(_string(p) for p in path) + "]")
    lines += [f"{_string(k)} = {_value(v)}" for k, v in scalars]
    text = "\n".join(lines) + "\n"
    for key, value in tables:
        text += toml_dumps(value, (*path, key))
    return text


# --- strategies ------------------------------------------------------------------------------
ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "lab1", "lab1.example.test", "[::1]", "::1", "127.0.0.1:5986",
                     "lab1\u200b", "\u202elab1", "a" * 64, "a" * 300, "1e300", "true", "..",
                     "C:\\x", "/dev/zero", "https://u:p@h/x", "%00", "\x00", "\ufeff"]))
NUMBERS = st.one_of(st.integers(), st.integers(min_value=-2, max_value=70000),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 65535, 65536, 2**63, 1e11, 1e300]))
SCALARS = st.one_of(ODD_TEXT, NUMBERS, st.booleans())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(ODD_TEXT, inner, max_size=4)), max_leaves=12)


def near(keys: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """A table with some of ``keys`` (their plausible values or anything) and maybe an
    unknown key."""
    return st.fixed_dictionaries({}, optional={
        **{k: st.one_of(v, VALUES) for k, v in keys.items()},
        "unknown_key": VALUES})


HOST = near({
    "address": ODD_TEXT, "port": NUMBERS, "transport": st.sampled_from(["winrm", "ssh", "local",
                                                                         "telnet"]),
    "user": ODD_TEXT, "password_env": st.sampled_from(["HPC_E2E_FUZZ_PW", "", "UNSET_X"]),
    "password_file": st.sampled_from(["pw.txt", "pw16.txt", "missing.txt", "/dev/null", ".",
                                      "fifo"]),
    "winrm": near({"scheme": st.sampled_from(["https", "http", "ftp"]),
                   "auth": st.sampled_from(["ntlm", "basic", "kerberos", "certificate", "x"]),
                   "max_envelope_size": NUMBERS, "operation_timeout": NUMBERS,
                   "codepage": NUMBERS, "insecure": st.booleans(), "path": ODD_TEXT,
                   "ca_bundle": ODD_TEXT}),
    "ssh": near({"auth": st.sampled_from(["key", "agent", "password"]),
                 "connect_timeout": NUMBERS, "key_file": ODD_TEXT}),
    "labels": near({"os_build": NUMBERS, "max_leases": NUMBERS,
                    "capabilities": st.lists(ODD_TEXT, max_size=3)}),
    "retry": near({"attempts": NUMBERS, "base_delay": NUMBERS, "max_delay": NUMBERS}),
})
INVENTORY = st.fixed_dictionaries(
    {"hosts": st.dictionaries(st.one_of(st.sampled_from(["lab1", "lab-2"]), ODD_TEXT), HOST,
                              max_size=3)},
    optional={"defaults": HOST, "extra": VALUES})
DEEP = st.integers(min_value=20, max_value=3000).map(
    lambda n: f"[hosts.lab1]\naddress = {'[' * n}{']' * n}\n".encode())
RAW = st.one_of(st.binary(max_size=200), DEEP,
                st.builds(lambda bom, text: bom + text.encode("utf-8", "surrogatepass"),
                          st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b""]),
                          st.text(max_size=80)))


def write_input(folder: Path, name: str, doc_or_raw) -> Path:
    path = folder / name
    if isinstance(doc_or_raw, bytes):
        path.write_bytes(doc_or_raw)
    else:
        path.write_text(toml_dumps(doc_or_raw), encoding="utf-8")
    return path


def one_line_config_error(fn, path: Path) -> None:
    """``fn()`` accepts, or raises a one-line ConfigError naming ``path``."""
    TOTALS["inputs"] += 1
    try:
        fn()
        TOTALS["accepted"] += 1
    except AssertionError:
        TOTALS["accepted but not well formed"] += 1
        raise
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text, text
        assert path.name in text or "--" in text, text
        TOTALS["refused"] += 1
    except Exception as exc:  # an internal error: what the property forbids
        TOTALS["internal errors"] += 1
        raise AssertionError(f"{type(exc).__name__}: {exc}") from exc


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "pw.txt").write_text("fuzz-password\n", encoding="utf-8")
    (folder / "pw16.txt").write_bytes("fuzz-password".encode("utf-16"))
    os.mkfifo(folder / "fifo")  # opened, it would block for ever
    os.environ["HPC_E2E_FUZZ_PW"] = "fuzz-password"
    return folder


# --- the schemas --------------------------------------------------------------------------
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def well_formed_address(address: str) -> bool:
    """An oracle written apart from harness/config/target.py: an IP address, or ASCII DNS
    labels of 1-63 characters, 253 in all."""
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        pass
    name = address[:-1] if address.endswith(".") else address
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(x) for x in name.split(".")) \
        and not re.fullmatch(r"[0-9.]+", name)


def check_accepted(targets) -> None:
    """What an accepted inventory promises: typed numbers, usable addresses, sizes the
    host takes, the password as written."""
    for t in targets:
        assert t.address is None or well_formed_address(t.address), t.address
        for value in (t.port, t.labels.max_leases, t.labels.os_build,
                      t.winrm.max_envelope_size, t.winrm.operation_timeout):
            assert value is None or (type(value) is int), repr(value)
        assert 8192 <= t.winrm.max_envelope_size <= 500 * 1024
        assert math.isfinite(t.retry.base_delay) and math.isfinite(t.retry.max_delay)
        if t.password is not None:
            assert t.password.reveal() == "fuzz-password"


@pytest.mark.timeout(300)
def test_fuzz_inventories(fuzz_dir):
    @FUZZ
    @given(st.one_of(INVENTORY, INVENTORY, RAW))
    def check(doc):
        path = write_input(fuzz_dir, "inv.toml", doc)
        one_line_config_error(lambda: check_accepted(load_inventory(path)), path)

    check()


BUNDLE_FIELDS = {"version": ODD_TEXT, "sha256": ODD_TEXT, "program": ODD_TEXT,
                 "source": st.one_of(
                     st.fixed_dictionaries({"file": ODD_TEXT}),
                     st.fixed_dictionaries({"url": ODD_TEXT}),
                     st.fixed_dictionaries({"installed": ODD_TEXT}),
                     st.fixed_dictionaries({"file": st.just("bin/crictl.exe")},
                                           optional={"member": ODD_TEXT,
                                                     "archive_sha256": ODD_TEXT}),
                     VALUES)}


@pytest.mark.timeout(300)
def test_fuzz_bundles(fuzz_dir):
    import tomllib

    base = tomllib.loads(write_sim_bundle(fuzz_dir / "sim").read_text(encoding="utf-8"))

    @FUZZ
    @given(st.sampled_from(["containerd", "containerd-shim-runhcs-v1", "crictl", "extra"]),
           near(BUNDLE_FIELDS), near({"name": ODD_TEXT, "config_version": NUMBERS,
                                      "install_dir": ODD_TEXT}), st.booleans(), RAW)
    def check(artifact, fields, head, raw_instead, raw):
        doc = json.loads(json.dumps(base))
        doc["artifacts"].setdefault(artifact, {}).update(fields)
        doc["bundle"].update(head)
        path = write_input(fuzz_dir / "sim", "fuzz.toml", raw if raw_instead else doc)
        one_line_config_error(lambda: load_bundle(path), path)

    check()


@pytest.mark.timeout(300)
def test_fuzz_profiles(fuzz_dir):
    @FUZZ
    @given(near({"name": ODD_TEXT, "description": ODD_TEXT,
                 "extends": st.one_of(st.sampled_from(["current", "fuzz.toml", "missing",
                                                       "../x.toml"]), ODD_TEXT)}),
           st.dictionaries(ODD_TEXT, VALUES, max_size=4),
           st.dictionaries(ODD_TEXT, VALUES, max_size=3), st.booleans(), RAW)
    def check(meta, expect, unverified, raw_instead, raw):
        doc = {"profile": meta, "expect": expect, "unverified": unverified}
        path = write_input(fuzz_dir, "fuzz.toml", raw if raw_instead else doc)
        one_line_config_error(lambda: load_profile(path), path)

    check()


# --- the command line ---------------------------------------------------------------------
RUN_OPTIONS = {"--sim-hosts": NUMBERS, "--sim-build": NUMBERS, "--sim-flavor": ODD_TEXT,
               "--sim-faults": st.one_of(ODD_TEXT, st.sampled_from(
                   ["rate=0.1", "rate=2", "rate=nan", "rate=0.1,kinds=hang+x", "seed=1"])),
               "--sim-latency": st.one_of(ODD_TEXT, st.sampled_from(
                   ["realistic", "request=1e300", "scale=inf", "restart=-1", "none,x=1"])),
               "--lease-timeout": NUMBERS, "--provision-timeout": NUMBERS, "-n": ODD_TEXT,
               "-k": ODD_TEXT, "-m": ODD_TEXT, "--run-id": ODD_TEXT,
               "--profile": st.one_of(ODD_TEXT, st.sampled_from(["current", "pre-fix"])),
               "--alluredir": st.sampled_from(["ar", "A_FILE", "/proc/x", "A_FILE/x", "full"]),
               "--junitxml": st.sampled_from(["j.xml", "/dev/null", "/proc/j", "ar"]),
               "--summary-json": st.sampled_from(["s.json", "/proc/s", "ar", "A_FILE/s"])}
CLEAN_OPTIONS = {"--older-than": st.one_of(ODD_TEXT, st.sampled_from(
                     ["99999999999d", "1h", "0s", "1e3d", "5"])),
                 "--run-id": ODD_TEXT}


def argv_for(options: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    return st.lists(st.sampled_from(sorted(options)), max_size=4, unique=True).flatmap(
        lambda flags: st.tuples(*[options[f] for f in flags]).map(
            lambda values: [x for f, v in zip(flags, values, strict=True)
                            for x in (f, str(v))]))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from harness.sim.host import SimHost
    from harness.sim.hostmodel import HostProfile

    profile = HostProfile(features={"Containers": "Installed", "Hyper-V": "Installed"},
                          hypervisor_present=True)
    with SimHost(tmp_path_factory.mktemp("sim"), ssh_port=None, profile=profile) as sim:
        assert main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)]) == 0
        yield sim


def host_state(sim) -> tuple:
    m = sim.machine
    with m.fs.lock:
        files = sorted((top, tuple(sorted(names))) for drive in m.fs.drives
                       for top, _dirs, names in m.fs.walk(f"{drive}:\\"))
    return (files, sorted((s.name, s.state) for s in m.services.list()),
            dict(m.facts.features()), m.facts.boot_count, repr(m.cri_state))


def answer(argv: list[str], capsys) -> tuple[int, str, str]:
    TOTALS["inputs"] += 1
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    if "Traceback" in captured.err + captured.out:
        TOTALS["tracebacks"] += 1
    if "internal error" in captured.err:
        TOTALS["internal errors"] += 1
    return code, captured.out, captured.err


@pytest.mark.timeout(300)
def test_fuzz_command_lines(tmp_path, monkeypatch, capsys, served):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "A_FILE").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    started: list = []
    monkeypatch.setattr(run_mod, "pytest_main", lambda argv, plugins: started.append(1) or 5)
    before = host_state(served)

    @FUZZ
    @given(st.one_of(argv_for(RUN_OPTIONS).map(lambda a: ["run", *a]),
                     argv_for(CLEAN_OPTIONS).map(
                         lambda a: ["clean", "--dry-run", "--sim-state-dir",
                                    str(served.state_dir), *a])))
    def check(argv):
        started.clear()
        code, out, err = answer(argv, capsys)
        assert code in (0, EXIT_USAGE, 5, EXIT_CONFIG, EXIT_OUTPUT), (argv, code, err)
        if code in (2, EXIT_CONFIG, EXIT_OUTPUT):
            clear_error(err, out=out if code == EXIT_USAGE else "")
            assert not started, f"pytest started for a refused command line: {argv}"
            TOTALS["refused"] += 1
        else:
            assert "Traceback" not in err + out and "internal error" not in err, err
            TOTALS["accepted"] += 1
        assert (tmp_path / "full" / "notes.txt").read_text() == "mine"

    check()
    assert host_state(served) == before, "a command line changed the served host"


def test_fuzz_totals():
    """The figure for the closing note (after the fuzz tests in this module)."""
    print(f"\nfuzz: {TOTALS['inputs']} inputs generated ({TOTALS['accepted']} accepted, "
          f"{TOTALS['refused']} refused in one line), {TOTALS['internal errors']} internal "
          f"errors, {TOTALS['tracebacks']} tracebacks, 0 hangs (each test under "
          "pytest-timeout)")
    assert TOTALS["internal errors"] == 0 and TOTALS["tracebacks"] == 0

