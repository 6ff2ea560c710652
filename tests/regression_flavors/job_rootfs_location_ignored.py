"""A process-isolated HPC ignores the pod's rootfs-location annotation and binds its rootfs
at the default (breaks docs/behaviour/runtime.md §1.4, §3.1)."""
from harness.sim.cri import shim
from harness.sim.cri.flavors import Flavor

SCENARIOS = "rootfs_location"


class JobRootfsLocationIgnored(Flavor):
    name = "job-rootfs-location-ignored"

    def job_rootfs_location(self, container_id, annotations, bind_filter):
        others = {k: v for k, v in annotations.items()
                  if k != shim.HOSTPROCESS_ROOTFS_LOCATION}
        return super().job_rootfs_location(container_id, others, bind_filter)


FLAVOR = JobRootfsLocationIgnored()
