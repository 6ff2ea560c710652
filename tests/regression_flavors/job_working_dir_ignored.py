"""A process-isolated HPC's processes always start in the rootfs location, whatever working
directory the container asks for (breaks docs/behaviour/runtime.md §3.3)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "working_directory"


class JobWorkingDirIgnored(Flavor):
    name = "job-working-dir-ignored"

    def job_working_dir(self, requested, rootfs_location, bind_filter, *, init):
        return super().job_working_dir("", rootfs_location, bind_filter, init=init)


FLAVOR = JobWorkingDirIgnored()
