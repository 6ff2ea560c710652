"""The shim sends an HPC-in-UVM rootfs location without ospath.Sanitize, so unsafe paths
are not refused (breaks docs/behaviour/runtime.md §2.4)."""
from harness.sim.cri import shim
from harness.sim.cri.flavors import Flavor

SCENARIOS = "unsafe"


class UvmRootfsPathUnsanitised(Flavor):
    name = "uvm-rootfs-path-unsanitised"

    def isolated_rootfs_path(self, annotations):
        return annotations.get(shim.HOSTPROCESS_ROOTFS_LOCATION) or None


FLAVOR = UvmRootfsPathUnsanitised()
