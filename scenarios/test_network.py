"""Network: a process-isolated HPC is on the host's network; an HPC in a UVM has none.

No hcsshim code switches networking off for HPCs (docs/behaviour/runtime.md §6): containerd
treats a HostProcess pod as host-network, creates no namespace and runs no CNI (§6 item 1),
so the shim never gives the UVM an endpoint (§6 item 2).  The CRI-visible signal is an empty
pod IP (docs/behaviour/ecosystem.md §0.4, §2.2).  Inside the UVM that means no adapter with an address
and no route to the host; a process-isolated HPC runs in the host's compartment and sees its
adapters and name (§3.3 "Networking", §6).
"""

from __future__ import annotations

import re

import pytest

from harness.plugin.api import HYPERV, INHERIT_USER_ANNOTATION, ISOLATIONS, PROCESS

HYPERV_ONLY = [case for case in ISOLATIONS if HYPERV in case.values]  # with its marker
PROCESS_ONLY = [case for case in ISOLATIONS if PROCESS in case.values]  # with its marker
# Where the user is not the subject, the pod asks to inherit it: SYSTEM in both modes, set by
# the shim itself (docs/behaviour/runtime.md §2.5 in a UVM, §3.3 for a job container).
INHERIT = {INHERIT_USER_ANNOTATION: "true"}

_IPV4_LINE = re.compile(r"^\s*IPv4 Address[ .]*:\s*([0-9.]+)", re.MULTILINE)
# ping's statistics line: "Packets: Sent = 1, Received = 0, Lost = 1 (100% loss),"
_RECEIVED = re.compile(r"Received = (\d+)")


def _summary(ping_output: str) -> str:
    """ping's statistics line (or its last line)."""
    lines = [line.strip() for line in ping_output.strip().splitlines() if line.strip()]
    stats = [line for line in lines if "Received =" in line]
    return (stats or lines or ["no output"])[-1]


def ipv4_addresses(ipconfig_output: str) -> tuple[str, ...]:
    """The IPv4 addresses ``ipconfig`` lists (a ``(Preferred)`` suffix dropped)."""
    return tuple(_IPV4_LINE.findall(ipconfig_output))


@pytest.fixture(scope="module")
def host_ipv4(host_view) -> tuple[str, ...]:
    """The host's IPv4 addresses, as ``ipconfig`` on the host itself lists them."""
    return ipv4_addresses(host_view.run(["ipconfig"]))


@pytest.mark.independent_of_uvm_support
@pytest.mark.reference("docs/behaviour/ecosystem.md §2.2")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_inspectp_shows_no_pod_ip(pods, isolation):
    """``crictl inspectp`` of an HPC pod shows no pod IP and no CNI result.

    Pod: host_process, inherit-user.  Expected: ``status.network.ip`` empty, no additional IPs,
    ``info.cniResult`` null (docs/behaviour/ecosystem.md §0.4, §2.2, §3.3: HostProcess means host
    network on Windows; docs/behaviour/runtime.md §6 item 1).
    """
    status = pods.run(isolation, annotations=INHERIT).inspect()
    assert status.ip == "" and not status.additional_ips, (
        f"{isolation}: an HPC pod is host-network, so the CRI must show no pod IP (§2.2); got "
        f"ip={status.ip!r} additionalIps={status.additional_ips!r}")
    assert status.info.get("cniResult") is None, (
        f"{isolation}: no CNI runs for an HPC pod (§2.2); cniResult is "
        f"{status.info.get('cniResult')!r}")


@pytest.mark.reference("docs/behaviour/runtime.md §6")
@pytest.mark.parametrize("isolation", HYPERV_ONLY)
def test_no_adapter_has_an_address_inside_the_uvm(shared_hpc, isolation, placement):
    """Inside the UVM, ``ipconfig`` lists no adapter with an IPv4 address.

    Pod: host_process, inherit-user, hypervisor isolation.  Container: the shared idle HPC.
    Command: exec ``ipconfig``.  Expected: exit 0 and no ``IPv4 Address`` line (§6 items 1-2: no network
    namespace, so the UVM gets no endpoint).
    """
    hpc = shared_hpc
    result = hpc.exec(["ipconfig"])
    assert result.exit_code == 0, f"HV-HPC: ipconfig must run in the UVM (exit " \
                                  f"{result.exit_code}: {result.stderr.strip()})"
    addresses = ipv4_addresses(result.stdout)
    assert addresses == (), (
        f"HV-HPC: no adapter in the UVM may have an address (§6), but ipconfig lists "
        f"{', '.join(addresses)}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §6")
