"""The simulated ``waitfor.exe``, the suite's idle command (harness/sim/programs/waitfor.py).

Behaviour follows ``waitfor /?``: a timed wait that ends with exit 1 and
``ERROR: Timed out waiting for '<signal>'.``, ``/si`` ending a wait on the same computer,
one waiter per signal, alphanumeric signal names; the UVM's disk carries the tool too.
"""

from __future__ import annotations

import time

import pytest

from harness.sim import guest
from harness.sim.cri.model import Uvm
from harness.sim.machine import Machine
from harness.sim.programs import standard_machine


def run(proc, deadline: float = 10.0) -> tuple[int, str, str]:
    proc.write_stdin(b"", eof=True)
    out, err = bytearray(), bytearray()
    end = time.monotonic() + deadline
    while True:
        o, e, done = proc.read_output(1 << 16, 0.1)
        out += o
        err += e
        if done:
            return proc.wait(1), out.decode(), err.decode()
        assert time.monotonic() < end, "waitfor did not finish"


@pytest.fixture
def machine() -> Machine:
    return standard_machine()


def test_timeout_exits_1_with_the_error_line(machine):
    started = time.monotonic()
    code, out, err = run(machine.spawn("waitfor /t 1 hpce2eidle"))
    assert code == 1
    assert out == ""
    assert err == "ERROR: Timed out waiting for 'hpce2eidle'.\r\n"
    assert time.monotonic() - started >= 0.9, "the timed wait must actually wait"


def test_a_signal_from_the_same_computer_ends_the_wait(machine):
    waiter = machine.spawn("waitfor /t 30 HpcE2E1")
    time.sleep(0.3)
    assert run(machine.spawn("waitfor /si hpce2e1")) == (0, "SUCCESS: Signal sent.\r\n", "")
    assert run(waiter) == (0, "SUCCESS: Signal received.\r\n", "")


def test_terminating_the_waiter_ends_it_at_once(machine):
    proc = machine.spawn("waitfor hpce2eforever")
    time.sleep(0.2)
    assert not proc.done
    proc.terminate()
    assert proc.wait(2) is not None


def test_one_waiter_per_signal_per_computer(machine):
    first = machine.spawn("waitfor /t 30 hpce2etwice")
    time.sleep(0.3)
    code, _, err = run(machine.spawn("waitfor /t 30 HPCE2ETWICE"))
    assert code == 1 and "only one" in err
    first.terminate()
    first.wait(2)
    # The name is free again once the first waiter has gone.
    assert run(machine.spawn("waitfor /t 1 hpce2etwice"))[0] == 1


@pytest.mark.parametrize("line, why", [
    ("waitfor /t 5 hpc-e2e-idle", "signal name"),
    ("waitfor /t 0 x", "timeout"),
    ("waitfor /t 100000 x", "timeout"),
    ("waitfor /s other /si x", "option /s"),
    ("waitfor", "without a signal name"),
])
def test_what_waitfor_refuses_or_the_sim_does_not_model_fails_loudly(machine, line, why):
    code, out, err = run(machine.spawn(line))
    assert code == 1 and out == ""
    assert "does not model waitfor" in err and why in err


def test_the_uvm_disk_has_waitfor(machine):
    uvm = Uvm(id="f" * 64 + "@vm", os_build=26100, hpc_capable=True)
    guest_os = guest.guest_os(machine, uvm)
    assert guest_os.fs.is_file(r"C:\Windows\System32\waitfor.exe")
