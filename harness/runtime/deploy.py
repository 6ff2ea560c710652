"""Deploy a runtime bundle onto a Windows host, idempotently.

One deployment:

1. decides everything locally first: layout, sandbox image for the host build, the bytes of
   ``config.toml`` and ``crictl.yaml`` (the bundle was validated when it was loaded);
2. hashes every file it owns on the host in **one** round trip;
3. before containerd or the shim is replaced, makes sure no pod is left: the harness's own
   (run-id labelled) are removed, anybody else's make it refuse, naming them (shims outlive
   a containerd stop and keep their program locked); then stops containerd only if a
   program it runs is about to be replaced, or its service registration is stale (another
   binary, config or log file);
4. uploads (``file`` sources) or has the host download (``url`` sources) only the programs
   whose hash differs; checks ``installed`` programs and never touches them;
5. writes ``config.toml``/``crictl.yaml`` only if their hash differs, and, when the bundle
   ships the ``nat`` CNI plugin, the pod network's config from the host's HNS ``nat``
   network (:mod:`harness.runtime.cni`);
6. (re-)registers the service if it is missing or stale, restarts containerd if a program or
   the config changed, starts it if it is stopped;
7. waits until ``crictl info`` reports ``RuntimeReady`` and records every program's
   ``--version``.

Nothing that is already right is touched, so a second run reports no change.
"""

from __future__ import annotations

import logging
import ntpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.errors import (
    CommandTimeout,
    HarnessError,
    RemoteCommandError,
    TransferError,
    TransportError,
)
from harness.runtime.bundle import (
    CONTAINERD,
    SHIM,
    Artifact,
    InstalledSource,
    RuntimeBundle,
    UrlSource,
)
from harness.runtime.cni import CONF_NAME, NAT_PLUGIN, nat_config
from harness.runtime.containerd_config import (
    ContainerdConfig,
    render_crictl_yaml,
    sha256_text,
    to_wire,
)
from harness.runtime.layout import RuntimeLayout
from harness.runtime.sandbox_image import IMAGES_FILE, sandbox_image_for
from harness.runtime.service import ServiceCheck, register_argv, service_matches
from harness.runtime.summary import Change, DeploySummary
from harness.runtime.versions import ReportedVersion, parse_version_output
from harness.transport.powershell import run_script
from harness.windows import SCRIPTS as catalog

log = logging.getLogger("harness.runtime")

READY_TIMEOUT = 120.0
READY_POLL = 0.5
DOWNLOAD_TIMEOUT = 1800.0
RUNNING = "running"
STOPPED = "stopped"


class RuntimeDeployError(HarnessError):
    """The runtime could not be deployed or did not come up; the message says where it stopped."""


@dataclass
class _ProgramStep:
    artifact: Artifact
    remote: str
    current: str | None  # sha256 on the host now, None if absent

    @property
    def needed(self) -> bool:
        return self.current != self.artifact.sha256


class RuntimeCri(Protocol):
    """What the deployment asks of CRI (implemented above the runtime layer:
    :class:`harness.cri.runtime_access.RuntimeCri`)."""

    def runtime_problem(self) -> str | None: ...  # None: RuntimeReady

    def pods(self) -> list: ...  # objects with id, namespace, name, state, run_id

    def remove_pods(self, pod_ids: list[str]) -> list[str]: ...  # the problems


# ``cri(transport, layout, timeout=, margin=)``: a :class:`RuntimeCri` for the host.
CriFactory = Callable[..., RuntimeCri]


