"""``hpc-e2e bench`` and the sim's latency model.

The benchmark's own figures are never asserted here (they are ratios for a report, and the
machine is shared); what is tested is that it runs and says what it measured, that the ideal
makespan and the tables are computed right, that request counting agrees with the sim's own
log, and that the latency model puts time where it says — a hypervisor pod start on a sim
with a UVM boot delay takes at least that delay, a process pod start does not.  The lab the
suite benchmarks run against (served sims, one inventory, provisioned before any run) is
checked end to end: its inventory names every served host, each is provisioned and has its
images, and a run against it splits the worker's one-time setup from the scenario work.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from rich.console import Console

from harness.bench.figures import BenchFigures
from harness.bench.makespan import (MakespanPoint, MakespanResult, grid, ideal_makespan,
                                    idle_per_worker, summarize, tail_per_worker)
from harness.bench.overhead import OverheadResult
from harness.bench.suite import SuiteRun, TestTiming
from harness.bench.table import render
from harness.bench.throughput import ClientThroughput, ThroughputResult
from harness.bench.upload import UploadFigure, UploadResult
from harness.cli import main
from harness.errors import EXIT_CONFIG
from harness.sim.latency import PRESETS, LatencyModel


# --- ideal makespan ------------------------------------------------------------------------
def test_ideal_is_work_over_capacity():
    durations = [4.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]  # 16 s of work
    assert ideal_makespan(durations, 1, 1, 4) == 16.0
    assert ideal_makespan(durations, 2, 1, 4) == 8.0
    # 8 workers but one host with 4 slots: capacity 4
    assert ideal_makespan(durations, 8, 1, 4) == 4.0
    assert ideal_makespan(durations, 8, 2, 4) == 4.0  # bounded by the longest test


def test_ideal_never_below_the_longest_test():
    assert ideal_makespan([10.0, 1.0, 1.0], 4, 4, 4) == 10.0
    assert ideal_makespan([], 4, 1, 4) == 0.0
    with pytest.raises(ValueError):
        ideal_makespan([1.0], 0, 1, 4)


def test_ideal_counts_the_worker_setup_once():
    # each worker sets up once, all at the same time: it adds, it does not divide
    assert ideal_makespan([2.0] * 8, 4, 1, 4, setup=1.5) == 5.5
    assert ideal_makespan([10.0, 1.0], 4, 4, 4, setup=0.5) == 10.5


def _timing(worker, start, stop, *, host=0.0, shared=0.0, nodeid=None):
    return TestTiming(nodeid or f"t{worker}{start}", stop - start, start, stop, 0.1, "passed",
                      worker, host_setup=host, shared_start=shared)


def _run(workers, hosts, tests, makespan=None):
    return SuiteRun(workers, hosts, "realistic", None, 0, 30.0,
                    makespan or max(t.stop for t in tests) - min(t.start for t in tests),
                    0.5, 2.0, {}, tests)


def test_setup_is_split_from_work_and_idle_is_per_worker():
    base = _run(1, 1, [_timing("gw0", 0, 3, host=1.0), _timing("gw0", 3, 6, shared=1.0),
                       _timing("gw0", 6, 8)])
    assert base.work == [2.0, 2.0, 2.0] and base.worker_setup() == {"gw0": 2.0}
    par = _run(2, 1, [_timing("gw0", 0, 3, host=1.0), _timing("gw1", 0, 2, host=1.0),
                      _timing("gw1", 2, 5, shared=1.0), _timing("gw0", 3, 4)])
    assert idle_per_worker(par) == {"gw0": 1.0, "gw1": 0.0}
    assert tail_per_worker(par) == {"gw0": 1.0, "gw1": 0.0}
    p = summarize(2, 1, [par], base, slots=4, cores=2)
    # ideal: one worker's setup (2 s) + 6 s of work over 2 workers
    assert p.ideal == pytest.approx(5.0) and p.makespan == 5.0 and p.ratio == pytest.approx(1.0)
    assert p.setup == pytest.approx(1.5) and p.setup_max == pytest.approx(2.0)
    assert p.work == pytest.approx(6.0) and p.work_growth == pytest.approx(1.0)
    assert p.idle == pytest.approx(0.5) and p.tail == pytest.approx(0.5)
    # CPU: four tests x 0.1 s in the workers, 2 s in the sims, 0.5 s in the controller
    assert p.cpu_busy == pytest.approx((0.4 + 2.0 + 0.5) / 5.0 / 2)


def test_repeated_point_takes_the_median():
    base = _run(1, 1, [_timing("gw0", 2 * i, 2 * i + 2) for i in range(4)])
    runs = [_run(4, 2, [_timing("gw0", 0, m)]) for m in (3.0, 2.5, 4.0)]
    p = summarize(4, 2, runs, base, slots=4, cores=2)
    assert p.makespan == 3.0 and p.runs == [3.0, 2.5, 4.0]
    assert p.ratios == pytest.approx([1.5, 1.25, 2.0])


def test_grid_starts_with_the_baseline_and_skips_idle_hosts():
    points = grid((2, 4), (1, 2, 4))
    assert points[0] == (1, 1)
    assert (2, 4) not in points and (4, 4) in points and (2, 2) in points


# --- the latency model ---------------------------------------------------------------------
@pytest.mark.parametrize("spec, field", [
    ("request=x", "request"),
    ("uvm_boot=-1", "uvm_boot"),
    ("scale=nan", "scale"),
    ("uvm_bot=8", "uvm_bot"),
    ("request=1,request=2", "request"),
    ("fast", "fast"),
    ("request=1,realistic", "realistic"),
])
@pytest.mark.bad_input
def test_latency_parse_errors_name_the_field(spec, field):
    with pytest.raises(ValueError, match=f"latency: .*{field}"):
        LatencyModel.parse(spec)


def test_latency_preset_scale_and_fields():
    m = LatencyModel.parse("realistic,scale=0.1")
    real = PRESETS["realistic"]
    assert m.cri_delay("RunPodSandbox", "hyperv") == pytest.approx(real.uvm_boot * 0.1)
    assert m.cri_delay("RunPodSandbox", "process") == pytest.approx(real.pod_start * 0.1)
    assert m.cri_delay("ExecSync", "hyperv") > m.cri_delay("ExecSync", "process")
    assert m.request_delay("Command") == pytest.approx(real.request * 0.1)
    assert m.cri_delay("ListPodSandbox", "process") == 0.0
    only = LatencyModel.parse("request=0.03,uvm_boot=8,scale=0.5")
    assert only.cri_delay("StartContainer", "hyperv") == 0.0
    assert only.cri_delay("RunPodSandbox", "hyperv") == 4.0
    assert LatencyModel.parse(m.describe()) == m
    assert LatencyModel.parse("none") == LatencyModel()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A simulated WS2025 host with the sim bundle deployed, reached over WinRM."""
    from harness.cri import Crictl
    from harness.runtime.bundle import load_bundle
    from harness.cri.runtime_access import crictl_runtime_access
    from harness.runtime.deploy import deploy
    from harness.runtime.layout import RuntimeLayout
    from harness.hosts import endpoint_target
    from harness.sim.bundle import write_sim_bundle
    from harness.sim.host import SimHost
    from harness.sim.hostmodel import HostProfile
    from harness.transport.winrm import WinRMTransport
    from harness.windows import WindowsHost

    profile = HostProfile(features={"Hyper-V": "Installed", "Containers": "Installed"},
                          hypervisor_present=True)
    bundle = load_bundle(write_sim_bundle(tmp_path_factory.mktemp("bundle")))
    with SimHost(tmp_path_factory.mktemp("sim"), ssh_port=None, profile=profile) as host, \
            WinRMTransport(endpoint_target(host.endpoint)) as transport:
        deploy(WindowsHost(transport), bundle, cri=crictl_runtime_access)
        layout = RuntimeLayout.for_bundle(bundle)
        crictl = Crictl(transport, crictl_path=layout.crictl_exe,
                        config_path=layout.crictl_yaml, run_id="bench-test")
        yield host, transport, crictl


