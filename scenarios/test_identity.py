"""Identity: which user an HPC's processes run as.

``whoami`` prints ``domain\\user`` in lower case (docs/behaviour/runtime.md §8 item 10); the
comparisons below are exact on that form.  Inherit-user means different things by isolation
(§8 item 10): a process-isolated HPC takes the shim's own token, which is SYSTEM because the
harness runs containerd as a LocalSystem service (§3.3); an HPC in a UVM is forced to
``NT AUTHORITY\\SYSTEM`` of the UVM (§2.5 user rule).  So every inherit scenario names another
user for the container too: SYSTEM then proves the inherit, not the name.
"""

from __future__ import annotations

import pytest

from harness.plugin.api import INHERIT_USER_ANNOTATION, ISOLATIONS, PROCESS

PROCESS_ONLY = [case for case in ISOLATIONS if PROCESS in case.values]  # with its marker

SYSTEM = "NT AUTHORITY\\SYSTEM"
LOCAL_SERVICE = "NT AUTHORITY\\Local service"  # spelt as containerd's own test does (§3.3)
WHOAMI_SYSTEM = "nt authority\\system"
WHOAMI_LOCAL_SERVICE = "nt authority\\local service"
# A built-in local group of every Windows Server: naming it as the user makes the shim create
# (and delete with the container) a temporary member named after the container (§3.3).
LOCAL_GROUP = "Users"
USER_NAME_CHAR_LIMIT = 20  # winapi.UserNameCharLimit (§3.3)
COMPUTER_NAME_LIMIT = 15  # whoami's domain of a local account is the NetBIOS computer name


