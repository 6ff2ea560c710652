"""The inventory loader: good inventories load, and every bad one is one clear line."""

from __future__ import annotations

import textwrap

import pytest

from harness.config.inventory import load_inventory
from harness.secrets import MASK, redact
from harness.errors import ConfigError

GOOD = """
[defaults]
transport = "winrm"
user = "Administrator"
password_env = "HPC_E2E_TEST_PW"
[defaults.winrm]
auth = "ntlm"
ca_bundle = "lab-ca.pem"

[hosts.lab2]
address = "10.1.2.3"
[hosts.lab2.labels]
os_build = 26100
capabilities = ["hyperv", "hpc-in-uvm"]
max_leases = 2

[hosts.lab1]
address = "lab1.example.test"
port = 5985
[hosts.lab1.winrm]
scheme = "http"

[hosts.lab3]
transport = "ssh"
address = "lab3.example.test"
[hosts.lab3.ssh]
auth = "key"
key_file = "id_lab"
key_passphrase_file = "passphrase.txt"
"""


@pytest.fixture
def write(tmp_path, monkeypatch):
    monkeypatch.setenv("HPC_E2E_TEST_PW", "correct-horse-battery")
    (tmp_path / "passphrase.txt").write_text("open-sesame-123\n")

    def _write(text: str, name: str = "inv.toml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return _write


def test_good_inventory_loads_sorted_with_defaults_merged(write, tmp_path):
    targets = load_inventory(write(GOOD))
    assert [t.name for t in targets] == ["lab1", "lab2", "lab3"]
    lab1, lab2, lab3 = targets
    assert lab1.winrm_url == "http://lab1.example.test:5985/wsman"
    assert lab1.winrm.auth == "ntlm"  # table merged with defaults, not replaced
    assert lab2.winrm_url == "https://10.1.2.3:5986/wsman"
    assert lab2.winrm.ca_bundle == (tmp_path / "lab-ca.pem").resolve()
    assert lab2.labels.capabilities == ("hyperv", "hpc-in-uvm") and lab2.labels.max_leases == 2
    assert lab2.password.reveal() == "correct-horse-battery"
    assert lab3.effective_port == 22 and lab3.ssh.key_passphrase.reveal() == "open-sesame-123"


def test_secrets_never_show_in_repr_or_text(write):
    targets = load_inventory(write(GOOD))
    text = repr(targets) + str(targets)
    assert "correct-horse-battery" not in text and "open-sesame-123" not in text
    assert redact("login with correct-horse-battery") == f"login with {MASK}"


BAD = [
    # (inventory body, expected fragment of the one-line error)
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword = 'hunter22'\n", "host 'a': password: secrets are never written inline"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_UNSET_VAR'\n", "host 'a': password_env: environment variable HPC_E2E_UNSET_VAR is not set"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_file = 'missing.txt'\n", "host 'a': password_file: secret file"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\npassword_file = 'p'\n", "host 'a': password_env and password_file are both set"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\ntransport = 'telnet'\n", "host 'a': transport: must be one of"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\nport = 70000\n", "host 'a': port: Input should be less than or equal to 65535 (got 70000)"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\nport = 'five'\n", "host 'a': port:"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n[hosts.a.winrm]\nauth = 'digest'\n", "host 'a': winrm.auth: must be one of"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n[hosts.a.winrm]\nscheme = 'http'\nauth = 'basic'\n", "host 'a': winrm: auth = 'basic' over scheme = 'http'"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n[hosts.a.winrm]\ninsecure = true\nca_bundle = 'ca.pem'\n", "host 'a': winrm: give either ca_bundle or insecure = true"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n[hosts.a.winrm]\nauth = 'certificate'\n", "host 'a': winrm: auth = 'certificate' needs cert_pem and cert_key_pem"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n[hosts.a.winrm]\nverify = false\n", "host 'a': winrm.verify: unknown key"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n[hosts.a.winrm]\noperation_timeout = 0\n", "host 'a': winrm.operation_timeout:"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\ntransport = 'ssh'\n", "host 'a': ssh: auth = 'key' needs key_file"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\ntransport = 'ssh'\n[hosts.a.ssh]\nauth = 'password'\n", "host 'a': password_env: required for ssh auth = 'password'"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\ntransport = 'ssh'\n[hosts.a.ssh]\nauth = 'agent'\nkey_passphrase_env = 'HPC_E2E_TEST_PW'\n", "host 'a': ssh: key_passphrase only applies to auth = 'key'"),
    ("[hosts.a]\naddress = 'x'\npassword_env = 'HPC_E2E_TEST_PW'\n", "host 'a': user: required for winrm auth = 'ntlm'"),
    ("[hosts.a]\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n", "host 'a': address: required for transport = 'winrm'"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n[hosts.a.labels]\nmax_leases = 0\n", "host 'a': labels.max_leases:"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n[hosts.a.labels]\nos_build = 'ltsc2022'\n", "host 'a': labels.os_build:"),
    ("[hosts.'bad name']\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n", "host 'bad name': name:"),
    ("[hosts.a]\naddress = 'x'\nname = 'b'\n", "host 'a': name: the host's name is its table name"),
    ("[hosts.a]\naddress = 'x'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\nwinrm = 'https'\n", "host 'a': winrm:"),
    ("hosts = 3\n", "no hosts"),
    ("[defaults]\nuser = 'u'\n", "no hosts: add at least one [hosts.NAME] table"),
    ("[host.a]\naddress = 'x'\n", "unknown top-level key 'host'"),
    ("[hosts.a\naddress = 'x'\n", "TOML syntax error"),
    ("[hosts.a]\naddress = 'has space'\nuser = 'u'\npassword_env = 'HPC_E2E_TEST_PW'\n", "host 'a': address:"),
]


@pytest.mark.parametrize("body,expected", BAD, ids=[f"bad{i:02d}" for i in range(len(BAD))])
def test_bad_inventory_is_one_line_naming_file_host_and_field(write, body, expected):
    path = write(body)
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    assert expected in message, message
    assert "hunter22" not in message


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_inventory(tmp_path / "nope.toml")
    assert "does not exist" in str(info.value) and "hint:" in str(info.value)