def _timed_runp(crictl, handler: str, name: str) -> float:
    from harness.cri import PodSpec

    spec = PodSpec(name=name, host_process=True, run_as_username="NT AUTHORITY\\SYSTEM")
    t0 = time.perf_counter()
    pod = crictl.runp(spec, runtime_handler=handler)
    elapsed = time.perf_counter() - t0
    crictl.rmp(pod.id, force=True)
    return elapsed


def test_uvm_boot_delay_lands_on_hyperv_pods_only(deployed):
    host, _, crictl = deployed
    boot = 1.2
    host.machine.latency = LatencyModel.parse(f"uvm_boot={boot * 2:g},scale=0.5")
    try:
        hyperv = _timed_runp(crictl, "runhcs-wcow-hypervisor", "lat-hv")
        process = _timed_runp(crictl, "runhcs-wcow-process", "lat-proc")
    finally:
        host.machine.latency = None
    assert hyperv >= boot
    assert process < hyperv


def test_request_counter_agrees_with_the_sims_log(deployed):
    from harness.bench.counting import RequestCounter

    host, transport, _ = deployed
    counter = RequestCounter()
    for protocol in transport.protocols():  # the background Signal's connection too
        counter.attach(protocol)
    # Start the window in an open shell with room for three more commands, so neither a
    # shell replacement (every RECYCLE_AFTER commands) nor the next shell's Create falls
    # inside it, whatever the module's earlier tests ran.
    from harness.transport.winrm import RECYCLE_AFTER

    transport.run(["hostname"]).check()
    while not 0 < transport._finished_in_shell < RECYCLE_AFTER - 3:
        transport.run(["hostname"]).check()
    transport.flush_background()
    counter.reset()
    host.winrm.reset_counters()
    for _ in range(3):
        transport.run(["hostname"]).check()
    transport.flush_background()
    # Command + Receive each (finished commands are released by replacing the shell)
    assert counter.count == host.winrm.request_count() == 6, host.winrm.requests


