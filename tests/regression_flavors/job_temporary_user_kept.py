"""The temporary local user made for a group-named process-isolated HPC is never deleted
(breaks docs/behaviour/runtime.md §3.3: JobContainer.Close deletes it)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "temporary_user"


class TemporaryUserKept(Flavor):
    name = "job-temporary-user-kept"

    def delete_temporary_user(self, name):
        return False


FLAVOR = TemporaryUserKept()
