"""A process-isolated HPC ignores inherit-user and logs on as the named user (breaks
docs/behaviour/runtime.md §3.3)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "inherit_user"


class JobInheritUserIgnored(Flavor):
    name = "job-inherit-user-ignored"

    def job_user(self, username, container_id, *, inherit_user, resolve):
        return resolve(username, False)


FLAVOR = JobInheritUserIgnored()
