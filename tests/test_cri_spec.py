"""PodSpec / ContainerSpec rendering: what crictl's loader will actually see.

crictl drops unknown keys silently, camelCase included (docs/behaviour/ecosystem.md §2.1, §7), so
the decisive property is that no schema key outside snake_case ever leaves the harness;
the walk below is written independently of the module's own check.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cri.spec import (
    RUN_ID_LABEL,
    ContainerSpec,
    PodSpec,
    check_label,
    new_run_id,
)
from harness.errors import ConfigError, HarnessError

RUN = "20260813-070737-abc123"
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def schema_keys(obj, path=()):
    """Every key of the config that is schema, not user data (labels/annotations)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield path + (k,)
            if k not in ("labels", "annotations"):
                yield from schema_keys(v, path + (k,))
    elif isinstance(obj, list):
        for item in obj:
            yield from schema_keys(item, path)


def assert_snake(config):
    bad = [".".join(p) for p in schema_keys(config) if not SNAKE.match(p[-1])]
    assert not bad, f"keys crictl would drop: {bad}"


# --- the pod ---------------------------------------------------------------------------
def test_hpc_pod_renders_cri_snake_case_fields():
    pod = PodSpec("hpc", host_process=True, run_as_username="NT AUTHORITY\\SYSTEM",
                  annotations={"microsoft.com/hostprocess-inherit-user": "true"},
                  labels={"suite": "identity"})
    cfg = pod.to_cri(RUN)
    assert cfg["metadata"] == {"name": "hpc", "namespace": "hpc-e2e", "uid": pod.uid,
                               "attempt": 0}
    assert cfg["windows"] == {"security_context": {"host_process": True,
                                                   "run_as_username": "NT AUTHORITY\\SYSTEM"}}
    assert cfg["annotations"] == {"microsoft.com/hostprocess-inherit-user": "true"}
    assert cfg["labels"] == {"suite": "identity", RUN_ID_LABEL: RUN}
    assert_snake(cfg)


def test_non_hpc_pod_says_host_process_false_and_omits_the_user():
    cfg = PodSpec("plain").to_cri(RUN)
    assert cfg["windows"] == {"security_context": {"host_process": False}}


def test_rendered_file_is_utf8_json_without_bom_and_keeps_backslashes():
    pod = PodSpec("p", host_process=True, run_as_username="NT AUTHORITY\\Local service",
                  log_directory="C:\\ProgramData\\hpc-e2e\\logs", hostname="h1")
    data = pod.render(RUN)
    assert not data.startswith(b"\xef\xbb\xbf")
    back = json.loads(data.decode("utf-8"))
    assert back["windows"]["security_context"]["run_as_username"] == "NT AUTHORITY\\Local service"
    assert back["log_directory"] == "C:\\ProgramData\\hpc-e2e\\logs"
    assert back["hostname"] == "h1"
    assert b'"host_process": true' in data and b"hostProcess" not in data


def test_uid_is_fixed_when_the_spec_is_made():
    pod = PodSpec("p")
    assert pod.to_cri(RUN)["metadata"]["uid"] == pod.to_cri(RUN)["metadata"]["uid"] == pod.uid
    assert PodSpec("p").uid != pod.uid
    assert PodSpec("p", uid="fixed").to_cri(RUN)["metadata"]["uid"] == "fixed"


def test_pod_needs_name_and_namespace():
    with pytest.raises(ConfigError):
        PodSpec("")
    with pytest.raises(ConfigError):
        PodSpec("p", namespace="")


# --- the container ---------------------------------------------------------------------
def test_container_renders_process_and_security_context():
    c = ContainerSpec("c0", "mcr.microsoft.com/windows/nanoserver:ltsc2025",
                      command=["cmd", "/c", "ping", "-t", "127.0.0.1"], args=["x"],
                      working_dir="C:\\hpc", envs={"A": "1", "B": ""}, host_process=True,
                      run_as_username="NT AUTHORITY\\Local service",
                      annotations={"io.microsoft.container.x": "y"}, log_path="c0.log")
    cfg = c.to_cri(RUN)
    assert cfg["metadata"] == {"name": "c0", "attempt": 0}
    assert cfg["image"] == {"image": "mcr.microsoft.com/windows/nanoserver:ltsc2025"}
    assert cfg["command"] == ["cmd", "/c", "ping", "-t", "127.0.0.1"]
    assert cfg["args"] == ["x"]
    assert cfg["working_dir"] == "C:\\hpc"
    assert cfg["envs"] == [{"key": "A", "value": "1"}, {"key": "B", "value": ""}]
    assert cfg["log_path"] == "c0.log"
    assert cfg["windows"]["security_context"] == {
        "host_process": True, "run_as_username": "NT AUTHORITY\\Local service"}
    assert cfg["labels"][RUN_ID_LABEL] == RUN
    assert_snake(cfg)


def test_container_omits_what_was_not_given():
    cfg = ContainerSpec("c", "img").to_cri(RUN)
    assert set(cfg) == {"metadata", "image", "labels", "annotations", "windows"}


def test_container_envs_keep_order_from_pairs():
    cfg = ContainerSpec("c", "img", envs=[("Z", "1"), ("A", "2")]).to_cri(RUN)
    assert [e["key"] for e in cfg["envs"]] == ["Z", "A"]


