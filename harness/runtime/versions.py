"""What each deployed program says its version is.

The manifest's ``version`` is a claim; the program's own ``--version`` output is what a
report records (docs/report.md "What a reader sees": containerd/shim/crictl versions in
``environment.properties``).  Output shapes:

* ``containerd --version``: ``containerd github.com/containerd/containerd v1.7.22 <commit>``
  (``.../containerd/v2 v2.0.4 ...`` for 2.x);
* ``containerd-shim-runhcs-v1 --version``: urfave/cli's ``<name> version <v>`` followed by
  ``commit: ...`` and ``spec: ...`` lines (a build without a version tag has no version on
  the first line; ``spec:`` is the OCI spec version and must not be mistaken for it);
* ``crictl --version``: ``crictl version v1.31.1``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from harness.runtime.bundle import CONTAINERD, CRICTL, SHIM

_NUMBER = r"v?(\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.+-]+)?)"
_PATTERNS = {
    CONTAINERD: re.compile(r"^containerd\s+\S+\s+" + _NUMBER + r"(?:\s|$)"),
    SHIM: re.compile(r"^\S*containerd-shim-runhcs-v1(?:\.exe)?:?\s+version\s+" + _NUMBER
                     + r"(?:\s|$)"),
    CRICTL: re.compile(r"^crictl\s+version\s+" + _NUMBER + r"(?:\s|$)"),
}


@dataclass(frozen=True)
class ReportedVersion:
    artifact: str
    declared: str  # what the manifest says
    reported: str | None  # what the program printed; None if it printed no version
    output: str  # the program's first line, for the record

    @property
    def matches(self) -> bool:
        return self.reported is not None and self.reported.removeprefix("v") == self.declared

    def to_dict(self) -> dict:
        return {**asdict(self), "matches": self.matches}


def parse_version_output(artifact: str, output: str) -> str | None:
    """The version in a program's ``--version`` output; None when it states none."""
    first = next((line.strip() for line in output.splitlines() if line.strip()), "")
    pattern = _PATTERNS.get(artifact)
    if pattern is None:
        return None
    m = pattern.match(first)
    return m.group(1) if m else None


__all__ = ["ReportedVersion", "parse_version_output"]
