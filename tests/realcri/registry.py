"""A read-only OCI distribution registry on loopback, serving OCI image-layout archives.

The real-CRI lane pulls through a registry so that ``crictl pull`` is a real pull (resolve,
manifest, config, layer) and "registry down" can be had by stopping it.  Only what a pull
needs is served, from the distribution spec (opencontainers/distribution-spec v1.1,
spec.md "Pull"): ``GET /v2/``, ``GET``/``HEAD`` of ``/v2/<name>/manifests/<tag or digest>`` and
``/v2/<name>/blobs/<digest>``, with ``Docker-Content-Digest``; anything else is 404 with the
spec's JSON error body, so a client that asks for something else fails visibly.

containerd talks plain HTTP to a registry on a loopback address (containerd,
``remotes/docker`` ``IsLocalhost``, used for the CRI plugin's default scheme), so no TLS.
"""

from __future__ import annotations

import json
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_PATH = re.compile(r"^/v2/(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)/"
                   r"(?P<kind>manifests|blobs)/(?P<ref>[A-Za-z0-9_.:+-]+)\Z")


class ImageStore:
    """Repositories loaded from OCI layout archives: ``{name: {tag: digest}}`` and blobs."""

    def __init__(self) -> None:
        self.tags: dict[str, dict[str, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.types: dict[str, str] = {}

    def load(self, repository: str, archive: Path) -> None:
        with tarfile.open(archive) as tar:
            files = {m.name.removeprefix("./"): tar.extractfile(m).read()
                     for m in tar.getmembers() if m.isfile()}
        index = json.loads(files["index.json"])
        for path, data in files.items():
            if path.startswith("blobs/sha256/"):
                self.blobs["sha256:" + path.rsplit("/", 1)[1]] = data
        for desc in index["manifests"]:
            tag = desc.get("annotations", {}).get("org.opencontainers.image.ref.name")
            if tag:
                self.tags.setdefault(repository, {})[tag] = desc["digest"]
                self.types[desc["digest"]] = desc["mediaType"]


class Registry:
    """Serve an :class:`ImageStore` on ``127.0.0.1`` (a free port) until :meth:`stop`."""

    def __init__(self, store: ImageStore, port: int = 0):
        self.store = store
        self.requests: list[tuple[str, str]] = []
        handler = type("Handler", (_Handler,), {"registry": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Registry:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="oci-registry")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    registry: Registry
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet: requests are kept in registry.requests
        pass

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        self.registry.requests.append((self.command, self.path))
        store = self.registry.store
        if self.path.rstrip("/") == "/v2":
            return self._send(200, b"{}", "application/json", body=body)
        m = _PATH.match(self.path.split("?", 1)[0])
        if not m:
            return self._error(404, "NAME_UNKNOWN", f"no route for {self.path}", body)
        name, kind, ref = m["name"], m["kind"], m["ref"]
        if name not in store.tags:
            return self._error(404, "NAME_UNKNOWN", f"repository {name} not known", body)
        digest = ref if ref.startswith("sha256:") else store.tags[name].get(ref)
        data = store.blobs.get(digest or "")
        if data is None:
            code = "MANIFEST_UNKNOWN" if kind == "manifests" else "BLOB_UNKNOWN"
            return self._error(404, code, f"{kind[:-1]} {ref} unknown to {name}", body)
        media = store.types.get(digest, "application/octet-stream") if kind == "manifests" \
            else "application/octet-stream"
        self._send(200, data, media, body=body, digest=digest)

    def _error(self, status: int, code: str, message: str, body: bool) -> None:
        data = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self._send(status, data, "application/json", body=body)

    def _send(self, status: int, data: bytes, media: str, *, body: bool,
              digest: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if body:
            self.wfile.write(data)
