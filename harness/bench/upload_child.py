"""One upload in a fresh process, so the peak memory measured is this transfer's alone.

``python -m harness.bench.upload_child harness|bare ENDPOINT_JSON LOCAL_FILE REMOTE_PATH``
prints one JSON line: seconds, bytes, chunk, requests, rss_before_kib, peak_rss_kib.

* ``harness`` — ``WinRMTransport.put`` (base64 lines through ``receive_file.ps1``, SHA-256
  checked on the host; docs/internals.md "Files over WinRM");
* ``bare`` — one command that copies stdin to a file, fed with ``Protocol.send_command_input``
  in chunks of the harness's own Send payload size.  The sim models no Windows program that
  copies stdin to a file (no ``findstr``/``more``), so the command is the sim's documented
  ``simcat.exe`` redirected into the file; on Windows ``findstr "^" > FILE`` plays that part.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

BARE_COPY = r"C:\hpc-e2e-sim\bin\simcat.exe"


def peak_rss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


def current_rss_kib() -> int:
    import psutil

    return psutil.Process().memory_info().rss // 1024


def upload_harness(transport, local: Path, remote: str) -> None:
    transport.put(local, remote)


def upload_bare(transport, local: Path, remote: str) -> None:
    from harness.cmdline import cmd_command_line

    proto = transport.protocol
    chunk = transport.send_payload()
    shell = proto.open_shell(codepage=transport.target.winrm.codepage, noprofile=True)
    try:
        line = cmd_command_line([BARE_COPY]) + " > " + cmd_command_line([remote])
        cid = proto.run_command(shell, line, console_mode_stdin=False)
        with open(local, "rb") as f:
            data = f.read(chunk)
            while True:
                nxt = f.read(chunk)
                proto.send_command_input(shell, cid, data, end=not nxt)
                if not nxt:
                    break
                data = nxt
        _, err, code = proto.get_command_output(shell, cid)
        proto.cleanup_command(shell, cid)
        if code != 0:
            raise RuntimeError(f"bare upload: exit {code}: {err.decode(errors='replace')}")
    finally:
        proto.close_shell(shell, close_session=False)


def main(argv: list[str]) -> int:
    method, endpoint_file, local, remote = argv
    from harness.bench.counting import RequestCounter
    from harness.hosts import endpoint_target
    from harness.transport.winrm import WinRMTransport

    target = endpoint_target(json.loads(Path(endpoint_file).read_text(encoding="utf-8")))
    transport = WinRMTransport(target)
    counter = RequestCounter()
    counter.attach(transport.protocol)
    fn = {"harness": upload_harness, "bare": upload_bare}[method]
    size = Path(local).stat().st_size
    before = current_rss_kib()
    t0 = time.perf_counter()
    fn(transport, Path(local), remote)
    seconds = time.perf_counter() - t0
    requests = counter.count
    transport.close()
    print(json.dumps({"method": method, "seconds": seconds, "bytes": size,
                      "chunk": transport.send_payload(), "requests": requests,
                      "rss_before_kib": before, "peak_rss_kib": peak_rss_kib()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
