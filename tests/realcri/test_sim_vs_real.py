"""Differential tests: the simulated crictl held to what the real crictl and containerd do.

Every operation both can do (:mod:`realcri.scenarios`) runs through the harness's own
client against the simulated Windows host and against the real tools; what the client
sees must agree.  A difference is either fixed in the simulator or listed in
:data:`KNOWN` with the reason it is expected (Windows-specific, or a containerd release
difference) and the entry of ``harness/sim/ASSUMPTIONS.md`` that records it: a difference
not listed fails, and so does a listed one that no longer shows (the list stays true).
The comparison is printed as a table at the end of the run.
"""

from __future__ import annotations

import pytest

from harness.cri import ContainerSpec, Crictl, PodSpec

from realcri import simhost
from realcri.scenarios import SCENARIOS, Env, observe
from realcri.stack import KEEP_RUNNING

pytestmark = pytest.mark.real_cri

NANOSERVER = "mcr.microsoft.com/windows/nanoserver:ltsc2025"
SIM_VERSIONS = ("1.31.1", "1.32.0", "1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0")

# (operation, field) -> (the containerd flavors it shows with, why; ASSUMPTIONS.md entry)
_ON_2, _ON_16, _BOTH = frozenset({"2"}), frozenset({"1.6"}), frozenset({"2", "1.6"})
_STOP_16 = ("containerd 1.6 says NotFound; the sim models 1.7 and 2.x, where Stop* of an "
            "unknown ID succeeds (ASSUMPTIONS.md: stop of a missing object)")
KNOWN: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("pull missing", "message"): (_ON_2, "containerd 2.x pulls through its transfer service: "
                                  "'failed to resolve image' (ASSUMPTIONS.md: pull errors)"),
    ("exec not found", "message"): (_BOTH, "Windows-specific: hcsshim's CreateProcess error, "
                                    "not runc's (ASSUMPTIONS.md: exec of a missing program)"),
    ("runp twice", "grpc"): (_ON_2, "containerd 2.x: a reserved name is FailedPrecondition "
                             "(ASSUMPTIONS.md: reserved names)"),
    ("create twice", "grpc"): (_ON_2, "containerd 2.x: a reserved name is FailedPrecondition "
                               "(ASSUMPTIONS.md: reserved names)"),
    **{(f"{op} missing", field): (_ON_16, _STOP_16)
       for op in ("stop", "stopp") for field in ("outcome", "stage", "grpc", "message")},
}


def _sim_version(real: str) -> str:
    """The simulated crictl closest to the real one (the sim models 1.31.1 to 1.37.0)."""
    return real if real in SIM_VERSIONS else SIM_VERSIONS[-1]


def sim_env(version: str) -> Env:
    machine = simhost.sim_machine(version)
    transport = simhost.MachineTransport(machine)

    def client() -> Crictl:
        return Crictl(transport, crictl_path=simhost.CRICTL, config_path=simhost.YAML,
                      timeout=30, runs_root=simhost.RUNS, batch=False)

    return Env(
        name=f"sim crictl {version}", client=client, image=NANOSERVER,
        missing_image="mcr.microsoft.com/windows/nothere:1", handler="runhcs-wcow-process",
        pod_spec=lambda name: PodSpec(name=name, log_directory=rf"C:\logs\{name}"),
        ctr_spec=lambda name: ContainerSpec(name=name, image=NANOSERVER,
                                            command=["cmd", "/c", "ping", "-t", "127.0.0.1"],
                                            log_path=f"{name}.log"),
        out_err=["cmd", "/c", "echo out& echo err 1>&2"],
        exit3=["cmd", "/c", "echo out& echo err 1>&2& exit 3"],
        not_found=[r"C:\no\such\program.exe"],
        slow=["ping", "-t", "127.0.0.1"],
        words={NANOSERVER: "<image>", "mcr.microsoft.com/windows/nothere:1": "<missing>",
               "cmd /c echo out& echo err 1>&2& exit 3": "<exit3>",
               r"C:\no\such\program.exe": "<not-found>"})


def real_env(stack) -> Env:
    host = stack.registry.host
    missing = f"{host}/hpc-e2e/nothere:1"
    return Env(
        name=f"crictl {stack.crictl_version} + containerd {stack.flavor}", client=stack.client,
        image=stack.busybox, missing_image=missing, handler=None,
        pod_spec=stack.pod_spec,
        ctr_spec=lambda name: stack.ctr_spec(name, KEEP_RUNNING),
        out_err=["/bin/sh", "-c", "echo out; echo err >&2"],
        exit3=["/bin/sh", "-c", "echo out; echo err >&2; exit 3"],
        not_found=["/no/such/program"], slow=["sleep", "30"],
        words={stack.busybox: "<image>", missing: "<missing>",
               "/bin/sh -c echo out; echo err >&2; exit 3": "<exit3>",
               "/no/such/program": "<not-found>", host: "<registry>"})


@pytest.fixture(scope="session")
def sim_envs():
    made: dict[str, Env] = {}

    def get(version: str) -> Env:
        if version not in made:
            made[version] = sim_env(version)
        return made[version]

    return get


def _run(env: Env, op: str) -> dict:
    client = env.client()
    try:
        return observe(env, lambda: SCENARIOS[op](env, client))
    finally:
        client.cleanup()


@pytest.mark.parametrize("op", list(SCENARIOS))
def test_sim_and_real_agree(op, stack, sim_envs, diff_table):
    sim_side = sim_envs(_sim_version(stack.crictl_version))
    real_side = real_env(stack)
    sim, real = _run(sim_side, op), _run(real_side, op)
    found = set()
    for key in sorted(set(sim) | set(real)):
        known = KNOWN.get((op, key))
        expected = known is not None and stack.flavor in known[0]
        same = sim.get(key) == real.get(key)
        if not same:
            found.add(key)
        diff_table.append({"op": op, "field": key,
                           "stack": f"{real_side.name} vs {sim_side.name}",
                           "sim": sim.get(key), "real": real.get(key),
                           "verdict": "same" if same and not expected else
                           ("RECORDED: " + known[1] if not same and expected else
                            ("STALE ENTRY" if same else "DIFFERENT"))})
    expected = {k for (o, k), (flavors, _) in KNOWN.items() if o == op and stack.flavor in flavors}
    assert found == expected, (f"{op}: sim {sim} vs real {real}; unexpected differences "
                               f"{sorted(found - expected)}, stale entries "
                               f"{sorted(expected - found)}")
