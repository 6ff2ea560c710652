"""Bad input changes nothing on any host.

A provisioned simulated host is served from a state directory (what ``hpc-e2e sim serve
--state-dir DIR`` runs) with a labelled pod on it.  Every case gives ``provision``, ``run``,
``clean``, ``doctor`` or the pytest plugin something wrong (a bundle with a wrong hash, a
missing file or an unknown source; a bad inventory; a bad profile; bad clean arguments)
while pointing at that host, through its state dir or an inventory naming it.  The host's
state is read before and after from the machine model itself: every file on its disk (path,
size, SHA-256), its services, its Windows features and boot count, the CRI's pods,
containers and images, the command lines it was given and the WS-Man requests it
answered.  The answer must be the one-line error and the state unchanged: not one request
reached the host.

Part of the bad-input catalogue (tests/checks/bad_input.py counts it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from checks.bad_input import clear_error

from harness.cli import main
from harness.cri import ContainerSpec, Crictl, PodSpec
from harness.errors import EXIT_CONFIG
from harness.hosts import endpoint_target
from harness.sim.bundle import write_sim_bundle
from harness.sim.host import SimHost
from harness.sim.hostmodel import HostProfile
from harness.transport import open_transport

pytest_plugins = ["checks.bad_input_count"]

IMAGE = "mcr.microsoft.com/windows/nanoserver:ltsc2025"
SYSTEM = "NT AUTHORITY\\SYSTEM"
RUN_ID = "left-by-run-1"


def snapshot(sim: SimHost) -> dict:
    """Everything a harness command could change on the simulated host."""
    m = sim.machine
    files: dict[str, object] = {}
    with m.fs.lock:
        for drive in m.fs.drives:
            for top, _dirs, names in m.fs.walk(f"{drive}:\\"):
                files[top] = "<dir>"
                for name in names:
                    path = m.fs.join(top, name)
                    data = m.fs.read_bytes(path)
                    files[path] = (len(data), hashlib.sha256(data).hexdigest())
    cri = m.cri
    return {
        "files": files,
        "services": sorted((s.name, s.state, s.binary_path, s.start_type, s.pid)
                           for s in m.services.list()),
        "features": dict(m.facts.features()),
        "boot_count": m.facts.boot_count,
        "pods": None if cri is None else sorted((p, pod.state, dict(pod.labels))
                                                for p, pod in cri.pods.items()),
        "containers": None if cri is None else sorted((c, ctr.state, ctr.exit_code)
                                                      for c, ctr in cri.containers.items()),
        "images": None if cri is None else sorted(i["id"] for i in cri.list_images()),
        "commands": list(m.history),
        "winrm_requests": sim.winrm.request_count(),
    }


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A provisioned sim host with one labelled pod and its container running."""
    folder = tmp_path_factory.mktemp("served")
    profile = HostProfile(features={"Containers": "Installed", "Hyper-V": "Installed"},
                          hypervisor_present=True)
    with SimHost(folder / "state", ssh_port=None, profile=profile) as sim:
        assert main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)]) == 0
        endpoint = json.loads(sim.endpoint_file.read_text())
        with open_transport(endpoint_target(endpoint)) as transport:
            crictl = Crictl(transport, run_id=RUN_ID)
            crictl.pull(IMAGE)
            pod = crictl.runp(PodSpec("left-behind", host_process=True,
                                      run_as_username=SYSTEM), runtime_handler="runhcs-wcow-process")
            crictl.start(crictl.create(pod, ContainerSpec(
                "c", IMAGE, command=["cmd", "/c", "ping", "-t", "127.0.0.1"],
                host_process=True, run_as_username=SYSTEM)))
        files = make_files(folder, endpoint)
        yield sim, files


