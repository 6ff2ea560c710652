"""The simulated host's own password type (harness/sim/password.py): it never prints, reads
back the one-line file a previous run wrote, and takes a caller's secret by ``reveal()``."""

from __future__ import annotations

import pytest

from harness.config.secrets import Secret
from harness.sim.host import PASSWORD_FILE, SimHost
from harness.sim.password import MASK, Password, reveal


def test_a_password_never_prints():
    pw = Password("Sim-Secret-Value-9a", source="test")
    assert str(pw) == MASK
    assert "Sim-Secret-Value-9a" not in repr(pw) and "test" in repr(pw)
    assert f"{pw}" == MASK
    assert pw.reveal() == "Sim-Secret-Value-9a"
    assert pw == Password("Sim-Secret-Value-9a") and pw != Password("other")


def test_reveal_takes_a_string_or_anything_with_reveal():
    assert reveal("plain") == "plain"
    assert reveal(Password("mine")) == "mine"
    assert reveal(Secret("harness-side-secret", source="test")) == "harness-side-secret"


@pytest.mark.parametrize("content", [None, b"", b"\r\n", b"two\nlines\n", b"bell\x07\n",
                                     b"\xff\xfe not utf-8"])
def test_no_usable_password_file_gives_none(tmp_path, content):
    path = tmp_path / "password"
    if content is not None:
        path.write_bytes(content)
    assert Password.read_file(path) is None


def test_a_password_file_reads_back(tmp_path):
    path = tmp_path / "password"
    path.write_bytes(b"\xef\xbb\xbfKept-Pa55word\r\n")  # a BOM and CRLF, as Windows tools write
    pw = Password.read_file(path)
    assert pw is not None and pw.reveal() == "Kept-Pa55word"


def test_a_sim_host_keeps_its_password_across_starts_and_takes_a_callers_secret(tmp_path):
    state = tmp_path / "sim"
    with SimHost(state, ssh_port=None) as first:
        made = first.password
        assert isinstance(made, Password)
        assert (state / PASSWORD_FILE).read_text().strip() == made.reveal()
    with SimHost(state, ssh_port=None) as again:
        assert again.password == made
    with SimHost(state, ssh_port=None,
                 password=Secret("Given-Pa55word", source="test")) as given:
        assert given.password.reveal() == "Given-Pa55word"
        assert (state / PASSWORD_FILE).read_text().strip() == "Given-Pa55word"
