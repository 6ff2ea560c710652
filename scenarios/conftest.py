"""What several scenario modules share: where an HPC runs, the host's own view, waiting.

The plugin (harness/plugin) provides the pods, the host and the expectations; this file adds
the few checks that more than one concern needs, as fixtures so a scenario shows them in its
signature:

* ``placement`` — an HPC runs where its isolation puts it: on the host for process isolation
  (docs/behaviour/runtime.md §3.4: job containers are host processes; docs/behaviour/ecosystem.md §1.4:
  host binaries are visible), inside the pod's utility VM for hypervisor isolation (§3.4 sends
  HV-HPC to ``hcsoci.CreateContainer`` in the UVM; §2.2 boots the UVM from the pause image, so
  nothing the harness deployed on the host is there).  A shim that quietly ran a hypervisor
  pod's HPC on the host (hcsshim before PR #2531 did, see harness/sim/cri/flavors.py) would
  otherwise pass every shell or identity check the host can also pass.
* ``host_view`` — the host's name (and other programs' output) read on the host itself.
* ``wait_for_exit`` — a one-shot container's final status.
* ``pod_network`` — skips a scenario that needs a non-HostProcess pod when the host has no
  CNI network (such a pod needs one; docs/behaviour/ecosystem.md §2.5).

Every exception leaving a scenario gets a note naming the behaviour under test (the first
line of its docstring and its reference marker), so an unexpected refusal by the runtime
reads as the behaviour that broke, not only as crictl's text.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import pytest

from harness.plugin.api import (
    HYPERV,
    INHERIT_USER_ANNOTATION,
    PROCESS,
    CriStageError,
    UnexpectedRefusal,
)

EXIT_POLL_SECONDS = 0.5


# --- failures name the behaviour -------------------------------------------------------
def behaviour_of(item: pytest.Item) -> str:
    """The behaviour a scenario checks: its docstring's first line and reference marker."""
    doc = (getattr(getattr(item, "obj", None), "__doc__", None) or "").strip()
    first = doc.splitlines()[0].strip() if doc else item.name
    ref = item.get_closest_marker("reference")
    return f"{first} ({ref.args[0]})" if ref and ref.args else first


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    try:
        return (yield)
    except (Exception, pytest.fail.Exception) as exc:  # failures, not skips
        isolation = pyfuncitem.callspec.params.get("isolation") \
            if hasattr(pyfuncitem, "callspec") else None
        where = f" [{isolation}]" if isolation else ""
        note = f"behaviour under test{where}: {behaviour_of(pyfuncitem)}"
        if isinstance(exc, CriStageError) and not isinstance(exc, UnexpectedRefusal):
            # A refusal nobody expected: its first line names the behaviour, the stage and
            # what the runtime said (harness/plugin/refusals.py); same class, same category.
            prefix = f"{isolation}: " if isolation else ""
            unexpected = UnexpectedRefusal(exc, prefix + behaviour_of(pyfuncitem))
            unexpected.add_note(note)
            raise unexpected from exc
        exc.add_note(note)
        raise


# --- where an HPC runs -----------------------------------------------------------------
# In every Windows, the host's and a UVM's alike: proves the check's own exec works.
EVERYWHERE = "C:\\Windows\\System32\\cmd.exe"


