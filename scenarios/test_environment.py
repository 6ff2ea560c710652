"""Environment: the container's CRI ``envs`` reach every process of an HPC.

containerd puts the CRI ``envs`` into the OCI spec's ``process.env`` after the image's
(docs/behaviour/runtime.md §9.2); an exec inherits the spec's process with only its
arguments replaced, so the same variables reach an exec.  A process-isolated HPC gets them
on top of its token's environment (docs/behaviour/runtime.md §3.2); an HPC in a UVM gets them
through HCS's process parameters inside the UVM.  A value with spaces and one with ``=``
prove the value is carried whole.
"""

from __future__ import annotations

import pytest

from harness.plugin.api import INHERIT_USER_ANNOTATION, ISOLATIONS

# Where the user is not the subject, the pod asks to inherit it: SYSTEM in both modes, set by
# the shim itself (docs/behaviour/runtime.md §2.5 in a UVM, §3.3 for a job container).
INHERIT = {INHERIT_USER_ANNOTATION: "true"}
ENVS = {"HPC_E2E_GREETING": "hello from the CRI envs",
        "HPC_E2E_EQUATION": "a=b;c"}
# ``set HPC_E2E_`` lists every variable whose name starts so, one ``NAME=value`` per line.
SET_PREFIX = ["cmd", "/c", "set", "HPC_E2E_"]


def variables(text: str) -> dict[str, str]:
    """``NAME=value`` lines of ``set`` as a dict."""
    out = {}
    for line in text.strip().splitlines():
        name, sep, value = line.rstrip("\r").partition("=")
        if sep:
            out[name] = value
    return out


@pytest.mark.reference("docs/behaviour/runtime.md §9.2")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_cri_envs_reach_an_exec(pods, isolation, placement):
    """The container's CRI ``envs`` are set in every exec of the HPC.

    Pod: host_process, inherit-user.  Container: the idle probe HPC with envs
    ``HPC_E2E_GREETING=hello from the CRI envs`` and ``HPC_E2E_EQUATION=a=b;c``.
    Command: exec ``cmd /c set HPC_E2E_``.
    Expected: both variables with their whole values (§9.2: containerd's spec env, which an
    exec inherits; §3.2 for a job container; HCS process parameters in a UVM).
    """
    pod = pods.run(isolation, annotations=INHERIT)
    hpc = pods.start_long_running(pod, envs=ENVS)
    result = hpc.exec(SET_PREFIX)
    seen = variables(result.stdout)
    assert seen == ENVS, (
        f"{isolation}: the container's CRI envs must reach an exec (§9.2): expected {ENVS}, "
        f"set printed {seen or 'none'} (exit {result.exit_code}: {result.stderr.strip()})")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §9.2")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_cri_envs_reach_the_init_process(pods, isolation, placement, wait_for_exit):
    """The container's CRI ``envs`` are set in the HPC's own (init) process.

    Pod: host_process, inherit-user.  Container: command ``cmd /c set HPC_E2E_`` with the
    same envs.  Expected: the container exits 0 and its log lists both variables with their
    whole values (§9.2).
    """
    pod = pods.run(isolation, annotations=INHERIT)
    init = pod.container(command=SET_PREFIX, envs=ENVS)
    init.start()
    status = wait_for_exit(init)
    seen = variables(init.logs())
    assert seen == ENVS, (
        f"{isolation}: the container's CRI envs must reach its init process (§9.2): expected "
        f"{ENVS}, the log lists {seen or 'none'} (exit {status.exit_code})")
    placement.check(pod, isolation)
