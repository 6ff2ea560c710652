"""Credentials inside URLs never leave the process (issue 17, item 4).

A bundle source ``url = 'https://user:pass@host/...'`` used to be printed verbatim on
stdout, in JUnit and in the Allure results.  The unit cases pin the masking rule; the run
drives the real CLI against the simulated host, which has no network and so fails the
download naming the URL (harness/sim/models/runtime.py): every byte the run wrote is then
searched for the password, as written and percent-decoded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

import harness
from harness.secrets import MASK, redact, redact_urls
from harness.sim.bundle import write_sim_bundle

REPO = Path(harness.__file__).resolve().parents[1]


@pytest.mark.parametrize("text, expected", [
    ("https://user:pass@host.test/x.exe", f"https://{MASK}@host.test/x.exe"),
    ("get HTTPS://u:p@h:8443/a?b=c now", f"get HTTPS://{MASK}@h:8443/a?b=c now"),
    ("https://token@github.com/o/r.git", f"https://{MASK}@github.com/o/r.git"),
    ("'https://u:p%40ss@h/x' and \"ftp://a:b@c\"", f"'https://{MASK}@h/x' and \"ftp://{MASK}@c\""),
    ("https://u:p@ss@h/x", f"https://{MASK}@h/x"),  # an unencoded @ in the password
    ("mail a@b.test, https://h/x?to=a@b.test", "mail a@b.test, https://h/x?to=a@b.test"),
    ("no url here", "no url here"),
])
def test_url_credentials_are_masked(text, expected):
    assert redact_urls(text) == expected
    assert redact(text) == expected


def test_a_bundle_url_registers_its_password_in_every_spelling(tmp_path):
    from harness.runtime.bundle import load_bundle

    secret = "Url-Pa55@word-" + os.urandom(4).hex()
    bundle = write_sim_bundle(tmp_path / "b")
    text = bundle.read_text(encoding="utf-8").replace(
        "source = { file = 'bin/crictl.exe' }",
        f"source = {{ url = 'https://ci:{quote(secret, safe='')}@dl.example.test/crictl.exe' }}")
    bundle.write_text(text, encoding="utf-8")
    loaded = load_bundle(bundle)
    crictl = loaded.artifacts["crictl"]
    assert crictl.describe_source() == f"url:https://{MASK}@dl.example.test/crictl.exe"
    assert secret not in redact(f"the password was {secret} ({quote(secret, safe='')})")


def test_a_run_with_a_credential_in_a_bundle_url_writes_it_nowhere(tmp_path):
    secret = "UrlCanary" + os.urandom(6).hex()
    bundle = write_sim_bundle(tmp_path / "bundle")
    text = bundle.read_text(encoding="utf-8")
    assert "source = { file = 'bin/crictl.exe' }" in text
    bundle.write_text(text.replace(
        "source = { file = 'bin/crictl.exe' }",
        f"source = {{ url = 'https://builder:{secret}@downloads.example.test/crictl.exe' }}"),
        encoding="utf-8")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "-vv", "run", "-k", "test_hpc_starts_in_an_hpc_pod",
         "--bundle", str(bundle), "--alluredir", str(out_dir / "allure-results"),
         "--junitxml", str(out_dir / "junit.xml"), "--summary-json", str(out_dir / "s.json"),
         "--", "-p", "no:cacheprovider", "--basetemp", str(out_dir / "tmp")],
        cwd=out_dir, capture_output=True, timeout=300, check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="200"))
    output = done.stdout + done.stderr
    assert b"downloads.example.test" in output, output[-3000:]  # the URL was reported...
    assert b"https://********@downloads.example.test" in output
    hits = [str(p) for p in out_dir.rglob("*") if p.is_file()
            and secret.encode() in p.read_bytes() and "/sim/" not in str(p)]
    assert secret.encode() not in output
    assert not hits, hits  # ...and its password is nowhere the run wrote
    assert (out_dir / "junit.xml").is_file() and list((out_dir / "allure-results").iterdir())
