"""An exec into a process-isolated HPC logs on as the spec's user instead of reusing the
init process's token (breaks docs/behaviour/runtime.md §3.3, runtime.md §9.3)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "init_process_user"


class JobExecUserDiffers(Flavor):
    name = "job-exec-user-differs"

    def job_exec_user(self, init_user, requested_user):
        return requested_user


FLAVOR = JobExecUserDiffers()
