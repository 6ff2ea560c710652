"""``hpc_host``: the host a worker leased, provisioned, with everything a scenario reaches for.

One per worker session: one transport (one reused WinRM shell), the Windows operations, the
host's facts *after* provisioning, the CRI client bound to the run id, and the suite's images
for the host's build.  Images are pulled on first use, once per worker: containerd's CRI does
not pull on create (pull-image-on-create is off, docs/behaviour/ecosystem.md §3.2).

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from harness.config.target import Target
from harness.cri import Crictl, CriReporter
from harness.plugin.images import ImageSet, image_set_for
from harness.plugin.markers import host_capabilities
from harness.plugin.provisioning import Provisioned, ensure_provisioned
from harness.runtime import RuntimeBundle, RuntimeLayout
from harness.transport import Transport, open_transport
from harness.windows import HostFacts, WindowsHost

log = logging.getLogger("harness.plugin")


class HpcHost:
    """The leased host (``hpc_host``): ``.target``, ``.transport``, ``.windows``, ``.facts``,
    ``.crictl``, ``.images``, ``.capabilities``, ``.layout``, ``.provisioned``."""

    def __init__(self, *, target: Target, transport: Transport, windows: WindowsHost,
                 facts: HostFacts, crictl: Crictl, images: ImageSet, layout: RuntimeLayout,
                 provisioned: Provisioned, capabilities: frozenset[str]):
        self.target = target
        self.transport = transport
        self.windows = windows
        self.facts = facts
        self.crictl = crictl
        self.images = images
        self.layout = layout
        self.provisioned = provisioned
        self.capabilities = capabilities
        self._pulled: set[str] = set()
        self._pull_lock = threading.Lock()
        self._known_boot = getattr(facts, "boot_time", None)

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def build(self) -> int:
        return self.facts.build

    @property
    def provision_summary(self) -> dict:
        """What provisioning did or found (``ProvisionSummary.to_dict()``), for reports."""
        return self.provisioned.summary

    @property
    def run_id(self) -> str:
        return self.crictl.run_id

    def __repr__(self) -> str:
        return f"<HpcHost {self.name} build {self.build} run {self.run_id}>"

    def ensure_image(self, image: str) -> None:
        """Make sure the runtime has ``image``, pulling it only when it is missing.

        The probe image is built and imported on the host (images/build.ps1), not published:
        a pull would ask a registry that does not have it, so an image already present is
        never pulled (images/README.md).  Checked once per worker.
        """
        with self._pull_lock:
            if image not in self._pulled:
                if not self.crictl.images(image):
                    self.crictl.pull(image)
                self._pulled.add(image)

    def restarted(self):
        """``(previous, now)`` boot times when the host has booted since the last look (the
        facts read when this worker connected, or the previous call), else None.

        Asked when a test fails as a runtime regression: pods that vanished because the host
        restarted under the test are the host's failure, not the runtime's (the
        classification turns it into infrastructure).  One cheap read, only on failure.
        """
        now = self.windows.boot_time()
        previous = self._known_boot
        if previous is None or now > previous:
            self._known_boot = now
        return (previous, now) if previous is not None and now > previous else None

    def close(self) -> None:
        self.transport.close()


def open_host(target: Target, bundle: RuntimeBundle, *, run_id: str, run_dir,
              who: str, wrap: Callable[[Transport], Transport] | None = None) -> HpcHost:
    """Connect, provision once per run (:mod:`.provisioning`), read facts; an HpcHost."""
    transport = open_transport(target)
    try:
        if wrap is not None:
            transport = wrap(transport)
        windows = WindowsHost(transport)
        provisioned = ensure_provisioned(windows, bundle, run_dir=run_dir, who=who)
        facts = windows.facts()
        layout = RuntimeLayout.for_bundle(bundle)
        # The reporting wrapper (``wrap``) also shows each crictl step of a batch.
        reporter = transport if isinstance(transport, CriReporter) else None
        crictl = Crictl(transport, run_id=run_id, crictl_path=layout.crictl_exe,
                        config_path=layout.crictl_yaml, reporter=reporter)
        return HpcHost(target=target, transport=transport, windows=windows, facts=facts,
                       crictl=crictl, images=image_set_for(facts.build), layout=layout,
                       provisioned=provisioned,
                       capabilities=host_capabilities(target.labels.capabilities, facts))
    except BaseException:
        transport.close()
        raise


__all__ = ["HpcHost", "open_host"]
