"""Every pod and container JSON the harness renders validates against the CRI schema.

crictl drops unknown keys silently and fails only on a value of the wrong type, on the
host (docs/behaviour/ecosystem.md §2.1, §7).  Here :class:`PodSpec` / :class:`ContainerSpec` are
rendered in many shapes (hypothesis draws every spec field, ``extra`` drawn from the
schema itself) and the bytes the harness would upload are validated against
``fixtures/cri-schema/*.schema.json`` (CRI json tags; ``additionalProperties: false``).
The broken-input tests show the check rejecting camelCase keys, unknown keys and wrong
types.
"""

from __future__ import annotations

import json
import re

import pytest
from checks.cri_schema import CONTAINER, POD, assert_valid, schema, schema_errors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cri import RUN_ID_LABEL, ContainerSpec, PodSpec
from harness.errors import ConfigError

RUN = "20260813-070737-abc123"
UINT32 = 2**32 - 1
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Fields the specs model themselves; extra= may not set them (harness.cri.spec._check_extra).
MODELLED = {"metadata", "labels", "annotations", "windows.security_context.host_process",
            "windows.security_context.run_as_username"}
# Maps whose keys are user data and which harness.cri.spec exempts from the snake_case rule.
USER_DATA_MAPS = {"labels", "annotations"}


# --- strategies ------------------------------------------------------------------------------
def _label_part(first_last: str, middle: str, n: int) -> str:
    return rf"[{first_last}](?:[{middle}]{{0,{n}}}[{first_last}])?"


LABEL_NAME = _label_part("A-Za-z0-9", "A-Za-z0-9_.-", 8)
label_keys = st.from_regex(
    rf"\A(?:{_label_part('a-z0-9', 'a-z0-9.-', 8)}/)?{LABEL_NAME}\Z").filter(
    lambda k: k != RUN_ID_LABEL)
label_values = st.one_of(st.just(""), st.from_regex(rf"\A{LABEL_NAME}\Z"))
run_ids = st.from_regex(rf"\A{LABEL_NAME}\Z")
snake_keys = st.from_regex(r"\A[a-z0-9]{1,6}(?:_[a-z0-9]{1,6}){0,2}\Z")
texts = st.text(max_size=12)
optional_text = st.none() | texts
string_maps = st.dictionaries(texts, texts, max_size=3)


def from_schema(node: dict, defs: dict, path: str = "", depth: int = 0) -> st.SearchStrategy:
    """Instances of a node of our CRI schema, leaving out :data:`MODELLED` fields."""
    if "$ref" in node:
        return from_schema(defs[node["$ref"].rsplit("/", 1)[1]], defs, path, depth)
    kind = node["type"]
    if kind == "object" and "properties" in node:
        if depth > 3:
            return st.just({})
        props = {k: from_schema(v, defs, f"{path}.{k}".lstrip("."), depth + 1)
                 for k, v in node["properties"].items()
                 if f"{path}.{k}".lstrip(".") not in MODELLED}
        return st.fixed_dictionaries({}, optional=props)
    if kind == "object":  # a map: its keys are data
        keys = texts if path.rsplit(".", 1)[-1] in USER_DATA_MAPS else snake_keys
        return st.dictionaries(keys, from_schema(node["additionalProperties"], defs, path,
                                                 depth + 1), max_size=2)
    if kind == "array":
        return st.lists(from_schema(node["items"], defs, path, depth + 1), max_size=2)
    if kind == "string":
        return texts
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(node["minimum"], node["maximum"])
    raise AssertionError(f"strategy for schema type {kind!r} missing")


def extras(name: str) -> st.SearchStrategy:
    s = schema(name)
    return from_schema(s["$defs"][s["$ref"].rsplit("/", 1)[1]], s["$defs"]).map(
        lambda d: {k: v for k, v in d.items() if v != {} or k == "windows"})


