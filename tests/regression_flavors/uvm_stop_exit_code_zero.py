"""A stopped HPC in a UVM reports exit code 0, as if it had completed (breaks runtime.md
§9.4: the exit code of a killed process is lost)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "stop_ends"


class UvmStopExitCodeZero(Flavor):
    name = "uvm-stop-exit-code-zero"

    def guest_exit_status(self, where, code, *, killed, init):
        if where == "uvm" and killed:
            return 0
        return super().guest_exit_status(where, code, killed=killed, init=init)


FLAVOR = UvmStopExitCodeZero()