@dataclass
class Placement:
    """Checks that an HPC runs on the host (process) or inside its pod's UVM (hyperv)."""

    pods: object
    host_file: str  # a file the harness deployed on the host only: crictl.exe
    verified: set  # container ids whose placement was checked in this worker (shared HPCs)

    def check(self, target, isolation: str) -> None:
        """``target`` is a running HPC, or a pod: then an idle HPC that inherits the user is
        started in it (all HPCs of a pod run in the same place, one UVM per pod, §2.2)."""
        __tracebackhide__ = True
        ctr = target if hasattr(target, "exec") else self.pods.start_long_running(
            target, annotations={INHERIT_USER_ANNOTATION: "true"})
        if ctr.id in self.verified:
            return  # a shared HPC an earlier test checked: where it runs cannot change
        # An explicit cmd /c: the check must not depend on the shim's wrap (test_shell's).
        sanity = ctr.exec(["cmd", "/c", "dir", EVERYWHERE])
        assert sanity.exit_code == 0, (
            f"{isolation}: the placement check cannot look around the HPC: dir {EVERYWHERE} "
            f"exited {sanity.exit_code}: {sanity.stderr.strip()}")
        seen = ctr.exec(["cmd", "/c", "dir", self.host_file]).exit_code == 0
        if isolation == PROCESS:
            assert seen, (
                f"PI-HPC: a process-isolated HPC runs on the host and sees its files "
                f"(§3.4, docs/behaviour/ecosystem.md §1.4), but {self.host_file} is not visible")
        elif isolation == HYPERV:
            assert not seen, (
                f"HV-HPC: an HPC in a hypervisor pod must run inside the pod's UVM (§2.4, "
                f"§3.4), but it sees the host's {self.host_file}: it runs on the host")
        else:
            raise ValueError(f"unknown isolation {isolation!r}")
        self.verified.add(ctr.id)


@pytest.fixture(scope="session")
def _placement_verified() -> set:
    return set()


@pytest.fixture
def placement(pods, hpc_host, _placement_verified) -> Placement:
    return Placement(pods, hpc_host.crictl.crictl_path, _placement_verified)


# --- the host's own view ---------------------------------------------------------------
@dataclass(frozen=True)
class HostView:
    """The leased host as programs on the host itself (not in a container) see it."""

    transport: object

    def run(self, argv: list[str]) -> str:
        """Run ``argv`` on the host; its stdout."""
        __tracebackhide__ = True
        result = self.transport.run(argv, timeout=60, repeatable=True)  # a read
        assert result.exit_code == 0, (
            f"reading the host's own view failed: {' '.join(argv)} exited "
            f"{result.exit_code}: {result.stderr.strip()}")
        return result.stdout

    @functools.cached_property
    def hostname(self) -> str:
        return self.run(["hostname"]).strip()


@pytest.fixture(scope="session")
def host_view(hpc_host) -> HostView:
    return HostView(hpc_host.transport)


# --- one-shot containers ------------------------------------------------------------------
@pytest.fixture
def wait_for_exit():
    """``wait_for_exit(container, timeout=120)``: its status once it has exited."""

    def wait(container, timeout: float = 120.0):
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        while True:
            status = container.inspect()
            if status.exited:
                return status
            if time.monotonic() > deadline:
                pytest.fail(f"container {status.name} did not exit within {timeout:g}s "
                            f"(state {status.state})")
            time.sleep(EXIT_POLL_SECONDS)

    return wait


@pytest.fixture
def wait_for_log():
    """``wait_for_log(container, timeout=60)``: the first line a running container logged
    (its init process writes it while it keeps running; the log fills asynchronously)."""

    def wait(container, timeout: float = 60.0) -> str:
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        while True:
            text = container.logs().strip()
            if text:
                return text.splitlines()[0].strip()
            if time.monotonic() > deadline:
                status = container.inspect()
                pytest.fail(f"container {status.name} logged nothing within {timeout:g}s "
                            f"(state {status.state}, exit code {status.exit_code})")
            time.sleep(EXIT_POLL_SECONDS)

    return wait


# --- pods that are not HostProcess ------------------------------------------------------
@pytest.fixture
def pod_network(hpc_host) -> None:
    """Skip unless the host's CRI reports a pod network (a normal pod needs CNI)."""
    info = hpc_host.crictl.info()
    if not info.network_ready:
        reason = info.condition_reasons.get("NetworkReady") or "NetworkReady=false"
        pytest.skip(f"host {hpc_host.name} has no CNI pod network ({reason}); a "
                    f"non-HostProcess pod needs one (docs/behaviour/ecosystem.md §2.5)")
