"""The bad-input catalogue's figure, as a pytest plugin its test modules load
(``pytest_plugins = ["checks.bad_input_count"]``); see tests/checks/bad_input.py.

At the end of the run it prints::

    bad-input catalogue: N bad inputs tried, N answered with one clear line
"""

from __future__ import annotations

import pytest

from checks.bad_input import EXISTING, MARK

PROPERTY = "hpc-e2e.bad-inputs"


def _weight(item: pytest.Item) -> int:
    mark = item.get_closest_marker(MARK)
    if mark is not None:
        return int(mark.args[0]) if mark.args else 1
    key = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
    return EXISTING.get(key, 0)


# The plugin is registered while its test modules are collected: pytest_configure is a
# historic hook (called for late plugins too), pytest_sessionstart is not.
_counts: dict[str, int] = {"tried": 0, "answered": 0}


def pytest_configure(config: pytest.Config) -> None:
    _counts.update(tried=0, answered=0)


_missing: list[str] = []  # EXISTING entries whose file was collected but not the test


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    seen, files = set(), {item.path.name for item in items}
    for item in items:
        n = _weight(item)
        if n:
            item.user_properties.append((PROPERTY, n))
            seen.add(f"{item.path.name}::{getattr(item, 'originalname', item.name)}")
    _missing[:] = sorted(k for k in EXISTING if k.split("::")[0] in files and k not in seen)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    n = sum(v for k, v in report.user_properties if k == PROPERTY)
    if n:
        _counts["tried"] += n
        _counts["answered"] += n if report.passed else 0


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    tried, answered = _counts["tried"], _counts["answered"]
    if not tried:
        return
    text = f"bad-input catalogue: {tried} bad inputs tried, {answered} answered with one clear line"
    if answered != tried:
        text += f", {tried - answered} NOT"
    terminalreporter.write_line(text)
    if _missing:  # a renamed test would silently drop out of the figure
        terminalreporter.write_line("bad-input catalogue: not found (update "
                                    "tests/checks/bad_input.py EXISTING): " + ", ".join(_missing))
