"""``environment.properties`` of the Allure report: what the run was asked for, and what
each host and the runtime bundle were.

Facts are recorded as the run goes (:func:`record_run_info`, :func:`record_host`,
:func:`note_host`), on the controller or a worker; a worker's reach the controller as
``workeroutput`` (docs/behaviour/protocols.md §4) and are merged there.  The file itself is
written by :mod:`harness.plugin.runfiles`.

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.secrets import redact
from harness.plugin.limits import describe_limits
from harness.plugin.options import SETTINGS
from harness.plugin.provisioning import provisioned_hosts, read_records
from harness.plugin.targets import CONTROLLER
from harness.runtime.bundle import load_bundle

log = logging.getLogger("harness.plugin.reporting")

_ENV = pytest.StashKey[dict]()


def env_state(config) -> dict:
    state = config.stash.get(_ENV, None)
    if state is None:
        state = config.stash[_ENV] = {"run": {}, "hosts": {}}
    return state


def record_run_info(config, **values: Any) -> None:
    """Run-level facts for ``environment.properties`` (run id, profile, bundle digest...).

    Callable from the controller or a worker; worker values reach the controller.
    """
    run = env_state(config)["run"]
    for key, value in values.items():
        if value is not None and value != "":
            run[key.replace("_", ".")] = str(value)


def record_host(config, name: str, **values: Any) -> None:
    """Facts about one host (build, os, containerd/shim/crictl versions, bundle digest)."""
    host = env_state(config)["hosts"].setdefault(str(name), {})
    for key, value in values.items():
        if value is not None and value != "":
            host[key.replace("_", ".")] = str(value)


def _summary_dict(host: Any) -> dict | None:
    for name in ("provision_summary", "summary", "provisioned"):
        value = getattr(host, name, None)
        if callable(getattr(value, "to_dict", None)):
            return value.to_dict()
        if isinstance(value, Mapping):
            return dict(value)
    return None


def note_host(config, host: Any) -> None:
    """Record what an ``hpc_host`` fixture knows about its host; reads memory only."""
    try:
        target = getattr(host, "target", None)
        facts = getattr(host, "facts", None)
        name = getattr(target, "name", None) or getattr(facts, "computer_name", None)
        if not name:
            return
        values: dict[str, Any] = {"transport": getattr(target, "transport", None)}
        if facts is not None:
            values["build"] = getattr(facts, "build", None)
            os_version = getattr(facts, "os_version", None)
            values["os"] = " ".join(str(v) for v in (getattr(facts, "caption", None),
                                                     os_version) if v) or None
        summary = _summary_dict(host)
        if summary:
            values.update({k: v for k, v in _summary_values(summary).items()
                           if k not in ("build", "os") or values.get(k) is None})
        record_host(config, name, **values)
        run_id = getattr(getattr(host, "crictl", None), "run_id", None)
        if run_id:
            record_run_info(config, run_id=run_id)
    except Exception as exc:  # noqa: BLE001 - diagnostics and reports must never fail a test
        log.debug("could not record host facts for the report: %s", exc)


def merge(state: dict, other: Mapping) -> None:
    state["run"].update(other.get("run") or {})
    for name, values in (other.get("hosts") or {}).items():
        state["hosts"].setdefault(name, {}).update(values)


def _summary_values(summary: Mapping) -> dict[str, Any]:
    """Environment values of one host from a ``ProvisionSummary.to_dict()``."""
    runtime = summary.get("runtime") or {}
    values: dict[str, Any] = {"build": summary.get("build"), "os": summary.get("os"),
                              "bundle.digest": runtime.get("bundle_digest")}
    for artifact, version in (runtime.get("versions") or {}).items():
        if isinstance(version, Mapping):
            values[artifact] = version.get("reported") or version.get("declared")
    return values


def _from_options(config) -> dict[str, str]:
    """What the run was asked for: the plugin core's validated settings, else raw options."""
    env: dict[str, str] = {}
    settings = config.stash.get(SETTINGS, None)
    if settings is not None:
        env["profile"] = str(getattr(settings.profile, "name", settings.profile))
        if settings.simulated:
            env.update({"sim.flavor": str(settings.sim_flavor),
                        "sim.build": str(settings.sim_build),
                        "sim.hosts": str(settings.sim_hosts)})
        else:
            env["inventory"] = str(settings.inventory)
        if settings.run_id:
            env["run.id"] = str(settings.run_id)
        env["limits"] = describe_limits(config, settings.provision_timeout)
        return env
    for key, option in (("profile", "--hpc-profile"), ("run.id", "--hpc-run-id"),
                        ("inventory", "--hpc-inventory")):
        value = config.getoption(option, None)
        if value is not None and value != "":
            env[key] = str(value)
    return env


def _from_run(config, state: dict) -> dict[str, str]:
    """The controller's run (id, bundle) and the provisioning records its workers wrote."""
    env: dict[str, str] = {}
    controller = config.stash.get(CONTROLLER, None)
    if controller is None or not getattr(controller, "started", False):
        return env
    run = controller.run()
    env["run.id"] = str(run.run_id)
    env.update(_bundle_values(run.bundle))
    try:
        for host in provisioned_hosts(Path(run.run_dir)):
            for record in read_records(Path(run.run_dir), host).values():
                if "summary" in record:
                    known = state["hosts"].setdefault(host, {})
                    for key, value in _summary_values(record["summary"]).items():
                        if value is not None and value != "" and key not in known:
                            known[key] = str(value)
    except Exception as exc:  # noqa: BLE001 - a report file must not fail the run
        log.warning("reporting: could not read the provisioning records: %s", exc)
    return env


def _bundle_values(manifest) -> dict[str, str]:
    """The bundle's name and each program's version and hash: what identifies the runtime
    under test (the manifest's path is often a temporary folder, gone when the report is read).
    """
    try:
        bundle = load_bundle(manifest)
    except Exception as exc:  # noqa: BLE001 - a report file must not fail the run
        log.warning("reporting: could not read the bundle %s: %s", manifest, exc)
        return {"bundle": Path(str(manifest)).name}
    values = {"bundle": bundle.name, "bundle.digest": bundle.digest}
    for artifact in bundle.all_artifacts():
        values[f"bundle.{artifact.name}"] = f"{artifact.version} sha256:{artifact.sha256}"
    return values


def environment(config) -> dict[str, str]:
    """The key/value pairs of ``environment.properties`` for this run, sorted by key."""
    state = env_state(config)
    env = _from_options(config)
    env.update(_from_run(config, state))
    env.update(state["run"])
    hosts = state["hosts"]
    if hosts:
        env["hosts"] = ",".join(sorted(hosts))
        builds = sorted({v["build"] for v in hosts.values() if v.get("build")}, key=_num)
        if builds:
            env["host.builds"] = ",".join(builds)
        digests = {v["bundle.digest"] for v in hosts.values() if v.get("bundle.digest")}
        if len(digests) == 1 and "bundle.digest" not in env:
            env["bundle.digest"] = digests.pop()
    for name, values in hosts.items():
        for key, value in values.items():
            env[f"host.{name}.{key}"] = value
    return {k: redact(v) for k, v in sorted(env.items())}


def _num(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (0, text)


__all__ = ["env_state", "environment", "merge", "note_host", "record_host", "record_run_info"]
