"""Windows host operations: facts, features and restarts, services, files.

:class:`WindowsHost` over any transport; its PowerShell work is the named script catalog
in ``harness/windows/scripts`` (:data:`SCRIPTS`), run through the transport's bootstrap.
"""

from harness.windows.catalog import SCRIPTS, SCRIPTS_DIR
from harness.windows.errors import (
    ElevationRequired,
    FeatureInstallError,
    HostScriptError,
    RestartTimeout,
    ServiceError,
    ServiceNotFound,
    ServiceStartError,
    ServiceStateTimeout,
    ServiceStopError,
    WindowsHostError,
)
from harness.windows.facts import HostFacts
from harness.windows.features import FeatureChange
from harness.windows.files import Files, PathInfo
from harness.windows.host import WindowsHost
from harness.windows.restart import RestartResult
from harness.windows.services import ServiceInfo, Services

__all__ = ["SCRIPTS", "SCRIPTS_DIR", "ElevationRequired", "FeatureChange", "FeatureInstallError",
           "Files", "HostFacts", "HostScriptError", "PathInfo", "RestartResult",
           "RestartTimeout", "ServiceError", "ServiceInfo", "ServiceNotFound",
           "ServiceStartError", "ServiceStateTimeout", "ServiceStopError", "Services",
           "WindowsHost", "WindowsHostError"]
