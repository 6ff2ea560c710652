"""An exec into an HPC in a UVM always reports exit code 0 (breaks §2.5: the wrapping cmd
ends with the command's code, which must reach crictl)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "exit_code or pinging"


class UvmExecExitCodeLost(Flavor):
    name = "uvm-exec-exit-code-lost"

    def guest_exit_status(self, where, code, *, killed, init):
        if where == "uvm" and not init:
            return 0
        return super().guest_exit_status(where, code, killed=killed, init=init)


FLAVOR = UvmExecExitCodeLost()
