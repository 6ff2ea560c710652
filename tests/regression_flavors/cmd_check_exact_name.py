"""The cmd /c wrap compares the whole first argument, not its base name: a full path to
cmd.exe is wrapped again (breaks docs/behaviour/runtime.md §2.5, filepath.Base)."""
import dataclasses

from harness.sim.cri import shim
from harness.sim.cri.flavors import Flavor

SCENARIOS = "spelling"


class ExactNameCmdCheck(Flavor):
    name = "cmd-check-exact-name"

    def isolated_job_process(self, task_annotations, process, *, init):
        p = dataclasses.replace(process, args=None if process.args is None
                                else list(process.args))
        if p.command_line:
            fields = shim.go_fields(p.command_line)
            if (fields[0].lower() if fields else "") not in ("cmd", "cmd.exe"):
                p.command_line = "cmd /c " + p.command_line
        elif p.args:
            if shim.go_trim_space(p.args[0]).lower() not in ("cmd", "cmd.exe"):
                p.args = ["cmd", "/c", *p.args]
        if (task_annotations or {}).get(shim.HOSTPROCESS_INHERIT_USER) == "true":
            p.user = shim.NT_AUTHORITY_SYSTEM
        return p


FLAVOR = ExactNameCmdCheck()
