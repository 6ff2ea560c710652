"""Allure/JUnit reporting, diagnostics and failure classes, checked on the files written.

Most tests run a small fake scenario file with pytester against a fake transport (scripted
answers, every call counted) and read the Allure result JSON, attachments, JUnit XML,
``environment.properties`` and ``categories.json`` that the run left behind.  One test
drives a real WinRM transport against the simulated host for the streaming paths.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config.secrets import Secret
from harness.secrets import MASK
from harness.config.target import Target
from harness.cri.errors import CrictlOutputError, CriExecTimeout, CriStageError
from harness.errors import (
    AuthenticationError,
    CommandTimeout,
    ConfigError,
    HarnessError,
    RemoteCommandError,
    TransportError,
)
from harness.plugin import categories, diagnostics, reporting, transcripts
from harness.transport.base import CommandResult, Transport

REPO = Path(__file__).resolve().parents[1]

CANARY = "canary-9f8e7d-hunter2"

# The conftest of every fake run: a scripted transport behind ReportingTransport, a host
# fixture shaped like the plugin core's, and a pods fixture that only records objects.
FAKE_CONFTEST = r'''
import json, os
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config.secrets import Secret
from harness.config.target import Target
from harness.cri.crictl import Crictl
from harness.errors import TransportError
from harness.plugin import reporting
from harness.plugin.reporting import ReportingTransport
from harness.transport.base import TransferResult, Transport
from harness.transport.files import iter_chunks
from harness.transport.powershell import RESULT_PREFIX

CANARY = Secret("canary-9f8e7d-hunter2")
LOG = "".join(f"containerd log line {i}\r\n" for i in range(1, 501)).encode()
HERE = Path(__file__).parent
STREAMING = os.environ.get("FAKE_STREAMING") == "1"
BROKEN = os.environ.get("FAKE_BROKEN") == "1"

_orig_write = reporting.write_run_files
def _counting_write(config):
    with open(HERE / "run-file-writes.log", "a") as f:
        f.write(os.environ.get("PYTEST_XDIST_WORKER", "controller") + "\n")
    return _orig_write(config)
reporting.write_run_files = _counting_write


class FakeTransport(Transport):
    NAME = "fake"

    def __init__(self, target):
        super().__init__(target)
        self.calls = []

    def answer(self, line, stdin):
        self.calls.append(line)
        if BROKEN:
            raise TransportError(f"{self.target.name}: the connection was refused")
        data = b"".join(iter_chunks(stdin, 65536)) if stdin is not None else b""
        if line.startswith("powershell.exe"):
            import base64
            header = json.loads(base64.b64decode(data.split(b"\n", 1)[0]))
            return 0, (RESULT_PREFIX + json.dumps({"script": header["name"]}) + "\n").encode(), b""
        if line.startswith("type "):
            return 0, LOG, b""
        if "inspectp" in line:
            return 0, json.dumps({"status": {"id": line.rstrip('"').split()[-1]}}).encode(), b""
        if " inspect " in line:
            return 0, json.dumps({"status": {"id": line.rstrip('"').split()[-1]}}).encode(), b""
        if " pods " in line:
            return 0, b'{"items": []}', b""
        if " ps " in line:
            return 0, b'{"containers": []}', b""
        if line == "whoami":
            return 0, b"nt authority\\system\r\n", b""
        if line.startswith("leak"):
            return 1, f"token={CANARY.reveal()}\r\n".encode(), b"it leaked\r\n"
        return 9009, b"", f"'{line.split()[0]}' is not recognized\r\n".encode()

    def _run(self, command_line, *, timeout, stdin):
        return self.answer(command_line, stdin)

    def put(self, local_path, remote_path, *, timeout=None):
        self.calls.append(f"put {remote_path}")
        size = Path(local_path).stat().st_size
        return TransferResult(Path(local_path), remote_path, size, "ab" * 32, 0.01, 1)

    def get(self, remote_path, local_path, *, timeout=None):
        raise NotImplementedError

    def close(self):
        pass


class StreamingFake(FakeTransport):
    def run_streaming(self, command_line, *, timeout, stdin=None, on_stdout, on_stderr):
        code, out, err = self.answer(command_line, stdin)
        for i in range(0, len(out), 1000):
            on_stdout(out[i:i + 1000])
        if err:
            on_stderr(err)
        return code


class FakePod:
    def __init__(self, ident):
        self.id = ident
        self.containers = []

    def container(self):
        c = SimpleNamespace(id=f"{self.id}-c{len(self.containers)}", pod=self)
        self.containers.append(c)
        return c


class FakePods:
    def __init__(self):
        self.created = []

    def run(self, isolation):
        pod = FakePod(f"pod{len(self.created)}-{isolation}")
        self.created.append(pod)
        return pod


@pytest.fixture(scope="session")
def hpc_host():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    target = Target(name=f"fake-{worker}", address="127.0.0.1", transport="local")
    inner = (StreamingFake if STREAMING else FakeTransport)(target)
    transport = ReportingTransport(inner)
    facts = SimpleNamespace(
        build=26100 if worker != "gw1" else 20348, ubr=1742, computer_name=f"FAKE-{worker}",
        caption="Microsoft Windows Server 2025 Datacenter", os_version="10.0.26100.1742",
        raw={"build": 26100, "edition": "ServerDatacenter"},
        summary=lambda: f"FAKE-{worker}: Windows Server 2025 10.0.26100.1742")
    summary = {"runtime": {"bundle_digest": "sha256:feedface",
                           "versions": {"containerd": {"reported": "1.7.22", "declared": "1.7.22"},
                                        "containerd-shim-runhcs-v1": {"reported": "0.13.0"},
                                        "crictl": {"reported": None, "declared": "1.31.1"}},
                           "paths": {"log": r"C:\ProgramData\hpc-e2e\logs\containerd.log"}}}
    return SimpleNamespace(target=target, transport=transport, inner=inner, facts=facts,
                           crictl=Crictl(transport, run_id="run-abc123"),
                           images=SimpleNamespace(probe="hpc-e2e/probe:ltsc2025"),
                           provision_summary=summary)


@pytest.fixture
def pods(hpc_host):
    return FakePods()
'''


# --- reading what a run wrote ------------------------------------------------------------------
class Results:
    def __init__(self, folder: Path):
        self.folder = folder
        self.results = [json.loads(p.read_text(encoding="utf-8"))
                        for p in folder.glob("*-result.json")]

    def one(self, name_part: str) -> dict:
        found = [r for r in self.results if name_part in r["name"]]
        assert len(found) == 1, (name_part, [r["name"] for r in self.results])
        return found[0]

    def text(self, attachment: dict) -> str:
        return (self.folder / attachment["source"]).read_text(encoding="utf-8")


def labels(result: dict, name: str) -> list[str]:
    return [lab["value"] for lab in result.get("labels", []) if lab["name"] == name]


def params(result: dict) -> dict[str, dict]:
    return {p["name"]: p for p in result.get("parameters", [])}


def all_steps(item: dict) -> list[dict]:
    out = []
    for step in item.get("steps", []):
        out.append(step)
        out.extend(all_steps(step))
    return out


def fake_run(pytester, source: str, *args: str, env: dict | None = None,
             subprocess: bool = False, monkeypatch=None):
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makepyfile(**source) if isinstance(source, dict) else pytester.makepyfile(source)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    alluredir = pytester.path / "allure-results"
    junit = pytester.path / "junit.xml"
    # the plugin core (entry point hpc_e2e) would lease real or simulated hosts: these runs
    # bring their own fake host fixtures and only the reporting part of the plugin
    argv = ["-p", "no:hpc_e2e", "-p", "harness.plugin.reporting", "--strict-markers",
            f"--alluredir={alluredir}",
            f"--junitxml={junit}", "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning", *args]
    run = pytester.runpytest_subprocess(*argv) if subprocess else pytester.runpytest(*argv)
    return run, Results(alluredir), junit


# --- labels, parameters, links ------------------------------------------------------------------
ADMISSION = '''
import pytest

@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("isolation", ["process", "hyperv"])
def test_pod_is_admitted(hpc_host, pods, isolation):
    """A HostProcess pod starts under either isolation.

    More prose that is not the story.
    """
    pods.run(isolation)


@pytest.fixture
def needs_uvm(isolation):
    pytest.skip("host fake-main build 20348 has no HPC-in-UVM support (needs 26100)")


@pytest.mark.parametrize("isolation", ["hyperv"])
def test_skipped_in_setup(needs_uvm, isolation):
    pass
'''


def test_labels_parameters_and_links(pytester, monkeypatch):
    run, res, _ = fake_run(pytester, {"test_admission": ADMISSION}, monkeypatch=monkeypatch)
    run.assert_outcomes(passed=2, skipped=1)
    handlers = {"process": "runhcs-wcow-process", "hyperv": "runhcs-wcow-hypervisor"}
    for isolation, handler in handlers.items():
        r = res.one(f"admitted[{isolation}]")
        assert labels(r, "epic") == ["HostProcess containers"]
        assert labels(r, "feature") == ["admission"]
        assert labels(r, "story") == ["A HostProcess pod starts under either isolation."]
        p = params(r)
        assert p["isolation"]["value"] == repr(isolation)
        assert p["handler"]["value"] == repr(handler)
        assert p["image"]["value"] == repr("hpc-e2e/probe:ltsc2025")
        assert p["host build"]["value"] == repr("26100")
        assert p["host name"]["value"] == repr("fake-main")
        assert p["host name"].get("excluded") is True
        links = {link["name"]: link["url"] for link in r["links"]}
        assert links["hcsshim PR #2531"] == "https://github.com/microsoft/hcsshim/pull/2531"
        # the cited heading of the project's own reference, in this checkout by default
        assert links["docs/behaviour/runtime.md §2.5"] == (
            (REPO / "docs" / "behaviour" / "runtime.md").as_uri()
            + "#25-command-wrapping-and-user-for-an-hv-hpc")
    # the excluded host name does not split history; the isolation does
    assert res.one("admitted[process]")["historyId"] != res.one("admitted[hyperv]")["historyId"]
    skipped = res.one("test_skipped_in_setup")
    assert skipped["status"] == "skipped"
    assert params(skipped)["handler"]["value"] == repr("runhcs-wcow-hypervisor")
    assert labels(skipped, "feature") == ["admission"]


def test_explicit_markers_and_feature_constant_win(pytester, monkeypatch):
    source = '''
import allure

FEATURE = "identity"

@allure.story("runs as SYSTEM")
def test_whoami(hpc_host):
    """Docstring that must not become a second story."""

def test_without_docstring():
    pass
'''
    run, res, _ = fake_run(pytester, {"test_ident": source}, monkeypatch=monkeypatch)
    run.assert_outcomes(passed=2)
    r = res.one("test_whoami")
    assert labels(r, "feature") == ["identity"]
    assert labels(r, "story") == ["runs as SYSTEM"]
    plain = res.one("test_without_docstring")
    assert labels(plain, "story") == ["without docstring"]
    assert "host build" not in params(plain)  # no host fixture, no host parameters


# --- one step per remote call -------------------------------------------------------------------
STEPS = r'''
from harness.transport.powershell import run_script

def test_calls(hpc_host, tmp_path):
    t = hpc_host.transport
    assert t.run(["whoami"]).stdout.strip() == "nt authority\\system"
    result = run_script(t, "file_hash", {"path": r"C:\x\y.bin"})
    assert result.value == {"script": "file_hash"}
    f = tmp_path / "pod.json"
    f.write_text("{}")
    t.put(f, r"C:\ProgramData\hpc-e2e\runs\r1\pod.json")
    assert len(hpc_host.inner.calls) == 3
'''


@pytest.mark.parametrize("streaming", ["0", "1"])
def test_one_step_per_remote_call_with_transcript(pytester, monkeypatch, streaming):
    run, res, _ = fake_run(pytester, STEPS, env={"FAKE_STREAMING": streaming},
                           monkeypatch=monkeypatch)
    run.assert_outcomes(passed=1)
    r = res.one("test_calls")
    titles = [s["name"] for s in r["steps"]]
    assert titles[:2] == ["whoami", '[ps:file_hash] {"path":"C:\\\\x\\\\y.bin"}']
    assert len(titles) == 3
    assert titles[2] == r"put pod.json -> C:\ProgramData\hpc-e2e\runs\r1\pod.json"
    for step in r["steps"]:
        assert step["status"] == "passed"
        assert len(step["attachments"]) == 1
    assert [s["attachments"][0]["name"] for s in r["steps"]] == \
        ["transcript (exit 0)", "transcript (exit 0)", "transfer"]
    whoami = res.text(r["steps"][0]["attachments"][0])
    assert whoami.startswith("$ whoami\n[exit 0 after ")
    assert "nt authority\\system" in whoami
    script = res.text(r["steps"][1]["attachments"][0])
    # the transcript names the script, not the 3 kB encoded bootstrap
    assert "-EncodedCommand <bootstrap.ps1> < [ps:file_hash]" in script
    assert "##hpc-e2e-result" in script
    assert ("[streamed: " in script) == (streaming == "1")
    assert "ab" * 32 in res.text(r["steps"][2]["attachments"][0])


def test_reporting_transport_mirrors_streaming_and_delegates():
    target = Target(name="t", address="127.0.0.1", transport="local")

    class Plain(Transport):
        marker = "inner attribute"

        def _run(self, command_line, *, timeout, stdin):
            return 0, b"", b""

        def put(self, *a, **k):
            raise NotImplementedError

        def get(self, *a, **k):
            raise NotImplementedError

        def close(self):
            self.closed = True

    class Streaming(Plain):
        def run_streaming(self, line, *, timeout, stdin=None, on_stdout, on_stderr):
            on_stdout(b"x" * 200_000)
            return 3

    plain = reporting.ReportingTransport(Plain(target))
    assert getattr(plain, "run_streaming", None) is None
    assert plain.marker == "inner attribute"
    plain.close()
    assert plain.inner.closed
    streaming = reporting.ReportingTransport(Streaming(target))
    seen = []
    code = streaming.run_streaming("x", timeout=5, on_stdout=seen.append, on_stderr=seen.append)
    assert code == 3
    assert sum(map(len, seen)) == 200_000  # everything still reaches the caller

    class Failing(Plain):
        def _run(self, command_line, *, timeout, stdin):
            return 2, b"", b"no"

    failing = reporting.ReportingTransport(Failing(target))
    assert failing.run("x").exit_code == 2
    with pytest.raises(RemoteCommandError):
        failing.run("x", check=True)


def test_capture_keeps_head_and_tail_only():
    cap = transcripts._Capture(head=10, tail=5)
    for i in range(100):
        cap.feed(b"%02d" % i)
    kept = cap.kept()
    assert kept.startswith(b"0001020304") and kept.endswith(b"\n79899")
    assert b"(185 bytes not kept)" in kept
    assert cap.total == 200


def test_short_title_shortens_only_long_lines():
    assert reporting.short_title(r"mkdir C:\ProgramData\hpc-e2e\runs\r1") == \
        r"mkdir C:\ProgramData\hpc-e2e\runs\r1"
    long = (r'""C:\Program Files\containerd\bin\crictl.exe" --config ^"C:\Program Files\containerd'
            r'\bin\crictl.yaml^" --timeout 300s runp --runtime runhcs-wcow-hypervisor '
            r'C:\ProgramData\hpc-e2e\runs\20250101-abcdef\pod-probe-1234abcd.json"')
    assert reporting.short_title(long) == ("crictl.exe --config crictl.yaml --timeout 300s runp "
                                           "--runtime runhcs-wcow-hypervisor "
                                           "pod-probe-1234abcd.json")
    assert len(reporting.short_title("x" * 500)) == transcripts.TITLE_LIMIT


# --- redaction ----------------------------------------------------------------------------------
LEAKY = r'''
import logging
from harness.plugin.reporting import observation

def test_leaks(hpc_host):
    result = hpc_host.transport.run("leak now")
    logging.getLogger("scenario").warning("saw %s", result.stdout_bytes.decode())
    print("stdout has", result.stdout_bytes.decode())
    observation("token", result.stdout_bytes.decode(), "profile has no value")
    raw = result.stdout_bytes.decode()
    assert raw == "expected", f"got {raw}"
'''


def test_no_secret_in_allure_or_junit(pytester, monkeypatch):
    Secret(CANARY)  # registered here too, so the in-process run's redaction knows it
    run, res, junit = fake_run(pytester, LEAKY, monkeypatch=monkeypatch)
    run.assert_outcomes(failed=1)
    files = [p for p in res.folder.iterdir() if p.is_file()] + [junit]
    assert len(files) > 3
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert CANARY not in text, path.name
    r = res.one("test_leaks")
    assert MASK in r["statusDetails"]["trace"]
    transcript = res.text(r["steps"][0]["attachments"][0])
    assert f"token={MASK}" in transcript
    assert MASK in junit.read_text()
    # the terminal is fed from the same reports
    assert CANARY not in run.stdout.str()


# --- failure classes ----------------------------------------------------------------------------
def _lease_timeout():
    from harness.plugin.leasing import LeaseTimeout

    return LeaseTimeout.__new__(LeaseTimeout)  # its constructor's arguments are the core's


def _cri(stage="runp", code="Unknown"):
    return CriStageError(stage, "hcs::CreateComputeSystem: access denied", grpc_code=code)


@pytest.mark.parametrize(("exc", "expected"), [
    (AssertionError("x"), categories.RUNTIME_REGRESSION),
    (pytest.fail.Exception("x"), categories.RUNTIME_REGRESSION),
    (_cri(), categories.RUNTIME_REGRESSION),
    (_cri(code="Unavailable"), categories.INFRASTRUCTURE),
    (_cri(code="DeadlineExceeded"), categories.INFRASTRUCTURE),
    (_cri(stage="pull"), categories.INFRASTRUCTURE),
    (TransportError("refused"), categories.INFRASTRUCTURE),
    (AuthenticationError("bad password"), categories.INFRASTRUCTURE),
    (CommandTimeout("whoami", 5), categories.INFRASTRUCTURE),
    (CriExecTimeout("c1", ["x"], 5), categories.INFRASTRUCTURE),
    (RemoteCommandError(CommandResult("mkdir x", 1)), categories.INFRASTRUCTURE),
    (_lease_timeout(), categories.INFRASTRUCTURE),
    (ConfigError("bad inventory"), categories.HARNESS_ERROR),
    (CrictlOutputError("runp", "ID"), categories.HARNESS_ERROR),
    (HarnessError("odd"), categories.HARNESS_ERROR),
    (KeyError("k"), categories.HARNESS_ERROR),
    (pytest.skip.Exception("no uvm"), categories.SKIPPED),
])
def test_classify(exc, expected):
    assert categories.classify(exc) == expected


def test_classify_follows_explicit_causes_and_registrations():
    try:
        try:
            raise TransportError("reset")
        except TransportError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        assert categories.classify(exc) == categories.INFRASTRUCTURE
    # a teardown that could not remove a pod because the runtime refused: the runtime's
    refusal = CriStageError("rmp", "rpc error: code = Unknown desc = failed to remove",
                            grpc_code="Unknown")
    try:
        raise HarnessError("could not remove what the test created") from refusal
    except HarnessError as exc:
        assert categories.classify(exc) == categories.RUNTIME_REGRESSION
    assert categories.classify(HarnessError("no cause")) == categories.HARNESS_ERROR

    class LeaseTimeout(Exception):
        pass

    assert categories.classify(LeaseTimeout()) == categories.HARNESS_ERROR
    categories.register(LeaseTimeout, categories.INFRASTRUCTURE)
    try:
        assert categories.classify(LeaseTimeout()) == categories.INFRASTRUCTURE
    finally:
        categories._registered.remove((LeaseTimeout, categories.INFRASTRUCTURE))
    with pytest.raises(ValueError):
        categories.register(LeaseTimeout, "bad luck")


CLASSES = '''
import pytest
from harness.cri.errors import CriStageError
from harness.errors import TransportError

def test_product(hpc_host):
    assert 1 == 2

def test_refused(hpc_host):
    raise CriStageError("runp", "hcs::CreateComputeSystem: access denied", grpc_code="Unknown")

def test_unreachable():
    raise TransportError("host went away")

def test_bug():
    {}["missing"]

@pytest.fixture
def broken_setup():
    raise TransportError("lease lost")

def test_setup_error(broken_setup):
    pass

def test_skipped():
    pytest.skip("host sim-1 build 20348 has no HPC-in-UVM support (needs 26100)")

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False
'''


def _java_matches(pattern: str | None, text: str | None) -> bool:
    # Allure 2: Objects.isNull(pattern) || Objects.nonNull(text) && text.matches(pattern)
    return pattern is None or (text is not None and re.fullmatch(pattern, text) is not None)


def _js_matches(pattern: str | None, text: str | None) -> bool:
    # Allure 3 (3.18.0, core-api categories.js): new RegExp(pattern).test(text ?? ""), a
    # search; JavaScript has no inline flags, so "(?s)" is a SyntaxError ("Invalid group").
    if pattern is None:
        return True
    assert not re.search(r"\(\?[a-zA-Z]", pattern), f"not a JavaScript regex: {pattern}"
    return re.search(pattern, text or "") is not None


def test_failure_class_reaches_allure_categories_and_junit(pytester, monkeypatch):
    run, res, junit = fake_run(pytester, CLASSES, monkeypatch=monkeypatch)
    run.assert_outcomes(failed=4, errors=1, skipped=1, xfailed=1)
    cats = json.loads((res.folder / "categories.json").read_text())
    assert [c["name"] for c in cats] == ["runtime regression", "infrastructure", "harness error",
                                        "interrupted", "skipped: prerequisites"]
    expected = {"test_product": ("failed", "runtime regression"),
                "test_refused": ("broken", "runtime regression"),
                "test_unreachable": ("broken", "infrastructure"),
                "test_setup_error": ("broken", "infrastructure"),
                "test_bug": ("broken", "harness error"),
                "test_skipped": ("skipped", "skipped: prerequisites"),
                "test_xfail": ("skipped", None)}
    for name, (status, category) in expected.items():
        r = res.one(name)
        assert r["status"] == status, name
        details = r.get("statusDetails", {})
        for matches in (_java_matches, _js_matches):  # Allure 2, Allure 3
            matched = [c["name"] for c in cats
                       if r["status"] in c["matchedStatuses"]
                       and matches(c.get("messageRegex"), details.get("message"))
                       and matches(c.get("traceRegex"), details.get("trace"))]
            assert matched == ([category] if category else []), (name, matches, matched)
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    product = cases["test_product"]
    assert "hpc-e2e failure class: runtime regression" in product.find("failure").text
    props = {p.get("name"): p.get("value") for p in product.iter("property")}
    assert props["hpc-e2e.failure-class"] == "runtime regression"
    assert "hpc-e2e failure class: infrastructure" in cases["test_setup_error"].find("error").text


# --- diagnostics --------------------------------------------------------------------------------
DIAG = '''
import pytest

@pytest.mark.parametrize("fail", [False, True])
def test_pod(hpc_host, pods, fail):
    pod = pods.run("process")
    pod.container()
    pods.run("hyperv").container()
    before = len(hpc_host.inner.calls)
    assert not fail, "the pod did not start"
'''


def test_diagnostics_attached_on_failure_only(pytester, monkeypatch):
    run, res, _ = fake_run(pytester, DIAG, monkeypatch=monkeypatch)
    run.assert_outcomes(passed=1, failed=1)
    passed = res.one("[False]")
    assert not [s for s in all_steps(passed) if s["name"] == "diagnostics"]
    failed = res.one("[True]")
    diag = [s for s in failed["steps"] if s["name"] == "diagnostics"]
    assert len(diag) == 1
    # diagnostics use the raw transport: no remote-call steps inside the bundle
    assert not diag[0].get("steps")
    got = {a["name"]: res.text(a) for a in diag[0]["attachments"]}
    assert set(got) == {"host facts", "provisioning summary", "crictl inspectp",
                        "crictl inspect", "crictl pods (this run)", "crictl ps -a (this run)",
                        "containerd log (last 200 lines)"}
    assert "FAKE-main: Windows Server 2025" in got["host facts"]
    assert '"bundle_digest": "sha256:feedface"' in got["provisioning summary"]
    log_lines = got["containerd log (last 200 lines)"].splitlines()
    assert log_lines[1] == "containerd log line 301" and log_lines[-1] == "containerd log line 500"
    assert len(log_lines) == 201
    assert json.loads(got["crictl inspectp"])["status"]["id"] == "pod1-hyperv"
    kinds = {a["name"]: a["type"] for a in diag[0]["attachments"]}
    assert kinds["crictl inspectp"] == "application/json"
    assert kinds["containerd log (last 200 lines)"] == "text/plain"


def test_diagnostics_send_one_crictl_call_per_kind():
    calls = []

    class Recorder(Transport):
        def _run(self, line, *, timeout, stdin):
            calls.append((line, timeout))
            return 0, b"{}", b""

        def put(self, *a, **k): ...

        def get(self, *a, **k): ...

        def close(self): ...

    from harness.cri.crictl import Crictl

    t = Recorder(Target(name="r", address="127.0.0.1", transport="local"))
    pod = SimpleNamespace(id="p1", containers=[SimpleNamespace(id="c1", pod=None)])
    objects = [pod, ("pod", "p2"), ("container", "c2"), SimpleNamespace(id="c3", pod=pod), pod]
    host = SimpleNamespace(transport=reporting.ReportingTransport(t), facts=None,
                           crictl=Crictl(t, run_id="r-1"))
    bundle = diagnostics.collect_diagnostics(host, objects, call_timeout=7)
    lines = [c[0].rstrip('"') for c in calls]
    assert lines[0].endswith("inspectp --output json p1 p2")
    assert lines[1].endswith("inspect --output json c1 c2 c3")
    assert "--label hpc-e2e.run-id=r-1" in lines[2] and " pods " in lines[2]
    assert "--timeout 2334ms" in lines[0]  # crictl's own deadline is under the call's
    assert lines[4].startswith("type ") and lines[4].endswith(r"logs\containerd.log")
    assert all(timeout == 7 for _, timeout in calls)
    assert bundle["host facts"] == "the host fixture holds no facts"


def test_diagnostics_never_raise_and_keep_the_tests_own_error(pytester, monkeypatch):
    run, res, _ = fake_run(pytester, DIAG, "-k", "True", env={"FAKE_BROKEN": "1"},
                           monkeypatch=monkeypatch)
    run.assert_outcomes(failed=1, deselected=1)
    r = res.one("[True]")
    assert r["status"] == "failed"
    assert r["statusDetails"]["message"].startswith("AssertionError: the pod did not start")
    diag = next(s for s in r["steps"] if s["name"] == "diagnostics")
    got = {a["name"]: res.text(a) for a in diag["attachments"]}
    assert got["crictl inspectp"].startswith("could not collect crictl inspectp: TransportError:")
    assert "the connection was refused" in got["crictl inspectp"]
    # the host is asked once: the other items say why they were not collected
    assert got["containerd log (last 200 lines)"] == \
        "not collected: the host did not answer crictl inspectp (TransportError)"
    assert "FAKE-main" in got["host facts"]  # what needs no round trip is still there


def test_diagnostics_budget_is_respected():
    class Slow(Transport):
        def _run(self, line, *, timeout, stdin):
            import time
            time.sleep(0.3)
            return 0, b"{}", b""

        def put(self, *a, **k): ...

        def get(self, *a, **k): ...

        def close(self): ...

    host = SimpleNamespace(transport=Slow(Target(name="s", address="127.0.0.1",
                                                 transport="local")), facts=None)
    bundle = diagnostics.collect_diagnostics(host, [("pod", "p"), ("container", "c")],
                                             run_id="r", total_timeout=1.5)
    skipped = [k for k, v in bundle.items() if v.startswith("not collected: the diagnostics "
                                                            "budget of 1.5s")]
    assert skipped and "containerd log (last 200 lines)" in skipped
    assert bundle["crictl inspectp"] == "{}"


def test_tail_buffer_keeps_the_last_lines_across_chunks():
    tail = diagnostics.TailBuffer(3)
    data = b"".join(b"line %d\r\n" % i for i in range(10)) + b"partial"
    for i in range(0, len(data), 7):
        tail.feed(data[i:i + 7])
    assert tail.text() == "line 8\nline 9\npartial"
    assert tail.total == len(data)


# --- observations -------------------------------------------------------------------------------
def test_observation_is_a_step_and_a_junit_property(pytester, monkeypatch):
    source = '''
from harness.plugin.reporting import observation

def test_observe():
    observation("process.user", "NT AUTHORITY\\\\SYSTEM", "reference marks it unverified")
'''
    run, res, junit = fake_run(pytester, source, monkeypatch=monkeypatch)
    run.assert_outcomes(passed=1)
    step = res.one("test_observe")["steps"][0]
    assert step["name"] == "observation: process.user"
    text = res.text(step["attachments"][0])
    assert "actual: NT AUTHORITY\\SYSTEM" in text and "unverified" in text
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert props["observation:process.user"] == "NT AUTHORITY\\SYSTEM"


# --- run files ----------------------------------------------------------------------------------
RUN = '''
import pytest

@pytest.mark.parametrize("n", range(4))
def test_host(hpc_host, n):
    pass
'''


def read_properties(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="ascii").splitlines():
        key, _, value = re.split(r"(?<!\\)(=)", line, maxsplit=1)
        out[key.replace("\\ ", " ")] = value.encode().decode("unicode_escape")
    return out


def test_run_files_written_once_by_the_controller_under_xdist(pytester, monkeypatch):
    run, res, _ = fake_run(pytester, RUN, "-n", "2", "--dist", "load", subprocess=True,
                           monkeypatch=monkeypatch)
    run.assert_outcomes(passed=4)
    writes = (pytester.path / "run-file-writes.log").read_text().split()
    assert writes == ["controller"]
    env = read_properties(res.folder / "environment.properties")
    workers = sorted({labels(r, "thread")[0].split("-")[0] for r in res.results})
    assert len(workers) == 2  # both workers ran tests, so both hosts are known
    assert env["hosts"] == "fake-gw0,fake-gw1"
    assert env["host.builds"] == "20348,26100"
    assert env["host.fake-gw0.build"] == "26100" and env["host.fake-gw1.build"] == "20348"
    assert env["host.fake-gw0.containerd"] == "1.7.22"
    assert env["host.fake-gw0.containerd-shim-runhcs-v1"] == "0.13.0"
    assert env["host.fake-gw0.crictl"] == "1.31.1"
    assert env["bundle.digest"] == "sha256:feedface"
    assert env["run.id"] == "run-abc123"
    assert json.loads((res.folder / "categories.json").read_text()) == categories.categories()


def test_properties_escaping_round_trips():
    values = {"host.sim 1.os": "Windows Server 2025 ü", "path": r"C:\ProgramData\x=y",
              "lead": " space", "multi": "a\nb"}
    text = reporting.render_properties(values)
    assert text.isascii()
    assert "host.sim\\ 1.os=Windows Server 2025 \\u00fc\n" in text
    assert "path=C:\\\\ProgramData\\\\x=y\n" in text
    assert "lead=\\ space\n" in text and "multi=a\\nb\n" in text


# --- against the simulated host -----------------------------------------------------------------
SIM_CONFTEST = r'''
import json
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest

from harness.config.secrets import Secret
from harness.config.target import Target, WinRMOptions
from harness.plugin.reporting import ReportingTransport
from harness.sim.host import SimHost
from harness.transport.winrm import WinRMTransport

LOG = r"C:\ProgramData\hpc-e2e\logs\containerd.log"


@pytest.fixture(scope="session")
def hpc_host(tmp_path_factory):
    sim = SimHost(tmp_path_factory.mktemp("sim")).start()
    ep = json.loads(sim.endpoint_file.read_text())
    target = Target(name="sim-1", address="127.0.0.1", port=urlparse(ep["winrm_url"]).port,
                    transport="winrm", user=ep["user"],
                    password=Secret.from_file(ep["password_file"]),
                    winrm=WinRMOptions(scheme="https", auth="ntlm", ca_bundle=ep["ca_bundle"]))
    sim.machine.fs.makedirs(r"C:\ProgramData\hpc-e2e\logs")
    sim.machine.fs.write_bytes(LOG, b"".join(b"level=info msg=\"event %d\"\r\n" % i
                                             for i in range(3000)))
    inner = WinRMTransport(target)
    yield SimpleNamespace(target=target, transport=ReportingTransport(inner), facts=None)
    inner.close()
    sim.stop()
'''


def test_steps_and_log_tail_over_winrm_against_the_sim(pytester, monkeypatch):
    pytester.makeconftest(SIM_CONFTEST)
    pytester.makepyfile('''
from harness.transport.powershell import run_script

def test_sim(hpc_host):
    assert hpc_host.transport.run(["whoami"]).exit_code == 0
    assert hpc_host.transport.run(["nosuchprogram"]).exit_code == 9009
    raise AssertionError("look at the bundle")
''')
    alluredir = pytester.path / "allure-results"
    run = pytester.runpytest("-p", "no:hpc_e2e", "-p", "harness.plugin.reporting",
                             f"--alluredir={alluredir}", "-p", "no:cacheprovider")
    run.assert_outcomes(failed=1)
    res = Results(alluredir)
    r = res.one("test_sim")
    names = [s["name"] for s in r["steps"]]
    assert names[:2] == ["whoami", "nosuchprogram"]
    assert r["steps"][1]["attachments"][0]["name"] == "transcript (exit 9009)"
    assert "[exit 9009 " in res.text(r["steps"][1]["attachments"][0])
    assert "is not recognized" in res.text(r["steps"][1]["attachments"][0])
    diag = next(s for s in r["steps"] if s["name"] == "diagnostics")
    got = {a["name"]: res.text(a) for a in diag["attachments"]}
    tail = got["containerd log (last 200 lines)"].splitlines()
    assert tail[-1] == 'level=info msg="event 2999"' and tail[1] == 'level=info msg="event 2800"'
    # the sim has no crictl installed: the bundle says so instead of raising
    assert "crictl inspectp" not in got  # no pods were created


# --- expected waits ---------------------------------------------------------------------------
WAITING = '''
import pytest

from harness.errors import TransportError
from harness.transport.outage import expected_outage


def test_restart_poll_is_a_wait(hpc_host):
    with expected_outage("the host restarts"):
        with pytest.raises(TransportError):
            hpc_host.transport.run("hostname")


def test_outside_a_wait_a_failure_is_an_error(hpc_host):
    with pytest.raises(TransportError):
        hpc_host.transport.run("hostname")
'''


def test_a_poll_the_host_cannot_answer_yet_is_shown_as_a_wait_not_an_error(pytester,
                                                                            monkeypatch):
    """A restart's polls fail by design (issue 13: every set-up opened with an "Error" box
    saying "check address, port and firewall"); inside :func:`expected_outage` the step is
    a passed "waiting" step, the error still reaches the caller."""
    run, res, _ = fake_run(pytester, WAITING, env={"FAKE_BROKEN": "1"},
                           monkeypatch=monkeypatch)
    run.assert_outcomes(passed=2)
    wait = res.one("test_restart_poll_is_a_wait")
    step = wait["steps"][0]
    assert step["name"].startswith("waiting (the host restarts): hostname"), step["name"]
    assert step["status"] == "passed", step
    (attachment,) = step["attachments"]
    assert attachment["name"] == "no answer yet (the host restarts)", attachment
    assert re.fullmatch(r"\$ hostname\n\[no result after \d+\.\d{3}s: TransportError: .+\]\n",
                        res.text(attachment)), res.text(attachment)
    error = res.one("test_outside_a_wait_a_failure_is_an_error")["steps"][0]
    assert error["status"] == "broken" and error["name"] == "hostname"
    assert [a["name"] for a in error["attachments"]] == ["transcript (TransportError)"]


def test_a_streamed_poll_during_a_wait_is_a_wait_too(pytester, monkeypatch):
    """Catalog scripts (the restart's boot-time poll) go through run_streaming."""
    source = WAITING.replace('hpc_host.transport.run("hostname")',
                             'hpc_host.transport.run_streaming("hostname", timeout=5, '
                             'on_stdout=None, on_stderr=None)')
    run, res, _ = fake_run(pytester, source, env={"FAKE_BROKEN": "1", "FAKE_STREAMING": "1"},
                           monkeypatch=monkeypatch)
    run.assert_outcomes(passed=2)
    step = res.one("test_restart_poll_is_a_wait")["steps"][0]
    assert step["status"] == "passed", step
    assert step["name"] == "waiting (the host restarts): hostname", step
    (attachment,) = step["attachments"]
    assert attachment["name"] == "no answer yet (the host restarts)", attachment
    assert "[no exit code (the call raised) " in res.text(attachment)
    assert res.text(attachment).endswith("[streamed: 0 bytes stdout, 0 bytes stderr]\n")
    error = res.one("test_outside_a_wait_a_failure_is_an_error")["steps"][0]
    assert error["status"] == "broken" and error["name"] == "hostname"
    assert [a["name"] for a in error["attachments"]] == ["transcript (raised)"]