@pytest.mark.parametrize("isolation", HYPERV_ONLY)
def test_pinging_the_host_fails_inside_the_uvm(shared_hpc, isolation, placement, host_view,
                                              host_ipv4):
    """From inside the UVM, pinging the host's address fails.

    Pod: host_process, inherit-user, hypervisor isolation.  Container: the shared idle HPC.
    Command: exec ``ping -n 1 <host IPv4>`` (the address ``ipconfig`` shows on the host itself).
    Expected: a non-zero exit (§6: no endpoint, no route out of the UVM).
    """
    if not host_ipv4:
        pytest.skip(f"the host {host_view.hostname} shows no IPv4 address to ping")
    hpc = shared_hpc
    for address in host_ipv4:
        result = hpc.exec(["ping", "-n", "1", address])
        received = _RECEIVED.search(result.stdout)
        replies = int(received.group(1)) if received else None
        assert not replies, (
            f"HV-HPC: the UVM has no network (§6), yet ping {address} (the host) got "
            f"{replies} replies: {_summary(result.stdout)}")
        assert result.exit_code != 0, (
            f"HV-HPC: exit code lost: ping {address} got no reply ({_summary(result.stdout)}) "
            f"yet exited 0 (§2.5: the wrapping cmd ends with the command's code)")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §6")
@pytest.mark.parametrize("isolation", PROCESS_ONLY)
def test_process_isolated_hpc_sees_the_hosts_adapters_and_name(shared_hpc, isolation, host_view,
                                                               host_ipv4):
    """A process-isolated HPC sees the host's name and the host's addresses.

    Pod: host_process, inherit-user.  Container: the shared idle HPC.
    Commands: exec ``hostname``, ``ipconfig``.
    Expected: the host's own name and its IPv4 addresses (§6; hcsshim's
    Test_RunContainer_Hostname_JobContainer_WCOW, §5.2; containerd's COMPUTERNAME check,
    docs/behaviour/ecosystem.md §1.4).
    """
    hpc = shared_hpc
    name = hpc.exec(["hostname"]).stdout.strip()
    assert name.lower() == host_view.hostname.lower(), (
        f"PI-HPC: hostname must be the host's ({host_view.hostname}); got {name!r}")
    seen = ipv4_addresses(hpc.exec(["ipconfig"]).stdout)
    assert set(seen) == set(host_ipv4), (
        f"PI-HPC: the HPC must see the host's adapters ({', '.join(host_ipv4)}); "
        f"ipconfig lists {', '.join(seen) or 'none'}")


@pytest.mark.reference("docs/behaviour/runtime.md §9.1")
@pytest.mark.parametrize("isolation", HYPERV_ONLY)
def test_uvm_hpc_has_its_own_hostname(shared_hpc, isolation, placement, host_view):
    """An HPC in a UVM sees the UVM's own host name, never the host's.

    Pod: host_process, inherit-user, hypervisor isolation.  Container: the shared idle HPC.
    Commands: exec ``hostname`` twice, and ``cmd /c echo %COMPUTERNAME%``.
    Expected: a name that differs from the host's (``hostname`` on the host itself), the same
    in every exec, and the computer name agreeing with it (§9.1: the HPC runs in the UVM's
    namespace, a Windows instance of its own; its exact name is not known, so only this
    consistency is asserted).
    """
    hpc = shared_hpc
    first = hpc.exec(["hostname"])
    assert first.exit_code == 0 and first.stdout.strip(), (
        f"HV-HPC: hostname must run in the UVM (exit {first.exit_code}: "
        f"{first.stderr.strip()})")
    name = first.stdout.strip()
    assert name.lower() != host_view.hostname.lower(), (
        f"HV-HPC: the HPC must see the UVM's own host name (§9.1), but hostname prints the "
        f"host's ({name})")
    again = hpc.exec(["hostname"]).stdout.strip()
    computer = hpc.exec(["cmd", "/c", "echo", "%COMPUTERNAME%"]).stdout.strip()
    assert again == name and computer.lower() == name.lower()[:15], (
        f"HV-HPC: the UVM's host name must be stable and match COMPUTERNAME (§9.1); "
        f"hostname printed {name!r} then {again!r}, COMPUTERNAME is {computer!r}")
    placement.check(hpc, isolation)