def deploy(host, bundle: RuntimeBundle, *, cri: CriFactory, facts=None,
           images_file: Path | None = IMAGES_FILE, ready_timeout: float = READY_TIMEOUT,
           progress: Callable[[str], None] | None = None) -> DeploySummary:
    """Bring ``host`` (a :class:`~harness.windows.WindowsHost`) to ``bundle``; what changed.

    ``cri`` reaches the runtime's CRI once it runs (readiness, pods left on the host):
    :func:`harness.cri.runtime_access.crictl_runtime_access`.
    """
    say = progress or (lambda message: log.info("%s: %s", _host_name(host), message))
    layout = RuntimeLayout.for_bundle(bundle)
    facts = facts if facts is not None else host.facts()
    sandbox = sandbox_image_for(facts.build, images_file)
    config_text = ContainerdConfig(bundle.containerd_config_version, layout, sandbox.image,
                                   containerd_version=bundle.containerd.version).render()
    crictl_text = render_crictl_yaml(layout)
    summary = DeploySummary(host=_host_name(host), bundle=bundle.name,
                            bundle_digest=bundle.digest,
                            config_version=bundle.containerd_config_version,
                            sandbox_image=sandbox.image, paths=_paths(layout))

    # --- 2. one round trip: what is on the host now --------------------------------------
    programs = [_ProgramStep(a, layout.program_path(a), None) for a in bundle.all_artifacts()]
    cni_conf = ntpath.join(layout.cni_conf_dir, CONF_NAME)
    owned = [p.remote for p in programs] + [layout.config_toml, layout.crictl_yaml, cni_conf]
    hashes = _lower_keys(host.files.sha256s(owned))
    for p in programs:
        p.current = hashes.get(p.remote.lower())
    config_needed = hashes.get(layout.config_toml.lower()) != sha256_text(config_text)
    crictl_needed = hashes.get(layout.crictl_yaml.lower()) != sha256_text(crictl_text)

    for p in programs:
        if isinstance(p.artifact.source, InstalledSource) and p.needed:
            found = "is missing" if p.current is None else f"has sha256 {p.current}"
            raise RuntimeDeployError(
                f"{p.artifact.name}: {p.remote} {found}, the bundle says {p.artifact.sha256}",
                hint="an installed artifact is only checked, never replaced: install the "
                     "right build on the host or give the bundle a file or url source")

    service = host.services.query(layout.service_name)
    registered = service is not None
    check = service_matches(service.binary_path, layout) if registered else None
    if registered and check.ok and service.start_type.lower() == "disabled":
        check = ServiceCheck(False, "it is disabled")
    stale = registered and not check.ok
    state = _state(service)
    runtime_programs_change = any(p.needed and p.artifact.name in (CONTAINERD, SHIM)
                                  for p in programs)

    # --- 3. pods left on the host, then stop what must not run while it is replaced --------
    if runtime_programs_change and registered and not stale \
            and hashes.get(layout.crictl_exe.lower()) is not None:
        state = _clear_pods(host, layout, cri, state, summary, say)
    stopped_for_update = False
    if registered and state != STOPPED and (stale or runtime_programs_change):
        why = (f"stale registration: {check.reason}" if stale
               else "its programs are being replaced")
        say(f"stopping service {layout.service_name} ({why})")
        host.services.stop(layout.service_name)
        summary.changes.append(Change(f"service {layout.service_name}", "stopped", why))
        stopped_for_update = True
        state = STOPPED

    # --- 4. programs -----------------------------------------------------------------------
    made: set[str] = set()
    # Downloads first: they are what most often fails, and then nothing else has changed.
    for p in sorted(programs, key=lambda p: not isinstance(p.artifact.source, UrlSource)):
        if not p.needed or isinstance(p.artifact.source, InstalledSource):
            continue
        _ensure_dir(host, ntpath.dirname(p.remote), made)
        if isinstance(p.artifact.source, UrlSource):
            say(f"downloading {p.artifact.name} on the host from {p.artifact.source.url}")
            _download(host, p.artifact, p.remote)
            action = "downloaded"
        else:
            say(f"uploading {p.artifact.program} to {p.remote}")
            with p.artifact.local_program() as local:
                try:
                    host.transport.put(local, p.remote)
                except TransferError as exc:
                    if p.artifact.name not in (CONTAINERD, SHIM) or not _locked(exc):
                        raise
                    raise RuntimeDeployError(
                        f"{p.remote} cannot be replaced: a process still runs it "
                        f"({_tail(exc.message, 1)})",
                        hint="shims outlive a containerd stop: remove the pods left on the "
                             "host (crictl pods; crictl rmp --force <id>) or stop the "
                             "leftover containerd-shim-runhcs-v1 processes, then deploy "
                             "again") from None
            action = "uploaded"
        was = "new" if p.current is None else f"was {p.current[:12]}"
        summary.changes.append(Change(p.artifact.program, action,
                                      f"{p.artifact.version}, {was}"))

    # --- 5. config files -------------------------------------------------------------------
    for needed, path, text, label in ((config_needed, layout.config_toml, config_text, "config.toml"),
                                      (crictl_needed, layout.crictl_yaml, crictl_text, "crictl.yaml")):
        if needed:
            _ensure_dir(host, ntpath.dirname(path), made)
            say(f"writing {path}")
            host.files.write_bytes(path, to_wire(text))
            summary.changes.append(Change(label, "written", path))

    if NAT_PLUGIN in bundle.cni_plugins:
        _pod_network(host, layout, cni_conf, hashes.get(cni_conf.lower()), made, summary, say)

    # --- 6. service --------------------------------------------------------------------------
    if stale:
        say(f"deleting stale service {layout.service_name} ({check.reason})")
        host.services.delete(layout.service_name)
        summary.changes.append(Change(f"service {layout.service_name}", "unregistered",
                                      check.reason))
        registered = False
    if not registered:
        _ensure_dir(host, ntpath.dirname(layout.log_file), made)
        say(f"registering service {layout.service_name}")
        result = host.transport.run(register_argv(layout), timeout=120.0)
        if result.failed:
            raise RuntimeDeployError(
                f"containerd --register-service failed (exit {result.exit_code}): "
                f"{_tail(result.stderr or result.stdout)}",
                hint="the remote user must be an elevated administrator"
                if "access is denied" in (result.stderr + result.stdout).lower()
                else f"containerd reads {layout.config_toml} before registering; its error "
                     "is above")
        summary.changes.append(Change(f"service {layout.service_name}", "registered",
                                      f"log {layout.log_file}"))
        state = _state(host.services.query(layout.service_name))

    restart = (config_needed or runtime_programs_change) and state != STOPPED
    if restart:
        say(f"restarting service {layout.service_name} (its config changed)")
        host.services.stop(layout.service_name)
        state = STOPPED
    if state == STOPPED:
        say(f"starting service {layout.service_name}")
        _start(host, layout)
        action = "restarted" if (restart or stopped_for_update) else "started"
        summary.changes.append(Change(f"service {layout.service_name}", action))
    summary.service_state = _state(host.services.query(layout.service_name))

    # --- 7. ready? versions -----------------------------------------------------------------
    _wait_ready(host, layout, cri, ready_timeout)
    summary.runtime_ready = True
    summary.versions = report_versions(host, bundle, layout)
    for v in summary.versions:
        if not v.matches:
            summary.notes.append(f"{v.artifact} reports version {v.reported or '(none)'}; "
                                 f"the bundle declares {v.declared}")
    if bundle.cni_plugins:
        summary.notes.append("CNI plugin versions are not reported (they answer only the CNI "
                             "VERSION command)")
    return summary


