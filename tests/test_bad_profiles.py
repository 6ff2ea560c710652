"""Malformed expectation profiles (harness/plugin/profiles.py): each is one line naming the
file and the key, from the loader, from ``hpc-e2e run --profile`` (exit 78, before pytest
starts) and from the pytest plugin's ``--hpc-profile`` (a usage error), never a traceback.

Part of the bad-input catalogue (tests/checks/bad_input.py counts it).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
from checks.bad_input import clear_error  # tests/ is on sys.path

from harness.cli import main
from harness.commands import run as run_mod
from harness.errors import EXIT_CONFIG
from harness.plugin.profiles import PROFILES_DIR, ProfileError, load_profile

pytest_plugins = ["checks.bad_input_count"]

GOOD_KEY = "process.stop.exit_code"  # a key of harness/plugin/builtin_profiles/current.toml

# id -> ({file name: content}, the --profile value, fragments the one line must hold).
# Content is text (written as UTF-8) or bytes (written as they are).
CASES: dict[str, tuple[dict[str, str | bytes], str, tuple[str, ...]]] = {
    "toml syntax": ({"p.toml": "[expect\n"}, "p.toml", ("p.toml", "TOML syntax error")),
    "duplicate key": ({"p.toml": f'[expect]\n"{GOOD_KEY}" = 1\n"{GOOD_KEY}" = 2\n'},
                      "p.toml", ("p.toml", "TOML syntax error")),
    "array of tables": ({"p.toml": f'[[expect]]\n"{GOOD_KEY}" = 1\n'}, "p.toml",
                        ("p.toml", "expect: must be a table")),
    "unknown table": ({"p.toml": f'[expects]\n"{GOOD_KEY}" = 1\n'}, "p.toml",
                      ("p.toml", "expects: unknown table")),
    "top-level key": ({"p.toml": f'name = "x"\n[expect]\n"{GOOD_KEY}" = 1\n'}, "p.toml",
                      ("name: unknown table or key",)),
    "profile not a table": ({"p.toml": 'profile = "x"\n'}, "p.toml",
                            ("profile: must be a table",)),
    "unknown profile key": ({"p.toml": f'[profile]\nnam = "x"\n[expect]\n"{GOOD_KEY}" = 1\n'},
                            "p.toml", ("profile.nam: unknown key",)),
    "name wrong type": ({"p.toml": f'[profile]\nname = 3\n[expect]\n"{GOOD_KEY}" = 1\n'},
                        "p.toml", ("profile.name: must be a string",)),
    "description wrong type": (
        {"p.toml": f'[profile]\ndescription = ["a"]\n[expect]\n"{GOOD_KEY}" = 1\n'},
        "p.toml", ("profile.description: must be a string",)),
    "name empty": ({"p.toml": f'[profile]\nname = " "\n[expect]\n"{GOOD_KEY}" = 1\n'},
                   "p.toml", ("profile.name: must not be empty",)),
    "expect not a table": ({"p.toml": "expect = 3\n"}, "p.toml", ("expect: must be a table",)),
    "unverified not a table": ({"p.toml": 'unverified = "x"\n'}, "p.toml",
                               ("unverified: must be a table",)),
    "key with a space": ({"p.toml": '[expect]\n"hyperv.who ami" = 1\n'}, "p.toml",
                         ("expect.'hyperv.who ami'", "dotted words")),
    "empty key part": ({"p.toml": '[expect]\n"hyperv..whoami" = 1\n'}, "p.toml",
                       ("expect.'hyperv..whoami'",)),
    "date value": ({"p.toml": f'[expect]\n"{GOOD_KEY}" = 1979-05-27\n'}, "p.toml",
                   (f"expect.{GOOD_KEY}: date values",)),
    "time in a list": ({"p.toml": f'[expect]\n"{GOOD_KEY}" = [1, 07:32:00]\n'}, "p.toml",
                       (f"expect.{GOOD_KEY}: list values",)),
    "empty table value": ({"p.toml": '[expect]\n"process.stop" = {}\n'}, "p.toml",
                          ("expect.process.stop: empty table",)),
    "unverified not a string": ({"p.toml": f'[unverified]\n"{GOOD_KEY}" = 3\n'}, "p.toml",
                                (f"unverified.{GOOD_KEY}: the value says why",)),
    "unverified empty reason": ({"p.toml": f'[unverified]\n"{GOOD_KEY}" = "  "\n'}, "p.toml",
                                (f"unverified.{GOOD_KEY}:",)),
    "in both tables": ({"p.toml": f'[expect]\n"{GOOD_KEY}" = 1\n[unverified]\n"{GOOD_KEY}" = '
                                  '"why"\n'}, "p.toml", (f"{GOOD_KEY}: in both",)),
    "extends wrong type": ({"p.toml": "[profile]\nextends = 1\n"}, "p.toml",
                           ("profile.extends: must be a profile name or path",)),
    "extends empty": ({"p.toml": '[profile]\nextends = ""\n'}, "p.toml",
                      ("profile.extends: must be",)),
    "extends missing file": ({"p.toml": '[profile]\nextends = "nowhere.toml"\n'}, "p.toml",
                             ("p.toml: profile.extends: 'nowhere.toml': no such profile",)),
    "extends unknown name": ({"p.toml": '[profile]\nextends = "nightly"\n'}, "p.toml",
                             ("profile.extends: 'nightly': no such profile",)),
    "extends itself": ({"p.toml": '[profile]\nextends = "p.toml"\n'}, "p.toml",
                       ("profile.extends: circular",)),
    "extends in a circle": ({"a.toml": '[profile]\nextends = "b.toml"\n',
                             "b.toml": '[profile]\nextends = "a.toml"\n'}, "a.toml",
                            ("profile.extends: circular",)),
    "extends a broken base": ({"p.toml": '[profile]\nextends = "base.toml"\n',
                               "base.toml": "[expect\n"}, "p.toml",
                              ("base.toml: TOML syntax error",)),
    "unknown scenario key": ({"p.toml": '[profile]\nextends = "current"\n[expect]\n'
                                        '"process.stop.exit_cod" = 1\n'}, "p.toml",
                             ("expect.process.stop.exit_cod: unknown behaviour key",
                              f"did you mean '{GOOD_KEY}'")),
    "unknown unverified key": ({"p.toml": '[profile]\nextends = "current"\n[unverified]\n'
                                          '"hyperv.rootfs.location" = "why"\n'}, "p.toml",
                               ("unverified.hyperv.rootfs.location: unknown behaviour key",)),
    "empty file": ({"p.toml": ""}, "p.toml", ("p.toml: no behaviour keys",)),
    "only a profile table": ({"p.toml": '[profile]\nname = "x"\n'}, "p.toml",
                             ("no behaviour keys",)),
    "utf-16": ({"p.toml": f'[expect]\n"{GOOD_KEY}" = 1\n'.encode("utf-16")}, "p.toml",
               ("p.toml: profile is not UTF-8 text",)),
    "latin-1": ({"p.toml": '[unverified]\n"a.b" = "caf\xe9"\n'.encode("latin-1")}, "p.toml",
                ("not UTF-8 text",)),
    "control character": ({"p.toml": f'[expect]\n"{GOOD_KEY}" = "a\x00b"\n'}, "p.toml",
                          ("TOML syntax error",)),
    "json": ({"p.toml": '{"expect": {"a.b": 1}}\n'}, "p.toml", ("TOML syntax error",)),
    "missing file": ({}, "missing.toml", ("missing.toml: profile file does not exist",)),
    "a folder": ({"folder.toml/x": ""}, "folder.toml",
                 ("folder.toml: profile is a folder, not a file",)),
    "not a name": ({}, "a b", ("'a b' is neither a profile name nor a .toml path",)),
    "unknown name": ({}, "nightly", ("nightly.toml: profile file does not exist",)),
}


def materialize(folder: Path, files: dict[str, str | bytes], value: str) -> str:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    # A bare name is looked up in harness/plugin/builtin_profiles; anything else is a path.
    return str(folder / value) if value.endswith(".toml") else value


@pytest.fixture
def no_pytest(monkeypatch):
    """``hpc-e2e run`` must refuse before pytest starts."""
    calls = []
    monkeypatch.setattr(run_mod, "pytest_main", lambda argv, plugins: calls.append(argv) or 0)
    return calls


@pytest.mark.bad_input
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_bad_profile_is_one_line_from_the_loader_and_from_run(case, tmp_path, monkeypatch,
                                                                  capsys, no_pytest):
    files, value, fragments = CASES[case]
    arg = materialize(tmp_path, files, value)
    with pytest.raises(ProfileError) as info:
        load_profile(arg)
    text = str(info.value)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, text

    monkeypatch.chdir(tmp_path)
    code = main(["run", "--profile", arg, "--alluredir", str(tmp_path / "ar")])
    captured = capsys.readouterr()
    assert code == EXIT_CONFIG, captured
    clear_error(captured.err, "--profile:", *fragments, out=captured.out)
    assert captured.out == ""
    assert no_pytest == [], "pytest started for a bad profile"
    assert not (tmp_path / "ar").exists(), "results folder touched"


PLUGIN = () if entry_points(group="pytest11", name="hpc_e2e") else ("-p", "harness.plugin")


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_plugin_refuses_the_same_profiles_as_usage_errors(case, pytester):
    files, value, fragments = CASES[case]
    arg = materialize(pytester.path, files, value)
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                                "--hpc-profile", arg)
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: --hpc-profile: "), err
    for fragment in fragments:
        assert fragment in lines[0], err
    assert "Traceback" not in err + result.stdout.str()


# --- what the checks must still accept ----------------------------------------------------
def test_the_shipped_profiles_load():
    for path in PROFILES_DIR.glob("*.toml"):
        profile = load_profile(path)
        assert profile.expect or profile.unverified, path


def test_a_profile_that_only_overrides_known_keys_loads(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('[profile]\nextends = "current"\n[expect]\n'
                    f'"{GOOD_KEY}" = [1, "x", true, 2.5]\n'
                    '[unverified]\n"process.rootfs.default_location" = "not on my build"\n',
                    encoding="utf-8")
    profile = load_profile(str(mine))
    assert profile.expect[GOOD_KEY] == [1, "x", True, 2.5]
    assert "process.rootfs.default_location" in profile.unverified
    assert "process.rootfs.default_location" not in profile.expect