@pytest.mark.parametrize("bad", [{"command": "cmd /c whoami"}, {"args": [1]}, {"image": ""},
                                 {"envs": {"A": 1}}])
def test_container_refuses_malformed_fields(bad):
    kwargs = {"name": "c", "image": "img", **bad}
    with pytest.raises(ConfigError):
        ContainerSpec(**kwargs)


# --- extra and the key check ------------------------------------------------------------
def test_extra_fields_merge_and_are_held_to_snake_case():
    pod = PodSpec("p", host_process=True,
                  extra={"windows": {"security_context": {"credential_spec": "x"}}})
    ctx = pod.to_cri(RUN)["windows"]["security_context"]
    assert ctx == {"host_process": True, "credential_spec": "x"}
    with pytest.raises(ConfigError, match="securityContext"):
        PodSpec("p", extra={"windows": {"securityContext": {"hostProcess": True}}})
    with pytest.raises(ConfigError, match="hostProcess"):
        PodSpec("p", extra={"windows": {"security_context": {"hostProcess": True}}})
    with pytest.raises(ConfigError, match="runAsUsername"):
        ContainerSpec("c", "img", extra={"windows": {"security_context": {"runAsUsername": "x"}}})


def test_the_three_non_snake_json_tags_are_allowed():
    c = ContainerSpec("c", "img", extra={"CDI_devices": [{"name": "x"}]})
    assert c.to_cri(RUN)["CDI_devices"] == [{"name": "x"}]


@pytest.mark.parametrize("extra", [{"labels": {"a": "b"}}, {"metadata": {"name": "x"}},
                                   {"annotations": {}},
                                   {"windows": {"security_context": {"host_process": False}}}])
def test_extra_cannot_redo_modelled_fields(extra):
    with pytest.raises(ConfigError, match="extra"):
        PodSpec("p", extra=extra)


# --- labels and the run id --------------------------------------------------------------
def test_run_id_comes_from_the_spec_or_the_caller_but_must_agree():
    assert PodSpec("p", run_id="r1").to_cri()["labels"][RUN_ID_LABEL] == "r1"
    assert PodSpec("p", run_id="r1").to_cri("r1")["labels"][RUN_ID_LABEL] == "r1"
    with pytest.raises(ConfigError, match="no run id"):
        PodSpec("p").to_cri()
    with pytest.raises(ConfigError, match="belongs to run r1"):
        PodSpec("p", run_id="r1").to_cri("r2")
    with pytest.raises(ConfigError, match="contradicts"):
        ContainerSpec("c", "img", labels={RUN_ID_LABEL: "other"}).to_cri("r1")


def test_with_run_id_keeps_an_existing_one():
    assert PodSpec("p", run_id="mine").with_run_id("r2").run_id == "mine"
    assert ContainerSpec("c", "i").with_run_id("r2").run_id == "r2"


@pytest.mark.parametrize("key,value", [
    ("a=b", "x"), ("", "x"), ("-lead", "x"), ("UPPER.PREFIX/name", "x"), ("k", "a=b"),
    ("k", "x" * 64), ("n" * 64, "x"), ("k", "trailing-"), ("k", "has space"),
])
def test_labels_follow_label_syntax(key, value):
    with pytest.raises(ConfigError):
        check_label(key, value)
    with pytest.raises(ConfigError):
        PodSpec("p", labels={key: value})


@pytest.mark.parametrize("key,value", [
    ("k", ""), ("hpc-e2e.run-id", "20260813-070737-abc123"), ("example.com/Name_1", "v.1"),
    ("n" * 63, "x" * 63),
])
def test_valid_labels_pass(key, value):
    check_label(key, value)


def test_new_run_id_is_a_valid_label_value_and_unique():
    a, b = new_run_id(), new_run_id()
    check_label(RUN_ID_LABEL, a)
    assert a != b
    assert re.fullmatch(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}", a)


def test_config_errors_are_harness_errors_not_assertions():
    with pytest.raises(ConfigError) as info:
        PodSpec("p", labels={"bad key": "x"})
    assert isinstance(info.value, HarnessError) and not isinstance(info.value, AssertionError)


# --- property: nothing camelCase, whatever the inputs ------------------------------------
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
label_part = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9])?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(name=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), hpc=st.booleans(),
       user=st.none() | text, annotations=st.dictionaries(text, text, max_size=4),
       labels=st.dictionaries(label_part, label_part, max_size=4),
       command=st.none() | st.lists(text, max_size=4), envs=st.dictionaries(text, text, max_size=3),
       workdir=st.none() | text)
def test_no_camel_case_key_is_ever_emitted(name, hpc, user, annotations, labels, command, envs,
                                           workdir):
    labels.pop(RUN_ID_LABEL, None)
    pod = PodSpec(name, host_process=hpc, run_as_username=user, annotations=annotations,
                  labels=labels)
    ctr = ContainerSpec(name, "img", command=command, envs=envs, working_dir=workdir,
                        host_process=hpc, run_as_username=user, annotations=annotations,
                        labels=labels)
    for cfg in (pod.to_cri(RUN), ctr.to_cri(RUN)):
        assert_snake(cfg)
        assert cfg["windows"]["security_context"]["host_process"] is hpc
        assert json.loads(json.dumps(cfg)) == cfg
    assert json.loads(pod.render(RUN))["annotations"] == annotations
