"""Validated description of one host the harness drives.

A :class:`Target` is what every transport is built from.  It is produced by
:mod:`harness.config.inventory` from a TOML inventory (or by the sim launcher), after
validation, with secrets already resolved into :class:`~harness.config.secrets.Secret`
objects.  Field names here are the inventory's keys.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator,
                      model_validator)

from harness.config.secrets import Secret

# Numbers are typed: TOML's true is not a port, 1e11 is not an envelope size (pydantic's
# lax mode would make them 1 and 100000000000).  Floats accept integers, never booleans.
Int = StrictInt
Seconds = Annotated[float, Field(allow_inf_nan=False)]
# The largest SOAP envelope a Windows host accepts by default: MaxEnvelopeSizekb = 500
# (Microsoft Learn, "Installation and configuration for Windows Remote Management",
# MaxEnvelopeSizekb).  A larger size needs the host's setting raised first.
MAX_ENVELOPE_SIZE = 500 * 1024
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
_PORT_SUFFIX = re.compile(r":(\d{1,5})\Z")


def check_address(value: str) -> str:
    """A host name, an IPv4 address or an IPv6 address (with or without brackets, which
    are dropped); ValueError saying what is wrong otherwise."""
    bad = next((c for c in value if unicodedata.category(c)[0] in "CZ"), None)
    if bad is not None:
        name = unicodedata.name(bad, "")
        raise ValueError(f"contains an invisible or space character U+{ord(bad):04X}"
                         + (f" ({name})" if name else "") + "; retype the address")
    if "@" in value or "/" in value:
        raise ValueError("must be a host name or IP address alone (no user@, no URL, "
                         "no path)")
    if value.startswith("["):
        inner, sep, rest = value[1:].partition("]")
        if not sep:
            raise ValueError("has '[' without ']'")
        if rest:
            raise ValueError(f"holds {rest!r} after the IPv6 address; a port goes in port")
        try:
            return str(ipaddress.IPv6Address(inner))
        except ValueError:
            raise ValueError(f"[{inner}] is not an IPv6 address") from None
    if ":" in value:
        try:
            return str(ipaddress.IPv6Address(value))
        except ValueError:
            m = _PORT_SUFFIX.search(value)
            if m and value.count(":") == 1:
                raise ValueError(f"holds a port (:{m.group(1)}); write the host alone and "
                                 f"port = {int(m.group(1))}") from None
            raise ValueError("is not an IPv6 address, and a host name has no ':'") from None
    if re.fullmatch(r"[0-9.]+", value):
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise ValueError("is not an IPv4 address") from None
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("holds non-ASCII letters; write an internationalised name in its "
                         "xn-- (punycode) form") from None
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253:
        raise ValueError(f"is {len(name)} characters; a host name has at most 253")
    for label in name.split("."):
        if not label:
            raise ValueError("has an empty label (two dots in a row, or a leading dot)")
        if len(label) > 63:
            raise ValueError(f"has a label of {len(label)} characters ({label[:12]}...); "
                             "a DNS label has at most 63")
        if not _LABEL.match(label):
            raise ValueError(f"label {label!r} may hold letters, digits and inner hyphens "
                             "only")
    return value

TransportName = Literal["winrm", "ssh", "local"]
WinRMAuth = Literal["ntlm", "basic", "kerberos", "credssp", "certificate"]
SSHAuth = Literal["key", "agent", "password"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        """true/false only where a field is a boolean (pydantic would make true a 1.0)."""
        if isinstance(data, dict):
            for key, value in data.items():
                info = cls.model_fields.get(key)
                if isinstance(value, bool) and info is not None and \
                        info.annotation in (float, Seconds, float | None):
                    raise ValueError(f"{key}: must be a number of seconds, not {value!r}")
        return data


class WinRMOptions(_Strict):
    scheme: Literal["https", "http"] = "https"
    auth: WinRMAuth = "ntlm"
    path: str = "/wsman"
    # TLS: validate against the system store, or against ``ca_bundle``; off only with
    # an explicit ``insecure = true`` (README.md "Describing real hosts: the inventory"; issue "Foundation" §4).
    ca_bundle: Path | None = None
    insecure: bool = False
    # Basic over plain HTTP sends the password in the clear: refused unless allowed.
    allow_unencrypted: bool = False
    cert_pem: Path | None = None  # client certificate for auth = "certificate"
    cert_key_pem: Path | None = None
    # How long the server may hold one Receive (w:OperationTimeout); the HTTP read
    # timeout is derived from it (docs/behaviour/protocols.md §1.6).
    operation_timeout: Int = Field(default=20, ge=1, le=3600)
    codepage: Int = Field(default=65001, ge=1, le=65535)
    # Largest SOAP envelope the server accepts (MaxEnvelopeSizekb × 1024); file chunks
    # are sized against it.  153600 is the Windows default.
    max_envelope_size: Int = Field(default=153600, ge=8192, le=MAX_ENVELOPE_SIZE)

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
    connect_timeout: float = Field(default=15.0, gt=0, le=3600, allow_inf_nan=False)

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

    attempts: Int = Field(default=6, ge=1, le=50)
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
    os_build: Int | None = Field(default=None, ge=10240, le=99999)
    capabilities: tuple[str, ...] = ()
    max_leases: Int = Field(default=1, ge=1, le=64)
    group: str | None = None


class Target(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    address: str | None = Field(default=None, min_length=1, max_length=255)
    transport: TransportName = "winrm"
    port: Int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    password: Secret | None = None
    winrm: WinRMOptions = WinRMOptions()
    ssh: SSHOptions | None = None
    labels: Labels = Labels()
    retry: RetrySettings = RetrySettings()
    # Whether provisioning may restart this host.  false for a host that must not go down
    # under the harness: a CI runner driving itself (transport = "local") would lose the job.
    # Provisioning then works with the features the host has and says what a restart would add.
    allow_restart: StrictBool = True  # "no" is not false
    # Where the inventory came from, for error messages.
    source: str = "<inline>"

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)

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
