"""Read-only mounts are set up writable (breaks runtime.md §9.5-§9.7: option ro)."""
import dataclasses

from harness.sim.cri.flavors import Flavor

SCENARIOS = "mount"


class ReadOnlyIgnored(Flavor):
    name = "read-only-ignored"

    def container_mounts(self, where, mounts):
        return [dataclasses.replace(m, readonly=False) for m in mounts]


FLAVOR = ReadOnlyIgnored()
