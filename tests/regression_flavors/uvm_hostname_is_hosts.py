"""An HPC in a UVM sees the host's name instead of the UVM's (breaks runtime.md §9.1)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "hostname"


class UvmHostnameIsHosts(Flavor):
    name = "uvm-hostname-is-hosts"

    def guest_hostname(self, where, name, *, host_name):
        return host_name if where == "uvm" else name


FLAVOR = UvmHostnameIsHosts()
