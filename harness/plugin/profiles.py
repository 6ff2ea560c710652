"""Expectation profiles: what the runtime under test is expected to do, key by key.

A profile (``harness/plugin/builtin_profiles/<name>.toml``, package data) says which behaviour
is *asserted* and which is only *observed*.  The reference marks some guest behaviour "unverified" (nobody has run it on
a real UVM yet, docs/behaviour/runtime.md §5, §8.13); such behaviour is recorded as an
observation in the report instead of failing a run on a guess (scenarios/README.md),
until a profile says what to expect::

    [profile]
    name = "current"
    description = "hcsshim with HPC-in-UVM support (PR #2531)"
    extends = "other"        # optional: start from another profile (name or path)
    [expect]                 # asserted
    "hyperv.inherit_user.whoami" = 'nt authority\\system'
    [unverified]             # observed; the value says why (the reference section)
    "hyperv.rootfs.default_location" = "[guest, unverified] docs/behaviour/runtime.md §1.4"

Keys are dotted names; unquoted dotted keys (TOML sub-tables) mean the same.  A key in
neither table is an error when a scenario checks it, so a typo never passes.  In a profile
that ``extends`` another, a key given in one table leaves the other table, and every key must
be one of the base's: a misspelt override would otherwise change nothing, silently.  Expected
values are strings, numbers, booleans or lists of them (what a scenario can observe); a
profile with no keys at all is refused rather than failing every scenario later.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self

from harness.config.files import expand_home, file_kind_problem, load_toml
from harness.errors import ConfigError, HarnessError
from harness.plugin.observations import observation

log = logging.getLogger("harness.plugin")

# The profiles shipped with the harness: package data, found through the package (an installed
# copy finds its own, not a checkout's).
PROFILES_DIR = Path(str(resources.files(__package__ or "harness.plugin") / "builtin_profiles"))
DEFAULT_PROFILE = "current"

_TOP = {"profile", "expect", "unverified"}
_META = {"name", "description", "extends"}
MAX_EXTENDS = 16  # profiles in one extends chain (a longer one is a mistake, or a loop)
_KEY = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\Z")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


class _Unverified:
    """What :meth:`Expectations.value` returns for behaviour the profile only observes."""

    _instance: _Unverified | None = None

    def __new__(cls) -> Self:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNVERIFIED"

    def __bool__(self) -> bool:
        raise TypeError("UNVERIFIED has no truth value: compare with `is UNVERIFIED`")

    def __reduce__(self) -> str:
        return "UNVERIFIED"


UNVERIFIED = _Unverified()


class ProfileError(ConfigError):
    """A profile that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    path: Path
    expect: Mapping[str, Any] = field(default_factory=dict)
    unverified: Mapping[str, str] = field(default_factory=dict)


def profile_path(value: str) -> Path:
    """A name means a built-in profile (``builtin_profiles/<name>.toml``); anything path-like
    is a path."""
    if value.endswith(".toml") or "/" in value or "\\" in value:
        return expand_home(value, what="profile").resolve()
    if not _NAME.match(value):
        raise ProfileError(f"{value!r} is neither a profile name nor a .toml path",
                           hint="a built-in profile's name (e.g. current) or a .toml file")
    return PROFILES_DIR / f"{value}.toml"


