"""The bad-input catalogue: what "answered with a clear error" means, and its figure.

Issue #6 asks for the number of bad inputs tried, all answered with a clear error.  The
catalogue is spread over several test files (inventories, bundle manifests, images.toml,
profiles, command lines); this module says what a clear answer is (:func:`clear_error`), and
tests/checks/bad_input_count.py, a plugin the catalogue's test modules load, prints::

    bad-input catalogue: 325 bad inputs tried, 325 answered with one clear line

A test counts when it passed: its assertions are what checks the answer.  The new catalogue
tests carry ``@pytest.mark.bad_input`` (one input per test item, or ``bad_input(n)``);
older tests that try bad inputs are listed in :data:`EXISTING` with how many inputs each
item tries, so their files need not change.  Run::

    python -m pytest tests/test_bad_profiles.py tests/test_bad_cli.py \\
        tests/test_bad_input_no_change.py tests/test_inventory.py \\
        tests/test_runtime_bundle.py tests/test_images.py tests/test_bad_input_edges.py -q

Beyond the catalogue, tests/test_fuzz_inputs.py generates inputs by kind (hypothesis).
"""

from __future__ import annotations

MARK = "bad_input"

# "file::test function" -> bad inputs each of its items tries (every parametrized case).
EXISTING: dict[str, int] = {
    "test_inventory.py::test_bad_inventory_is_one_line_naming_file_host_and_field": 1,
    "test_inventory.py::test_missing_file_says_what_to_do": 1,
    "test_runtime_bundle.py::test_config_version_3_is_refused_for_containerd_1": 1,
    "test_runtime_bundle.py::test_the_example_refuses_its_placeholder_hashes": 1,
    "test_runtime_bundle.py::test_a_wrong_hash_names_the_artifact_and_both_hashes": 1,
    "test_runtime_bundle.py::test_bad_fields_are_one_line_errors": 1,
    "test_runtime_bundle.py::test_missing_and_unknown_artifacts": 2,
    "test_runtime_bundle.py::test_an_installed_shim_must_sit_beside_an_installed_containerd": 1,
    "test_runtime_bundle.py::test_an_installed_program_keeps_its_name": 1,
    "test_runtime_bundle.py::test_bundle_level_errors": 3,
    "test_runtime_bundle.py::test_manifest_file_errors": 2,
    "test_runtime_bundle.py::test_cni_plugins_are_validated_like_artifacts": 1,
    "test_runtime_bundle.py::test_a_program_inside_an_archive_is_checked_and_extracted": 3,
    "test_images.py::test_broken_images_toml_is_rejected_with_one_clear_line": 1,
    "test_images.py::test_cli_reports_a_broken_file_in_one_line": 3,
}


def clear_error(err: str, *names: str, out: str = "") -> str:
    """Assert ``err`` is one clear line (argparse's usage block aside) naming ``names``;
    return that line.

    ``error: <message> (hint: ...)`` is one line; a separate ``hint:`` line is allowed too.
    """
    __tracebackhide__ = True
    assert "Traceback" not in err + out, f"a traceback for bad input:\n{err}{out}"
    assert "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    if lines and lines[0].startswith("usage:"):  # argparse: usage (wrapped), then the error
        lines = [line for line in lines if not line.startswith(("usage:", " "))]
    assert lines, "no error message at all"
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].lstrip().startswith("hint")), \
        f"not one line:\n{err}"
    line = lines[0]
    assert "error" in line.lower(), line
    for name in names:
        assert name in line, f"{name!r} not named in: {line}"
    return line
