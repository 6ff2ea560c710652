"""A real containerd with its own root, state, socket and registry settings in one folder.

Started for the real-CRI lane and stopped after it; nothing of the machine's own
containerd (``/var/lib/containerd``, ``/run/containerd``) is touched.  The config is the
smallest that makes the CRI plugin work here:

* the sandbox (pause) image comes from the lane's registry on loopback, and
  ``config_path`` names a ``hosts.toml`` that says that registry speaks plain HTTP
  (containerd docs/hosts.md; containerd 2.x no longer assumes HTTP for a loopback host);
* ``restrict_oom_score_adj``: the CRI plugin gives a sandbox ``oom_score_adj`` -998, and
  lowering it needs CAP_SYS_RESOURCE, which this machine's bounding set lacks (runc then
  fails with "can't get final child's PID from pipe: EOF" after nsexec's "failed to update
  /proc/self/oom_score_adj: Permission denied").  The option keeps the value at least
  containerd's own, as for rootless containerd (containerd docs/cri/config.md).

Pods use the host's network (the tests say so in their pod config), so no CNI plugin is
needed; the CRI plugin only logs that it has no CNI config.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

START_TIMEOUT = 60.0


def render_config(version: int, folder: Path, sandbox_image: str) -> str:
    """The lane's config.toml for config ``version`` 2 (containerd 1.x) or 3 (2.x)."""
    certs = folder / "certs.d"
    common = (f'root = "{folder}/root"\nstate = "{folder}/state"\n'
              f'[grpc]\n  address = "{folder}/containerd.sock"\n'
              f'[ttrpc]\n  address = "{folder}/containerd.sock.ttrpc"\n')
    if version == 2:
        return (f"version = 2\n{common}"
                f'[plugins."io.containerd.grpc.v1.cri"]\n'
                f'  sandbox_image = "{sandbox_image}"\n'
                f"  restrict_oom_score_adj = true\n"
                f'[plugins."io.containerd.grpc.v1.cri".registry]\n'
                f'  config_path = "{certs}"\n')
    if version == 3:
        return (f"version = 3\n{common}"
                f'[plugins."io.containerd.cri.v1.images".pinned_images]\n'
                f'  sandbox = "{sandbox_image}"\n'
                f'[plugins."io.containerd.cri.v1.images".registry]\n'
                f'  config_path = "{certs}"\n'
                f'[plugins."io.containerd.cri.v1.runtime"]\n'
                f"  restrict_oom_score_adj = true\n")
    raise ValueError(f"no lane config for config version {version}")


def write_hosts(folder: Path, registry_host: str) -> None:
    """``certs.d/<host>/hosts.toml``: the loopback registry is plain HTTP."""
    d = folder / "certs.d" / registry_host
    d.mkdir(parents=True, exist_ok=True)
    (d / "hosts.toml").write_text(
        f'server = "http://{registry_host}"\n'
        f'[host."http://{registry_host}"]\n  capabilities = ["pull", "resolve"]\n')


class RealContainerd:
    """One containerd process; :meth:`stop` ends it, its shims and its mounts."""

    def __init__(self, binary: str, config_version: int, registry_host: str,
                 sandbox_image: str):
        self.binary = binary
        # Short: unix socket paths are limited to 107 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="hpc-ctrd-", dir="/tmp"))
        self.socket = self.folder / "containerd.sock"
        self.endpoint = f"unix://{self.socket}"
        self.config = self.folder / "config.toml"
        self.log = self.folder / "containerd.log"
        write_hosts(self.folder, registry_host)
        self.config.write_text(render_config(config_version, self.folder, sandbox_image))
        self.proc: subprocess.Popen | None = None

    def start(self, crictl: str) -> RealContainerd:
        env = dict(os.environ)
        # Its own shim first: containerd finds containerd-shim-runc-v2 on PATH.
        env["PATH"] = f"{Path(self.binary).parent}:{env.get('PATH', '/usr/bin:/bin')}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "--config", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited with {self.proc.returncode}: "
                                   f"{self.tail()}")
            ready = self.socket.exists() and subprocess.run(
                [crictl, "--runtime-endpoint", self.endpoint, "--timeout", "5s", "info"],
                capture_output=True).returncode == 0
            if ready:
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"containerd did not answer within {START_TIMEOUT:g}s: "
                                   f"{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """Stop containerd, then the shims it started (found by our socket in their
        command line: they outlive containerd by design), then unmount and remove."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        mine = str(self.socket)
        for p in psutil.process_iter(["pid", "cmdline"]):
            if any(mine in arg for arg in (p.info["cmdline"] or [])):
                with contextlib.suppress(psutil.Error):
                    os.kill(p.info["pid"], signal.SIGKILL)
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for point in sorted((m for m in mounts if m.startswith(str(self.folder))), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