def _relative(value: str, directory: Path) -> Path:
    """``extends``: a name, or a path relative to the extending profile's folder."""
    if value.endswith(".toml") or "/" in value or "\\" in value:
        p = expand_home(value, what="profile.extends")
        return p if p.is_absolute() else (directory / p).resolve()
    return profile_path(value)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def load_profile(value: str | Path, *, _seen: tuple[Path, ...] = ()) -> Profile:
    """Read and validate a profile (and what it extends); ProfileError naming file and key."""
    path = value if isinstance(value, Path) else profile_path(value)
    if path in _seen:
        raise ProfileError(f"{path}: profile.extends: circular ({' -> '.join(map(str, _seen))})")
    if len(_seen) >= MAX_EXTENDS:
        raise ProfileError(f"{_seen[0]}: profile.extends: a chain of more than {MAX_EXTENDS} "
                           f"profiles (reached {path})",
                           hint="a profile extends one that extends another...: keep it short")
    if file_kind_problem(path) == "does not exist":
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))) or "none"
        raise ProfileError(f"{path}: profile file does not exist",
                           hint=f"profiles in {PROFILES_DIR}: {known}")
    try:
        raw = load_toml(path, what="profile")
    except ConfigError as exc:  # a FIFO, a folder, bad bytes, too deep: one line
        raise ProfileError(exc.message, hint=exc.hint) from None
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise ProfileError(f"{path}: {unknown[0]}: unknown table or key (expected [profile], "
                           f"[expect], [unverified])")
    meta = raw.get("profile", {})
    if not isinstance(meta, dict):
        raise ProfileError(f"{path}: profile: must be a table")
    extra = sorted(set(meta) - _META)
    if extra:
        raise ProfileError(f"{path}: profile.{extra[0]}: unknown key (expected name, "
                           f"description, extends)")
    name = meta.get("name", path.stem)
    description = meta.get("description", "")
    for key, val in (("name", name), ("description", description)):
        if not isinstance(val, str):
            raise ProfileError(f"{path}: profile.{key}: must be a string (got {val!r})")
    if not name.strip():
        raise ProfileError(f"{path}: profile.name: must not be empty")
    expect = _flatten(raw.get("expect", {}), "expect", path)
    for key, val in expect.items():
        if not _plain(val):
            raise ProfileError(f"{path}: expect.{key}: {type(val).__name__} values cannot be "
                               f"compared with what a scenario observes",
                               hint="use a string, a number, true/false, or a list of those")
    unverified = _flatten(raw.get("unverified", {}), "unverified", path)
    for key, why in unverified.items():
        if not isinstance(why, str) or not why.strip():
            raise ProfileError(f"{path}: unverified.{key}: the value says why it is not "
                               f"asserted (a reference section), as a non-empty string")
    both = sorted(set(expect) & set(unverified))
    if both:
        raise ProfileError(f"{path}: {both[0]}: in both [expect] and [unverified]; keep one")
    extends = meta.get("extends")
    if extends is not None:
        if not isinstance(extends, str) or not extends:
            raise ProfileError(f"{path}: profile.extends: must be a profile name or path")
        try:
            base_path = _relative(extends, path.parent)
        except ProfileError as exc:  # the extending file is where the mistake is
            raise ProfileError(f"{path}: profile.extends: {exc.message}", hint=exc.hint) \
                from None
        problem = file_kind_problem(base_path)  # a stat only: no OSError, no ValueError
        if problem is not None and base_path not in _seen:
            raise ProfileError(f"{path}: profile.extends: {_clip(extends)!r}: no such profile "
                               f"({_clip(str(base_path))} {problem})")
        base = load_profile(base_path, _seen=(*_seen, path))
        # A key the base does not know is a typo that would silently override nothing: the
        # scenario keeps reading the base's value.
        known = set(base.expect) | set(base.unverified)
        for table, keys in (("expect", expect), ("unverified", unverified)):
            new = sorted(set(keys) - known)
            if new:
                close = difflib.get_close_matches(new[0], sorted(known), n=1)
                raise ProfileError(f"{path}: {table}.{new[0]}: unknown behaviour key (profile "
                                   f"{base.name!r} it extends has no such key)",
                                   hint=f"did you mean {close[0]!r}?" if close else
                                   f"keys are those of {base.path}")
        merged_expect = {k: v for k, v in base.expect.items() if k not in unverified}
        merged_unverified = {k: v for k, v in base.unverified.items() if k not in expect}
        expect = {**merged_expect, **expect}
        unverified = {**merged_unverified, **unverified}
    if not expect and not unverified:
        raise ProfileError(f"{path}: no behaviour keys: add an [expect] or [unverified] table "
                           f"(or profile.extends)")
    return Profile(name=name, description=description, path=path,
                   expect=MappingProxyType(expect), unverified=MappingProxyType(unverified))


def _plain(value: Any) -> bool:
    """A value a scenario can observe: TOML dates, times and empty tables never are."""
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, str | int | float | bool)


def _flatten(table: Any, where: str, path: Path, prefix: str = "") -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ProfileError(f"{path}: {where}: must be a table")
    out: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if not _KEY.match(full):
            raise ProfileError(f"{path}: {where}.{full!r}: a behaviour key is dotted words "
                               f"(letters, digits, '_' and '-')")
        if isinstance(value, dict):
            if not value:
                raise ProfileError(f"{path}: {where}.{full}: empty table (a key needs a value)")
            out.update(_flatten(value, where, path, f"{full}."))
        else:
            out[full] = value
    return out


class Expectations:
    """The ``expect`` fixture: asserts what the profile expects, observes the rest."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self.item = None  # the running test (set by the plugin), for observations

    def __repr__(self) -> str:
        return f"<Expectations profile={self.profile.name!r} ({self.profile.path})>"

    def _unknown(self, key: str) -> HarnessError:
        return HarnessError(f"profile {self.profile.name!r} has no expectation for {key!r}",
                            hint=f"add {key!r} to [expect] or [unverified] in "
                                 f"{self.profile.path} (or check its spelling)")

    def value(self, key: str) -> Any:
        """The expected value, or :data:`UNVERIFIED` when the profile only observes ``key``."""
        if key in self.profile.expect:
            return self.profile.expect[key]
        if key in self.profile.unverified:
            return UNVERIFIED
        raise self._unknown(key)

    def check(self, key: str, actual: Any, *,
              normalize: Callable[[Any], Any] | None = None) -> None:
        """Assert ``actual`` against the profile, or record it as an observation.

        ``normalize`` is applied to both sides before comparing (e.g. ``str.lower``).
        """
        __tracebackhide__ = True
        if key in self.profile.expect:
            expected = self.profile.expect[key]
            got, want = (normalize(actual), normalize(expected)) if normalize else \
                (actual, expected)
            if got != want:
                shown = f"{actual!r}" + (f" (normalized {got!r})" if normalize else "")
                raise AssertionError(
                    f"behaviour {key!r}: expected {expected!r}, got {shown} "
                    f"[profile {self.profile.name!r}, {self.profile.path.name}]")
            return
        if key in self.profile.unverified:
            self.observe(key, actual, self.profile.unverified[key])
            return
        raise self._unknown(key)

    def observe(self, key: str, actual: Any, why: str) -> None:
        """Record unasserted behaviour: an Allure step, a log line, a JUnit property."""
        observation(key, actual, why, item=self.item)


__all__ = ["DEFAULT_PROFILE", "PROFILES_DIR", "UNVERIFIED", "Expectations",
           "Profile", "ProfileError", "load_profile", "profile_path"]
