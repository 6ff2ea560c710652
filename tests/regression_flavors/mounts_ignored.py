"""The shim sets up none of the container's mounts (breaks runtime.md §9.6, §9.7)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "mount"


class MountsIgnored(Flavor):
    name = "mounts-ignored"

    def container_mounts(self, where, mounts):
        return []


FLAVOR = MountsIgnored()
