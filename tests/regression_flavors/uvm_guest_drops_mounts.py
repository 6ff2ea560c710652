"""The shim shares the mounts into the UVM but the guest maps none of them into the HPC
(breaks runtime.md §9.7)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "mount"


class UvmGuestDropsMounts(Flavor):
    name = "uvm-guest-drops-mounts"

    def guest_mounts(self, where, mounts):
        return [] if where == "uvm" else list(mounts)


FLAVOR = UvmGuestDropsMounts()
