"""What an HPC's init process writes to standard error never reaches its container log."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "logs_hold"


class InitStderrLost(Flavor):
    name = "init-stderr-lost"

    def guest_streams(self, where, stdout, stderr, *, init):
        return (stdout, b"") if init else (stdout, stderr)


FLAVOR = InitStderrLost()
