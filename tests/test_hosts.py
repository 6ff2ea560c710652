"""harness/hosts.py, the one gateway to the simulated host: the sim's options parsed by one
function for every caller (each naming its own option), inventory hosts picked by name,
and a served simulated host reached through its endpoint.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.target import Target
from harness.errors import ConfigError
from harness.hosts import (SimOptions, check_flavor, endpoint_target, pick_hosts, select_hosts,
                           served_endpoint, sim_options, start_sim)


def test_no_option_given_is_no_option_parsed():
    assert sim_options() == SimOptions()


def test_each_option_is_parsed_into_its_model():
    o = sim_options(flavor="pre-fix", faults="rate=0.5,seed=3", latency="request=0.01")
    assert o.flavor == "pre-fix"
    assert (o.faults.rate, o.faults.seed) == (0.5, 3)
    assert o.latency.request == pytest.approx(0.01)


@pytest.mark.parametrize("kwargs, flags, named", [
    ({"faults": "rate=7"}, {}, "--sim-faults: "),
    ({"faults": "rate=7"}, {"faults_flag": "--hpc-sim-faults"}, "--hpc-sim-faults: "),
    ({"latency": "glacial"}, {"latency_flag": "--latency"}, "--latency: "),
    ({"flavor": "no-such"}, {"flavor_flag": "--hpc-sim-flavor"},
     "--hpc-sim-flavor: unknown runtime flavor 'no-such'"),
])
def test_a_bad_value_names_the_callers_option(kwargs, flags, named):
    with pytest.raises(ConfigError) as caught:
        sim_options(**kwargs, **flags)
    assert str(caught.value).startswith(named), caught.value


def test_a_flavor_file_is_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "mine.py").write_text(
        "from harness.sim.cri.flavors import Flavor\nFLAVOR = Flavor()\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert check_flavor("mine.py") == str(tmp_path / "mine.py")


def target(name: str) -> Target:
    return Target(name=name, address="127.0.0.1", transport="winrm", user="u",
                  source="test")


def test_hosts_are_picked_by_name_in_the_order_given_each_once():
    hosts = [target("a"), target("b"), target("c")]
    assert [t.name for t in pick_hosts(hosts, [], source="inv")] == ["a", "b", "c"]
    assert [t.name for t in pick_hosts(hosts, ["c", "a", "c"], source="inv")] == ["c", "a"]
    with pytest.raises(ConfigError, match=r"^inv: no host named 'z' \(hosts: a, b, c\)"):
        pick_hosts(hosts, ["a", "z"], source="inv")


def test_nobody_serving_the_sim_is_a_note_not_a_start(tmp_path):
    selection = select_hosts(inventory=None, hosts=[], sim_state_dir=tmp_path, start_sim=False)
    assert selection.targets == [] and selection.sim is None
    assert str(tmp_path) in selection.notes[0]
    with pytest.raises(ConfigError, match="--host selects hosts from an inventory"):
        select_hosts(inventory=None, hosts=["a"], sim_state_dir=tmp_path)


def test_a_started_sim_is_reached_through_its_endpoint(tmp_path):
    sim = start_sim(tmp_path / "sim", name="GATEWAY", build=20348)
    try:
        endpoint = served_endpoint(tmp_path / "sim")
        assert endpoint == json.loads(Path(sim.endpoint_file).read_text(encoding="utf-8"))
        t = endpoint_target(endpoint)
        assert (t.transport, t.winrm.scheme, t.winrm.auth) == ("winrm", "https", "ntlm")
        with select_hosts(inventory=None, hosts=[], sim_state_dir=tmp_path / "sim") as chosen:
            assert chosen.sim is None  # the served one is used, none started
            assert [x.port for x in chosen.targets] == [t.port]
    finally:
        sim.stop()
    assert served_endpoint(tmp_path / "sim") is None  # stopped: nothing answers