def report_versions(host, bundle: RuntimeBundle, layout: RuntimeLayout) -> list[ReportedVersion]:
    """Each program's own ``--version`` (crictl: ``--version`` too), parsed."""
    out = []
    for artifact in (bundle.containerd, bundle.shim, bundle.crictl):
        result = host.transport.run([layout.program_path(artifact), "--version"], timeout=60.0)
        text = result.stdout if result.stdout.strip() else result.stderr
        if result.failed:
            raise RuntimeDeployError(
                f"{artifact.program} --version failed (exit {result.exit_code}): {_tail(text)}")
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        out.append(ReportedVersion(artifact.name, artifact.version,
                                   parse_version_output(artifact.name, text), first))
    return out


def _pod_network(host, layout: RuntimeLayout, path: str, current: str | None, made: set[str],
                 summary: DeploySummary, say: Callable[[str], None]) -> None:
    """Write the nat CNI config for the host's HNS nat network, if it differs; a host
    without that network gets a note (non-HostProcess pods will have no network there)."""
    network = host.nat_network()
    if network is None:
        summary.notes.append("the host has no HNS network named nat (the Containers feature "
                             "makes it after its restart), so no CNI config was written: "
                             "pods that are not HostProcess get no network")
        return
    try:
        text = nat_config(*network)
    except ValueError as exc:
        raise RuntimeDeployError(f"the host's HNS nat network is unusable: {exc}",
                                 hint="check `Get-HnsNetwork` on the host") from None
    if current == sha256_text(text):
        return
    _ensure_dir(host, layout.cni_conf_dir, made)
    say(f"writing {path} (HNS nat network {network[0]})")
    host.files.write_bytes(path, to_wire(text))
    summary.changes.append(Change(CONF_NAME, "written", f"{path}, subnet {network[0]}"))


