"""Provisioning is retried as a whole, with more attempts than one operation gets.

It is dozens of remote steps, each exposed to the same transient faults, but it converges:
every attempt resumes where the last one stopped (harness/plugin/provisioning.py).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.errors import TransportError
from harness.plugin import provisioning
from harness.transport.retry import RetryPolicy, mark_transient


class Summary:
    def to_dict(self):
        return {"changed": True}


def fake_windows(attempts: int):
    transport = SimpleNamespace(retry_policy=RetryPolicy(attempts=attempts, base_delay=0,
                                                         max_delay=0, sleep=lambda s: None))
    return SimpleNamespace(name="lab1", transport=transport)


@pytest.mark.parametrize("failures, ok", [(5, True), (7, True),
                                          (6 * provisioning.PROVISION_ATTEMPTS_FACTOR, False)])
def test_provisioning_gets_more_attempts_than_one_operation(tmp_path, monkeypatch, failures, ok):
    calls = []

    def provision_host(windows, bundle, cri=None, progress=None):
        calls.append(1)
        if len(calls) <= failures:
            raise mark_transient(TransportError("lab1: connection reset (test)"))
        return Summary()

    monkeypatch.setattr(provisioning, "provision_host", provision_host)
    bundle = SimpleNamespace(digest="d" * 64)
    if ok:
        got = provisioning.ensure_provisioned(fake_windows(6), bundle, run_dir=tmp_path, who="w")
        assert got.here and got.summary == {"changed": True}
        assert len(calls) == failures + 1
    else:
        with pytest.raises(TransportError):
            provisioning.ensure_provisioned(fake_windows(6), bundle, run_dir=tmp_path, who="w")
        assert len(calls) == 6 * provisioning.PROVISION_ATTEMPTS_FACTOR
