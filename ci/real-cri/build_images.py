#!/usr/bin/env python3
"""Build the real-CRI lane's two images offline, as OCI image-layout archives.

The lane pulls real images from a registry on loopback (there is no Docker Hub here), so
the images are made from what Debian installs: Debian's statically linked busybox
(package ``busybox-static``) as the one file of a one-layer image.

* ``hpc-e2e/busybox:1``: busybox with its applets linked in ``/bin``; ``sh`` by default.
* ``hpc-e2e/pause:1``: the same layer, running a shell that waits until it is told to stop
  (containerd stops a sandbox with SIGKILL anyway; the trap makes SIGTERM work too).

Each archive is a tar of an OCI image layout (image-spec v1.1: ``oci-layout``,
``index.json``, ``blobs/sha256/...``) with the tag in ``org.opencontainers.image.ref.name``.
The output is reproducible (fixed times and owners), so digests are the same every run and
an unchanged image is not rewritten.

Usage: build_images.py OUTDIR [--busybox /bin/busybox]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

APPLETS = ("sh", "echo", "cat", "ls", "sleep", "true", "false", "printf", "env", "id",
           "kill", "ps", "test", "mkdir", "rm", "touch", "wc", "head", "tail", "yes")
PAUSE = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]
IMAGES = {
    "busybox": {"tag": "1", "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]}},
    "pause": {"tag": "1", "config": {"Entrypoint": PAUSE, "Env": ["PATH=/bin"]}},
}
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _info(name: str, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    for k, v in kw.items():
        setattr(info, k, v)
    return info


def layer(busybox: bytes) -> tuple[bytes, str]:
    """The layer (gzip) and its diff ID (digest of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info("bin", type=tarfile.DIRTYPE, mode=0o755))
        tar.addfile(_info("bin/busybox", size=len(busybox), mode=0o755), io.BytesIO(busybox))
        for applet in APPLETS:
            tar.addfile(_info(f"bin/{applet}", type=tarfile.SYMTYPE, linkname="busybox",
                              mode=0o777))
        for d in ("tmp", "etc"):
            tar.addfile(_info(d, type=tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755))
        passwd = b"root:x:0:0:root:/:/bin/sh\n"
        tar.addfile(_info("etc/passwd", size=len(passwd), mode=0o644), io.BytesIO(passwd))
    data = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=6) as f:
        f.write(data)
    return gz.getvalue(), "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(blobs: dict[str, bytes], data: bytes, media_type: str) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def archive(name: str, tag: str, image_config: dict, layer_gz: bytes, diff_id: str) -> bytes:
    """One OCI image-layout tar for ``hpc-e2e/<name>:<tag>``."""
    blobs: dict[str, bytes] = {}
    config = {"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
              "config": image_config, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": _blob(blobs, _json(config), CONFIG),
                "layers": [_blob(blobs, layer_gz, LAYER)]}
    desc = _blob(blobs, _json(manifest), MANIFEST)
    desc["annotations"] = {"org.opencontainers.image.ref.name": tag,
                           "io.containerd.image.name": f"hpc-e2e/{name}:{tag}"}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [desc]}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(path: str, data: bytes) -> None:
            tar.addfile(_info(path, size=len(data), mode=0o644), io.BytesIO(data))
        add("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        add("index.json", _json(index))
        for digest, data in sorted(blobs.items()):
            add(f"blobs/sha256/{digest.removeprefix('sha256:')}", data)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--busybox", type=Path, default=Path("/bin/busybox"))
    args = parser.parse_args(argv)
    try:
        busybox = args.busybox.read_bytes()
    except OSError as exc:
        print(f"build_images: cannot read the busybox binary {args.busybox}: {exc.strerror} "
              "(apt-get install busybox-static)", file=sys.stderr)
        return 2
    layer_gz, diff_id = layer(busybox)
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name, spec in IMAGES.items():
        data = archive(name, spec["tag"], spec["config"], layer_gz, diff_id)
        path = args.outdir / f"{name}.oci.tar"
        if path.exists() and path.read_bytes() == data:
            continue
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        print(f"build_images: wrote {path} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