def whoami(container) -> str:
    __tracebackhide__ = True
    result = container.exec(["whoami"])
    assert result.exit_code == 0, (f"whoami must run in the container (exit "
                                   f"{result.exit_code}: {result.stderr.strip()})")
    return result.stdout.strip()


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_pod_inherit_user_runs_as_system(pods, isolation, placement):
    """When the pod asks to inherit the user, ``whoami`` is ``nt authority\\system``.

    Pod: host_process, microsoft.com/hostprocess-inherit-user = "true".  Container: the idle
    HPC, run_as_username ``NT AUTHORITY\\Local service``.  Command: exec ``whoami``.
    Expected: ``nt authority\\system``, not the named user (§2.5: an HPC in a UVM is forced to
    SYSTEM, overwriting any username; §3.3: a job container takes the shim's LocalSystem
    token), running where its isolation puts it.
    """
    pod = pods.run(isolation, annotations={INHERIT_USER_ANNOTATION: "true"})
    hpc = pods.start_long_running(pod, run_as_username=LOCAL_SERVICE)
    user = whoami(hpc)
    assert user == WHOAMI_SYSTEM, (
        f"{isolation}: a pod asking to inherit the user must run its HPC as {WHOAMI_SYSTEM} "
        f"(§2.5, §3.3); whoami prints {user}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_pod_inherit_user_overrides_the_containers(pods, isolation, placement):
    """The pod's inherit-user overrides the container's own value.

    Pod: host_process, inherit-user "true".  Container: inherit-user "false",
    run_as_username ``NT AUTHORITY\\Local service``.  Command: exec ``whoami``.
    Expected: ``nt authority\\system``: the shim copies the pod's value over the container's
    (§2.3 rule 2, table rows 5-6; §8 item 3), although containerd put the container's
    annotation last (§4.3).
    """
    pod = pods.run(isolation, annotations={INHERIT_USER_ANNOTATION: "true"})
    hpc = pods.start_long_running(pod, run_as_username=LOCAL_SERVICE,
                                  annotations={INHERIT_USER_ANNOTATION: "false"})
    user = whoami(hpc)
    assert user == WHOAMI_SYSTEM, (
        f'{isolation}: the pod\'s inherit-user "true" must override the container\'s "false" '
        f"(§2.3 passthrough), so whoami must print {WHOAMI_SYSTEM}; it prints {user}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §1.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_inherit_user_True_is_not_inherit(pods, isolation, placement, expect):
    """Inherit-user ``"True"`` (capital T) is not inherit-user: the named user runs.

    Pod: host_process, inherit-user "True".  Container: run_as_username
    ``NT AUTHORITY\\Local service``.  Command: exec ``whoami``.
    Expected: not SYSTEM (§1.3, §8 item 6: only the exact string "true" counts); the named
    user as the profile's ``<isolation>.user_without_inherit.whoami`` says (a job container
    logs on as that user, §3.3; the guest's handling of a username is unknown, §8 item 10).
    """
    pod = pods.run(isolation, annotations={INHERIT_USER_ANNOTATION: "True"})
    hpc = pods.start_long_running(pod, run_as_username=LOCAL_SERVICE)
    user = whoami(hpc)
    assert user != WHOAMI_SYSTEM, (
        f'{isolation}: inherit-user "True" must not count as "true" (§1.3 exact match), yet '
        f"the HPC runs as {user}")
    expect.check(f"{isolation}.user_without_inherit.whoami", user)
    placement.check(hpc, isolation)


@pytest.mark.independent_of_uvm_support  # a normal container: no HPC, in a UVM or not
@pytest.mark.reference("docs/behaviour/runtime.md §2.3")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_non_hpc_container_never_gains_system(pods, isolation, pod_network):
    """A container that is not an HPC never runs as SYSTEM, even when asked to inherit.

    Pod: not host_process, inherit-user "true".  Container: not host_process, inherit-user
    "true", ``ping -t 127.0.0.1`` (a normal container sees only its own image).
    Command: exec ``whoami``.
    Expected: no ``nt authority`` account (§2.3 rule 3 forces inherit-user "false" on
    non-HPC containers; §8 item 3).
    """
    pod = pods.run(isolation, host_process=False,
                   annotations={INHERIT_USER_ANNOTATION: "true"})
    container = pod.container(host_process=False, command=["ping", "-t", "127.0.0.1"],
                              annotations={INHERIT_USER_ANNOTATION: "true"})
    container.start()
    user = whoami(container)
    assert "nt authority" not in user, (
        f"{isolation}: a non-HPC container must never gain SYSTEM through inherit-user "
        f"(§2.3 rule 3), yet whoami prints {user}")


@pytest.mark.reference("docs/behaviour/runtime.md §3.3")
@pytest.mark.parametrize("user, expected", [
    pytest.param(SYSTEM, WHOAMI_SYSTEM, id="system"),
    pytest.param(LOCAL_SERVICE, WHOAMI_LOCAL_SERVICE, id="local-service"),
])
@pytest.mark.parametrize("isolation", PROCESS_ONLY)
def test_process_isolated_hpc_runs_as_the_requested_user(pods, isolation, user, expected):
    """A process-isolated HPC runs as the user the container asks for.

    Pod: host_process, no inherit-user.  Container: run_as_username
    ``NT AUTHORITY\\SYSTEM`` or ``NT AUTHORITY\\Local service``.  Command: exec ``whoami``.
    Expected: that account (§3.3: a service logon for the exact domain ``NT AUTHORITY``;
    hcsshim's TestHostProcess_whoami, §5.3; containerd's own test, docs/behaviour/ecosystem.md §1.4).
    """
    hpc = pods.start_long_running(pods.run(isolation), run_as_username=user)
    got = whoami(hpc)
    assert got == expected, f"PI-HPC: run_as_username {user!r} must run as {expected}; " \
                            f"whoami prints {got}"


@pytest.mark.reference("docs/behaviour/runtime.md §3.3")
@pytest.mark.parametrize("isolation", PROCESS_ONLY)
def test_process_isolated_hpc_as_a_group_runs_as_a_temporary_user(pods, isolation, host_view):
    """Naming a local group as the user runs the HPC as a new member named after the container.

    Pod: host_process, no inherit-user.  Container: run_as_username = the built-in local
    group ``Users``.  Command: exec ``whoami``.
    Expected: ``<host>\\<container id[:20]>`` (§3.3 processToken: the shim creates a local
    user of that name in the group and deletes it with the container; hcsshim's
    Test_RunContainer_GroupName_JobContainer_WCOW, §5.2; k8s e2e case 8).
    """
    hpc = pods.start_long_running(pods.run(isolation), run_as_username=LOCAL_GROUP)
    user = whoami(hpc)
    domain, _, name = user.partition("\\")
    assert name == hpc.id[:USER_NAME_CHAR_LIMIT].lower(), (
        f"PI-HPC: a group as the user must run as a temporary user named after the container "
        f"({hpc.id[:USER_NAME_CHAR_LIMIT]}, §3.3); whoami prints {user}")
    assert domain == host_view.hostname.lower()[:COMPUTER_NAME_LIMIT], (
        f"PI-HPC: the temporary user is local to the host {host_view.hostname}; whoami "
        f"prints {user}")


@pytest.mark.reference("docs/behaviour/runtime.md §9.3")
@pytest.mark.parametrize("inherit", [pytest.param(True, id="inherit-user"),
                                     pytest.param(False, id="named-user")])
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_exec_runs_as_the_init_process_user(pods, hpc_host, isolation, placement, inherit,
                                            wait_for_log):
    """An exec into an HPC runs as the same user as the container's own (init) process.

    Pod: host_process; inherit-user "true", or none.  Container: run_as_username
    ``NT AUTHORITY\\Local service``, command ``cmd /c whoami & <idle command>`` (the init
    process writes its user to the log, then keeps running).  Command: exec ``whoami``.
    Expected: the exec's user is the init process's (§9.3: an exec inherits the spec's user
    and the shim applies the same rules to it, §2.5 in a UVM; a job container reuses the
    init process's token, §3.3).  The exact user in a UVM without inherit-user is not known
    (§8 item 10), so only the agreement is asserted.
    """
    pod = pods.run(isolation, annotations={INHERIT_USER_ANNOTATION: "true"} if inherit else None)
    hpc = pods.start_long_running(
        pod, run_as_username=LOCAL_SERVICE,
        command=["cmd", "/c", "whoami", "&", *hpc_host.images.idle_command_for()])
    init_user = wait_for_log(hpc)
    exec_user = whoami(hpc)
    assert exec_user == init_user, (
        f"{isolation}: an exec must run as the init process's user (§9.3): the init process "
        f"is {init_user}, the exec runs as {exec_user}")
    placement.check(hpc, isolation)


def host_has_user(hpc_host, name: str) -> bool:
    """``net user NAME`` on the host itself: 0 when the account exists, 2 when it does not."""
    __tracebackhide__ = True
    result = hpc_host.transport.run(["net", "user", name], timeout=60, repeatable=True)
    assert result.exit_code in (0, 2), (
        f"reading the host's accounts failed: net user {name} exited {result.exit_code}: "
        f"{result.stderr.strip()}")
    return result.exit_code == 0


@pytest.mark.reference("docs/behaviour/runtime.md §3.3")
@pytest.mark.parametrize("isolation", PROCESS_ONLY)
def test_the_temporary_user_goes_with_its_container(pods, isolation, hpc_host):
    """The temporary user a group-named HPC runs as is deleted with the container.

    Pod: host_process, no inherit-user.  Container: run_as_username = the local group
    ``Users``, the idle probe HPC, then stopped and removed.
    Command: ``net user <container id[:20]>`` on the host, before and after.
    Expected: the account exists while the HPC runs and is gone after its removal (§3.3:
    ``JobContainer.Close`` deletes the local user it created for the group).
    """
    hpc = pods.start_long_running(pods.run(isolation), run_as_username=LOCAL_GROUP)
    name = hpc.id[:USER_NAME_CHAR_LIMIT]
    assert host_has_user(hpc_host, name), (
        f"PI-HPC: a group as the user must create the temporary user {name} on the host "
        f"(§3.3); net user {name} does not find it")
    hpc.stop()
    hpc.remove()
    assert not host_has_user(hpc_host, name), (
        f"PI-HPC: temporary user left behind: {name}, made for the group {LOCAL_GROUP}, must "
        f"be deleted with its container (§3.3 JobContainer.Close); net user still finds it")
