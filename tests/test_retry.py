"""Retries of repeatable operations: bounded, jittered, only for transient failures.

The policy (harness/transport/retry.py) and the places that use it in the transport layer:
``Transport.run(repeatable=True)``, ``put``/``get`` as a whole, ``run_script(repeatable=True)``,
the reporting wrapper (one report step per attempt), the WinRM transport's marking of
transient failures against the simulated host, and the failure class of an operation that
ran out of attempts.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest

from harness.config.inventory import parse_inventory
from harness.config.target import RetrySettings, Target
from harness.errors import ConfigError, RemoteCommandError, TransportError
from harness.plugin import categories
from harness.transport.base import CommandResult, TransferResult, Transport
from harness.transport.files import iter_chunks
from harness.transport.powershell import RESULT_PREFIX, run_script
from harness.transport.retry import (
    RUNTIME_ATTEMPTS_FACTOR,
    RetryPolicy,
    is_exhausted,
    is_transient,
    mark_transient,
    policy_of,
)


def transient(text: str = "connection reset by peer") -> TransportError:
    return mark_transient(TransportError(text))


class Recorder:
    """A sleep that records the pauses instead of sleeping."""

    def __init__(self):
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


def policy(attempts: int = 6, base: float = 0.5, cap: float = 10.0, seed: int = 1,
           runtime_wait: float = 0.0) -> tuple[RetryPolicy, Recorder]:
    sleep = Recorder()
    return RetryPolicy(attempts=attempts, base_delay=base, max_delay=cap,
                       runtime_wait=runtime_wait, rng=random.Random(seed), sleep=sleep), sleep


class Script:
    """A callable that raises the scripted errors in order, then returns ``value``."""

    def __init__(self, errors, value="ok"):
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


# --- the policy ------------------------------------------------------------------------------
def test_delays_are_full_jitter_below_an_exponential_ceiling_and_the_cap():
    p, _ = policy(base=0.5, cap=3.0, seed=7)
    for retry in range(1, 9):
        ceiling = min(3.0, 0.5 * 2 ** (retry - 1))
        samples = [p.delay(retry) for _ in range(400)]
        assert all(0.0 <= d <= ceiling for d in samples)
        # jitter, not a fixed schedule: the samples spread over the range
        assert max(samples) > 0.8 * ceiling and min(samples) < 0.2 * ceiling
    assert policy(base=0.0)[0].delay(5) == 0.0


@pytest.mark.parametrize("failures", [1, 3, 5])
def test_a_repeatable_operation_succeeds_after_transient_failures(failures, caplog):
    p, sleep = policy(attempts=6)
    fn = Script([transient(f"reset {i}") for i in range(failures)])
    with caplog.at_level(logging.INFO, logger="harness.transport.retry"):
        assert p.call(fn, what="read the facts", host="h1") == "ok"
    assert fn.calls == failures + 1
    assert len(sleep.pauses) == failures
    assert all(0 <= d <= min(10.0, 0.5 * 2 ** i) for i, d in enumerate(sleep.pauses))
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == failures
    assert "h1: read the facts failed on attempt 1/6 (reset 0)" in infos[0]


def test_attempts_count_failures_as_call_does_and_waits_apart():
    """Attempts is call's bookkeeping, used by the launch's reconcile loop: failures get the
    policy's attempts; waits for an earlier attempt have their own bound."""
    p, _ = policy(attempts=3)
    tries = p.attempts_for("runp p")
    assert [tries.failed(transient(), "transient") is not None for _ in range(3)] == [
        True, True, False]
    last = transient("gone")
    tries = p.attempts_for("runp p")
    tries.failed(transient(), "transient")
    assert all(tries.waited(last, budget=3600) is not None
               for _ in range(RUNTIME_ATTEMPTS_FACTOR * 3 - 1))
    assert tries.waited(last, budget=3600) is None
    assert is_exhausted(last) and last.attempts == 1 + RUNTIME_ATTEMPTS_FACTOR * 3
    assert p.attempts_for("x").waited(transient(), budget=-1) is None  # budget spent


def test_it_gives_up_after_the_bound_with_the_last_error_marked_exhausted():
    p, sleep = policy(attempts=4)
    errors = [transient(f"reset {i}") for i in range(10)]
    fn = Script(errors)
    with pytest.raises(TransportError) as info:
        p.call(fn, what="read the facts")
    assert fn.calls == 4 and len(sleep.pauses) == 3
    assert str(info.value).startswith("reset 3")  # the last error, unchanged
    assert is_exhausted(info.value) and info.value.attempts == 4
    assert any("gave up after 4 attempts" in n for n in info.value.__notes__)
    assert categories.classify(info.value) == categories.INFRASTRUCTURE


def test_a_final_error_is_raised_at_once():
    p, sleep = policy()
    for final in (TransportError("access denied"), RemoteCommandError(
            CommandResult("x", 1, stderr_bytes=b"no")), ValueError("bug")):
        fn = Script([final])
        with pytest.raises(type(final)):
            p.call(fn, what="x")
        assert fn.calls == 1 and sleep.pauses == []
        assert not is_exhausted(final)


