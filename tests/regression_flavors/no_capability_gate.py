"""The shim does not check the UVM's HostProcessContainerSupported capability before running
an HPC in it (breaks docs/behaviour/runtime.md §2.3 rule 1, §2.7)."""
from harness.sim.cri.flavors import Flavor

SCENARIOS = "capability"


class NoCapabilityGate(Flavor):
    name = "no-capability-gate"

    def update_container_annotations(self, pod_annotations, pod_isolated, pod_job_container,
                                     container_annotations, container_isolated,
                                     uvm_supports_hpc):
        return super().update_container_annotations(
            pod_annotations, pod_isolated, pod_job_container, container_annotations,
            container_isolated, None)


FLAVOR = NoCapabilityGate()