def envs() -> st.SearchStrategy:
    pairs = st.lists(st.tuples(texts, texts), max_size=3)
    return st.none() | pairs | pairs.map(dict)


VALID_ATTEMPTS = st.integers(0, UINT32)  # CRI metadata.attempt is a uint32


def pod_kwargs(attempts=VALID_ATTEMPTS) -> st.SearchStrategy:
    return st.fixed_dictionaries({
        "name": st.text(min_size=1, max_size=12), "namespace": st.text(min_size=1, max_size=12),
        "uid": optional_text, "attempt": attempts, "host_process": st.booleans(),
        "run_as_username": optional_text, "annotations": string_maps,
        "labels": st.dictionaries(label_keys, label_values, max_size=3),
        "log_directory": optional_text, "hostname": optional_text,
        "run_id": st.none() | st.just(RUN), "extra": extras(POD)})


def container_kwargs(attempts=VALID_ATTEMPTS) -> st.SearchStrategy:
    argv = st.none() | st.lists(texts, max_size=4)
    return st.fixed_dictionaries({
        "name": st.text(min_size=1, max_size=12), "image": st.text(min_size=1, max_size=20),
        "command": argv, "args": argv, "working_dir": optional_text, "envs": envs(),
        "host_process": st.booleans(), "run_as_username": optional_text,
        "annotations": string_maps, "labels": st.dictionaries(label_keys, label_values,
                                                              max_size=3),
        "log_path": optional_text, "attempt": attempts, "run_id": st.none() | st.just(RUN),
        "extra": extras(CONTAINER)})


def rendered(spec) -> dict:
    """What the harness uploads for crictl: the rendered bytes, read back."""
    data = spec.render(RUN)
    assert not data.startswith(b"\xef\xbb\xbf")
    return json.loads(data.decode("utf-8"))


# --- the harness's output validates ---------------------------------------------------------
@SETTINGS
@given(pod_kwargs())
def test_every_pod_spec_renders_a_valid_pod_sandbox_config(kw):
    config = rendered(PodSpec(**kw))
    assert_valid(config, POD)
    assert config["windows"]["security_context"]["host_process"] is kw["host_process"]


@SETTINGS
@given(container_kwargs())
def test_every_container_spec_renders_a_valid_container_config(kw):
    config = rendered(ContainerSpec(**kw))
    assert_valid(config, CONTAINER)
    assert config["windows"]["security_context"]["host_process"] is kw["host_process"]


@SETTINGS
@given(pod_kwargs(attempts=st.integers()), container_kwargs(attempts=st.integers()))
def test_out_of_range_values_are_refused_not_rendered(pod_kw, ctr_kw):
    """A spec either refuses its inputs with a ConfigError or renders a valid file."""
    for make, kw, name in ((PodSpec, pod_kw, POD), (ContainerSpec, ctr_kw, CONTAINER)):
        try:
            config = rendered(make(**kw))
        except ConfigError:
            assert not 0 <= kw["attempt"] <= UINT32, kw
            continue
        assert_valid(config, name)


def test_the_minimal_hpc_shapes_of_ecosystem_facts_validate():
    pod = PodSpec("hpc-e2e", namespace="default", attempt=1, host_process=True,
                  run_as_username="NT AUTHORITY\\SYSTEM",
                  annotations={"microsoft.com/hostprocess-inherit-user": "true"})
    ctr = ContainerSpec("c0", "mcr.microsoft.com/windows/nanoserver:ltsc2025",
                        command=["cmd", "/c", "ping", "-t", "127.0.0.1"], host_process=True,
                        run_as_username="NT AUTHORITY\\Local service",
                        envs={"A": "1"}, working_dir="C:\\hpc", log_path="c0.log",
                        extra={"CDI_devices": [{"name": "x"}],
                               "windows": {"resources": {"cpu_count": 2}}})
    assert_valid(rendered(pod), POD)
    assert_valid(rendered(ctr), CONTAINER)


