"""HpcHost.ensure_image: an image already on the host is never pulled (images/README.md)."""

from __future__ import annotations

from harness.plugin.host import HpcHost


class FakeCrictl:
    def __init__(self, present):
        self.present = set(present)
        self.pulled: list[str] = []
        self.listed: list[str] = []

    def images(self, ref=None):
        self.listed.append(ref)
        return [{"id": "sha256:x", "repoTags": [ref]}] if ref in self.present else []

    def pull(self, image):
        self.pulled.append(image)
        self.present.add(image)


def host_with(crictl) -> HpcHost:
    return HpcHost(target=None, transport=None, windows=None, facts=None, crictl=crictl,
                   images=None, layout=None, provisioned=None, capabilities=frozenset())


def test_an_imported_image_is_not_pulled():
    crictl = FakeCrictl(present={"hpc-e2e/probe:ltsc2025"})
    host_with(crictl).ensure_image("hpc-e2e/probe:ltsc2025")
    assert crictl.pulled == []


def test_a_missing_image_is_pulled_once_per_worker():
    crictl = FakeCrictl(present=())
    host = host_with(crictl)
    host.ensure_image("mcr.microsoft.com/windows/nanoserver:ltsc2025")
    host.ensure_image("mcr.microsoft.com/windows/nanoserver:ltsc2025")
    assert crictl.pulled == ["mcr.microsoft.com/windows/nanoserver:ltsc2025"]
    assert len(crictl.listed) == 1
