"""The runtime under test: a pinned bundle (containerd, the runhcs shim, crictl), containerd's
configuration, and its deployment as a service on a Windows host.

* :mod:`.bundle` — the manifest (:func:`load_bundle` → :class:`RuntimeBundle`), validated
  with one-line errors before anything is sent to a host;
* :mod:`.layout` — where everything lives on the host (:class:`RuntimeLayout`);
* :mod:`.containerd_config` — ``config.toml`` (version 2 or 3) and ``crictl.yaml``;
* :mod:`.sandbox_image` — the pause image for a host build;
* :mod:`.service` — the service registration and recognising a stale one;
* :mod:`.deploy` — :func:`deploy`, idempotent;
* :mod:`.provision` — features → restart → deploy, for ``hpc-e2e provision``;
* :mod:`.summary` / :mod:`.versions` — what was done and what the programs report.
"""

from harness.runtime.bundle import Artifact, RuntimeBundle, load_bundle
from harness.runtime.deploy import RuntimeDeployError, deploy
from harness.runtime.layout import RuntimeLayout
from harness.runtime.summary import Change, DeploySummary, ProvisionSummary

__all__ = ["Artifact", "Change", "DeploySummary", "ProvisionSummary", "RuntimeBundle",
           "RuntimeDeployError", "RuntimeLayout", "deploy", "load_bundle"]
