"""A process-isolated HPC on a bind-filter host runs command lines without the cmd /c
prefix (breaks docs/behaviour/runtime.md §3.3, §8 item 9)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "builtin or redirection or wrapped_twice"


class JobNoCmdWrap(Flavor):
    name = "job-no-cmd-wrap"

    def job_command_line(self, command_line, rootfs_location, bind_filter, *, init):
        return super().job_command_line(command_line, rootfs_location, False, init=init)


FLAVOR = JobNoCmdWrap()