def make_files(folder: Path, endpoint: dict) -> dict[str, str]:
    port = endpoint["winrm_url"].rsplit(":", 1)[1].split("/")[0]
    host_table = ("[hosts.sim]\n"
                  'address = "127.0.0.1"\n'
                  f"port = {port}\n"
                  f'user = "{endpoint["user"]}"\n'
                  f"password_file = '{endpoint['password_file']}'\n"
                  "[hosts.sim.winrm]\n"
                  'auth = "ntlm"\n'
                  f"ca_bundle = '{endpoint['ca_bundle']}'\n")
    (folder / "inventory.toml").write_text(host_table, encoding="utf-8")
    # The served host, and a second host with a field wrong: the whole inventory is refused.
    (folder / "bad-inventory.toml").write_text(
        host_table + '[hosts.lab2]\naddress = "lab2.example.test"\nuser = "u"\n'
                     f"password_file = '{endpoint['password_file']}'\n"
                     "[hosts.lab2.winrm]\nauth = 'digest'\n", encoding="utf-8")
    (folder / "bad-profile.toml").write_text('[profile]\nextends = "current"\n[expect]\n'
                                             '"process.stop.exit_cod" = 1\n', encoding="utf-8")
    files = {"INVENTORY": str(folder / "inventory.toml"),
             "BAD_INVENTORY": str(folder / "bad-inventory.toml"),
             "BAD_PROFILE": str(folder / "bad-profile.toml"),
             "BUNDLE": str(write_sim_bundle(folder / "bundle"))}
    wrong = write_sim_bundle(folder / "wrong-hash")
    (folder / "wrong-hash" / "bin" / "containerd.exe").write_bytes(b"MZ another containerd")
    missing = write_sim_bundle(folder / "missing-file")
    (folder / "missing-file" / "bin" / "containerd-shim-runhcs-v1.exe").unlink()
    unknown = write_sim_bundle(folder / "unknown-source")
    unknown.write_text(unknown.read_text(encoding="utf-8").replace(
        "source = { file = 'bin/crictl.exe' }", "source = { ftp = 'bin/crictl.exe' }"),
        encoding="utf-8")
    return files | {"WRONG_HASH": str(wrong), "MISSING_FILE": str(missing),
                    "UNKNOWN_SOURCE": str(unknown)}


WRONG_HASH = "artifact 'containerd': sha256:"
MISSING_FILE = "artifact 'containerd-shim-runhcs-v1': source: file"
UNKNOWN_SOURCE = "unknown source kind 'ftp'"
BAD_INVENTORY = "host 'lab2': winrm.auth: must be one of"
BAD_PROFILE = "expect.process.stop.exit_cod: unknown behaviour key"

# (argv; STATE is the served host's state dir), fragments of the one line; exit 78 (EXIT_CONFIG) for all.
CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "provision wrong hash": (["provision", "--sim-state-dir", "STATE", "--bundle", "WRONG_HASH"],
                             (WRONG_HASH,)),
    "provision missing file": (["provision", "--sim-state-dir", "STATE", "--bundle",
                                "MISSING_FILE"], (MISSING_FILE,)),
    "provision unknown source": (["provision", "--sim-state-dir", "STATE", "--bundle",
                                  "UNKNOWN_SOURCE"], (UNKNOWN_SOURCE,)),
    "provision inventory wrong hash": (["provision", "--inventory", "INVENTORY", "--bundle",
                                        "WRONG_HASH"], (WRONG_HASH,)),
    "provision bad inventory": (["provision", "--inventory", "BAD_INVENTORY", "--bundle",
                                 "BUNDLE"], (BAD_INVENTORY,)),
    "provision unknown host": (["provision", "--inventory", "INVENTORY", "--host", "lab9",
                                "--bundle", "BUNDLE"], ("no host named 'lab9'",)),
    "run bad profile": (["run", "--inventory", "INVENTORY", "--bundle", "BUNDLE", "--profile",
                         "BAD_PROFILE"], ("--profile:", BAD_PROFILE)),
    "run unknown profile": (["run", "--inventory", "INVENTORY", "--bundle", "BUNDLE",
                             "--profile", "nightly"], ("--profile:", "nightly.toml")),
    "run wrong hash": (["run", "--inventory", "INVENTORY", "--bundle", "WRONG_HASH"],
                       (WRONG_HASH,)),
    "run missing file": (["run", "--inventory", "INVENTORY", "--bundle", "MISSING_FILE"],
                         (MISSING_FILE,)),
    "run bad inventory": (["run", "--inventory", "BAD_INVENTORY", "--bundle", "BUNDLE"],
                          (BAD_INVENTORY,)),
    "run bad run id": (["run", "--inventory", "INVENTORY", "--bundle", "BUNDLE", "--run-id",
                        f"{RUN_ID}!"], ("--run-id:",)),
    "clean bad duration": (["clean", "--sim-state-dir", "STATE", "--older-than", "2 hours"],
                           ("--older-than: '2 hours'",)),
    "clean bad run id": (["clean", "--sim-state-dir", "STATE", "--run-id", f"{RUN_ID} "],
                         ("--run-id:",)),
    "clean unknown source": (["clean", "--sim-state-dir", "STATE", "--bundle",
                              "UNKNOWN_SOURCE"], (UNKNOWN_SOURCE,)),
    "clean bad inventory": (["clean", "--inventory", "BAD_INVENTORY"], (BAD_INVENTORY,)),
    "clean unknown host": (["clean", "--inventory", "INVENTORY", "--host", "lab9"],
                           ("no host named 'lab9'",)),
    "doctor missing file": (["doctor", "--sim-state-dir", "STATE", "--bundle", "MISSING_FILE"],
                            (MISSING_FILE,)),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_changes_nothing_on_the_served_host(case, host, capsys):
    sim, files = host
    words = files | {"STATE": str(sim.state_dir)}
    argv, fragments = CASES[case]
    before = snapshot(sim)
    capsys.readouterr()
    code = main([words.get(a, a) for a in argv])  # `run` here would really start pytest
    captured = capsys.readouterr()
    assert code == EXIT_CONFIG, captured.err + captured.out
    clear_error(captured.err, *fragments, out=captured.out)
    after = snapshot(sim)
    assert after["winrm_requests"] == before["winrm_requests"], "requests reached the host"
    assert after["commands"] == before["commands"], "commands ran on the host"
    for part in before:
        assert after[part] == before[part], f"the host's {part} changed"


