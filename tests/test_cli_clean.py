"""``hpc-e2e clean`` against a provisioned simulated host.

Pods are made through crictl on the host, as a run (labelled with ``hpc-e2e.run-id``) or as
somebody else would (no such label).  Clean must remove the labelled ones with their
containers and run folders, honour ``--run-id``, ``--older-than`` and ``--dry-run``, and
never touch a pod without the label.
"""

from __future__ import annotations

import json
import ntpath
import uuid

import pytest

from harness.cli import main
from harness.runtime.layout import default_layout
from harness.commands.clean import parse_duration
from harness.cri import RUN_ID_LABEL, ContainerSpec, Crictl, PodSpec
from harness.cri.crictl import DEFAULT_RUNS_ROOT
from harness.errors import EXIT_CONFIG
from harness.hosts import endpoint_target
from harness.sim.host import SimHost
from harness.sim.hostmodel import HostProfile
from harness.transport import open_transport
from harness.windows import WindowsHost

IMAGE = "mcr.microsoft.com/windows/nanoserver:ltsc2025"
PROCESS = "runhcs-wcow-process"
SYSTEM = "NT AUTHORITY\\SYSTEM"
KEEP_RUNNING = ["cmd", "/c", "ping", "-t", "127.0.0.1"]  # docs/behaviour/ecosystem.md §2.1


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A provisioned sim host served from a state dir, and a transport to it."""
    profile = HostProfile(features={"Containers": "Installed", "Hyper-V": "Installed"},
                          hypervisor_present=True)
    with SimHost(tmp_path_factory.mktemp("sim"), ssh_port=None, profile=profile) as sim:
        assert main(["provision", "--json", "--sim-state-dir", str(sim.state_dir)]) == 0
        target = endpoint_target(json.loads(sim.endpoint_file.read_text()))
        with open_transport(target) as transport:
            yield sim, transport


@pytest.fixture
def make(host):
    """Pods on the host: ``make.run(run_id)`` as a harness run, ``make.foreign()`` not."""
    sim, transport = host
    layout = default_layout()

    class Maker:
        def crictl(self, run_id: str) -> Crictl:
            return Crictl(transport, run_id=run_id, crictl_path=layout.crictl_exe,
                          config_path=layout.crictl_yaml)

        def run(self, run_id: str, *, containers: int = 1) -> str:
            client = self.crictl(run_id)
            client.pull(IMAGE)
            pod = client.runp(PodSpec(f"p-{run_id}", host_process=True,
                                      run_as_username=SYSTEM), runtime_handler=PROCESS)
            for i in range(containers):
                ctr = client.create(pod, ContainerSpec(f"c{i}", IMAGE, command=KEEP_RUNNING,
                                                       host_process=True,
                                                       run_as_username=SYSTEM))
                client.start(ctr)
            return pod.id

        def foreign(self) -> str:
            """A pod somebody else made with crictl: labels, but not the harness's."""
            client = self.crictl("unused")
            config = {"metadata": {"name": "theirs", "namespace": "default",
                                   "uid": str(uuid.uuid4()), "attempt": 0},
                      "labels": {"app": "theirs", "hpc-e2e.run": "not-the-key"},
                      # host network: this host has no CNI config (docs/behaviour/ecosystem.md §0.4)
                      "windows": {"security_context": {"host_process": True,
                                                       "run_as_username": SYSTEM}}}
            path = ntpath.join(r"C:\ProgramData\someone-else", "pod.json")
            WindowsHost(transport).files.mkdir(ntpath.dirname(path))
            WindowsHost(transport).files.write_text(path, json.dumps(config))
            result = client.run("runp", "runp", "--runtime", PROCESS, path)
            return result.stdout.strip()

        def pods(self) -> dict[str, dict]:
            return {p.id: p.labels for p in self.crictl("x").pods(all_runs=True)}

        def containers(self) -> list:
            return self.crictl("x").ps(all_runs=True)

        def folder_exists(self, run_id: str) -> bool:
            return WindowsHost(transport).files.info(
                [ntpath.join(DEFAULT_RUNS_ROOT, run_id)])[0].is_dir

        def age(self, pod_id: str, seconds: float) -> None:
            """Make a pod look created ``seconds`` ago (the host's own record of it)."""
            sim.machine.cri.pods[pod_id].created_at -= int(seconds * 1e9)

    maker = Maker()
    yield maker
    for pod_id in maker.pods():  # leave the host empty for the next test
        maker.crictl("x").rmp(pod_id, force=True)


def clean(capsys, host, *args) -> tuple[int, dict]:
    sim, _ = host
    capsys.readouterr()  # drop what fixtures printed (provision's summary)
    code = main(["clean", "--json", "--sim-state-dir", str(sim.state_dir), *map(str, args)])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)


def removed(data: dict) -> dict[str, str]:
    return {p["pod_id"]: p["action"] for h in data["hosts"] for p in h["pods"]}


def test_labelled_pods_go_with_their_containers_and_folders_others_stay(host, make, capsys):
    a = make.run("run-a", containers=2)
    b = make.run("run-b")
    theirs = make.foreign()
    assert make.folder_exists("run-a") and make.folder_exists("run-b")
    assert len(make.containers()) == 3

    code, data = clean(capsys, host)
    assert code == 0, data
    assert removed(data) == {a: "removed", b: "removed"}
    pods = {p["pod_id"]: p for p in data["hosts"][0]["pods"]}
    assert pods[a]["containers"] == 2 and pods[a]["run_id"] == "run-a"
    assert list(make.pods()) == [theirs]  # the unlabelled pod survives
    assert make.containers() == []
    assert not make.folder_exists("run-a") and not make.folder_exists("run-b")
    assert {f["action"] for f in data["hosts"][0]["folders"]} == {"removed"}