def test_request_delay_applies_per_request(deployed):
    host, transport, _ = deployed
    transport.run(["hostname"]).check()
    host.machine.latency = LatencyModel.parse("request=0.2")
    try:
        t0 = time.perf_counter()
        transport.run(["hostname"]).check()
        slow = time.perf_counter() - t0
    finally:
        host.machine.latency = None
    # Command and Receive are on the command's path (its Signal goes in the background)
    assert slow >= 2 * 0.2


# --- the lab: served sims, one inventory, provisioned before the runs --------------------
def test_inventory_names_every_served_host_as_winrm_over_https(tmp_path):
    from harness.bench.lab import inventory_text
    from harness.config.inventory import load_inventory
    from harness.hosts import SIM_MAX_LEASES, SIM_RETRY

    hosts = []
    for i, port in ((1, 50001), (2, 50002)):
        d = tmp_path / f"sim {i}"  # a space: the paths are quoted
        d.mkdir()
        (d / "password").write_text(f"pw-{i}\n")
        (d / "ca.pem").write_text("not read here\n")
        hosts.append((f"sim-{i}", {"winrm_url": f"https://127.0.0.1:{port}/wsman",
                                   "user": "Administrator",
                                   "password_file": str(d / "password"),
                                   "ca_bundle": str(d / "ca.pem")}))
    inv = tmp_path / "inventory.toml"
    inv.write_text(inventory_text(hosts, build=20348))
    targets = load_inventory(inv)
    assert [t.name for t in targets] == ["sim-1", "sim-2"]
    for t, port in zip(targets, (50001, 50002)):
        assert (t.transport, t.address, t.port) == ("winrm", "127.0.0.1", port)
        assert t.winrm.scheme == "https" and t.winrm.auth == "ntlm"
        assert Path(t.winrm.ca_bundle).name == "ca.pem"
        assert t.password.reveal() == f"pw-{t.name[-1]}"
        assert t.labels.max_leases == SIM_MAX_LEASES and t.labels.os_build == 20348
        assert t.retry.base_delay == SIM_RETRY.base_delay


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two served sims, provisioned, checked and given their images (no latency)."""
    from harness.bench.lab import Lab

    with Lab(tmp_path_factory.mktemp("lab"), hosts=2, latency=None) as lab:
        lab.prepare()
        yield lab


def test_lab_provisions_every_served_host_before_any_run(lab):
    from harness.config.inventory import load_inventory
    from harness.cri import Crictl
    from harness.plugin.images import image_set_for
    from harness.runtime import RuntimeLayout, load_bundle
    from harness.transport import open_transport

    targets = load_inventory(lab.inventory)
    assert [t.name for t in targets] == lab.names == ["sim-1", "sim-2"]
    ports = {t.port for t in targets}
    assert len(ports) == 2  # two sim processes, not one named twice
    assert set(lab.prepare_seconds) == {"provision", "doctor", "images"}
    layout = RuntimeLayout.for_bundle(load_bundle(lab.bundle))
    probe = image_set_for(lab.build).probe
    for target in targets:
        with open_transport(target) as transport:
            crictl = Crictl(transport, run_id="bench-test", crictl_path=layout.crictl_exe,
                            config_path=layout.crictl_yaml)
            assert crictl.images(probe), f"{target.name}: no {probe}"
    argv = lab.run_argv(1)
    assert argv[argv.index("--inventory") + 1] == str(lab.inventory)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--host"] == ["sim-1"]
    with pytest.raises(ValueError):
        lab.run_argv(3)


def test_a_run_against_the_lab_splits_setup_from_scenario_work(lab, tmp_path):
    from harness.bench.suite import run_suite

    run = run_suite(tmp_path / "run", lab, workers=1, hosts=2,
                    keyword="test_default_working_directory_is_c_hpc")
    assert run.exit_code == 0, f"see {run.directory}/run.log"
    assert len(run.tests) == 2 and run.outcomes() == {"passed": 2}
    first, second = sorted(run.tests, key=lambda t: t.start)
    # hpc_host is set up once per worker, in its first test; each test reads the shared HPC
    # of its own isolation, so each started one
    assert first.host_setup > 0 and second.host_setup == 0
    assert first.shared_start > 0 and second.shared_start > 0
    assert all(0 <= t.work < t.duration for t in run.tests)
    assert run.sims_cpu > 0
    # provisioning was the lab's: the run checked its hosts and found nothing to change
    records = sorted((Path(run.directory) / "tmp" / "hpc-e2e").glob("provisioned-*.json"))
    assert records, "the run recorded no provisioning check"
    for record in records:
        for entry in json.loads(record.read_text()).values():
            summary = entry["summary"]
            assert summary["changed"] is False and summary["restarted"] is False, record


# --- tables --------------------------------------------------------------------------------
def _figures() -> BenchFigures:
    tp = ThroughputResult("hostname", 10, 1, {
        "harness": ClientThroughput("harness", 150.0, 3.0),
        "run_cmd": ClientThroughput("run_cmd", 50.0, 5.0),
        "shell-per-command": ClientThroughput("shell-per-command", 75.0, 5.0)})
    up = UploadResult([1, 100], 1, {
        m: {s: UploadFigure(m, s, speed, 60.0, 2.0, 10 * s, 1000) for s in (1, 100)}
        for m, speed in (("harness", 18.0), ("bare", 24.0))})
    ms = MakespanResult("realistic,scale=0.05", None, 4, 40.0, 5.0, 20, [
        MakespanPoint(1, 1, 40.0, 40.0, 45.0, 0, {"passed": 20}),
        MakespanPoint(4, 2, 12.5, 10.0, 17.0, 0, {"passed": 20})])
    ov = OverheadResult(20, 0.25, 0.2, 0.1, 0.05, 5.0, None, 0)
    return BenchFigures("hpc-e2e bench --test", False, tp, up, ms, ov)


def test_goals_are_judged_from_the_ratios():
    goals = {g.name: g for g in _figures().goals()}
    assert goals["command throughput vs Session.run_cmd"].figure == pytest.approx(3.0)
    assert goals["command throughput vs Session.run_cmd"].met
    assert goals["upload throughput vs bare Send (100 MiB)"].figure == pytest.approx(0.75)
    assert goals["upload throughput vs bare Send (100 MiB)"].met
    assert goals["upload peak memory 100 MiB / 1 MiB"].met
    mk = goals["makespan / ideal at 4 workers over 2 hosts"]
    assert mk.figure == pytest.approx(1.25) and mk.met


def test_tables_show_every_row_and_the_command():
    con = Console(record=True, width=220)
    render(_figures(), con)
    text = con.export_text()
    for row in ("harness", "run_cmd", "shell-per-command", "1 MiB", "100 MiB",
                "wall (mean)", "simulated host CPU (mean)", "makespan / ideal at 4 workers"):
        assert row in text, row
    assert "3.00x" in text and "2.00x" in text  # harness vs run_cmd, vs shell-per-command
    assert "75%" in text and "1.25x" in text
    assert "hpc-e2e bench --test" in text


# --- the verb ------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, option", [
    (["--only", "speed"], "--only"),
    (["--workers", "0,2"], "--workers"),
    (["--sim-hosts", "x"], "--sim-hosts"),
    (["--latency", "uvm_boot=slow"], "uvm_boot"),
])
@pytest.mark.bad_input
def test_bad_options_are_one_line_naming_the_option(argv, option, capsys, tmp_path):
    code = main(["bench", "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert code == EXIT_CONFIG
    assert option in err.splitlines()[0] and "Traceback" not in err


@pytest.mark.slow
def test_quick_bench_prints_every_table_and_writes_png_and_json(tmp_path, capsys,
                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "240")
    out = tmp_path / "out"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for row in ("WinRM command throughput", "run_cmd", "shell-per-command", "Upload",
                "1 MiB", "16 MiB", "Suite makespan", "Harness overhead per scenario",
                "wall (mean)", "Goals", "command throughput vs Session.run_cmd",
                "upload throughput vs bare Send", "hpc-e2e bench --quick"):
        assert row in text, row
    data = json.loads((out / "bench.json").read_text())
    assert data["quick"] is True and data["command"].startswith("hpc-e2e bench --quick")
    assert data["throughput"]["clients"]["harness"]["requests_per_command"] > 0
    assert {p["workers"] for p in data["makespan"]["points"]} == {1, 2}
    assert all(p["outcomes"].get("passed", 0) > 0 for p in data["makespan"]["points"])
    assert data["overhead"]["tests"] > 0
    png = (out / "bench-makespan.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
