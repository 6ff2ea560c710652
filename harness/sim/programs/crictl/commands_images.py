"""The image sub-commands: ``pull`` and ``images``.

They talk to the image service (its own endpoint and defaults), unlike the other commands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.sim.programs.crictl.cli import COMMANDS, _help_exit
from harness.sim.programs.crictl.client import Client, image_client
from harness.sim.programs.crictl.errors import CrictlError, RpcError, Unmodelled, _wrap
from harness.sim.programs.crictl.flags import Parsed
from harness.sim.programs.crictl.goformat import human_size
from harness.sim.programs.crictl.invocation import CrictlInvocation
from harness.sim.programs.crictl.output import protojson_indent, table


# images ----------------------------------------------------------------------------------------
def cmd_pull(app: CrictlInvocation, p: Parsed) -> int | None:
    name = p.args[0] if p.args else ""
    if name == "":
        raise CrictlError("image name cannot be empty")
    if len(p.args) > 1:
        return _help_exit(app, COMMANDS["pull"])
    client = image_client(app)
    if p.set & {"pod-config", "annotation", "creds", "auth", "username", "pull-timeout"}:
        raise Unmodelled("crictl pull with --pod-config/--annotation/--creds/--auth/"
                         "--username/--pull-timeout (the simulated registry needs none)")
    ref = _pull(client, name)
    app.println(f"Image is up to date for {ref}")
    return None


def _pull(client: Client, name: str) -> str:
    try:
        return client.call(lambda: client.rt.pull_image(name), deadline=None,
                           klog="PullImage from image service failed", kv=[("image", name)])
    except RpcError as exc:
        raise _wrap("pulling image", exc) from None


def cmd_images(app: CrictlInvocation, p: Parsed) -> int | None:
    if len(p.args) > 1:
        return _help_exit(app, COMMANDS["images"])
    if p["filter"]:
        raise Unmodelled("crictl images --filter")
    client = image_client(app)
    try:
        images = client.call(client.rt.list_images, deadline=client.timeout,
                             klog="ListImages with filter from image service failed")
    except RpcError as exc:
        raise _wrap("listing images", exc) from None
    # An IMAGE argument goes to ListImages as the CRI filter, and containerd ignores that
    # filter: every image is listed (containerd v2.4.2 internal/cri/server/images/
    # image_list.go ListImages, "TODO(random-liu): Add image list filters ..."; crictl
    # v1.37.0 cmd/crictl/image.go ListImages filters nothing itself).  Seen with real
    # crictl 1.34/1.37 and containerd 1.6/2.4 (tests/realcri).
    images = sorted(images, key=_image_sort_key)
    if p["output"] == "json":
        app.println(protojson_indent({"images": images}))
        return None
    if p["output"] == "yaml":
        raise Unmodelled("-o yaml (use -o json)")
    if p["quiet"]:
        for img in images:
            app.println(img["id"])
        return None
    if p["verbose"]:
        for img in images:
            app.println(f"ID: {img['id']}")
            for tag in img.get("repoTags", ()):
                app.println(f"RepoTags: {tag}")
            for digest in img.get("repoDigests", ()):
                app.println(f"RepoDigests: {digest}")
            if int(img.get("size") or 0):
                app.println(f"Size: {img['size']}")
            if img.get("username"):
                app.println(f"Username: {img['username']}")
            if img.get("pinned"):
                app.println("Pinned: true")
            app.println()
        return None
    header = ["IMAGE", "TAG"] + (["DIGEST"] if p["digests"] else []) + ["IMAGE ID", "SIZE"] + \
        (["PINNED"] if p["pinned"] else [])
    rows = [header]
    for img in images:
        image_id = img["id"] if p["no-trunc"] else img["id"].removeprefix("sha256:")[:13]
        digest = (img.get("repoDigests") or [""])[0].rpartition("@")[2]
        digest = digest if p["no-trunc"] else digest.removeprefix("sha256:")[:13]
        for tag in img.get("repoTags") or ["<none>:<none>"]:
            repo, _, t = tag.rpartition(":")
            row = [repo, t] + ([digest] if p["digests"] else []) + \
                [image_id, human_size(float(img.get("size") or 0))]
            if p["pinned"]:
                row.append("true" if img.get("pinned") else "false")
            rows.append(row)
    app.out(table(rows))
    return None


def _image_sort_key(img: Mapping[str, Any]) -> tuple:
    tags, digests = img.get("repoTags") or [], img.get("repoDigests") or []
    return (tags[0] if tags else "\uffff", digests[0] if digests else "", img.get("id", ""))