def test_containerd_unreachable_is_retried_past_the_attempts_within_runtime_wait():
    p, sleep = policy(attempts=2, base=0.001, cap=0.001, runtime_wait=30.0)
    fn = Script([RuntimeError("unavailable")] * 5)
    classify = lambda exc: "runtime" if isinstance(exc, RuntimeError) else None
    assert p.call(fn, what="crictl ps", classify=classify) == "ok"
    assert fn.calls == 6
    # ... but never unboundedly, however long runtime_wait is
    fn = Script([RuntimeError("unavailable")] * 100)
    with pytest.raises(RuntimeError):
        p.call(fn, what="crictl ps", classify=classify)
    assert fn.calls == 20


def test_retry_settings_are_validated_and_read_from_the_inventory(tmp_path):
    raw = {"defaults": {"retry": {"attempts": 8}},
           "hosts": {"lab": {"transport": "local", "retry": {"base_delay": 0.05}}}}
    (target,) = parse_inventory(raw, source="inv.toml", base_dir=tmp_path)
    assert target.retry == RetrySettings(attempts=8, base_delay=0.05)
    p = policy_of(type("T", (), {"target": target})())
    assert (p.attempts, p.base_delay, p.max_delay) == (8, 0.05, 10.0)
    assert RetrySettings().base_delay == 0.5  # a real host's default
    for bad, field in (({"attempts": 0}, "retry.attempts"), ({"base_delay": -1}, "retry.base_delay"),
                       ({"max_dely": 1}, "retry.max_dely"),
                       ({"base_delay": 5, "max_delay": 1}, "max_delay")):
        with pytest.raises(ConfigError) as info:
            parse_inventory({"hosts": {"lab": {"transport": "local", "retry": bad}}},
                            source="inv.toml", base_dir=tmp_path)
        assert field in str(info.value) and "\n" not in str(info.value)


# --- the transport contract ----------------------------------------------------------------
class Flaky(Transport):
    """Answers ``(0, stdin)`` after raising the scripted errors, one per attempt."""

    NAME = "flaky"

    def __init__(self, errors, *, attempts: int = 6):
        super().__init__(Target(name="flaky", transport="local"))
        self.errors = list(errors)
        self.lines: list[tuple[str, bytes]] = []
        self.retry_policy, self.sleep = policy(attempts=attempts)
        self.transfers = 0

    def _run(self, command_line, *, timeout, stdin):
        stdin = b"".join(iter_chunks(stdin, 1 << 16)) if stdin is not None else None
        self.lines.append((command_line, stdin))
        if self.errors:
            raise self.errors.pop(0)
        if command_line.startswith("powershell.exe"):
            return 0, (RESULT_PREFIX + json.dumps({"ok": True}) + "\n").encode(), b""
        return 0, stdin or b"", b""

    def _put(self, local_path, remote_path, *, timeout=None):
        self.transfers += 1
        if self.errors:
            raise self.errors.pop(0)
        return TransferResult(Path(local_path), remote_path, 1, "ab" * 32, 0.0)

    def close(self):
        pass


def test_run_repeatable_runs_the_whole_command_again_with_the_same_stdin():
    t = Flaky([transient(), transient()])
    result = t.run(["simcat"], stdin=b"data", repeatable=True)
    assert result.exit_code == 0 and result.stdout_bytes == b"data"
    assert [s for _, s in t.lines] == [b"data"] * 3
    assert len(t.sleep.pauses) == 2


def test_run_without_repeatable_fails_on_the_first_transient_error():
    t = Flaky([transient()])
    with pytest.raises(TransportError):
        t.run(["hostname"])
    assert len(t.lines) == 1 and t.sleep.pauses == []


def test_a_repeatable_command_refuses_a_stream_it_could_not_send_again():
    t = Flaky([])
    with pytest.raises(TypeError, match="bytes"):
        t.run(["simcat"], stdin=iter([b"a"]), repeatable=True)
    assert t.lines == []


def test_an_exit_code_is_an_answer_not_a_reason_to_retry():
    class Failing(Flaky):
        def _run(self, command_line, *, timeout, stdin):
            self.lines.append((command_line, stdin))
            return 5, b"", b"no"

    t = Failing([])
    with pytest.raises(RemoteCommandError):
        t.run(["x"], repeatable=True, check=True)
    assert len(t.lines) == 1


def test_put_is_repeated_as_a_whole_and_gives_up_after_the_bound(tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"x")
    t = Flaky([transient(), transient()])
    assert t.put(src, r"C:\f").remote_path == r"C:\f"
    assert t.transfers == 3
    t = Flaky([transient()] * 10, attempts=3)
    with pytest.raises(TransportError) as info:
        t.put(src, r"C:\f")
    assert t.transfers == 3 and is_exhausted(info.value)


