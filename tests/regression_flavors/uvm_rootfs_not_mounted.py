"""An HPC in a UVM starts without its image's rootfs mounted anywhere (breaks
docs/behaviour/runtime.md §1.4, §2.4)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "rootfs_location or rootfs_only or working_directory_inside"


class UvmRootfsNotMounted(Flavor):
    name = "uvm-rootfs-not-mounted"

    def guest_rootfs_location(self, where, location):
        return None if where == "uvm" else location


FLAVOR = UvmRootfsNotMounted()