# --- helpers -----------------------------------------------------------------------------
def _clear_pods(host, layout: RuntimeLayout, cri: CriFactory, state: str,
                summary: DeploySummary, say: Callable[[str], None]) -> str:
    """Before the shim or containerd is replaced: no pod may be left running on the host.

    Shims outlive a containerd stop (containerd reconnects to them) and a running program
    cannot be replaced on Windows, so pods left by a ``--keep-on-failure`` run or a failed
    cleanup would make the upload fail.  A stopped containerd is started first so that it
    lists them.  Pods labelled with a run id are the harness's own and are removed; any
    other pod is somebody else's: the deployment refuses, naming them, before it changes
    anything.  Returns the service state afterwards.
    """
    if state == STOPPED:
        say(f"starting service {layout.service_name} to find pods left on the host")
        try:
            host.services.start(layout.service_name)
            _wait_ready(host, layout, cri, READY_TIMEOUT)
        except HarnessError as exc:  # the upload will say so if a shim still runs
            log.info("%s: containerd did not come up to list pods: %s", _host_name(host), exc)
            return _state(host.services.query(layout.service_name))
        state = RUNNING
    access = cri(host.transport, layout, timeout=30.0, margin=20.0)
    pods = access.pods()
    theirs = [p for p in pods if p.run_id is None]
    if theirs:
        named = "; ".join(f"{p.id[:13]} {p.namespace}/{p.name} ({p.state})" for p in theirs)
        raise RuntimeDeployError(
            f"{len(theirs)} pod(s) on the host were not made by hpc-e2e: {named}; their shims "
            "run the program this deployment would replace, so nothing was changed",
            hint="remove them (crictl rmp --force <id>) or deploy to a host of your own")
    ours = [p for p in pods if p.run_id is not None]
    if ours:
        say(f"removing {len(ours)} pod(s) left by earlier hpc-e2e runs")
        problems = access.remove_pods([p.id for p in ours])
        if problems:
            raise RuntimeDeployError(
                f"pods left by earlier runs could not be removed: {problems[0]}",
                hint="remove them by hand (crictl rmp --force <id>), then deploy again")
        for p in ours:
            summary.changes.append(Change(f"pod {p.id[:13]}", "removed",
                                          f"{p.namespace}/{p.name}, run "
                                          f"{p.run_id}"))
    return state


def _locked(exc: HarnessError) -> bool:
    text = exc.message.lower()
    return "being used by another process" in text or "is denied" in text


def _download(host, artifact: Artifact, remote: str) -> None:
    src = artifact.source
    args = {"url": src.url, "path": remote, "sha256": artifact.sha256}
    if src.member:
        args["member"] = src.member
    if src.archive_sha256:
        args["archive_sha256"] = src.archive_sha256
    try:
        run_script(host.transport, "runtime_download", args, catalog=catalog,
                   timeout=DOWNLOAD_TIMEOUT)
    except RemoteCommandError as exc:
        raise RuntimeDeployError(
            f"{artifact.name}: the host could not download {src.url}: "
            f"{_tail(exc.result.stderr or exc.result.stdout)}",
            hint="check the URL and that the host reaches it, or use a file source "
                 "(the harness uploads it)") from None


def _ensure_dir(host, path: str, made: set[str]) -> None:
    if path.lower() in made:
        return
    host.files.mkdir(path)
    made.add(path.lower())


def _start(host, layout: RuntimeLayout) -> None:
    try:
        host.services.start(layout.service_name)
    except (TransportError, CommandTimeout):
        # Not the service's answer: the way to the host failed.  Raised as it is, so the
        # caller's retry (provisioning converges) and the failure class both see it.
        raise
    except HarnessError as exc:
        raise RuntimeDeployError(
            f"service {layout.service_name} did not start: {exc.message}",
            hint=f"containerd's log is {layout.log_file}{_log_tail(host, layout)}") from None


def _wait_ready(host, layout: RuntimeLayout, cri: CriFactory, timeout: float) -> None:
    """Poll the runtime until RuntimeReady; containerd needs a moment after it starts."""
    access = cri(host.transport, layout, timeout=10.0, margin=20.0)
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            problem = access.runtime_problem()
            if problem is None:
                return
            last = problem
        except CommandTimeout as exc:
            last = str(exc)
        except HarnessError as exc:
            last = exc.message
        if time.monotonic() >= deadline:
            raise RuntimeDeployError(
                f"containerd did not report RuntimeReady within {timeout:g}s: {_tail(last)}",
                hint=f"containerd's log is {layout.log_file}{_log_tail(host, layout)}")
        time.sleep(READY_POLL)


def _log_tail(host, layout: RuntimeLayout, lines: int = 5) -> str:
    try:
        text = host.files.read_text(layout.log_file)
    except (HarnessError, OSError):  # diagnostics only: the original error matters more
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return ("; last lines: " + " | ".join(tail)) if tail else ""


def _state(service) -> str:
    return "absent" if service is None else service.state.lower()


def _lower_keys(mapping) -> dict[str, str | None]:
    return {str(k).lower(): (v.lower() if isinstance(v, str) else None)
            for k, v in dict(mapping).items()}


def _tail(text: str, lines: int = 3) -> str:
    kept = [line.strip() for line in (text or "").splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"


def _host_name(host) -> str:
    return host.name


def _paths(layout: RuntimeLayout) -> dict[str, str]:
    return {"containerd": layout.containerd_exe, "shim": layout.shim_exe,
            "crictl": layout.crictl_exe, "config": layout.config_toml,
            "crictl_config": layout.crictl_yaml, "log": layout.log_file,
            "endpoint": layout.endpoint}


__all__ = ["CriFactory", "RuntimeCri", "RuntimeDeployError", "deploy", "report_versions"]