def test_a_repeatable_script_sends_fresh_stdin_each_attempt():
    t = Flaky([transient()])
    res = run_script(t, "file_hash", {"path": r"C:\x"}, stdin_chunks=[b"extra\r\n"],
                     repeatable=True)
    assert res.value == {"ok": True}
    assert len(t.lines) == 2
    assert t.lines[0][1] == t.lines[1][1] and t.lines[1][1].endswith(b"extra\r\n")


def test_a_streaming_script_is_not_repeated_once_output_reached_the_caller():
    class Streaming(Flaky):
        def run_streaming(self, command_line, *, timeout, stdin, on_stdout, on_stderr):
            self.lines.append((command_line, b""))
            on_stdout(b"line one\n")
            raise transient("reset after output")

    t = Streaming([])
    seen = []
    with pytest.raises(TransportError):
        run_script(t, "file_hash", {"path": "x"}, on_line=seen.append, repeatable=True)
    assert seen == [b"line one"] and len(t.lines) == 1


# --- the reporting wrapper: one step per attempt ---------------------------------------------
def test_each_attempt_is_its_own_report_step(monkeypatch, tmp_path):
    from harness.plugin import transcripts

    titles, attachments = [], []

    class Step:
        def __init__(self, title):
            titles.append(title)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(transcripts.allure, "step", Step)
    monkeypatch.setattr(transcripts, "_attach_text", lambda text, name: attachments.append(name))
    inner = Flaky([transient(), transient()])
    wrapped = transcripts.ReportingTransport(inner)
    assert wrapped.retry_policy is inner.retry_policy
    assert wrapped.run(["hostname"], repeatable=True).exit_code == 0
    assert titles == ["hostname"] * 3
    assert attachments == ["transcript (TransportError)"] * 2 + ["transcript (exit 0)"]
    titles.clear()
    src = tmp_path / "f"
    src.write_bytes(b"x")
    inner.errors = [transient()]
    wrapped.put(src, r"C:\f")
    assert titles == [r"put f -> C:\f"] * 2 and inner.transfers == 2


# --- WinRM against the simulated host --------------------------------------------------------
@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from harness.sim.host import SimHost

    with SimHost(tmp_path_factory.mktemp("sim"), ssh_port=None) as host:
        yield host


def winrm(sim, attempts=6):
    from urllib.parse import urlparse

    from harness.config.secrets import Secret
    from harness.config.target import WinRMOptions
    from harness.transport.winrm import WinRMTransport

    ep = json.loads(sim.endpoint_file.read_text())
    target = Target(name="sim", address="127.0.0.1", port=urlparse(ep["winrm_url"]).port,
                    user=ep["user"], password=Secret.from_file(ep["password_file"]),
                    winrm=WinRMOptions(auth="ntlm", ca_bundle=ep["ca_bundle"]),
                    retry=RetrySettings(attempts=attempts, base_delay=0.01, max_delay=0.05))
    return WinRMTransport(target)


BIN = r"C:\hpc-e2e-sim\bin"


def cut_during(sim, seconds: float) -> None:
    import threading

    threading.Timer(seconds, sim.winrm.close_connections).start()


def test_a_connection_cut_mid_command_is_transient_and_a_repeatable_run_survives_it(sim):
    with winrm(sim) as t:
        t.run("hostname", check=True)
        cut_during(sim, 0.3)
        with pytest.raises(TransportError) as info:
            t.run(rf"{BIN}\simsleep.exe 1", timeout=20)
        assert is_transient(info.value)
        assert categories.classify(info.value) == categories.INFRASTRUCTURE
        cut_during(sim, 0.3)
        result = t.run(rf"{BIN}\simsleep.exe 1", timeout=20, repeatable=True)
        assert result.exit_code == 0


def test_a_lost_shell_is_reopened_and_a_repeatable_run_gets_its_answer(sim):
    with winrm(sim) as t:
        t.run("hostname", check=True)
        sim.winrm.drop_shells()
        assert t.run("hostname", repeatable=True).stdout.strip() == "SIMHOST"
        # a shell lost while the command runs: the Receive names the lost shell
        import threading

        threading.Timer(0.3, sim.winrm.drop_shells).start()
        result = t.run(rf"{BIN}\simsleep.exe 1", timeout=20, repeatable=True)
        assert result.exit_code == 0


def test_a_quota_fault_is_an_answer_not_retried(tmp_path):
    from harness.sim.host import SimHost
    from harness.sim.winrm_server import WinRMLimits

    with SimHost(tmp_path, ssh_port=None, limits=WinRMLimits(max_shells_per_user=1)) as host:
        with winrm(host) as first:
            first.run("hostname", check=True)
            host.winrm.reset_counters()
            with winrm(host) as second, pytest.raises(TransportError) as info:
                second.run("hostname", repeatable=True)
            assert "2150859173" in str(info.value) and not is_transient(info.value)
            assert host.winrm.request_count(action="Create") == 1
