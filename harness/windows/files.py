"""Files and directories on a host: existence and hashes of many paths in one round trip,
directories, removal, and small text files through the transport's verified transfers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.transport.base import Transport
from harness.windows.catalog import SCRIPTS, call
from harness.windows.errors import HostScriptError, WindowsHostError

# Hashing large files on the host takes time: 60 s plus a second per 100 paths is generous
# for configs and binaries of a runtime bundle.
HASH_TIMEOUT = 300.0


@dataclass(frozen=True)
class PathInfo:
    """What a path is on the host; ``sha256`` only when hashes were asked for."""

    path: str  # as given by the caller
    full_path: str  # as the host resolved it
    exists: bool
    type: str | None  # "file" | "directory" | None
    size: int | None
    sha256: str | None

    @property
    def is_file(self) -> bool:
        return self.type == "file"

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"


class Files:
    """The file system of one host, through its transport."""

    def __init__(self, transport: Transport):
        self.transport = transport

    @property
    def _host(self) -> str:
        return self.transport.target.name

    def _call(self, name: str, args: dict[str, Any], what: str,
              timeout: float = 60.0, repeatable: bool = False) -> Any:
        try:
            return call(self.transport, name, args, timeout=timeout, catalog=SCRIPTS,
                        what=what, repeatable=repeatable)
        except HostScriptError as exc:
            raise WindowsHostError(f"{self._host}: cannot {what}: {exc.text}") from None

    # --- many paths at once ----------------------------------------------------------------
    def info(self, paths: Iterable[str], *, hashes: bool = False,
             timeout: float = HASH_TIMEOUT) -> list[PathInfo]:
        """One :class:`PathInfo` per path, in order, from one round trip."""
        paths = [str(p) for p in paths]
        if not paths:
            return []
        value = self._call("path_info", {"paths": paths, "hash": bool(hashes)},
                           f"inspect {len(paths)} path(s)", timeout=timeout,
                           repeatable=True)
        try:
            items = list(value["items"])
            if len(items) != len(paths):
                raise ValueError(f"{len(items)} answers for {len(paths)} paths")
            return [PathInfo(p, str(i["path"]), bool(i["exists"]), i.get("type"),
                             None if i.get("size") is None else int(i["size"]),
                             i.get("sha256")) for p, i in zip(paths, items, strict=True)]
        except (KeyError, TypeError, ValueError) as exc:
            raise HarnessError(f"{self._host}: path_info answered an object this harness "
                               f"cannot read ({type(exc).__name__}: {exc})") from None

    def sha256s(self, paths: Iterable[str], *, timeout: float = HASH_TIMEOUT
                ) -> dict[str, str | None]:
        """Path (as given) -> lowercase hex SHA-256, or None where no file is."""
        return {i.path: i.sha256 if i.is_file else None
                for i in self.info(paths, hashes=True, timeout=timeout)}

    def sha256(self, path: str) -> str | None:
        return self.sha256s([path])[path]

    def exists(self, path: str) -> bool:
        return self.info([path])[0].exists

    # --- changes ---------------------------------------------------------------------------
    def mkdir(self, path: str) -> bool:
        """Create the directory and its parents; True if it did not exist.  Repeated after a
        transient failure (the script converges), so after a lost answer the flag may say
        the directory existed already."""
        value = self._call("make_directory", {"path": path}, f"create directory {path}",
                           repeatable=True)
        return bool(value.get("created"))

    def remove(self, path: str, *, recurse: bool = False) -> bool:
        """Delete a file or directory (its contents only with ``recurse``); False if absent.
        Repeated after a transient failure like :meth:`mkdir` (then False may mean an
        earlier attempt removed it)."""
        value = self._call("remove_path", {"path": path, "recurse": bool(recurse)},
                           f"remove {path}", repeatable=True)
        return bool(value.get("removed"))

    # --- small text files ------------------------------------------------------------------
    def read_bytes(self, path: str, *, timeout: float | None = None) -> bytes:
        """The file's bytes, downloaded and verified by the transport."""
        with tempfile.TemporaryDirectory(prefix="hpc-e2e-") as tmp:
            local = Path(tmp) / "file"
            self.transport.get(path, local, timeout=timeout)
            return local.read_bytes()

    def read_text(self, path: str, *, encoding: str = "utf-8",
                  timeout: float | None = None) -> str:
        """The file decoded (a BOM is dropped); bad bytes are replaced, not fatal."""
        data = self.read_bytes(path, timeout=timeout)
        if encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
            return data.decode("utf-8-sig", "replace")
        return data.decode(encoding, "replace")

    def write_bytes(self, path: str, data: bytes, *, timeout: float | None = None) -> None:
        """Exactly ``data`` at ``path``: atomic and verified (``transport.put``)."""
        fd, local = tempfile.mkstemp(prefix="hpc-e2e-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self.transport.put(local, path, timeout=timeout)
        finally:
            os.unlink(local)

    def write_text(self, path: str, text: str, *, encoding: str = "utf-8",
                   newline: str | None = None, timeout: float | None = None) -> None:
        """``text`` encoded (no BOM); ``newline="\\r\\n"`` converts line ends first."""
        if newline is not None:
            text = text.replace("\r\n", "\n").replace("\n", newline)
        self.write_bytes(path, text.encode(encoding), timeout=timeout)


__all__ = ["Files", "PathInfo"]