def test_dry_run_lists_and_removes_nothing(host, make, capsys):
    a = make.run("run-dry")
    theirs = make.foreign()
    capsys.readouterr()
    code = main(["clean", "--dry-run", "--sim-state-dir", str(host[0].state_dir)])
    out = capsys.readouterr().out
    assert code == 0
    assert "would remove 1 pod(s) with 1 container(s) and 1 run folder(s)" in out
    assert "run-dry" in out and "theirs" not in out
    assert set(make.pods()) == {a, theirs}
    assert make.folder_exists("run-dry")


def test_older_than_keeps_recent_runs(host, make, capsys):
    old = make.run("run-old")
    new = make.run("run-new")
    make.age(old, 3 * 3600)
    code, data = clean(capsys, host, "--older-than", "2h")
    assert code == 0, data
    assert removed(data) == {old: "removed"}
    assert data["hosts"][0]["kept"] == 1
    assert set(make.pods()) == {new}
    assert not make.folder_exists("run-old") and make.folder_exists("run-new")


def test_a_run_folder_stays_while_a_pod_of_that_run_is_kept(host, make, capsys):
    old = make.run("run-mixed")
    recent = make.run("run-mixed")
    make.age(old, 7200)
    code, data = clean(capsys, host, "--older-than", "1h")
    assert code == 0
    assert removed(data) == {old: "removed"}
    assert set(make.pods()) == {recent}
    assert make.folder_exists("run-mixed")  # the kept pod's configs live there


def test_run_id_selects_one_run(host, make, capsys):
    mine = make.run("run-mine")
    other = make.run("run-other")
    code, data = clean(capsys, host, "--run-id", "run-mine")
    assert code == 0
    assert removed(data) == {mine: "removed"}
    assert set(make.pods()) == {other}
    labels = make.pods()[other]
    assert labels[RUN_ID_LABEL] == "run-other"


def orphan_folder(host, make, run_id: str) -> None:
    """What a run killed between two tests leaves: its folder, no pod."""
    pod = make.run(run_id)
    make.crictl("x").rmp(pod, force=True)
    assert make.folder_exists(run_id) and pod not in make.pods()


def test_the_folder_of_a_run_that_died_without_pods_goes_too(host, make, capsys):
    clean(capsys, host)  # what earlier tests left (their folders, now found as well)
    orphan_folder(host, make, "run-killed")
    orphan_folder(host, make, "20200101-000000-abcdef")  # an id the harness made in 2020
    code = main(["clean", "--dry-run", "--sim-state-dir", str(host[0].state_dir)])
    assert code == 0
    assert "would remove 0 pod(s) with 0 container(s) and 2 run folder(s)" in \
        capsys.readouterr().out
    assert make.folder_exists("run-killed")
    code, data = clean(capsys, host, "--older-than", "1d")  # only the id that tells its age
    assert [f["path"] for f in data["hosts"][0]["folders"]] == \
        [ntpath.join(DEFAULT_RUNS_ROOT, "20200101-000000-abcdef")]
    assert make.folder_exists("run-killed")
    code, data = clean(capsys, host, "--run-id", "other-run")
    assert data["hosts"][0]["folders"] == [] and make.folder_exists("run-killed")
    code, data = clean(capsys, host)
    assert code == 0
    assert data["hosts"][0]["folders"] == [
        {"path": ntpath.join(DEFAULT_RUNS_ROOT, "run-killed"), "action": "removed", "error": ""}]
    assert not make.folder_exists("run-killed")


def test_a_run_folder_of_a_live_pod_stays_when_another_run_is_cleaned(host, make, capsys):
    live = make.run("run-live")
    orphan_folder(host, make, "run-dead")
    code, data = clean(capsys, host, "--run-id", "run-dead")
    assert code == 0 and set(make.pods()) == {live}
    assert make.folder_exists("run-live") and not make.folder_exists("run-dead")


def test_nothing_served_means_nothing_to_clean(tmp_path, capsys):
    code = main(["clean", "--sim-state-dir", str(tmp_path / "none")])
    assert code == 0
    assert "nothing to clean" in capsys.readouterr().out


@pytest.mark.parametrize("text, seconds", [
    ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45s", 45), ("1w", 604800),
    ("0.5h", 1800), (" 2H ", 7200)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "1h 30m", "-1h", "1h30", "m30"])
def test_bad_durations_are_usage_errors(text, capsys, tmp_path):
    code = main(["clean", f"--older-than={text}", "--sim-state-dir", str(tmp_path)])
    assert code == EXIT_CONFIG
    assert "is not a duration" in capsys.readouterr().err


def test_the_time_filter_uses_creation_time():
    from datetime import UTC, datetime, timedelta

    from harness.cri.cleanup import select
    from harness.cri.status import PodSummary

    now = datetime(2025, 1, 1, 12, tzinfo=UTC)

    def pod(pid, labels, created):
        return PodSummary.from_json({"id": pid, "labels": labels,
                                     "createdAt": str(int(created.timestamp() * 1e9))})

    pods = [pod("old", {RUN_ID_LABEL: "r1"}, now - timedelta(hours=3)),
            pod("new", {RUN_ID_LABEL: "r1"}, now - timedelta(minutes=5)),
            pod("foreign-old", {"app": "x"}, now - timedelta(days=9))]
    chosen, kept = select(pods, run_id=None, older_than=timedelta(hours=1), now=now)
    assert [p.id for p in chosen] == ["old"] and [p.id for p in kept] == ["new"]
    chosen, kept = select(pods, run_id="r2", older_than=None, now=now)
    assert chosen == [] and len(kept) == 2
