"""The host's path rules and file commands, as the CRI client takes them from its transport.

A Windows host (every transport without ``host_files``, and the test fakes) keeps today's
commands exactly: ``mkdir`` and ``del /q`` through cmd.exe, ``\\`` paths, batches on.  The
local POSIX transport (the real-CRI lane) gives ``/`` paths, ``mkdir -p``, ``rm -rf`` and
no batches (no PowerShell).  No "if linux" anywhere: the transport says which.
"""

from __future__ import annotations

import subprocess

from harness.config.target import Target
from harness.cri import Crictl, PodSpec
from harness.cri.crictl import DEFAULT_RUNS_ROOT
from harness.transport.hostfiles import POSIX, WINDOWS, host_files_of
from harness.transport.local_posix import PosixLocalTransport


class Fake:
    """A duck-typed transport without ``host_files``: a Windows host."""

    def __init__(self):
        self.calls = []

    def run(self, argv, **kw):
        self.calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0)


def test_a_transport_without_host_files_is_a_windows_host():
    assert host_files_of(Fake()) is WINDOWS
    c = Crictl(Fake(), run_id="r1")
    assert c.remote_dir == DEFAULT_RUNS_ROOT + r"\r1"
    assert WINDOWS.mkdir(c.remote_dir) == ["mkdir", c.remote_dir]
    assert WINDOWS.remove_tree(c.remote_dir) == ["del", "/q", c.remote_dir]
    assert WINDOWS.is_under(r"C:\PROGRAMDATA\hpc-e2e\runs\r1\pod.json", c.remote_dir)


def test_the_posix_transport_brings_posix_rules(tmp_path):
    t = PosixLocalTransport(Target(name="here", transport="local"))
    assert host_files_of(t) is POSIX
    stub = tmp_path / "crictl"  # lists no pods, so cleanup only removes the folder
    stub.write_text("#!/bin/sh\necho '{\"items\": []}'\n")
    stub.chmod(0o755)
    c = Crictl(t, run_id="r1", runs_root=str(tmp_path), crictl_path=str(stub))
    assert c.remote_dir == f"{tmp_path}/r1" and not c.batching
    assert Crictl(t, run_id="r2").remote_dir == "/var/tmp/hpc-e2e/runs/r2"
    # the files the client writes land where it says, through the transport
    path = c.upload("pod.json", PodSpec(name="p").render("r1"))
    assert path == f"{tmp_path}/r1/pod.json" and (tmp_path / "r1" / "pod.json").is_file()
    assert c.cleanup() == []
    assert not (tmp_path / "r1").exists()


def test_the_posix_transport_quotes_for_sh():
    t = PosixLocalTransport(Target(name="here", transport="local"))
    r = t.run(["printf", "%s|", "a b", "it's", "$HOME", "&&", "x"])
    assert (r.exit_code, r.stdout) == (0, "a b|it's|$HOME|&&|x|")
