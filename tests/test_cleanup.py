"""Cleanup guarantees: what a run reports and removes, and what it never touches.

End to end against a simulated host served in its own process (the ``lab`` of
tests/test_interruptions.py): a pod an earlier run left (harness label, another run id) is
reported by the next run — terminal summary and environment.properties — and not removed
by it; ``hpc-e2e clean`` then removes it; a pod without the harness's label survives both.
The pieces are checked on their own too: the leftover survey, the SIGTERM handler, the
sweep's sparing of kept pods.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from test_interruptions import PROCESS, SYSTEM, _plugin_args, served_lab  # tests/ on sys.path

from harness.cri.cleanup import select
from harness.cri import RUN_ID_LABEL, Crictl, PodSpec
from harness.cri.status import PodSummary
from harness.plugin.leftovers import HostLeftovers, age_text, clean_command, describe, survey
from harness.plugin.signals import TermAsInterrupt

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from served_lab(tmp_path_factory)


# --- end to end -------------------------------------------------------------------------------
def hpc_e2e(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd,
                          env=dict(os.environ, COLUMNS="250"), capture_output=True, text=True,
                          timeout=240, check=False)


def test_earlier_runs_are_reported_not_removed_and_unlabelled_pods_survive_clean(lab, tmp_path):
    old = Crictl(lab.crictl.transport, run_id="earlier-run-7",
                 crictl_path=lab.crictl.crictl_path, config_path=lab.crictl.config_path)
    old_pod = old.runp(PodSpec("left-behind", host_process=True, run_as_username=SYSTEM),
                       runtime_handler=PROCESS).id
    assert lab.count() == (1, 0) and lab.foreign_intact()

    done = hpc_e2e("run", "--inventory", str(lab.inventory), "--bundle", str(lab.bundle),
                   "--run-id", "cleanup-slice", "-k", "test_stop_ends_a_running_hpc",
                   "--alluredir", "ar", "--", *_plugin_args(), "-p", "no:cacheprovider",
                   cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    lines = [x for x in out.splitlines() if x.startswith("hpc-e2e: lab1: ")]
    assert len(lines) == 1, out  # one line per host in the terminal summary
    line = lines[0]
    assert "1 pod(s) with 0 container(s) left by 1 earlier run(s): earlier-run-7 (1 pod(s), " \
           in line
    assert "not removed" in line
    assert f"`hpc-e2e clean --inventory {lab.inventory} --host lab1 --bundle {lab.bundle}`" \
        in line
    env = (tmp_path / "ar" / "environment.properties").read_text(encoding="ascii")
    assert "host.lab1.leftovers=1 pod(s) with 0 container(s) left by 1 earlier run(s): " \
           "earlier-run-7" in env
    # The run removed its own pods and nothing else.
    pods = {p.id: p.labels for p in lab.crictl.pods(all_runs=True)}
    assert old_pod in pods and lab.foreign_intact()
    assert [p for p in pods.values() if p.get(RUN_ID_LABEL) == "cleanup-slice"] == []

    done = hpc_e2e("clean", "--inventory", str(lab.inventory), "--bundle", str(lab.bundle),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed 1 pod(s) with 0 container(s)" in done.stdout
    assert lab.count() == (0, 0)
    assert lab.foreign_intact()  # no harness label: never touched by a run or by clean


# --- the pieces -------------------------------------------------------------------------------
def pod(pid: str, labels: dict, minutes_ago: float | None) -> PodSummary:
    created = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    return PodSummary.from_json({"id": pid, "labels": labels, "createdAt":
                                 str(int(created.timestamp() * 1e9)) if created else "0"})


class FakeCrictl:
    def __init__(self, pods, containers):
        self._pods, self._containers = pods, containers

    def pods(self, *, all_runs=False, **kw):
        assert all_runs  # every pod, the key matched by the harness (crictl: key=value only)
        return self._pods

    def ps(self, *, all_runs=False, **kw):
        assert all_runs
        return self._containers


def test_survey_counts_other_runs_only_and_ignores_unlabelled_pods():
    pods = [pod("a1", {RUN_ID_LABEL: "run-a"}, 190), pod("a2", {RUN_ID_LABEL: "run-a"}, 5),
            pod("b1", {RUN_ID_LABEL: "run-b"}, None), pod("me", {RUN_ID_LABEL: "mine"}, 1),
            pod("x", {"app": "theirs"}, 9000)]
    ctrs = [SimpleNamespace(labels={RUN_ID_LABEL: "run-a"}),
            SimpleNamespace(labels={RUN_ID_LABEL: "run-a"}),
            SimpleNamespace(labels={RUN_ID_LABEL: "mine"}), SimpleNamespace(labels={})]
    found = survey(FakeCrictl(pods, ctrs), "h1", run_id="mine", now=NOW)
    assert [(r.run_id, r.pods, r.containers) for r in found.runs] == \
        [("run-a", 2, 2), ("run-b", 1, 0)]
    assert found.runs[0].age_seconds == 190 * 60  # the oldest pod of the run
    assert found.runs[1].age_seconds is None  # createdAt 0: unknown
    assert (found.pods, found.containers) == (3, 2)
    text = describe(found, clean_command("h1", inventory="lab.toml", bundle=None))
    assert text == ("h1: 3 pod(s) with 2 container(s) left by 2 earlier run(s): "
                    "run-a (2 pod(s), 3h10m old), run-b (1 pod(s), age unknown); not removed "
                    "(a run may still be live there); remove with "
                    "`hpc-e2e clean --inventory lab.toml --host h1` (one run: add --run-id ID)")


def test_survey_of_a_clean_host_reports_nothing():
    found = survey(FakeCrictl([pod("me", {RUN_ID_LABEL: "mine"}, 1)], []), "h1", run_id="mine")
    assert found.runs == [] and found.pods == 0
    assert HostLeftovers.from_dict(found.to_dict()) == found


def test_leftover_records_survive_the_trip_through_the_run_folder(tmp_path):
    from harness.plugin.leftovers import read_all, survey_host

    host = SimpleNamespace(name="h1", run_id="mine", crictl=FakeCrictl(
        [pod("a1", {RUN_ID_LABEL: "run-a"}, 3)], []))
    written = survey_host(host, tmp_path)
    assert written.runs[0].run_id == "run-a" and written.runs[0].pods == 1
    assert read_all(tmp_path) == [written]


@pytest.mark.parametrize("seconds, text", [(None, "age unknown"), (0, "0s old"),
                                           (59, "59s old"), (3600, "1h old"),
                                           (3725, "1h2m old"), (2 * 86400 + 5 * 3600, "2d5h old")])
def test_ages_read_like_durations(seconds, text):
    assert age_text(seconds) == text


def test_sweep_spares_kept_pods_and_never_selects_unlabelled_ones():
    pods = [pod("mine", {RUN_ID_LABEL: "r1"}, 1), pod("kept", {RUN_ID_LABEL: "r1"}, 1),
            pod("other", {RUN_ID_LABEL: "r2"}, 1), pod("theirs", {"app": "x"}, 1)]
    chosen, kept = select(pods, run_id="r1", older_than=None, now=NOW, spare={"kept"})
    assert [p.id for p in chosen] == ["mine"]
    assert sorted(p.id for p in kept) == ["kept", "other"]


def test_sigterm_interrupts_once_then_lets_the_clean_up_finish():
    handler = TermAsInterrupt()
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        handler(signal.SIGTERM, None)
    handler(signal.SIGTERM, None)  # the second one is only logged
    assert handler.received == 2


def test_the_plugin_installs_the_sigterm_handler_in_this_run():
    # This very pytest run loads the hpc-e2e plugin (entry point or conftest.py).
    assert isinstance(signal.getsignal(signal.SIGTERM), TermAsInterrupt)


def test_sigterm_to_pytest_runs_teardown(tmp_path):
    """A plain pytest run with the plugin: SIGTERM mid-test still runs the fixture's
    teardown and pytest_sessionfinish (exit code 2, interrupted)."""
    (tmp_path / "test_t.py").write_text(
        "import os, signal, pytest\n"
        "@pytest.fixture\n"
        "def res():\n"
        "    yield\n"
        "    open('teardown-ran', 'w').close()\n"
        "def test_x(res):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    import time; time.sleep(30)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", *_plugin_args(), "-p",
                           "no:cacheprovider", "-q", "test_t.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (tmp_path / "teardown-ran").exists()
