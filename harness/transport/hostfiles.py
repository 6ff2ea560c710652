"""A host's path rules and the few file commands the CRI client runs there.

The CRI client keeps its config files in a per-run folder on the host: it joins paths,
makes the folder and removes it.  How depends on the host, not on where the harness runs:
a Windows host (WinRM, SSH to Windows OpenSSH, the local runner) joins with ``\\`` and
speaks cmd.exe; a POSIX host (the real-CRI lane's local shell on Linux) joins with ``/``
and speaks sh.  A transport says which by its ``host_files`` attribute; one without it is
a Windows host, which is what the harness targets (docs/internals.md).

Only a Windows host runs the PowerShell bootstrap, and with it the batched crictl path
(``crictl_batch.ps1``); ``batches`` says so.
"""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class HostFiles:
    """Path rules and file commands (argvs) of one kind of host."""

    name: str
    path: ModuleType
    mkdir: Callable[[str], list[str]]
    remove_tree: Callable[[str], list[str]]
    exists_message: str  # what ``mkdir`` says when the folder exists (it then fails)
    batches: bool
    runs_root: str  # where the CRI client keeps each run's config files by default

    def join(self, *parts: str) -> str:
        return self.path.join(*parts)

    def is_under(self, path: str, folder: str) -> bool:
        """``path`` lies in ``folder`` (case-insensitively on Windows)."""
        norm = self.path.normcase
        return norm(self.path.dirname(path)).startswith(norm(folder))


# cmd.exe: ``mkdir`` makes missing parents (command extensions are on by default) and
# fails with "A subdirectory or file ... already exists."; ``del /q`` empties the folder.
WINDOWS = HostFiles("windows", ntpath, lambda d: ["mkdir", d], lambda d: ["del", "/q", d],
                    "already exists", batches=True, runs_root=r"C:\ProgramData\hpc-e2e\runs")
# POSIX sh: ``mkdir -p`` succeeds when the folder exists; ``rm -rf`` removes it whole.
POSIX = HostFiles("posix", posixpath, lambda d: ["mkdir", "-p", d],
                  lambda d: ["rm", "-rf", "--", d], "File exists", batches=False,
                  runs_root="/var/tmp/hpc-e2e/runs")


def host_files_of(transport) -> HostFiles:
    """The transport's host kind; Windows unless the transport says otherwise."""
    return getattr(transport, "host_files", WINDOWS)
