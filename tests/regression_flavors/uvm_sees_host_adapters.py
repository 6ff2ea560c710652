"""An HPC in a UVM sees the host's network adapters (breaks docs/behaviour/runtime.md §6)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "adapter or pinging"


class UvmSeesHostAdapters(Flavor):
    name = "uvm-sees-host-adapters"

    def guest_adapters(self, where, adapters, *, host_adapters):
        return host_adapters if where == "uvm" else adapters


FLAVOR = UvmSeesHostAdapters()
