"""The Flavor interface: each hook reaches the decision it names, and built-ins are overrides.

The regression self-test (tests/regression_flavors/) writes single-rule regressions as hook
overrides only; these tests pin that the hooks it relies on are actually consulted where the
real code decides (docs/behaviour/runtime.md §2.5, §3.3, §8 item 4; docs/behaviour/runtime.md
§9.x for the mounts, host name and exit status).
"""

from __future__ import annotations

import pytest

from harness.sim import guest
from harness.sim.cri.flavors import BUILTIN, Flavor
from harness.sim.cri.model import CONTAINER_EXITED, CONTAINER_RUNNING
from harness.sim.cri.runtime import CriError
from tests.test_sim_cri_runtime import HYPERV, IU, NANO, PROCESS, SYSTEM, ctr_config, make, \
    pod_config, run, v2_config

INHERIT = {IU: "true"}


def test_builtin_flavors_only_override_hooks():
    """pre-fix and no-capability change nothing but Flavor's own hooks (no private code)."""
    hooks = {name for name in vars(Flavor) if not name.startswith("_")}
    for name, cls in BUILTIN.items():
        own = {k for k in vars(cls) if not k.startswith("__")}
        assert own <= hooks, f"flavor {name} defines non-hook members {sorted(own - hooks)}"


def test_task_create_stage_moves_a_shim_refusal_to_create():
    """The capability gate surfaces at StartContainer today and at CreateContainer when the
    flavor creates the task there (§8 item 4)."""
    class NoCapAtCreate(Flavor):
        def uvm_hpc_capable(self, os_build):
            return False

        def task_create_stage(self):
            return "create"

    rt, _ = make(v2_config(), flavor=NoCapAtCreate())
    with pytest.raises(CriError) as refused:
        run(rt, HYPERV, pod=pod_config(annotations=INHERIT), start=False)
    assert "UVM does not support HostProcess containers" in refused.value.message
    assert rt.list_containers() == []


def test_a_container_whose_shim_drops_hostprocess_starts_as_a_normal_one():
    """is_hpc is decided by the shim's task, not fixed at CreateContainer."""
    class Drop(Flavor):
        def update_container_annotations(self, *args, **kw):
            out = super().update_container_annotations(*args, **kw)
            out.pop("microsoft.com/hostprocess-container", None)
            return out

    rt, rec = make(v2_config(), flavor=Drop())
    _, cid = run(rt, HYPERV, pod=pod_config(annotations=INHERIT))
    container, process = rec.calls[-1]
    assert container.is_hpc is False
    assert process.args[0] == "ping"  # no cmd /c wrap: not an HPC any more


def test_isolated_job_process_is_told_init_or_exec():
    seen = []

    class Spy(Flavor):
        def isolated_job_process(self, task_annotations, process, *, init):
            seen.append(init)
            return super().isolated_job_process(task_annotations, process, init=init)

    rt, _ = make(v2_config(), flavor=Spy())
    _, cid = run(rt, HYPERV, pod=pod_config(annotations=INHERIT))
    rt.exec_sync(cid, ["whoami"], 10)
    assert seen == [True, False]


def test_job_exec_user_and_exit_hooks():
    class Odd(Flavor):
        def job_exec_user(self, init_user, requested_user):
            return "NT AUTHORITY\\LOCAL SERVICE"

        def job_exit_code(self, code, *, killed, init):
            return 0

    rt, rec = make(v2_config(), flavor=Odd())
    _, cid = run(rt, PROCESS, pod=pod_config(annotations=INHERIT))
    out = rt.exec_sync(cid, ["whoami"], 10)
    assert out.stdout.decode().startswith("NT AUTHORITY\\LOCAL SERVICE|")
    rt.stop_container(cid)
    status = rt.container_status(cid)["status"]
    assert status["state"] == CONTAINER_EXITED and status["exitCode"] == 0


def test_guest_hooks_shape_what_processes_see():
    """Host name, streams and exit status come from the guest hooks (the real guest)."""
    class Guest(Flavor):
        def guest_hostname(self, where, name, *, host_name):
            return "SAME-AS-HOST" if where == "uvm" else name

        def guest_streams(self, where, stdout, stderr, *, init):
            return stdout + stderr, b""

        def guest_exit_status(self, where, code, *, killed, init):
            return 0

    rt, _ = make(v2_config(), flavor=Guest())
    rt._launcher = guest.launch  # the real guest, given the flavor by the runtime
    _, cid = run(rt, HYPERV, pod=pod_config(annotations=INHERIT),
                 ctr=ctr_config(NANO[26100], command=("waitfor", "hpce2eidle")))
    assert rt.container_status(cid)["status"]["state"] == CONTAINER_RUNNING
    assert rt.exec_sync(cid, ["hostname"], 10).stdout.strip() == b"SAME-AS-HOST"
    res = rt.exec_sync(cid, ["cmd", "/c", "echo", "x", "1>&2", "&", "exit", "3"], 10)
    assert (res.exit_code, res.stdout.strip(), res.stderr) == (0, b"x", b"")


def test_user_clean_up_hook_keeps_the_temporary_user():
    class Keep(Flavor):
        def delete_temporary_user(self, name):
            return False

    rt, _ = make(v2_config(), flavor=Keep())
    _, cid = run(rt, PROCESS, pod=pod_config(),
                 ctr=ctr_config(NANO[26100], run_as="Users"))
    rt.stop_container(cid)
    rt.remove_container(cid)
    assert cid[:20].upper() in (u.upper() for u in rt.machine.users)
    assert SYSTEM  # the module's constants stay imported for readers


def test_the_temporary_user_is_deleted_with_its_container_today():
    """Seen failing before Machine.remove_user existed: the runtime's clean-up silently did
    nothing (found by scenarios/test_identity.py::test_the_temporary_user_goes_with_...)."""
    rt, _ = make(v2_config())
    _, cid = run(rt, PROCESS, pod=pod_config(),
                 ctr=ctr_config(NANO[26100], run_as="Users"))
    assert cid[:20].upper() in (u.upper() for u in rt.machine.users)
    rt.stop_container(cid)
    rt.remove_container(cid)
    assert cid[:20].upper() not in (u.upper() for u in rt.machine.users)