def test_the_snapshot_sees_a_change(host):
    """The check above can fail: one file written on the host shows up."""
    sim, _ = host
    before = snapshot(sim)
    path = r"C:\ProgramData\hpc-e2e\snapshot-probe.txt"
    sim.machine.fs.write_bytes(path, b"x")
    try:
        after = snapshot(sim)
        assert after["files"] != before["files"] and path in after["files"]
    finally:
        sim.machine.fs.remove(path)
    assert snapshot(sim) == before
    assert before["pods"] and before["containers"], "the host should hold the labelled pod"


PLUGIN_CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "plugin wrong hash": (["--hpc-inventory", "INVENTORY", "--hpc-bundle", "WRONG_HASH"],
                          ("--hpc-bundle:", WRONG_HASH)),
    "plugin unknown source": (["--hpc-inventory", "INVENTORY", "--hpc-bundle",
                               "UNKNOWN_SOURCE"],
                              ("--hpc-bundle:", UNKNOWN_SOURCE)),
    "plugin bad inventory": (["--hpc-inventory", "BAD_INVENTORY", "--hpc-bundle", "BUNDLE"],
                             ("--hpc-inventory:", BAD_INVENTORY)),
    "plugin bad profile": (["--hpc-inventory", "INVENTORY", "--hpc-bundle", "BUNDLE",
                            "--hpc-profile", "BAD_PROFILE"], ("--hpc-profile:", BAD_PROFILE)),
}

USES_THE_HOST = """
def test_uses_the_host(hpc_host):
    hpc_host.transport.run(["hostname"])
"""


@pytest.mark.bad_input
@pytest.mark.parametrize("case", PLUGIN_CASES, ids=list(PLUGIN_CASES))
def test_the_plugin_refuses_before_touching_the_host(case, host, pytester):
    from importlib.metadata import entry_points

    sim, files = host
    args, fragments = PLUGIN_CASES[case]
    pytester.makepyfile(test_host=USES_THE_HOST)
    before = snapshot(sim)
    plugin = () if entry_points(group="pytest11", name="hpc_e2e") else ("-p", "harness.plugin")
    result = pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider",
                                           *(files.get(a, a) for a in args), timeout=120)
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, err + result.stdout.str()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), err
    for fragment in fragments:
        assert fragment in lines[0], err
    assert snapshot(sim) == before, "the plugin changed the host"
