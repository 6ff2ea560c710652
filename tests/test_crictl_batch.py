"""crictl batches (harness/cri/batch.py, scripts/crictl_batch.ps1 and its sim model).

Against the simulated host over WinRM with the runtime deployed (as tests/test_cri_lifecycle.py):
the script model writes and verifies files, runs groups concurrently (shown by the steps'
own timestamps) and stops a group at its first failure; the CRI client maps each step like
a single call and reconciles a batch whose answer was lost (the sim's ``drop-answer`` fault,
aimed at one request); pods are removed with ``rmp --force`` in one command.  A scripted
fake transport covers the output checks, and a pytester run shows one Allure step per
crictl step inside a batch, redacted.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config.target import Target
from harness.cri import (
    ContainerSpec,
    Crictl,
    CrictlOutputError,
    CriReporter,
    CriStageError,
    PodSpec,
)
from harness.cri.batch import SCRIPTS, BatchFile, BatchStepError, Step, run_batch
from harness.cri.crictl import Launch
from harness.errors import CommandTimeout, RemoteCommandError
from harness.sim.faults import FaultPlan
from harness.sim.latency import LatencyModel
from harness.transport.base import Transport
from harness.transport.powershell import RESULT_PREFIX, run_script
from harness.transport.retry import RetryPolicy

sys.path.insert(0, str(Path(__file__).parent))
from test_cri_lifecycle import (
    HPC_MISMATCH,
    HYPERVISOR,
    IMAGE,
    KEEP_RUNNING,
    PROCESS,
    SYSTEM,
    UNSAFE_PATH,
    _target,
)

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, runtime_wait=5)


# --- a deployed sim host whose faults are aimed by the test --------------------------------
@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    from harness.runtime.bundle import load_bundle
    from harness.cri.runtime_access import crictl_runtime_access
    from harness.runtime.deploy import deploy
    from harness.runtime.layout import RuntimeLayout
    from harness.sim.bundle import write_sim_bundle
    from harness.sim.host import SimHost
    from harness.sim.hostmodel import HostProfile
    from harness.transport.winrm import WinRMTransport
    from harness.windows import WindowsHost

    profile = HostProfile(features={"Hyper-V": "Installed", "Containers": "Installed"},
                          hypervisor_present=True)
    bundle = load_bundle(write_sim_bundle(tmp_path_factory.mktemp("bundle")))
    plan = FaultPlan.parse("rate=1,seed=1,kinds=drop-answer")
    with SimHost(tmp_path_factory.mktemp("sim"), ssh_port=None, profile=profile,
                 faults=plan) as host:
        host.faults.suspended = True
        with WinRMTransport(_target(host)) as transport:
            transport.retry_policy = FAST
            deploy(WindowsHost(transport), bundle, cri=crictl_runtime_access)
            layout = RuntimeLayout.for_bundle(bundle)
            Crictl(transport, crictl_path=layout.crictl_exe,
                   config_path=layout.crictl_yaml).pull(IMAGE)
            yield SimpleNamespace(host=host, transport=transport, layout=layout)


@pytest.fixture
def crictl(runtime):
    client = Crictl(runtime.transport, crictl_path=runtime.layout.crictl_exe,
                    config_path=runtime.layout.crictl_yaml, retry=FAST)
    assert client.batching
    yield client
    runtime.host.machine.latency = None
    problems = client.cleanup()
    assert not problems, problems


def commands(runtime) -> int:
    return runtime.host.winrm.request_count(action="Command")


def hpc_pod(name: str, **kw) -> PodSpec:
    kw.setdefault("run_as_username", SYSTEM)
    return PodSpec(name, host_process=True, **kw)


def hpc_ctr(name: str = "c0", **kw) -> ContainerSpec:
    kw.setdefault("command", KEEP_RUNNING)
    kw.setdefault("run_as_username", SYSTEM)
    return ContainerSpec(name, IMAGE, host_process=True, **kw)


def runtime_pods(runtime, crictl) -> list:
    return [p for p in runtime.host.machine.cri.pods.values()
            if p.labels.get("hpc-e2e.run-id") == crictl.run_id]


def drop_answer_once(runtime, point: str, *, after: str | None = None) -> dict:
    """Lose the answer of the next request at ``point`` (handled, then the connection is
    closed: the plan's only kind is drop-answer); with ``after``, of the first one that
    follows a request at ``after``.  The answer of the Receive that follows a batch's
    Command is its result: the sim handles a Receive by waiting for the command's output,
    which the batch writes when it is done.  Every other request goes through."""
    injector = runtime.host.faults
    original = injector.roll
    state = {"dropped": 0, "armed": after is None}

    def roll(at, kinds, detail=""):
        if at == after:
            state["armed"] = True
        elif state["armed"] and state["dropped"] == 0 and at == point:
            state["dropped"] += 1
            injector.suspended = False
            try:
                return original(at, kinds, detail)
            finally:
                injector.suspended = True
        return None

    injector.roll = roll
    return state


@pytest.fixture
def restore_roll(runtime):
    yield
    runtime.host.faults.__dict__.pop("roll", None)


# --- the script and its model --------------------------------------------------------------
def test_files_are_written_verified_and_renamed_before_the_steps(runtime, crictl):
    folder = rf"{crictl.remote_dir}\batch-files"
    files = [BatchFile(rf"{folder}\a.json", b'{"a": 1}'), BatchFile(rf"{folder}\b.bin",
                                                                    bytes(range(256)))]
    before = commands(runtime)
    (group,) = crictl.batch([[crictl.step("version", "version")]], files=files)
    assert commands(runtime) - before == 1
    assert group[0].result.exit_code == 0 and "RuntimeName:" in group[0].result.stdout
    fs = runtime.host.machine.fs
    assert fs.read_bytes(files[0].path) == files[0].data
    assert fs.read_bytes(files[1].path) == files[1].data
    assert not [n for n in fs.listdir(folder) if n.endswith(".hpce2e-tmp")]
    # written again over itself (a repeat after a lost answer): replaced, still verified
    crictl.batch([[crictl.step("version", "version")]], files=[BatchFile(files[0].path, b"2")])
    assert fs.read_bytes(files[0].path) == b"2"


def test_a_file_that_does_not_verify_writes_nothing_and_runs_nothing(runtime, crictl):
    path = rf"{crictl.remote_dir}\bad.json"
    launches = len(runtime.host.machine.launches)
    args = {"files": [{"path": path, "size": 5, "sha256": "0" * 64}],
            "steps": [{"group": 0, "stage": "version", "file": crictl.crictl_path,
                       "arguments": "version", "timeout_ms": 60000}]}
    result = run_script(runtime.transport, "crictl_batch", args, catalog=SCRIPTS,
                        stdin_chunks=[base64.b64encode(b"hello") + b"\r\n"], check=False,
                        timeout=60)
    assert result.exit_code == 1 and "sha256 of the bytes received" in result.stderr
    assert not runtime.host.machine.fs.exists(path)
    assert not [x for x in runtime.host.machine.launches[launches:]
                if x.image.lower().endswith("crictl.exe")]
    with pytest.raises(RemoteCommandError, match="sha256"):
        run_batch(runtime.transport, [[crictl.step("version", "version")]],
                  files=[_Lying(path, b"hello")])


class _Lying(BatchFile):
    @property
    def sha256(self) -> str:
        return "f" * 64


def test_a_step_the_model_does_not_understand_fails_loudly(runtime, crictl):
    args = {"steps": [{"group": 0, "stage": "version", "file": crictl.crictl_path,
                       "arguments": "version", "timeout_ms": 1000, "shell": True}]}
    result = run_script(runtime.transport, "crictl_batch", args, catalog=SCRIPTS,
                        check=False, timeout=60)
    assert result.exit_code == 1 and "does not understand" in result.stderr


def test_groups_run_concurrently_and_a_groups_steps_in_order(runtime, crictl):
    runtime.host.machine.latency = LatencyModel.parse("pod_start=0.6")
    files, groups = [], []
    for name in ("left", "right"):
        spec = hpc_pod(name).with_run_id(crictl.run_id)
        path = rf"{crictl.remote_dir}\{name}.json"
        files.append(BatchFile(path, spec.render(crictl.run_id)))
        groups.append([crictl.step("runp", "runp", "--runtime", PROCESS, path),
                       crictl.step("version", "version")])
    before = commands(runtime)
    left, right = crictl.batch(groups, files=files)
    assert commands(runtime) - before == 1
    for group in (left, right):
        assert [s.result.exit_code for s in group] == [0, 0]
        assert group[0].ended <= group[1].started  # in order within the group
        assert group[0].duration >= 0.5
    # the two runp overlap in time: concurrent groups
    assert left[0].started < right[0].ended and right[0].started < left[0].ended
    assert len(runtime_pods(runtime, crictl)) == 2


def test_a_group_stops_at_its_first_failure_the_others_go_on(runtime, crictl):
    failing = [crictl.step("inspect", "inspect", "0" * 64, object_id="0" * 64),
               crictl.step("version", "version")]
    (first, skipped), (other,) = crictl.batch([failing, [crictl.step("version", "version")]])
    assert first.result.exit_code == 1 and not skipped.ran and other.result.exit_code == 0
    with pytest.raises(CriStageError) as err:
        crictl.checked(first)
    assert err.value.stage == "inspect" and err.value.grpc_code == "NotFound"
    assert "not run" in skipped.transcript()


def test_a_step_past_its_timeout_is_killed_and_reported_as_a_timeout(runtime, crictl):
    runtime.host.machine.latency = LatencyModel.parse("pod_start=1.5")
    spec = hpc_pod("slow").with_run_id(crictl.run_id)
    path = rf"{crictl.remote_dir}\slow.json"
    step = Step("runp", tuple(crictl.argv("runp", path)), timeout=0.3)
    ((result,),) = crictl.batch([[step]], files=[BatchFile(path, spec.render(crictl.run_id))])
    assert result.timed_out and result.result.exit_code == -1
    with pytest.raises(CommandTimeout):
        crictl.checked(result)


def test_a_program_that_cannot_start_stops_its_group(runtime, crictl):
    missing = Step("version", (r"C:\nowhere\crictl.exe", "version"), timeout=30)
    ((result, skipped),) = crictl.batch([[missing, crictl.step("version", "version")]])
    assert "The system cannot find the file specified" in result.start_error
    assert not skipped.ran
    with pytest.raises(BatchStepError, match="could not be started"):
        crictl.checked(result)


# --- the CRI client on top -------------------------------------------------------------------
def test_runp_writes_its_config_and_runs_in_one_remote_command(runtime, crictl):
    before = commands(runtime)
    pod = crictl.runp(hpc_pod("one"), runtime_handler=PROCESS)
    assert commands(runtime) - before == 1
    assert json.loads(runtime.host.machine.fs.read_bytes(pod.config_path))["metadata"][
        "uid"] == pod.spec.uid
    assert crictl.inspectp(pod).ready


@pytest.mark.parametrize("handler", [PROCESS, HYPERVISOR])
def test_create_and_start_is_one_remote_command(runtime, crictl, handler):
    pod = crictl.runp(hpc_pod("cs"), runtime_handler=handler)
    seen = []
    before = commands(runtime)
    ctr = crictl.create_and_start(pod, hpc_ctr(), on_created=seen.append)
    assert commands(runtime) - before == 1
    assert seen == [ctr] and crictl.inspect(ctr).running


def test_refusals_keep_their_stage_and_text(runtime, crictl):
    pod = crictl.runp(hpc_pod("refused"), runtime_handler=HYPERVISOR)
    seen = []
    with pytest.raises(CriStageError) as refused:
        crictl.create_and_start(pod, ContainerSpec("plain", IMAGE, command=KEEP_RUNNING),
                                on_created=seen.append)
    assert refused.value.stage == "create" and HPC_MISMATCH in refused.value.runtime_message
    assert seen == []  # nothing was created
    rootfs = crictl.runp(hpc_pod("rootfs", annotations={
        "microsoft.com/hostprocess-rootfs-location": ""}), runtime_handler=HYPERVISOR)
    with pytest.raises(CriStageError) as refused:
        crictl.create_and_start(rootfs, hpc_ctr(), on_created=seen.append)
    assert refused.value.stage == "start" and UNSAFE_PATH in refused.value.runtime_message
    assert [c.id for c in seen] == [refused.value.object_id]  # created, its start refused


def test_independent_pods_start_concurrently_in_one_remote_command(runtime, crictl):
    runtime.host.machine.latency = LatencyModel.parse("pod_start=0.4,uvm_boot=0.4")
    plans = [Launch(hpc_pod("p"), PROCESS, hpc_ctr(), start=True),
             Launch(hpc_pod("h"), HYPERVISOR, hpc_ctr(), start=True),
             Launch(hpc_pod("bare"), PROCESS)]
    before = commands(runtime)
    crictl.launch(plans)
    assert commands(runtime) - before == 1
    assert all(p.pod is not None for p in plans)
    assert [crictl.inspect(p.container).running for p in plans[:2]] == [True, True]
    assert plans[2].container is None and crictl.inspectp(plans[2].pod).ready


def test_one_refused_plan_does_not_hide_the_others(runtime, crictl):
    started = []
    plans = [Launch(hpc_pod("bad"), "no-such-handler", on_pod=started.append),
             Launch(hpc_pod("good"), PROCESS, hpc_ctr(), start=True, on_pod=started.append)]
    with pytest.raises(CriStageError) as refused:
        crictl.launch(plans)
    assert refused.value.stage == "runp" and "no-such-handler" in refused.value.runtime_message
    assert plans[0].pod is None and started == [plans[1].pod]
    assert plans[1].started and crictl.inspect(plans[1].container).running


def test_a_lost_answer_after_runp_is_reconciled_not_repeated(runtime, crictl, restore_roll,
                                                             caplog):
    state = drop_answer_once(runtime, "winrm:Receive", after="winrm:Command")
    with caplog.at_level(logging.INFO, logger="harness.cri"):
        pod = crictl.runp(hpc_pod("lost"), runtime_handler=PROCESS)
    assert state["dropped"] == 1 and runtime.host.faults.counts().get("drop-answer")
    assert [p.id for p in runtime_pods(runtime, crictl)] == [pod.id]
    assert "an earlier attempt did it" in caplog.text


def test_a_lost_answer_of_create_and_start_is_reconciled(runtime, crictl, restore_roll):
    pod = crictl.runp(hpc_pod("lost2"), runtime_handler=PROCESS)
    cri = runtime.host.machine.cri

    state = drop_answer_once(runtime, "winrm:Receive", after="winrm:Command")
    seen = []
    ctr = crictl.create_and_start(pod, hpc_ctr(), on_created=seen.append)
    assert state["dropped"] == 1
    assert [c.id for c in cri.containers.values() if c.pod.id == pod.id] == [ctr.id]
    assert seen == [ctr] and crictl.inspect(ctr).running


def test_a_lost_command_is_run_again(runtime, crictl, restore_roll):
    # The Command's answer is lost before its stdin was sent: the batch never ran.
    state = drop_answer_once(runtime, "winrm:Command")
    plans = [Launch(hpc_pod("again"), PROCESS, hpc_ctr(), start=True)]
    crictl.launch(plans)
    assert state["dropped"] == 1
    assert [p.id for p in runtime_pods(runtime, crictl)] == [plans[0].pod.id]
    assert crictl.inspect(plans[0].container).running


def test_pods_are_removed_with_their_containers_in_one_command(runtime, crictl):
    plans = [Launch(hpc_pod(f"rm{i}"), PROCESS, hpc_ctr(), start=True) for i in range(3)]
    crictl.launch(plans)
    ids = [p.pod.id for p in plans]
    before = commands(runtime)
    assert crictl.rmp_many(ids) == []
    assert commands(runtime) - before == 1
    cri = runtime.host.machine.cri
    assert not [p for p in ids if p in cri.pods]
    assert not [c for c in cri.containers.values() if c.pod.id in ids]
    assert crictl.rmp_many(ids) == []  # "not found" counts as removed


# --- output checks, against a scripted host ----------------------------------------------------
class ScriptedBatch(Transport):
    """Answers crictl_batch from canned (rc, stdout, stderr) per stage; records each batch."""

    def __init__(self, target=None):
        super().__init__(target or Target(name="fake", address="127.0.0.1", transport="local"))
        self.answers: dict[str, list[tuple[int, str, str]]] = {}
        self.batches: list[dict] = []

    def answer(self, stage: str, rc: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.answers.setdefault(stage, []).append((rc, stdout, stderr))

    def _run(self, command_line, *, timeout, stdin):
        data = stdin if isinstance(stdin, bytes) else b"".join(stdin or ())
        header = json.loads(base64.b64decode(data.split(b"\r\n", 1)[0]))
        assert header["name"] == "crictl_batch"
        args = header["args"]
        self.batches.append(args)
        groups: dict[int, list[dict]] = {}
        for step in args["steps"]:
            groups.setdefault(step["group"], []).append(step)
        done = []
        for g, steps in groups.items():
            for i, step in enumerate(steps):
                queue = self.answers.get(step["stage"]) or [(1, "", "no canned answer")]
                rc, out, err = queue.pop(0)
                done.append({"group": g, "index": i, "stage": step["stage"],
                             "command_line": f'"{step["file"]}" {step["arguments"]}',
                             "exit_code": rc, "stdout": out, "stderr": err,
                             "timed_out": False, "start_error": None,
                             "started": "2026-01-01T00:00:00.000Z",
                             "ended": "2026-01-01T00:00:00.250Z"})
                if rc:
                    break
        line = RESULT_PREFIX + json.dumps({"files": [], "steps": done}) + "\r\n"
        return 0, line.encode(), b""

    def close(self):
        pass


HELP = "NAME:\n   crictl runp - Run a new pod\n"


def test_exit_0_without_an_id_is_an_output_error_of_that_stage():
    fake = ScriptedBatch()
    crictl = Crictl(fake, run_id="r1", retry=FAST)
    fake.answer("runp", 0, HELP)
    with pytest.raises(CrictlOutputError) as err:
        crictl.runp(PodSpec("p", host_process=True))
    assert err.value.stage == "runp"
    fake.answer("runp", 0, "a" * 64 + "\n")
    fake.answer("create", 0, "b" * 64 + "\n")
    fake.answer("start", 0, "c" * 64 + "\n")  # start must echo the container's ID
    pod = crictl.runp(PodSpec("p", host_process=True))
    with pytest.raises(CrictlOutputError) as err:
        crictl.create_and_start(pod, ContainerSpec("c", IMAGE, host_process=True))
    assert err.value.stage == "start"
    create, start = fake.batches[-1]["steps"]
    assert start["id_from"] == 0 and "@hpc-e2e-id@" in start["arguments"]
    assert create["arguments"].endswith(pod.config_path)


def test_the_pod_file_is_sent_once_and_files_travel_on_stdin():
    fake = ScriptedBatch()
    crictl = Crictl(fake, run_id="r2", retry=FAST)
    fake.answer("runp", 0, "a" * 64 + "\n")
    pod = crictl.runp(PodSpec("p", host_process=True))
    assert [f["path"] for f in fake.batches[0]["files"]] == [pod.config_path]
    assert "content" not in json.dumps(fake.batches[0])  # bytes go on stdin, not in args
    fake.answer("create", 0, "b" * 64 + "\n")
    crictl.create(pod, ContainerSpec("c", IMAGE, host_process=True))
    assert [f["path"].rsplit("\\", 1)[1][:4] for f in fake.batches[1]["files"]] == ["ctr-"]


# --- the reporter: given to the client, never looked for (harness/cri/reporter.py) ------------
class RecordingReporter:
    def __init__(self):
        self.events: list[tuple] = []

    @contextlib.contextmanager
    def report_group(self, title):
        self.events.append(("group", title))
        yield
        self.events.append(("end", title))

    def report_substeps(self, entries):
        self.events.append(("steps", [(e.command_line.split(" --timeout ")[1].split()[1],
                                       e.exit_code) for e in entries]))


class HookedBatch(ScriptedBatch, RecordingReporter):
    """A transport that happens to have the reporter's methods."""

    def __init__(self):
        ScriptedBatch.__init__(self)
        RecordingReporter.__init__(self)


def test_a_batch_tells_the_reporter_it_is_given_each_step_inside_one_group():
    fake, reporter = ScriptedBatch(), RecordingReporter()
    assert isinstance(reporter, CriReporter) and not isinstance(fake, CriReporter)
    crictl = Crictl(fake, run_id="r3", retry=FAST, reporter=reporter)
    fake.answer("runp", 0, "a" * 64 + "\n")
    fake.answer("create", 0, "b" * 64 + "\n")
    fake.answer("start", 1, "", "time=\"x\" level=fatal msg=\"refused\"\n")
    with pytest.raises(CriStageError):
        crictl.launch([Launch(PodSpec("p", host_process=True), "h",
                              ContainerSpec("c", IMAGE, host_process=True), start=True)])
    title = "crictl batch: runp p + create c + start c"
    assert reporter.events == [("group", title),
                               ("steps", [("runp", 0), ("create", 0), ("start", 1)]),
                               ("end", title)]


def test_the_client_does_not_look_for_report_hooks_on_its_transport():
    """Before the protocol, crictl batches found ``report_group``/``report_substeps`` on the
    transport with getattr; now only a reporter passed in is told."""
    fake = HookedBatch()
    fake.answer("runp", 0, "a" * 64 + "\n")
    Crictl(fake, run_id="r4", retry=FAST).runp(PodSpec("p", host_process=True))
    assert fake.batches and fake.events == []


# --- the factory's clean-up ------------------------------------------------------------------
class RecordingCrictl:
    def __init__(self):
        self.removed: list[list[str]] = []
        self.calls: list[str] = []

    def rmp_many(self, pods, *, force=True):
        self.removed.append([p.id for p in pods])
        return []

    def __getattr__(self, name):
        def record(*a, **k):
            self.calls.append(name)
        return record


def test_cleanup_is_one_rmp_force_per_pod_and_spares_what_the_test_removed():
    from harness.plugin.pods import Container, Pod, PodFactory

    crictl = RecordingCrictl()
    host = SimpleNamespace(crictl=crictl)
    factory = PodFactory(host, test_name="t")
    pods = [Pod(factory, SimpleNamespace(id=f"p{i}", spec=None), "process") for i in range(3)]
    factory.pods.extend(pods)
    for pod in pods:
        c = Container(pod, SimpleNamespace(id=f"c-{pod.id}", spec=None))
        pod.containers.append(c)
        factory.containers.append(c)
    pods[1].removed = pods[1].containers[0].removed = True  # as Pod.remove() leaves them
    pods[2].containers[0].removed = True
    assert factory.cleanup() == []
    assert crictl.removed == [["p2", "p0"]] and crictl.calls == []  # no stop/rm/stopp
    assert all(p.removed for p in pods) and all(c.removed for c in factory.containers)
    assert factory.cleanup() == [] and crictl.removed == [["p2", "p0"]]


# --- the report -------------------------------------------------------------------------------
REPORT_CONFTEST = r'''
import sys
from types import SimpleNamespace
import pytest
from harness.config.secrets import Secret
from harness.plugin.reporting import ReportingTransport

sys.path.insert(0, r"{tests}")
from test_crictl_batch import ScriptedBatch

CANARY = Secret("canary-batch-5e6f7a")


@pytest.fixture
def transport():
    inner = ScriptedBatch()
    inner.answer("runp", 0, "a" * 64 + "\n")
    inner.answer("create", 0, "b" * 64 + "\n")
    inner.answer("start", 1, "", "time=\"x\" level=fatal msg=\"refused " + CANARY.reveal() + "\"\n")
    return ReportingTransport(inner)
'''


def test_each_step_of_a_batch_is_its_own_report_step(pytester):
    from test_reporting import Results, all_steps

    pytester.makeconftest(REPORT_CONFTEST.replace("{tests}", str(Path(__file__).parent)))
    pytester.makepyfile('''
import pytest
from harness.cri import ContainerSpec, Crictl, CriStageError, PodSpec
from harness.cri.crictl import Launch

def test_batch(transport):
    # the plugin passes its reporting transport as the CRI reporter (harness/plugin/host.py)
    crictl = Crictl(transport, run_id="r-rep", reporter=transport)
    plans = [Launch(PodSpec("p", host_process=True), "h", ContainerSpec("c", "img"), start=True),
             Launch(PodSpec("q", host_process=True), "h")]
    with pytest.raises(CriStageError):
        crictl.launch(plans)
''')
    alluredir = pytester.path / "allure-results"
    run = pytester.runpytest("-p", "no:hpc_e2e", "-p", "harness.plugin.reporting",
                             f"--alluredir={alluredir}", "-p", "no:cacheprovider")
    run.assert_outcomes(passed=1)
    res = Results(alluredir)
    (group,) = res.one("test_batch")["steps"]
    assert group["name"] == "crictl batch: runp p + create c + start c | runp q"
    inner = [s["name"] for s in group["steps"]]
    assert inner[0].startswith("[ps:crictl_batch]")
    subs = group["steps"][1:]
    assert [s["name"].split(" --timeout ")[1].split()[1] for s in subs] == [
        "runp", "create", "start", "runp"]
    assert all("crictl.exe" in s["name"] for s in subs)
    texts = {s["name"].split(" --timeout ")[1].split()[1] + str(i):
             res.text(s["attachments"][0]) for i, s in enumerate(subs)}
    assert "[exit 1 " in texts["start2"] and "refused" in texts["start2"]
    assert "canary-batch-5e6f7a" not in "".join(texts.values())
    assert [s["attachments"][0]["name"] for s in subs] == [
        "transcript (exit 0)", "transcript (exit 0)", "transcript (exit 1)",
        "transcript (exit 1)"]
    assert all_steps(group)  # nested under the batch's own step
