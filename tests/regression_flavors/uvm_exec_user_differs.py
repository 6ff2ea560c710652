"""Execs into an HPC in a UVM skip the inherit-user rule: they run as the spec's user while
the init process runs as SYSTEM (breaks §2.5 for execs, runtime.md §9.3)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "init_process_user"


class UvmExecUserDiffers(Flavor):
    name = "uvm-exec-user-differs"

    def isolated_job_process(self, task_annotations, process, *, init):
        wrapped = super().isolated_job_process(task_annotations, process, init=init)
        if not init:
            wrapped.user = process.user
        return wrapped


FLAVOR = UvmExecUserDiffers()
