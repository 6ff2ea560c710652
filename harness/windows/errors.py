"""Errors of host operations: each says what failed on which host and what to do about it.

They are :class:`~harness.errors.HarnessError` subclasses, never ``AssertionError``: a host
that cannot be provisioned is a broken setup, not a product failure.
"""

from __future__ import annotations

from harness.errors import EXIT_CONFIG, EXIT_TIMEOUT, HarnessError, RemoteCommandError

ELEVATION_HINT = ("connect as a member of the host's Administrators group with an elevated "
                  "token; for a local account other than the built-in Administrator, remote "
                  "logons are filtered unless LocalAccountTokenFilterPolicy = 1 "
                  "(HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System)")


class WindowsHostError(HarnessError):
    """A host operation failed; the message names the host and the operation."""


class HostScriptError(RemoteCommandError, WindowsHostError):
    """A catalog script failed; ``text`` is its error message, ``result`` the command record."""

    def __init__(self, result, message: str, *, text: str = "", hint: str | None = None):
        HarnessError.__init__(self, message, hint=hint)
        self.result = result
        self.text = text


class ElevationRequired(WindowsHostError):
    """The remote user is not an elevated administrator, and the operation needs one."""

    exit_code = EXIT_CONFIG

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message, hint=hint or ELEVATION_HINT)


class FeatureInstallError(WindowsHostError):
    """Windows refused to install a feature, or it is still not installed after a restart."""


class RestartTimeout(WindowsHostError):
    """The host did not come back from a restart within the bound."""

    exit_code = EXIT_TIMEOUT


class ServiceError(WindowsHostError):
    """A service operation failed; ``info`` is the service's state afterwards, if known."""

    def __init__(self, message: str, *, info=None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.info = info


class ServiceNotFound(ServiceError):
    """No service of that name is installed on the host."""


class ServiceStartError(ServiceError):
    """A service did not reach Running: it stopped, or was refused; see state and exit code."""


class ServiceStopError(ServiceError):
    """A service did not reach Stopped."""


class ServiceStateTimeout(ServiceError):
    """A service was still changing state (pending) when the bound expired."""

    exit_code = EXIT_TIMEOUT


__all__ = ["ElevationRequired", "FeatureInstallError", "HostScriptError", "RestartTimeout", "ServiceError",
           "ServiceNotFound", "ServiceStartError", "ServiceStateTimeout", "ServiceStopError",
           "WindowsHostError"]
