"""``hpc-e2e doctor`` against simulated hosts in the states a lab host can be in.

Each unready state must fail the row that names the cause, carry a hint that says what to
do, and make the command exit non-zero; a host whose connection or login fails lists the
later rows as not checked instead of a cascade of errors or a traceback.
"""

from __future__ import annotations

import functools
import json
import socket

import pytest

from harness.cli import main
from harness.commands.doctor import (
    AUTHENTICATED,
    CONTAINERS,
    CRI,
    ELEVATED,
    EXIT_NOT_READY,
    FAIL,
    HANDLERS,
    HYPERV,
    OK,
    OS_BUILD,
    REACHABLE,
    ROWS,
    SERVICE,
    SKIP,
    VIRTUALIZATION,
    WARN,
    handler_problems,
)
from harness.errors import EXIT_CONFIG

INSTALLED = {"Containers": "Installed", "Hyper-V": "Installed"}


@pytest.fixture
def served(serve_sim):
    """Simulated hosts whose restarts take 0.2 s (the doctor's tests restart several)."""
    return functools.partial(serve_sim, restart_seconds=0.2)


def provision(sim, capsys) -> None:
    code = main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)])
    out = capsys.readouterr().out
    assert code == 0, out


def doctor(capsys, *args) -> tuple[int, dict, str]:
    code = main(["doctor", "--json", *map(str, args)])
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    return code, data, captured.err


def rows(data: dict, host: int = 0) -> dict[str, dict]:
    return {c["check"]: c for c in data["hosts"][host]["checks"]}


def inventory_for(sim, tmp_path, *, password: str | None = None, port: int | None = None):
    ep = json.loads(sim.endpoint_file.read_text())
    url_port = int(ep["winrm_url"].rsplit(":", 1)[1].split("/")[0])
    password_file = ep["password_file"]
    if password is not None:
        password_file = tmp_path / "wrong-password"
        password_file.write_text(password + "\n")
    inv = tmp_path / "lab.toml"
    inv.write_text(
        "[hosts.lab1]\n"
        'address = "127.0.0.1"\n'
        f"port = {port or url_port}\n"
        f'user = "{ep["user"]}"\n'
        f"password_file = '{password_file}'\n"
        "[hosts.lab1.winrm]\n"
        'auth = "ntlm"\n'
        f"ca_bundle = '{ep['ca_bundle']}'\n", encoding="utf-8")
    return inv


def test_a_provisioned_host_is_ready(served, capsys):
    sim = served(features=INSTALLED, hypervisor_present=True)
    provision(sim, capsys)
    code, data, _ = doctor(capsys, "--sim-state-dir", sim.state_dir)
    assert code == 0, data
    assert data["ready"] is True and data["hosts"][0]["ready"] is True
    checks = rows(data)
    assert list(checks) == list(ROWS)
    assert {name: c["status"] for name, c in checks.items()} == {name: OK for name in ROWS}
    assert "26100" in checks[OS_BUILD]["detail"]
    assert "config version" in checks[HANDLERS]["detail"]


def test_a_config_without_the_hpc_allowlist_fails_the_handlers_row(served, tmp_path, capsys):
    from harness.runtime.layout import default_layout
    from harness.hosts import endpoint_target
    from harness.transport import open_transport
    from harness.windows import WindowsHost

    sim = served(features=INSTALLED, hypervisor_present=True)
    provision(sim, capsys)
    path = default_layout().config_toml
    with open_transport(endpoint_target(json.loads(sim.endpoint_file.read_text()))) as t:
        files = WindowsHost(t).files
        text = files.read_text(path)
        files.write_text(path, text.replace("'microsoft.com/*', ", ""), newline="\r\n")
    code, data, _ = doctor(capsys, "--sim-state-dir", sim.state_dir)
    assert code == EXIT_NOT_READY
    checks = rows(data)
    assert checks[HANDLERS]["status"] == FAIL
    assert "runhcs-wcow-hypervisor: pod_annotations lacks 'microsoft.com/*'" in \
        checks[HANDLERS]["detail"]
    assert "hpc-e2e provision" in checks[HANDLERS]["hint"]
    assert checks[CRI]["status"] == OK  # the running containerd still has the old config


