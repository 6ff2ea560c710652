"""Secrets are masked wherever the harness renders text."""

from __future__ import annotations

import pytest

from harness.config.secrets import Secret
from harness.secrets import MASK, redact
from harness.errors import HarnessError
from harness.transport.base import CommandResult


def test_secret_from_env_masks_str_and_repr(monkeypatch):
    monkeypatch.setenv("HPC_E2E_CANARY", "canary-Pa55word!")
    secret = Secret.from_env("HPC_E2E_CANARY")
    assert secret.reveal() == "canary-Pa55word!"
    assert "canary" not in str(secret) + repr(secret) + f"{secret}"
    assert repr(secret) == "Secret(env:HPC_E2E_CANARY)"


def test_secret_from_file_strips_one_newline(tmp_path):
    path = tmp_path / "pw"
    path.write_text("file-canary-123\n")
    assert Secret.from_file(path).reveal() == "file-canary-123"


@pytest.mark.parametrize("setup,expected", [
    (lambda tmp, mp: Secret.from_env("HPC_E2E_NOT_SET_ANYWHERE"), "is not set"),
    (lambda tmp, mp: (mp.setenv("HPC_E2E_EMPTY", ""), Secret.from_env("HPC_E2E_EMPTY")), "is empty"),
    (lambda tmp, mp: Secret.from_file(tmp / "absent"), "does not exist"),
    (lambda tmp, mp: ((tmp / "e").write_text(""), Secret.from_file(tmp / "e")), "is empty"),
])
def test_secret_sources_fail_clearly(tmp_path, monkeypatch, setup, expected):
    with pytest.raises(LookupError, match=expected):
        setup(tmp_path, monkeypatch)


def test_registered_values_are_masked_in_errors_and_results():
    Secret("transcript-canary-42")
    err = HarnessError("login failed for transcript-canary-42", hint="password transcript-canary-42 wrong")
    assert "transcript-canary-42" not in str(err) and MASK in str(err)
    result = CommandResult(command="net user x transcript-canary-42", exit_code=1,
                           stdout_bytes=b"echo transcript-canary-42", stderr_bytes=b"transcript-canary-42")
    text = result.command + result.stdout + result.stderr + result.transcript()
    assert "transcript-canary-42" not in text


def test_longest_secret_masked_first():
    Secret("abcdef-long-secret")
    Secret("abcdef")
    assert redact("x abcdef-long-secret y abcdef") == f"x {MASK} y {MASK}"


def test_log_records_are_masked_by_the_filter(caplog):
    import logging

    from harness.secrets import install_log_redaction

    Secret("log-canary-77x")
    install_log_redaction(caplog.handler)
    log = logging.getLogger("harness.test")
    log.warning("connecting with %s", "log-canary-77x")
    try:
        raise RuntimeError("boom log-canary-77x")
    except RuntimeError:
        log.exception("failed")
    assert "log-canary-77x" not in caplog.text
    assert MASK in caplog.text


def test_pytest_log_handlers_mask_secrets(pytester):
    pytester.makepyfile("""
        import logging
        from harness.config.secrets import Secret

        def test_logs():
            Secret("pytest-log-canary-5q")
            logging.getLogger("x").warning("password pytest-log-canary-5q")
            assert False
    """)
    result = pytester.runpytest("-p", "harness.plugin.reporting", "-o", "log_cli=true",
                                "--log-cli-level=WARNING")
    assert "pytest-log-canary-5q" not in result.stdout.str()
    result.assert_outcomes(failed=1)
