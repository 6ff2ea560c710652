"""The CRI envs never reach a process of an HPC in a UVM (breaks runtime.md §9.2)."""
import dataclasses

from harness.sim.cri.flavors import Flavor

SCENARIOS = "envs"


class UvmEnvsDropped(Flavor):
    name = "uvm-envs-dropped"

    def isolated_job_process(self, task_annotations, process, *, init):
        wrapped = super().isolated_job_process(task_annotations, process, init=init)
        return dataclasses.replace(wrapped, env=[])


FLAVOR = UvmEnvsDropped()