def test_the_table_names_the_failing_rows_and_what_to_do(served, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the cells' text unwrapped, whatever the terminal
    sim = served()  # fresh: nothing installed
    code = main(["doctor", "--sim-state-dir", str(sim.state_dir)])
    out = capsys.readouterr().out
    assert code == EXIT_NOT_READY
    for text in ("not ready", "Containers feature", "Available, not installed",
                 "run `hpc-e2e provision`", "no service named 'containerd' is installed",
                 "not checked: containerd is not running", "config.toml does not exist",
                 "1 of 1 host(s) not ready"):
        assert text in out, f"{text!r} missing from:\n{out}"


def test_features_not_installed_fail_with_the_provision_hint(served, capsys):
    sim = served()
    code, data, _ = doctor(capsys, "--sim-state-dir", sim.state_dir)
    assert code == EXIT_NOT_READY and data["ready"] is False
    checks = rows(data)
    for name in (HYPERV, CONTAINERS):
        assert checks[name]["status"] == FAIL
        assert "Available" in checks[name]["detail"]
        assert "hpc-e2e provision" in checks[name]["hint"]
    assert checks[SERVICE]["status"] == FAIL
    assert checks[CRI]["status"] == SKIP
    assert checks[VIRTUALIZATION]["status"] == OK


def test_a_host_without_virtualization_extensions(served, capsys):
    sim = served(hyperv_capable=False)
    provision(sim, capsys)  # Containers only: the runtime still comes up
    code, data, _ = doctor(capsys, "--sim-state-dir", sim.state_dir)
    assert code == EXIT_NOT_READY
    checks = rows(data)
    assert checks[VIRTUALIZATION]["status"] == FAIL
    assert "SLAT" in checks[VIRTUALIZATION]["detail"]
    assert "Set-VMProcessor" in checks[VIRTUALIZATION]["hint"]
    assert "ExposeVirtualizationExtensions $true" in checks[VIRTUALIZATION]["hint"]
    assert checks[HYPERV]["status"] == FAIL
    assert "without virtualization extensions" in checks[HYPERV]["detail"]
    assert "Set-VMProcessor" in checks[HYPERV]["hint"]
    for name in (CONTAINERS, SERVICE, CRI, HANDLERS):
        assert checks[name]["status"] == OK, checks[name]


def test_a_vm_without_nested_virtualization_is_ready_for_process_isolation(served, capsys):
    # Every guest reads HypervisorPresent=true; without nested virtualization its processor
    # shows no virtualization extensions, and Hyper-V cannot be installed (issue 12, 2).
    sim = served(virtual_machine=True, hyperv_capable=False)
    provision(sim, capsys)
    code, data, _ = doctor(capsys, "--sim-state-dir", sim.state_dir)
    checks = rows(data)
    assert checks[VIRTUALIZATION]["status"] == WARN, checks[VIRTUALIZATION]
    assert "hyperv scenarios will skip: no nested virtualization" in \
        checks[VIRTUALIZATION]["detail"]
    assert "ExposeVirtualizationExtensions $true" in checks[VIRTUALIZATION]["hint"]
    assert checks[HYPERV]["status"] == WARN, checks[HYPERV]
    assert "no nested virtualization" in checks[HYPERV]["detail"]
    for name in (CONTAINERS, SERVICE, CRI, HANDLERS):
        assert checks[name]["status"] == OK, checks[name]
    assert code == 0


def test_a_vm_with_nested_virtualization(served, capsys):
    sim = served(virtual_machine=True, hyperv_capable=True)
    code, data, _ = doctor(capsys, "--sim-state-dir", sim.state_dir)
    checks = rows(data)
    assert checks[VIRTUALIZATION]["status"] == OK, checks[VIRTUALIZATION]
    assert "nested virtualization" in checks[VIRTUALIZATION]["detail"]
    assert checks[HYPERV]["status"] == FAIL and "provision" in checks[HYPERV]["hint"]


def test_an_account_without_elevation(served, capsys):
    sim = served(elevated=False, features=INSTALLED)
    code, data, _ = doctor(capsys, "--sim-state-dir", sim.state_dir)
    assert code == EXIT_NOT_READY
    checks = rows(data)
    assert checks[AUTHENTICATED]["status"] == OK
    assert checks[ELEVATED]["status"] == FAIL
    assert "no elevated administrator token" in checks[ELEVATED]["detail"]
    assert "Administrators group" in checks[ELEVATED]["hint"]


def test_a_build_before_26100_warns_but_can_be_ready(served, capsys):
    sim = served(build=20348, features=INSTALLED, hypervisor_present=True)
    provision(sim, capsys)
    code, data, _ = doctor(capsys, "--sim-state-dir", sim.state_dir)
    checks = rows(data)
    assert checks[OS_BUILD]["status"] == WARN
    assert "no HostProcess in a UVM before build 26100" in checks[OS_BUILD]["detail"]
    assert code == 0 and data["ready"] is True


def test_a_wrong_password_is_not_authenticated_and_stops_there(served, tmp_path, capsys):
    sim = served(features=INSTALLED)
    inv = inventory_for(sim, tmp_path, password="Not-The-Password-42")
    code, data, err = doctor(capsys, "--inventory", inv)
    assert code == EXIT_NOT_READY
    assert "Traceback" not in err
    checks = rows(data)
    assert data["hosts"][0]["host"] == "lab1"
    assert checks[REACHABLE]["status"] == OK
    assert checks[AUTHENTICATED]["status"] == FAIL
    assert "password" in checks[AUTHENTICATED]["hint"]
    later = [name for name in ROWS if name not in (REACHABLE, AUTHENTICATED)]
    for name in later:
        assert checks[name]["status"] == SKIP
        assert checks[name]["detail"] == "not checked: not authenticated"
    assert "Not-The-Password-42" not in json.dumps(data) + err


def test_an_unreachable_host_stops_at_the_first_row(served, tmp_path, capsys):
    sim = served()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    inv = inventory_for(sim, tmp_path, port=closed)
    code, data, err = doctor(capsys, "--inventory", inv, "--host", "lab1")
    assert code == EXIT_NOT_READY and "Traceback" not in err
    checks = rows(data)
    assert checks[REACHABLE]["status"] == FAIL
    assert str(closed) in checks[REACHABLE]["detail"]
    assert all(checks[name]["status"] == SKIP for name in ROWS[1:])
    assert checks[AUTHENTICATED]["detail"] == "not checked: the host cannot be reached"


def test_an_unknown_inventory_host_is_a_usage_error(served, tmp_path, capsys):
    inv = inventory_for(served(), tmp_path)
    assert main(["doctor", "--inventory", str(inv), "--host", "nope"]) == EXIT_CONFIG
    assert "no host named 'nope'" in capsys.readouterr().err


# --- the config.toml rules ------------------------------------------------------------------
def _deployed_config(version: int = 2) -> str:
    from harness.runtime.layout import default_layout
    from harness.runtime.containerd_config import ContainerdConfig

    return ContainerdConfig(version, default_layout(), "registry.k8s.io/pause:3.10.2").render()


@pytest.mark.parametrize("version", [2, 3])
def test_the_deployed_config_has_no_handler_problems(version):
    assert handler_problems(_deployed_config(version)) == ([], version)


def test_handler_problems_name_what_is_missing():
    text = _deployed_config(2)
    assert text.count("'microsoft.com/*'") == 4
    problems, _ = handler_problems(text.replace("'microsoft.com/*'", "'example.com/*'"))
    assert sorted(problems) == sorted(
        f"{handler}: {key} lacks 'microsoft.com/*'"
        for handler in ("runhcs-wcow-process", "runhcs-wcow-hypervisor")
        for key in ("pod_annotations", "container_annotations"))

    no_version = "\n".join(line for line in text.splitlines() if not line.startswith("version"))
    problems, version = handler_problems(no_version)
    assert version is None and "containerd then ignores the CRI settings" in problems[0]

    renamed = text.replace("runhcs-wcow-hypervisor", "runhcs-wcow-hv")
    assert "handler runhcs-wcow-hypervisor is not configured" in handler_problems(renamed)[0]

    assert handler_problems("version = [")[0][0].startswith("not valid TOML")


def test_the_default_layout_is_the_one_a_default_bundle_deploys(tmp_path):
    from harness.runtime.layout import default_layout
    from harness.runtime.bundle import load_bundle
    from harness.runtime.layout import RuntimeLayout
    from harness.sim.bundle import write_sim_bundle

    bundle = load_bundle(write_sim_bundle(tmp_path / "bundle"))
    assert RuntimeLayout.for_bundle(bundle) == default_layout()


def test_a_reader_that_stops_early_ends_the_output_quietly(tmp_path):
    """``hpc-e2e doctor | head``: a closed pipe is no internal error (issue 13)."""
    import shlex
    import subprocess
    import sys

    for args in ("doctor", "doctor --json"):
        line = (f"{shlex.quote(sys.executable)} -m harness {args} | head -c 10 >/dev/null; "
                "exit ${PIPESTATUS[0]}")
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True,
                              timeout=120, check=False)
        assert b"internal error" not in done.stderr and b"Traceback" not in done.stderr, \
            done.stderr
        # 128 + SIGPIPE; or doctor's own "not ready" when all fit in the pipe before head left
        assert done.returncode in (141, EXIT_NOT_READY), (args, done.returncode, done.stderr)
