"""A process-isolated HPC gets its token's environment but not the spec's env (§3.2, §9.2)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "envs"


class JobEnvsDropped(Flavor):
    name = "job-envs-dropped"

    def job_environment(self, default_block, spec_env, rootfs_location, *, init):
        return super().job_environment(default_block, [], rootfs_location, init=init)


FLAVOR = JobEnvsDropped()
