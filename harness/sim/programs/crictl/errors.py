"""How a crictl invocation ends: the exception classes ``crictl_program`` turns into exit codes.

crictl has several distinct ways to fail (logrus fatal, urfave's exit coder, a Go panic) and
the simulated host adds one of its own (not modelled); each is a class here so the commands
raise them without knowing how they are printed.
"""

from __future__ import annotations


# --- exits -------------------------------------------------------------------------------
class CrictlError(Exception):
    """An error crictl's ``main`` turns into ``logrus.Fatal`` (exit code 1)."""


class ExitCoder(Exception):
    """urfave ``cli.Exit(message, code)``: the message on stderr, then that exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class _Done(Exception):
    """The command finished early with this exit code (help shown, version printed)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class Unmodelled(Exception):
    """A form of crictl the simulated host does not model (fails loudly, exit 1)."""


class GoPanic(Exception):
    """crictl would crash with a Go panic (exit code 2)."""


class RpcError(CrictlError):
    """A gRPC error as the client renders it: ``rpc error: code = X desc = Y``."""

    def __init__(self, code: str, desc: str):
        super().__init__(f"rpc error: code = {code} desc = {desc}")
        self.code = code
        self.desc = desc


def _wrap(prefix: str, exc: CrictlError) -> CrictlError:
    """``fmt.Errorf("<prefix>: %w", err)`` keeping the class (RpcError stays detectable)."""
    new = CrictlError(f"{prefix}: {exc}")
    new.__cause__ = exc
    return new


class AggregateError(CrictlError):
    """The errors of a command that acts on several objects at once (crictl's
    ``AggregateGoroutines``), printed by ``crictl_program`` as the version does.

    Up to v1.35 it is a k8s ``utilerrors.Aggregate``, which has ``Errors()`` and so is a
    urfave/cli v2 ``MultiError``: ``HandleExitCoder`` prints each error with
    ``fmt.Fprintln`` (no logrus) and exits 1 before crictl's ``logrus.Fatal`` is reached
    (urfave/cli v2.27.7 errors.go HandleExitCoder/handleMultiError; cri-tools v1.34.0
    cmd/crictl/{container,exec,image,sandbox}.go; seen with real crictl 1.34.0).  From
    v1.36 it is ``errors.Join`` (cri-tools v1.36.0 cmd/crictl/util.go): one logrus entry
    with the messages joined by newlines.
    """

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


def _raise_aggregate(errors: list[str]) -> None:
    """Raise the command's :class:`AggregateError`, if it has errors."""
    if errors:
        raise AggregateError(errors)
