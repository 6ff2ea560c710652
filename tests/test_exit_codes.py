"""The exit-code contract of README.md ("Exit codes") against harness/errors.py and the CLI.

Codes seen elsewhere, each in a test of its own: 1, 2 and 5 in tests/test_cli_run.py (the
synthetic suite), 4 and 73 in tests/test_outputs.py, 69 in tests/test_cli_doctor.py (a host
not ready) and tests/test_bad_cli.py (`report` without Allure), 130 in
tests/test_cli_run.py (a test cut short), 141 in tests/test_cli_doctor.py (a closed pipe).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import harness.errors as errors
from harness.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_codes() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Exit codes"):]
    table = table[:table.index("\n## ", 5)]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| ([^|]+) \|", table,
                                                              re.MULTILINE)}


def test_every_code_of_the_harness_is_in_the_readme_table_once():
    codes = readme_codes()
    ours = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    assert ours <= set(codes), sorted(ours - set(codes))
    assert {0, 1, 2, 3, 4, 5} <= set(codes)  # pytest's, passed through by `run`
    distinct = {errors.EXIT_USAGE, errors.EXIT_CONFIG, errors.EXIT_NOT_READY, 1,
                errors.EXIT_INTERRUPTED}
    assert len(distinct) == 5  # usage, config, host not ready, failures, interrupts


def test_success_is_zero(tmp_path, capsys):
    assert main(["sim", "bundle", str(tmp_path / "b")]) == 0


@pytest.mark.parametrize("argv", [["deploy"], ["run", "--no-such-flag"], ["doctor", "--host"],
                                  ["clean", "--", "x"]])
def test_a_command_line_that_does_not_parse_is_64_not_pytests_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == errors.EXIT_USAGE == 64
    assert "error:" in capsys.readouterr().err


def test_a_bad_value_is_a_configuration_error_78(capsys):
    assert main(["run", "--sim-hosts", "0"]) == errors.EXIT_CONFIG == 78
    assert "--sim-hosts" in capsys.readouterr().err


def test_an_internal_error_is_70_with_one_line(monkeypatch, capsys):
    import harness.commands.clean as clean

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(clean, "command", broken)
    assert main(["clean", "--dry-run"]) == 70
    err = capsys.readouterr().err
    assert err.startswith("internal error (please report): RuntimeError: boom"), err


def test_a_deadline_is_75(monkeypatch, capsys):
    import harness.commands.clean as clean

    def slow(args):
        raise errors.CommandTimeout("crictl pods", 60)

    monkeypatch.setattr(clean, "command", slow)
    assert main(["clean", "--dry-run"]) == errors.EXIT_TIMEOUT == 75
