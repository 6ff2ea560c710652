"""Secrets masked in what the run writes: pytest reports (the JUnit XML's source) and every
Allure result, container and text attachment on its way to the file writer.

The last line of defence: titles and attachments are already redacted where they are made
(:mod:`harness.plugin.transcripts`, :mod:`harness.plugin.observations`).

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import allure_commons
from allure_commons.utils import host_tag

from harness.secrets import redact


def _scrub(value: Any, seen: set[int]) -> Any:
    """``value`` with every string redacted; containers and records are changed in place."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bytes, bytearray, int, float, bool)):
        return value
    if id(value) in seen:
        return value
    seen.add(id(value))
    if isinstance(value, list):
        value[:] = [_scrub(v, seen) for v in value]
    elif type(value) is tuple:
        return tuple(_scrub(v, seen) for v in value)
    elif isinstance(value, dict):
        for key in list(value):
            value[key] = _scrub(value[key], seen)
    else:
        names: Iterable[str] = ()
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            names = [f.name for f in dataclasses.fields(value)]
        elif hasattr(value, "__attrs_attrs__"):
            names = [a.name for a in value.__attrs_attrs__]
        for name in names:
            try:
                old = getattr(value, name)
            except AttributeError:
                continue
            new = _scrub(old, seen)
            if new is not old:
                try:
                    setattr(value, name, new)
                except (AttributeError, dataclasses.FrozenInstanceError):
                    object.__setattr__(value, name, new)
    return value


def redact_report(report) -> None:
    """Mask secrets in a pytest report: its traceback, captured output and properties.

    The JUnit XML and the terminal are written from these reports (on the xdist controller,
    from their serialized copies), so this is where their text is made safe.
    """
    seen: set[int] = set()
    if report.longrepr is not None:
        report.longrepr = _scrub(report.longrepr, seen)
    report.sections = [(redact(title), redact(text)) for title, text in report.sections]
    report.user_properties = [(name, _scrub(value, seen)) for name, value in
                              report.user_properties]


class AllureRedaction:
    """Redact every Allure result, container and text attachment before it is written.

    The file writer's hooks receive their data as keyword arguments; pluggy's documented
    ``add_hookcall_monitoring`` ``before`` tracer sees that very dict before any hook
    implementation runs, which is the one place a string body can still be replaced.
    """

    def __init__(self):
        self._undo = None

    def install(self) -> None:
        if self._undo is None:
            self._undo = allure_commons.plugin_manager.add_hookcall_monitoring(
                self._before, lambda *a: None)

    def uninstall(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None

    @staticmethod
    def _before(hook_name: str, hook_impls, kwargs: dict) -> None:
        if hook_name in ("report_result", "report_container", "report_globals"):
            for value in kwargs.values():
                _scrub(value, set())
                _host_label(value)
        elif hook_name == "report_attached_data":
            body = kwargs.get("body")
            if isinstance(body, str):
                kwargs["body"] = redact(body)
            elif isinstance(body, (bytes, bytearray)):
                try:
                    text = bytes(body).decode("utf-8")
                except UnicodeDecodeError:
                    return  # binary (an image): nothing we could mask in it
                masked = redact(text)
                if masked != text:
                    kwargs["body"] = masked.encode("utf-8")


def _host_label(result) -> None:
    """Drop allure-pytest's ``host`` label (the controller's name, ``allure_commons.utils
    .host_tag()``) from a test result that also names the host under test."""
    labels = getattr(result, "labels", None)
    if not isinstance(labels, list):
        return
    hosts = [label for label in labels if getattr(label, "name", None) == "host"]
    if len(hosts) > 1:
        controller = host_tag()
        for label in hosts:
            if label.value == controller:
                labels.remove(label)
                break


__all__ = ["AllureRedaction", "redact_report"]
