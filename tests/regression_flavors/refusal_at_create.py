"""The shim's task is created at CreateContainer, so its refusals (capability gate, unsafe
rootfs location) surface there instead of at StartContainer (breaks §8 item 4)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "capability or unsafe"


class RefusalAtCreate(Flavor):
    name = "refusal-at-create"

    def task_create_stage(self):
        return "create"


FLAVOR = RefusalAtCreate()
