"""Allure labels and parameters of a scenario: epic, feature, story, links, what it ran on.

The feature comes from the scenario module (``FEATURE = "..."`` or the module's name), the
story from the test's docstring, links go to the upstream change and to the reference section
the scenario checks (``@pytest.mark.reference``); parameters are isolation, handler, image,
host build and host.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import allure
import pytest

from harness.secrets import redact
from harness.plugin.environment import note_host
from harness.runtime.containerd_config import HANDLER_FOR_ISOLATION

EPIC = "HostProcess containers"
# The change whose behaviour the suite pins down (HostProcess containers in a UVM).
UPSTREAM_LINKS = (("hcsshim PR #2531", "https://github.com/microsoft/hcsshim/pull/2531"),)
# Where ``@pytest.mark.reference("file.md §N")`` links point; a browsable copy of the
# reference folder can be named with this variable, otherwise the link is relative.
REFERENCE_URL_ENV = "HPC_E2E_REFERENCE_URL"
REFERENCE_MARKER = ("reference(section, ...): the reference section(s) a scenario checks, "
                    "e.g. \"docs/behaviour/runtime.md §2.5\"; linked from the report")

_LABELLED = pytest.StashKey[bool]()
_PARAMETRIZED = pytest.StashKey[bool]()


def _marked_label(item, label_type: str) -> bool:
    return any(m.kwargs.get("label_type") == label_type for m in item.iter_markers("allure_label"))


def feature_of(item) -> str | None:
    module = getattr(item, "module", None)
    if module is None:
        return None
    explicit = getattr(module, "FEATURE", None)
    if explicit:
        return str(explicit)
    name = module.__name__.rsplit(".", 1)[-1]
    return name.removeprefix("test_").removesuffix("_test") or name


def story_of(item) -> str | None:
    doc = inspect.getdoc(getattr(item, "function", None) or getattr(item, "obj", None))
    if doc:
        first = doc.strip().splitlines()[0].strip()
        if first:
            return first
    name = getattr(item, "originalname", None) or getattr(item, "name", "")
    return name.removeprefix("test_").replace("_", " ") or None


def reference_url(section: str) -> str:
    """A link for ``"docs/behaviour/runtime.md §2.5"``: that file, at that heading, in a
    browsable copy of the repository ($HPC_E2E_REFERENCE_URL, e.g. a forge's URL of the
    commit under test), else in this checkout (a ``file://`` URL, which works where the
    report is read on the machine that ran it)."""
    parts = section.split()
    file = parts[0] if parts else section
    base = os.environ.get(REFERENCE_URL_ENV) or (_REPOSITORY.as_uri() + "/")
    anchor = _heading_anchor(_REPOSITORY / file, parts[1] if len(parts) > 1 else "")
    return base.rstrip("/") + "/" + file + (f"#{anchor}" if anchor else "")


_REPOSITORY = Path(__file__).resolve().parents[2]  # the checkout holding docs/behaviour/


def _heading_anchor(path: Path, section: str) -> str:
    """The anchor a Markdown renderer gives the heading numbered ``section`` (``§2.5``) in
    ``path``: GitHub's rule, lower case, punctuation dropped, spaces to hyphens; "" if
    there is no such heading."""
    number = section.lstrip("§").rstrip(",;.")
    if not number:
        return ""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for line in lines:
        m = re.match(r"#{1,6}\s+(\d+(?:\.\d+)*)\.?\s+(.*)", line)
        if m and m.group(1) == number:
            text = f"{m.group(1)} {m.group(2)}".lower()
            text = re.sub(r"[^\w\- ]", "", text)
            return text.replace(" ", "-")
    return ""


def label_scenario(item) -> None:
    """Epic, feature, story and links, from the module, docstring and markers; once per item.

    Labels a scenario already sets with ``allure.epic/feature/story`` markers are left alone.
    """
    if item.stash.get(_LABELLED, False):
        return
    item.stash[_LABELLED] = True
    if not _marked_label(item, "epic"):
        allure.dynamic.epic(EPIC)
    feature = feature_of(item)
    if feature and not _marked_label(item, "feature"):
        allure.dynamic.feature(feature)
    story = story_of(item)
    if story and not _marked_label(item, "story"):
        allure.dynamic.story(story)
    for name, url in UPSTREAM_LINKS:
        allure.dynamic.link(url, name=name)
    for marker in item.iter_markers("reference"):
        for section in marker.args:
            allure.dynamic.link(reference_url(str(section)), name=str(section))


def _isolation(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("isolation") if callspec is not None else None
    if value is None:
        value = getattr(item, "funcargs", {}).get("isolation")
    return None if value is None else str(getattr(value, "value", value))


def handler_for(isolation: str) -> str | None:
    return HANDLER_FOR_ISOLATION.get(isolation)


def scenario_parameters(item) -> dict[str, tuple[str, bool]]:
    """name -> (value, excluded from the history id) for what the item ran against.

    The host's name is excluded: the same case on another host of the pool is the same
    history.  Its *build* is not: in a report merged from several LTSC jobs, one case on
    two builds must stay two results, not one result and a retry.
    """
    params: dict[str, tuple[str, bool]] = {}
    isolation = _isolation(item)
    if isolation:
        params["isolation"] = (isolation, False)
        handler = handler_for(isolation)
        if handler:
            params["handler"] = (handler, False)
    host = getattr(item, "funcargs", {}).get("hpc_host")
    callspec = getattr(item, "callspec", None)
    image = callspec.params.get("image") if callspec is not None else None
    if image is None:
        image = getattr(getattr(host, "images", None), "probe", None)
    if image is not None:
        params["image"] = (str(getattr(image, "ref", image)), False)
    facts = getattr(host, "facts", None)
    if getattr(facts, "build", None) is not None:
        params["host build"] = (str(facts.build), False)
    name = getattr(getattr(host, "target", None), "name", None)
    if name:
        params["host name"] = (str(name), True)
    return params


def label_parameters(item) -> None:
    """Allure parameters of the running item (fixtures are set up by now); once per item."""
    if item.stash.get(_PARAMETRIZED, False):
        return
    item.stash[_PARAMETRIZED] = True
    for name, (value, excluded) in scenario_parameters(item).items():
        allure.dynamic.parameter(name, redact(value), excluded=excluded or None)
    host = getattr(item, "funcargs", {}).get("hpc_host")
    if host is not None:
        note_host(item.config, host)
        # allure-pytest's own ``host`` label is the controller's name; the one a reader
        # filters by is the Windows host the scenario ran on (the writer drops the other).
        allure.dynamic.label("host", str(getattr(host, "name", host)))


__all__ = ["EPIC", "REFERENCE_MARKER", "REFERENCE_URL_ENV", "UPSTREAM_LINKS", "feature_of",
           "handler_for", "label_parameters", "label_scenario", "reference_url",
           "scenario_parameters", "story_of"]
