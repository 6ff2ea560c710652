"""A whole run with canary secrets writes neither canary anywhere (issue 6, "Reliability and security").

A random password and a random SSH key passphrase live only in environment variables.  The
CLI is run as a user would run it — doctor, provision, the suite with Allure, JUnit and
summary output and DEBUG live logging, a ``--collect-only``, and a doctor whose logins fail —
with ``HOME`` and ``TMPDIR`` inside one scanned folder, so every byte the run writes lands
where it is read back.  Each canary is looked for as it is, as UTF-16LE (what PowerShell's
``-EncodedCommand`` carries), URL-encoded, and inside every base64-looking token (decoded
at each alignment), because redaction that only looks at plain text misses the encodings.

The sim's own state folder (which holds its password file, as ``endpoint.json`` documents)
and the key folder are outside the scanned folder: they are inputs, not what the run wrote.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from harness.sim.bundle import write_sim_bundle
from harness.sim.host import SimHost
from harness.sim.hostmodel import HostProfile

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "HPC_E2E_CANARY_PASSWORD"
PASSPHRASE_ENV = "HPC_E2E_CANARY_PASSPHRASE"
TIMEOUT = 600

# base64 (standard or URL-safe alphabet) runs long enough to hide a 31-character canary
# fragment; padding optional.  16 characters decode to 12 bytes.
_B64_TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")


# --- the secrets and where they may hide ------------------------------------------------------
def _canary() -> str:
    return "canary-" + secrets.token_urlsafe(18)  # 24 URL-safe characters after the prefix


def _base64_fragments(secret: bytes) -> set[bytes]:
    """The part of base64(secret) that is the same whatever precedes it, at each alignment."""
    out = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret)
        # the first 4 chars cover the shifted-in bytes, the last 4 may hold padding/next byte
        core = encoded[4:-4] if shift else encoded[:-4]
        out.add(core)
        out.add(core.replace(b"+", b"-").replace(b"/", b"_"))
    return out


def _needles(secret: str) -> dict[str, set[bytes]]:
    raw = secret.encode()
    return {
        "utf-8": {raw},
        "utf-16le": {secret.encode("utf-16le")},
        "url-encoded": {quote(secret, safe="").encode(), quote_plus(secret).encode()},
        "base64": _base64_fragments(raw) | _base64_fragments(secret.encode("utf-16le")),
    }


def _decoded_tokens(data: bytes):
    """Every base64-looking token, decoded at each of its four alignments."""
    for m in _B64_TOKEN.finditer(data):
        token = m.group().rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
        for start in range(4):
            part = token[start:]
            rest = len(part) % 4
            # a lone trailing character is no byte; two or three are, once padded
            part = part[:-1] if rest == 1 else part + b"=" * ((4 - rest) % 4)
            if len(part) < 16:
                continue
            try:
                yield base64.b64decode(part, validate=True)
            except (binascii.Error, ValueError):
                continue


def count_hits(data: bytes, secret: str) -> dict[str, int]:
    counts = {kind: sum(data.count(n) for n in needles)
              for kind, needles in _needles(secret).items()}
    raw, wide = secret.encode(), secret.encode("utf-16le")
    counts["inside decoded base64"] = sum(chunk.count(raw) + chunk.count(wide)
                                          for chunk in _decoded_tokens(data))
    return counts


# --- the lab: one sim, reached over WinRM and over SSH -----------------------------------------
def _write_key(path: Path, passphrase: str) -> str:
    """An Ed25519 key in OpenSSH format, encrypted; its public line."""
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(passphrase.encode())))
    path.chmod(0o600)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def _inventory(path: Path, ep: dict, key_file: Path) -> Path:
    port = int(ep["winrm_url"].rsplit(":", 1)[1].split("/")[0])
    path.write_text(
        "[hosts.win]\n"
        'address = "127.0.0.1"\n'
        f"port = {port}\n"
        f'user = "{ep["user"]}"\n'
        f'password_env = "{PASSWORD_ENV}"\n'
        "[hosts.win.winrm]\n"
        'scheme = "https"\n'
        'auth = "ntlm"\n'
        f"ca_bundle = '{ep['ca_bundle']}'\n"
        "[hosts.ssh]\n"
        'transport = "ssh"\n'
        f'address = "{ep["ssh_host"]}"\n'
        f"port = {ep['ssh_port']}\n"
        f'user = "{ep["user"]}"\n'
        "[hosts.ssh.ssh]\n"
        'auth = "key"\n'
        f"key_file = '{key_file}'\n"
        f'key_passphrase_env = "{PASSPHRASE_ENV}"\n'
        f"known_hosts = '{ep['ssh_known_hosts']}'\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    password, passphrase = _canary(), _canary()
    keys = tmp_path_factory.mktemp("canary-keys")
    public = _write_key(keys / "id_canary", passphrase)
    # a key the sim accepts but whose passphrase is not the canary: for the failing doctor
    stranger_public = _write_key(keys / "id_other", "other-" + secrets.token_urlsafe(18))
    sim = SimHost(tmp_path_factory.mktemp("canary-sim"), password=password,
                  authorized_keys=[public, stranger_public],
                  profile=HostProfile(restart_seconds=0.3)).start()
    # a second host that expects another password: the canary is offered and refused
    other = SimHost(tmp_path_factory.mktemp("canary-other"), ssh_port=None,
                    password="Other-" + secrets.token_urlsafe(18),
                    profile=HostProfile(restart_seconds=0.3)).start()
    try:
        yield {"sim": sim, "other": other, "password": password, "passphrase": passphrase,
               "keys": keys}
    finally:
        sim.stop()
        other.stop()


class Run:
    """Commands run like a user's, everything they write under one folder."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.env = env
        self.transcripts: list[tuple[str, subprocess.CompletedProcess]] = []

    def __call__(self, name: str, *argv: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, *argv], cwd=self.root, env=self.env,
                              capture_output=True, timeout=TIMEOUT, check=False)
        self.transcripts.append((name, done))
        return done


