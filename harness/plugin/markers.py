"""The suite's markers and the skips they cause, with reasons that name the host.

* ``isolation(mode)`` — set by parametrizing with ``harness.plugin.api.ISOLATIONS`` (or by
  the ``isolation`` fixture's own parameters); ``hyperv`` needs a host that can run a
  HostProcess container inside a utility VM.
* ``min_build(N)`` — the host's Windows build must be at least N.
* ``requires(capability, ...)`` — the host must have every capability named.

Capabilities of a host: what its inventory declares in ``labels.capabilities``, plus what its
facts show — ``containers`` and ``hyper-v`` when those features are installed, and
``hpc-in-uvm`` when Hyper-V is installed on build 26100 or later (``uvm-without-hpc`` when
it is installed on an older build): HPC in a UVM is a guest
capability the PR ships for WS2025+ (docs/behaviour/runtime.md §7, §2.7; docs/behaviour/ecosystem.md
§0.1).  An inventory may declare ``hpc-in-uvm`` for a build the rule does not know.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import pytest

from harness.errors import ConfigError

ISOLATION_MODES = ("process", "hyperv")
HPC_IN_UVM = "hpc-in-uvm"
# Hyper-V on a build older than HPC_IN_UVM_MIN_BUILD: hypervisor pods boot a UVM that does not
# advertise HostProcessContainerSupported, so each HPC is refused (docs/behaviour/runtime.md
# §2.7): the host the capability refusal runs on.
UVM_WITHOUT_HPC = "uvm-without-hpc"
HYPERV = "hyper-v"
CONTAINERS = "containers"
HPC_IN_UVM_MIN_BUILD = 26100  # LTSC2025 (docs/behaviour/runtime.md §7)
MARKERS = ("isolation", "min_build", "requires")
# What scenarios parametrize ``isolation`` with; each case carries its ``isolation`` marker.
ISOLATIONS = [pytest.param(mode, id=mode, marks=pytest.mark.isolation(mode))
              for mode in ISOLATION_MODES]


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        ("isolation(mode): the isolation of the test's pods, 'process' or 'hyperv' (set by "
         "parametrizing with harness.plugin.api.ISOLATIONS); hyperv skips on hosts that "
         "cannot run HostProcess containers in a utility VM"),
        "min_build(build): skip on hosts whose Windows build is older",
        ("requires(capability, ...): skip on hosts without every capability named "
         "(hpc-in-uvm, hyper-v, containers, or one an inventory declares)"),
        ("independent_of_uvm_support: the behaviour is decided before any HostProcess "
         "container runs in a utility VM (containerd's CRI checks, pod-level annotation "
         "rules), so it holds on runtimes without HPC-in-UVM support; the regression "
         "self-test (tests/test_regression_sensitivity.py) expects every other hyperv case "
         "to fail on such runtimes"),
    ):
        config.addinivalue_line("markers", line)


def host_capabilities(declared, facts) -> frozenset[str]:
    """Declared capabilities plus those the host's facts show."""
    caps = {c.lower() for c in declared}
    if facts.feature_installed("Containers"):
        caps.add(CONTAINERS)
    if facts.feature_installed("Hyper-V"):
        caps.add(HYPERV)
        if facts.build >= HPC_IN_UVM_MIN_BUILD:
            caps.add(HPC_IN_UVM)
        else:
            caps.add(UVM_WITHOUT_HPC)
    return frozenset(caps)


def marked(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(m) is not None for m in MARKERS)


def check_markers(item: pytest.Item) -> None:
    """A malformed marker is an error of the scenario (a harness error, never a skip)."""
    __tracebackhide__ = True
    for mark in item.iter_markers("isolation"):
        if len(mark.args) != 1 or mark.args[0] not in ISOLATION_MODES:
            raise ConfigError(f"{item.nodeid}: @pytest.mark.isolation{mark.args!r}: give one "
                              f"of {', '.join(ISOLATION_MODES)}")
    for mark in item.iter_markers("min_build"):
        if len(mark.args) != 1 or not isinstance(mark.args[0], int) or \
                isinstance(mark.args[0], bool):
            raise ConfigError(f"{item.nodeid}: @pytest.mark.min_build{mark.args!r}: give one "
                              f"build number")
    for mark in item.iter_markers("requires"):
        if not mark.args or not all(isinstance(a, str) and a for a in mark.args):
            raise ConfigError(f"{item.nodeid}: @pytest.mark.requires{mark.args!r}: give "
                              f"capability names")


def skip_reason(item: pytest.Item, host) -> str | None:
    """Why ``item`` cannot run on ``host`` (an HpcHost), or None."""
    name, build, caps = host.name, host.facts.build, host.capabilities
    isolation = item.get_closest_marker("isolation")
    if isolation is not None and isolation.args[0] == "hyperv" and HPC_IN_UVM not in caps:
        if build < HPC_IN_UVM_MIN_BUILD:
            return (f"host {name} build {build} has no HPC-in-UVM support "
                    f"(needs {HPC_IN_UVM_MIN_BUILD})")
        if host.facts.vm_without_nested_virtualization:
            return (f"host {name} is a virtual machine without nested virtualization: hyperv "
                    f"scenarios will skip: no nested virtualization")
        return (f"host {name} build {build} has no Hyper-V installed (hypervisor isolation "
                f"needs it)")
    for mark in item.iter_markers("min_build"):
        if build < mark.args[0]:
            return f"host {name} build {build} is older than {mark.args[0]} (min_build)"
    for mark in item.iter_markers("requires"):
        missing = [c for c in mark.args if c.lower() not in caps]
        if missing:
            return (f"host {name} build {build} lacks capability {', '.join(missing)} (has: "
                    f"{', '.join(sorted(caps)) or 'none'}; an inventory can declare it in "
                    f"labels.capabilities)")
    return None


__all__ = ["CONTAINERS", "HPC_IN_UVM", "HPC_IN_UVM_MIN_BUILD", "HYPERV", "UVM_WITHOUT_HPC",
           "ISOLATIONS", "ISOLATION_MODES",
           "MARKERS", "check_markers", "host_capabilities", "marked", "skip_reason"]
