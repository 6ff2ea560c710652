"""What scenarios import from the plugin: one place, stable names.

::

    from harness.plugin.api import ISOLATIONS, INHERIT_USER

    @pytest.mark.parametrize("isolation", ISOLATIONS)
    def test_inherit_user_runs_as_system(pods, isolation, expect):
        pod = pods.run(isolation, annotations={INHERIT_USER: "true"})
        ...

Annotation keys are hcsshim's (docs/behaviour/runtime.md §1.1, ``pkg/annotations``).

PYTEST_DONT_REWRITE (see harness/plugin/__init__.py)
"""

from __future__ import annotations

from harness.cri import (
    ContainerStatus,
    CriExecTimeout,
    CriStageError,
    ExecResult,
    HostMount,
    PodStatus,
)
from harness.cri.status import HOSTPROCESS_ANNOTATION
from harness.plugin.host import HpcHost
from harness.plugin.images import ROOTFS_LOCATION_ANNOTATION, ImageSet
from harness.plugin.markers import HPC_IN_UVM, ISOLATION_MODES, ISOLATIONS
from harness.plugin.pods import HANDLERS, Container, Pod, PodFactory
from harness.plugin.profiles import UNVERIFIED, Expectations
from harness.plugin.refusals import Refusal, UnexpectedRefusal, expect_refusal
from harness.plugin.refusals import reading as explain_refusal

PROCESS, HYPERV = ISOLATION_MODES  # the values of ``isolation``

# docs/behaviour/runtime.md §1.1 (the *_ANNOTATION spellings are the same keys)
HOSTPROCESS = HOSTPROCESS_ANNOTATION  # "microsoft.com/hostprocess-container"
INHERIT_USER = INHERIT_USER_ANNOTATION = "microsoft.com/hostprocess-inherit-user"
ROOTFS_LOCATION = ROOTFS_LOCATION_ANNOTATION  # "microsoft.com/hostprocess-rootfs-location"
DISABLE_HPC = DISABLE_HOSTPROCESS_ANNOTATION = "microsoft.com/disable-hostprocess-container"
DISABLE_UNSAFE = DISABLE_UNSAFE_ANNOTATION = "io.microsoft.disable-unsafe-operations"

__all__ = ["DISABLE_HOSTPROCESS_ANNOTATION", "DISABLE_HPC", "DISABLE_UNSAFE",
           "DISABLE_UNSAFE_ANNOTATION", "HANDLERS", "HOSTPROCESS", "HOSTPROCESS_ANNOTATION",
           "HPC_IN_UVM", "HYPERV", "INHERIT_USER", "INHERIT_USER_ANNOTATION", "ISOLATIONS",
           "ISOLATION_MODES", "PROCESS", "ROOTFS_LOCATION", "ROOTFS_LOCATION_ANNOTATION",
           "UNVERIFIED", "explain_refusal", "Container", "ContainerStatus", "CriExecTimeout",
           "CriStageError",
           "ExecResult", "Expectations", "HostMount", "HpcHost", "ImageSet", "Pod", "PodFactory",
           "PodStatus", "Refusal", "UnexpectedRefusal", "expect_refusal"]
