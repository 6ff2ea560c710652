"""An HPC in a hypervisor pod is started as a normal container in the UVM: the shim drops the
hostprocess-container annotation (breaks docs/behaviour/runtime.md §3.4 for HV-HPC)."""
from harness.sim.cri import shim
from harness.sim.cri.flavors import Flavor

SCENARIOS = "inherit_user_runs_as_system or starts_in_an_hpc_pod"


class StartedAsNormalContainer(Flavor):
    name = "uvm-hpc-started-as-normal-container"

    def update_container_annotations(self, pod_annotations, pod_isolated, pod_job_container,
                                     container_annotations, container_isolated,
                                     uvm_supports_hpc):
        out = super().update_container_annotations(
            pod_annotations, pod_isolated, pod_job_container, container_annotations,
            container_isolated, uvm_supports_hpc)
        if container_isolated:
            out[shim.HOSTPROCESS_CONTAINER] = "false"
        return out


FLAVOR = StartedAsNormalContainer()
