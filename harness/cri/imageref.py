"""Which of the runtime's image records an image reference names.

``crictl images REF`` sends REF as the CRI ListImages filter, and containerd ignores that
filter: it lists every image (containerd v2.4.2 internal/cri/server/images/image_list.go,
ListImages: "TODO(random-liu): Add image list filters after CRI defines this more clear";
crictl v1.37.0 cmd/crictl/image.go ListImages passes it on and filters nothing itself).
So the client picks the records itself, the way containerd resolves a reference: Docker
normalisation (distribution/reference ParseDockerRef: registry ``docker.io``,
``library/`` for one-component names, tag ``latest``), then a tag matches ``repoTags``,
a digest reference ``repoDigests``, and an image ID (or a prefix of at least 12 hex
digits, with or without ``sha256:``) the record's ``id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_ID = re.compile(r"^(?:sha256:)?(?P<hex>[0-9a-f]{12,64})\Z")


def normalize(ref: str) -> str:
    """``docker.io/library/busybox:latest`` for ``busybox``; a digest reference keeps its
    digest and gets no tag."""
    ref = ref.strip()
    name, _, digest = ref.partition("@")
    tag = ""
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name if "/" in name else f"library/{name}"
    if digest:
        return f"{domain}/{path}@{digest}"
    return f"{domain}/{path}:{tag or 'latest'}"


def names(record: Mapping[str, Any], ref: str) -> bool:
    """The image record (``crictl images -o json``) is the image ``ref`` names."""
    m = _ID.match(ref)
    if m and str(record.get("id", "")).removeprefix("sha256:").startswith(m["hex"]):
        return True
    wanted = normalize(ref)
    listed = "repoDigests" if "@" in wanted else "repoTags"
    return any(normalize(str(r)) == wanted for r in record.get(listed) or ())


def matching(records: Iterable[Mapping[str, Any]], ref: str) -> list[dict]:
    return [dict(r) for r in records if names(r, ref)]
