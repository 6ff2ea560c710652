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


def _raise_aggregate(errors: list[str]) -> None:
    """k8s ``utilerrors.Aggregate``: one error as itself, several as ``[a, b]``."""
    if len(errors) == 1:
        raise CrictlError(errors[0])
    if errors:
        raise CrictlError("[" + ", ".join(errors) + "]")
