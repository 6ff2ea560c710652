"""A simulated host in its own process (``hpc-e2e sim serve``), for measurements.

The WinRM and upload benchmarks run the sim in a separate process so that the harness
process's CPU time and peak memory are its own: a sim in the same interpreter would share
the GIL with the client and add its buffers to the client's resident set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

from harness.errors import HarnessError
from harness.hosts import endpoint_target

START_TIMEOUT = 60.0


class SimProcess:
    """``python -m harness sim serve --state-dir DIR [--latency SPEC] [--build N]`` until
    ``stop()``."""

    def __init__(self, state_dir: Path, *, latency: str | None = None,
                 build: int | None = None):
        self.state_dir = Path(state_dir)
        self.latency = latency
        self.build = build
        self.proc: subprocess.Popen | None = None
        self.endpoint: dict | None = None

    def start(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        endpoint_file = self.state_dir / "endpoint.json"
        endpoint_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "harness", "sim", "serve", "--state-dir",
                str(self.state_dir)]
        if self.latency:
            argv += ["--latency", self.latency]
        if self.build is not None:
            argv += ["--build", str(self.build)]
        log = open(self.state_dir / "serve.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = (self.state_dir / "serve.log").read_text(errors="replace").strip()
                raise HarnessError(f"`hpc-e2e sim serve` exited with {self.proc.returncode}: "
                                   f"{text.splitlines()[-1] if text else '(no output)'}")
            try:
                self.endpoint = json.loads(endpoint_file.read_text(encoding="utf-8"))
                return self
            except (OSError, ValueError):
                time.sleep(0.05)
        self.stop()
        raise HarnessError(f"the simulated host in {self.state_dir} did not start within "
                           f"{START_TIMEOUT:g}s")

    def target(self):
        """A WinRM (HTTPS, Basic, pinned CA) Target for this host."""
        assert self.endpoint is not None, "start() first"
        return endpoint_target(self.endpoint)

    def cpu_seconds(self) -> float:
        """User + system CPU time the sim process has used so far."""
        import psutil

        assert self.proc is not None
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)  # serve() stops its listeners on SIGTERM
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