# --- the schema itself -----------------------------------------------------------------------
def _objects(node, path=""):
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield path, node
        for k, v in node.items():
            yield from _objects(v, f"{path}/{k}")


@pytest.mark.parametrize("name", [POD, CONTAINER])
def test_every_message_refuses_unknown_keys(name):
    s = schema(name)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "cri-api" in s["$comment"] and "cri-tools" in s["$comment"]
    messages = [(p, o) for p, o in _objects(s) if "properties" in o]
    assert len(messages) > 10
    for path, obj in messages:
        assert obj.get("additionalProperties") is False, path
    maps = [(p, o) for p, o in _objects(s) if "properties" not in o]
    for path, obj in maps:  # labels, annotations, sysctls, ...: values are strings
        assert obj["additionalProperties"] == {"type": "string"}, path


@pytest.mark.parametrize("name", [POD, CONTAINER])
def test_schema_keys_are_the_cri_json_tags(name):
    keys = {k for _, o in _objects(schema(name)) for k in o.get("properties", {})}
    odd = {k for k in keys if not re.fullmatch(r"[a-z0-9]+(?:_[a-z0-9]+)*", k)}
    # the three tags that are not snake_case (docs/behaviour/ecosystem.md §7)
    assert odd <= {"uidMappings", "gidMappings", "CDI_devices"}
    assert {"host_process", "run_as_username", "security_context"} <= keys


# --- broken input: the check catches it -------------------------------------------------------
def _pod_config(**windows_ctx) -> dict:
    return {"metadata": {"name": "p", "namespace": "hpc-e2e", "uid": "u", "attempt": 0},
            "labels": {RUN_ID_LABEL: RUN}, "annotations": {},
            "windows": {"security_context": {"host_process": True, **windows_ctx}}}


def test_a_camel_case_key_is_rejected():
    config = _pod_config(hostProcess=True)
    errors = schema_errors(config, POD)
    assert any("windows.security_context" in e and "'hostProcess'" in e for e in errors), errors
    top = {**_pod_config(), "logDirectory": "C:\\logs"}
    assert any("'logDirectory'" in e for e in schema_errors(top, POD))


@pytest.mark.parametrize("config, where", [
    (_pod_config(host_process="true"), "windows.security_context.host_process"),
    ({**_pod_config(), "metadata": {"name": "p", "attempt": -1}}, "metadata.attempt"),
    ({**_pod_config(), "metadata": {"name": "p", "attempt": 2**32}}, "metadata.attempt"),
    ({**_pod_config(), "labels": {"a": 1}}, "labels.a"),
    # enums are integers only in crictl files (docs/behaviour/ecosystem.md §7)
    ({**_pod_config(), "port_mappings": [{"protocol": "TCP"}]}, "port_mappings[0].protocol"),
    ({**_pod_config(), "hostname": None}, "hostname"),
])
def test_a_wrong_type_is_rejected(config, where):
    errors = schema_errors(config, POD)
    assert any(e.startswith(f"{where}:") for e in errors), errors


def test_container_wrong_shapes_are_rejected():
    base = {"metadata": {"name": "c"}, "image": {"image": "img"}}
    assert schema_errors(base, CONTAINER) == []
    assert schema_errors({**base, "command": "cmd /c dir"}, CONTAINER)
    assert schema_errors({**base, "envs": {"A": "1"}}, CONTAINER)  # a list of key/value objects
    assert schema_errors({**base, "image": "img"}, CONTAINER)
    assert schema_errors({**base, "windows": {"security_context": {"runAsUsername": "x"}}},
                         CONTAINER)


def test_an_unknown_snake_case_extra_passes_the_harness_guard_but_not_the_schema():
    """harness.cri.spec only checks the *spelling* of extra keys; the schema knows the fields."""
    spec = PodSpec("p", extra={"host_network": True})
    errors = schema_errors(rendered(spec), POD)
    assert any("'host_network'" in e for e in errors), errors
