"""Validated description of one host the harness drives.

A :class:`Target` is what every transport is built from.  It is produced by
:mod:`harness.config.inventory` from a TOML inventory (or by the sim launcher), after
validation, with secrets already resolved into :class:`~harness.config.secrets.Secret`
objects.  Field names here are the inventory's keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.config.secrets import Secret

TransportName = Literal["winrm", "ssh", "local"]
WinRMAuth = Literal["ntlm", "basic", "kerberos", "credssp", "certificate"]
SSHAuth = Literal["key", "agent", "password"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class WinRMOptions(_Strict):
    scheme: Literal["https", "http"] = "https"
    auth: WinRMAuth = "ntlm"
    path: str = "/wsman"
    # TLS: validate against the system store, or against ``ca_bundle``; off only with
    # an explicit ``insecure = true`` (DESIGN.md "Secrets"; issue "Foundation" §4).
    ca_bundle: Path | None = None
    insecure: bool = False
    # Basic over plain HTTP sends the password in the clear: refused unless allowed.
    allow_unencrypted: bool = False
    cert_pem: Path | None = None  # client certificate for auth = "certificate"
    cert_key_pem: Path | None = None
    # How long the server may hold one Receive (w:OperationTimeout); the HTTP read
    # timeout is derived from it (python-protocol-facts.md §1.6).
    operation_timeout: int = Field(default=20, ge=1, le=3600)
    codepage: int = 65001
    # Largest SOAP envelope the server accepts (MaxEnvelopeSizekb × 1024); file chunks
    # are sized against it.  153600 is the Windows default.
    max_envelope_size: int = Field(default=153600, ge=8192)

    @model_validator(mode="after")
    def _check(self) -> WinRMOptions:
        if self.scheme == "http" and self.auth == "basic" and not self.allow_unencrypted:
            raise ValueError(
                "auth = 'basic' over scheme = 'http' sends the password in the clear; "
                "use https, ntlm (encrypted), or set allow_unencrypted = true")
        if self.scheme == "http" and self.auth == "certificate":
            raise ValueError("auth = 'certificate' needs scheme = 'https'")
        if self.auth == "certificate" and not (self.cert_pem and self.cert_key_pem):
            raise ValueError("auth = 'certificate' needs cert_pem and cert_key_pem")
        if self.insecure and self.ca_bundle is not None:
            raise ValueError("give either ca_bundle or insecure = true, not both")
        if not self.path.startswith("/"):
            raise ValueError("path must start with '/'")
        return self


class SSHOptions(_Strict):
    auth: SSHAuth = "key"
    key_file: Path | None = None
    key_passphrase: Secret | None = None
    known_hosts: Path | None = None  # default: ~/.ssh/known_hosts
    # Unknown host keys are refused unless the inventory explicitly accepts them.
    accept_unknown_host_key: bool = False
    connect_timeout: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> SSHOptions:
        if self.auth == "key" and self.key_file is None:
            raise ValueError("auth = 'key' needs key_file (or use auth = 'agent')")
        if self.auth != "key" and self.key_passphrase is not None:
            raise ValueError("key_passphrase only applies to auth = 'key'")
        return self


class RetrySettings(_Strict):
    """The inventory's ``retry`` table: how repeatable operations are retried on this host
    (harness/transport/retry.py).  The defaults suit a real host; a simulated one answers
    in milliseconds and can use a smaller ``base_delay``."""

    attempts: int = Field(default=6, ge=1, le=50)
    base_delay: float = Field(default=0.5, ge=0, le=60)  # seconds; doubled per attempt
    max_delay: float = Field(default=10.0, ge=0, le=600)  # no single pause is longer
    # seconds crictl may find containerd unreachable (restarting) before giving up
    runtime_wait: float = Field(default=60.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _check(self) -> RetrySettings:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must not be smaller than base_delay")
        return self


class Labels(_Strict):
    """Free facts about a host, used for selection and skips."""

    model_config = ConfigDict(extra="allow", frozen=True)
    os_build: int | None = Field(default=None, ge=10240)
    capabilities: tuple[str, ...] = ()
    max_leases: int = Field(default=1, ge=1, le=64)
    group: str | None = None


class Target(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    address: str | None = Field(default=None, min_length=1, max_length=253, pattern=r"^[^\s/@]+$")
    transport: TransportName = "winrm"
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    password: Secret | None = None
    winrm: WinRMOptions = WinRMOptions()
    ssh: SSHOptions | None = None
    labels: Labels = Labels()
    retry: RetrySettings = RetrySettings()
    # Where the inventory came from, for error messages.
    source: str = "<inline>"

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        if self.transport == "ssh":
            return 22
        return 5986 if self.winrm.scheme == "https" else 5985

    @property
    def winrm_url(self) -> str:
        address = self.address or "localhost"
        host = f"[{address}]" if ":" in address else address
        return f"{self.winrm.scheme}://{host}:{self.effective_port}{self.winrm.path}"

    def describe(self) -> str:
        """A one-line, secret-free description for logs and reports."""
        if self.transport == "local":
            return f"{self.name} (local)"
        who = f"{self.user}@" if self.user else ""
        return f"{self.name} ({self.transport}://{who}{self.address}:{self.effective_port})"