def test_no_canary_secret_reaches_anything_the_run_wrote(lab, tmp_path):
    sim, password, passphrase = lab["sim"], lab["password"], lab["passphrase"]
    root = tmp_path / "run"
    (root / "home").mkdir(parents=True)
    (root / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HPC_E2E_"))}
    env.update({PASSWORD_ENV: password, PASSPHRASE_ENV: passphrase, "HOME": str(root / "home"),
                "TMPDIR": str(root / "tmp"), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    run = Run(root, env)

    ep = json.loads(sim.endpoint_file.read_text(encoding="utf-8"))
    inv = str(_inventory(root / "inv.toml", ep, lab["keys"] / "id_canary"))
    bundle = str(write_sim_bundle(root / "bundle"))

    # 1-2: provision over each transport in turn (the two hosts are one machine), then doctor
    for host in ("win", "ssh"):
        done = run(f"provision {host}", "-m", "harness", "-vv", "provision", "--inventory", inv,
                   "--host", host, "--bundle", bundle)
        assert done.returncode == 0, _show(done)
    done = run("doctor --json", "-m", "harness", "-vv", "doctor", "--inventory", inv,
               "--bundle", bundle, "--json")
    assert done.returncode == 0, _show(done)
    report = json.loads(done.stdout)
    assert [h["ready"] for h in report["hosts"]] == [True, True], report
    done = run("doctor", "-m", "harness", "-vv", "doctor", "--inventory", inv, "--bundle", bundle)
    assert done.returncode == 0, _show(done)

    # 3: the suite, on both hosts, with every report and DEBUG live logs
    done = run("run", "-m", "harness", "-vv", "run", "--inventory", inv, "--bundle", bundle,
               "-k", "identity or lifecycle", "--alluredir", "allure-results",
               "--junitxml", "junit.xml", "--summary-json", "summary.json", "--lease-dir", "leases",
               "--", "-p", "no:cacheprovider", "--basetemp", str(root / "basetemp"),
               "-o", "log_cli=true", "--log-cli-level=DEBUG", "-rA")
    assert done.returncode == 0, _show(done)

    # 4: collection only
    done = run("collect-only", "-m", "pytest", str(REPO / "scenarios"), "--collect-only", "-q",
               "-p", "no:cacheprovider", "--hpc-inventory", inv, "--hpc-bundle", bundle)
    assert done.returncode == 0, _show(done)
    assert b"test_identity.py::" in done.stdout, _show(done)

    # 5: logins that fail while the canaries are offered: a host expecting another password,
    # and a key that the canary passphrase does not open
    other_ep = json.loads(lab["other"].endpoint_file.read_text(encoding="utf-8"))
    ssh_side = {k: ep[k] for k in ("ssh_host", "ssh_port", "ssh_known_hosts")}
    wrong = _inventory(root / "wrong.toml", other_ep | ssh_side, lab["keys"] / "id_other")
    for json_flag in (["--json"], []):
        done = run("doctor wrong " + " ".join(json_flag), "-m", "harness", "-vv", "doctor",
                   "--inventory", str(wrong), *json_flag)
        assert done.returncode != 0, _show(done)
        if json_flag:
            hosts = json.loads(done.stdout)["hosts"]
            assert [h["ready"] for h in hosts] == [False, False], hosts
            failed = {h["host"]: [c for c in h["checks"] if c["status"] == "fail"]
                      for h in hosts}
            # the canaries were offered and refused, not lost on the way
            assert [c["check"] for c in failed["win"]] == ["authenticated"], failed
            assert "key" in failed["ssh"][0]["detail"].lower(), failed

    # the run did the work it claims, so the scan below is not of an empty folder
    cases = ET.parse(root / "junit.xml").getroot().iter("testcase")
    passed = [c for c in cases if not any(ch.tag in ("failure", "error", "skipped") for ch in c)]
    assert len(passed) >= 5, f"only {len(passed)} test cases passed"
    results = list((root / "allure-results").glob("*-result.json"))
    assert len(results) >= 5
    assert list((root / "allure-results").glob("*-attachment*")), "no Allure attachments"
    summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
    outcomes = [r["outcome"] for r in summary["scenarios"]]
    assert outcomes.count("passed") >= 5 and set(outcomes) <= {"passed", "skipped"}, outcomes

    # every byte written: the processes' output, then every file under the run's folder
    blobs: list[tuple[str, bytes]] = []
    for name, done in run.transcripts:
        blobs += [(f"<{name} stdout>", done.stdout), (f"<{name} stderr>", done.stderr)]
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            blobs.append((str(path.relative_to(root)), path.read_bytes()))
    files = sum(1 for name, _ in blobs if not name.startswith("<"))
    total = sum(len(data) for _, data in blobs)
    print(f"scanned {files} files and {len(run.transcripts)} processes' output: {total} bytes")
    assert files >= 20 and total >= 100_000, (files, total)

    leaks = []
    for label, secret in (("password", password), ("key passphrase", passphrase)):
        for name, data in blobs:
            for kind, n in count_hits(data, secret).items():
                if n:
                    leaks.append(f"{label} {kind} x{n} in {name}")
    assert not leaks, "\n".join(leaks)


def _show(done: subprocess.CompletedProcess) -> str:
    # The output may hold a canary only if redaction failed; the canary is random per run.
    def tail(data: bytes) -> str:
        return data.decode("utf-8", "replace")[-6000:]

    return f"exit {done.returncode}\n--- stdout\n{tail(done.stdout)}\n--- stderr\n{tail(done.stderr)}"


def test_the_scanner_finds_every_encoding():
    """The scan itself can fail: each encoding of a secret is found."""
    secret = _canary()
    raw = secret.encode()
    samples = {
        "utf-8": b"x " + raw + b" y",
        "utf-16le": "pw=".encode("utf-16le") + secret.encode("utf-16le"),
        "url-encoded": b"a=" + quote(secret + " !", safe="").encode(),
    }
    for shift in range(3):
        samples[f"base64+{shift}"] = b"Basic " + base64.b64encode(b"u" * (shift + 5) + b":" + raw)
        samples[f"b64-utf16+{shift}"] = base64.b64encode(
            ("$p = '" + "z" * shift + secret + "'").encode("utf-16le"))
        samples[f"b64url+{shift}"] = base64.urlsafe_b64encode(b"?" * shift + raw + b"\xff\xfe")
    for name, data in samples.items():
        hits = count_hits(data, secret)
        assert sum(hits.values()) > 0, name
        if name.startswith("b64"):
            assert hits["inside decoded base64"] > 0, name
    assert sum(count_hits(b"nothing " * 100 + base64.b64encode(b"x" * 80), secret).values()) == 0
