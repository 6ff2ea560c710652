"""NTLM authentication with WinRM message encryption for the simulated host's HTTP listener.

A lab Windows host is most often reached over plain HTTP with NTLM: the connection is
authenticated by a three-leg handshake and every SOAP body is then sealed in the MS-WSMV
"Encrypted Boundary" multipart framing (docs/behaviour/protocols.md §1.7).  The acceptor side
of NTLM is pyspnego's ``spnego.server(protocol="ntlm")``; this module adds the HTTP
handshake and the framing around it, plugged into :mod:`harness.sim.winrm_server` through
its per-connection :class:`~harness.sim.winrm_server.ConnectionAuth` hooks.

Why the environment variable is touched: pyspnego's NTLM acceptor has no parameter for its
account store; it reads the file named by ``NTLM_USER_FILE`` both when the context is
created and again when the client's AUTHENTICATE message arrives (spnego/_ntlm.py,
``_get_credential_file`` and ``_step_accept_authenticate``, pyspnego 0.12).  Several
simulated hosts, each with its own user file, may run in one process (tests), so the
variable is pointed at this listener's file only for the duration of those two calls, under
one process-wide lock, and restored afterwards.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping
from email.message import Message
from pathlib import Path

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from spnego._ntlm_raw.messages import Authenticate, AvId, NTClientChallengeV2
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from harness.sim import wsman
from harness.sim.password import Revealable, reveal
from harness.sim.winrm_server import (
    SOAP_CONTENT_TYPE,
    Authenticator,
    AuthResult,
    BasicAuthenticator,
    ConnectionAuth,
)

USER_FILE = "ntlm_users"
PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
# docs/behaviour/protocols.md §1.7: the response header a Windows host sends with a sealed body.
ENCRYPTED_CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'
# Windows offers both schemes; requests_ntlm picks NTLM when both are present (§1.7).  One
# header with both values is what the client sees of two headers anyway (RFC 7230 §3.2.2).
CHALLENGE = "Negotiate, NTLM"
_SCHEMES = {"negotiate": "Negotiate", "ntlm": "NTLM"}
_LENGTH = re.compile(rb"Length=(\d+)\s*$")

_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _user_file_env(path: Path) -> Iterator[None]:
    """``NTLM_USER_FILE`` = *path* while the block runs (see the module docstring for why)."""
    with _ENV_LOCK:
        previous = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = str(path)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = previous


def tls_server_end_point(cert_pem: bytes) -> bytes:
    """The ``tls-server-end-point`` channel binding of a server certificate (RFC 5929 §4.1).

    The certificate's DER hashed with its signature's hash algorithm, SHA-256 in place of
    MD5 or SHA-1; what an NTLM client over HTTPS puts in MsvAvChannelBindings (MS-NLMP
    §2.2.2.1) and Windows' HTTP.sys checks (Extended Protection for Authentication).
    """
    cert = x509.load_pem_x509_certificate(cert_pem)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, (hashes.MD5, hashes.SHA1)):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(Encoding.DER))
    return b"tls-server-end-point:" + digest.finalize()


def _sends_channel_bindings(token: bytes) -> bool:
    """Whether an NTLM AUTHENTICATE message carries a non-zero MsvAvChannelBindings.

    pyspnego's acceptor refuses a client without bindings whenever it is given some
    (CbtHardeningLevel Strict); Windows' default lets such a client in, so the bindings are
    only handed to it when the client sent them.  This peeks with pyspnego's own (private)
    message classes, pyspnego 0.12 ``spnego._ntlm_raw.messages``.
    """
    try:
        auth = Authenticate.unpack(token)
        response = auth.nt_challenge_response
        if len(response) <= 24:  # NTLMv1: no AV pairs
            return False
        pairs = NTClientChallengeV2.unpack(response[16:]).av_pairs
    except Exception:  # noqa: BLE001 - not an AUTHENTICATE message: pyspnego will say so
        return False
    value = pairs.get(AvId.channel_bindings)
    return bool(value) and value != b"\0" * 16


def write_user_file(path: Path, users: Mapping[str, str | Revealable],
                    domains: Iterable[str]) -> None:
    """The acceptor's account store, mode 0600, Heimdal ``DOMAIN:USER:PASSWORD`` lines.

    pyspnego matches the client's domain and user exactly (case-insensitively), so a local
    account is listed once per spelling a client may use for it: no domain, ``.`` and the
    machine name (spnego/_ntlm.py ``_get_credential``).
    """
    lines = []
    for user, password in users.items():
        pw = reveal(password)
        for text, what in ((user, "user name"), (pw, "password")):
            if any(c in text for c in ":\r\n"):
                raise ValueError(f"the NTLM listener's account store cannot hold a {what} "
                                 "containing ':' or a line break; choose another")
        for domain in dict.fromkeys(domains):
            lines.append(f"{domain}:{user}:{pw}")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class NtlmAuthenticator(Authenticator):
    """NTLM per connection, then message encryption on every body (AllowUnencrypted=false).

    Over HTTPS (``channel_binding`` given: the listener's ``tls-server-end-point``) bodies
    may travel in the clear inside TLS, as pywinrm sends them there, and the client's
    channel bindings are checked as Windows does by default (CbtHardeningLevel Relaxed:
    wrong bindings are refused, a client that sends none is let in; ``winrm get
    winrm/config/service``).  ``basic`` (an authenticator) additionally accepts HTTP Basic,
    which a stock host only does after ``winrm set winrm/config/service/auth
    @{Basic="true"}``.

    ``content_types`` lists the Content-Type of every non-empty request body received, so a
    test can check what really travelled on the wire.
    """

    def __init__(self, users: Mapping[str, str | Revealable], user_file: str | os.PathLike[str], *,
                 machine_name: str = "localhost", channel_binding: bytes | None = None,
                 basic: BasicAuthenticator | None = None):
        self.channel_binding = channel_binding
        self.basic = basic
        self.challenge = CHALLENGE + (f", {BasicAuthenticator.CHALLENGE}" if basic else "")
        if not users:
            raise ValueError("NtlmAuthenticator needs at least one account")
        self.user_file = Path(user_file)
        self._canonical = {name.casefold(): name for name in users}
        write_user_file(self.user_file, users, ("", ".", machine_name))
        self._lock = threading.Lock()
        self._content_types: list[str] = []

    @property
    def content_types(self) -> list[str]:
        with self._lock:
            return list(self._content_types)

    def _seen(self, content_type: str) -> None:
        with self._lock:
            self._content_types.append(content_type)

    def canonical_user(self, principal: str | None) -> str | None:
        """The machine's spelling of an authenticated ``[DOMAIN\\]user``."""
        if not principal:
            return None
        return self._canonical.get(principal.rpartition("\\")[2].casefold())

    def new_context(self) -> spnego.ContextProxy:
        with _user_file_env(self.user_file):
            return spnego.server(protocol="ntlm")

    def step(self, ctx: spnego.ContextProxy, token: bytes) -> bytes | None:
        bindings = None
        if self.channel_binding is not None and _sends_channel_bindings(token):
            bindings = GssChannelBindings(application_data=self.channel_binding)
        with _user_file_env(self.user_file):
            return ctx.step(token, channel_bindings=bindings)

    def for_connection(self) -> ConnectionAuth:
        return _NtlmConnection(self)


def _challenge(extra: str | None = None, offer: str = CHALLENGE
               ) -> tuple[int, dict[str, str], bytes]:
    return 401, {"WWW-Authenticate": extra or offer}, b""


class _NtlmConnection(ConnectionAuth):
    def __init__(self, owner: NtlmAuthenticator):
        self._owner = owner
        self._ctx: spnego.ContextProxy | None = None
        self._user: str | None = None
        self._encrypt_reply = False

    def authenticate(self, headers: Message, body: bytes) -> AuthResult:
        if body:
            self._owner._seen(headers.get("Content-Type") or "")
        header = (headers.get("Authorization") or "").strip()
        scheme, _, token = header.partition(" ")
        offer = self._owner.challenge
        if scheme.lower() == "basic" and self._owner.basic is not None:
            user = self._owner.basic.check(header)
            return AuthResult(user=user) if user else AuthResult(response=_challenge(None, offer))
        scheme = _SCHEMES.get(scheme.lower(), "")
        if not scheme:
            if self._user is not None and not header:
                return AuthResult(user=self._user)  # the connection is authenticated
            # No credentials, or Basic while it is off: this listener speaks NTLM.
            self._reset()
            return AuthResult(response=_challenge(None, offer))
        try:
            raw = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            self._reset()
            return AuthResult(response=_challenge(None, offer))
        if self._user is not None or self._ctx is None:
            self._reset()  # a new handshake on this connection starts over
            self._ctx = self._owner.new_context()
        try:
            out = self._owner.step(self._ctx, raw)
        except SpnegoError:  # malformed token, wrong password or wrong channel bindings
            self._reset()
            return AuthResult(response=_challenge(None, offer))
        if not self._ctx.complete:
            return AuthResult(response=_challenge(
                f"{scheme} {base64.b64encode(out or b'').decode()}"))
        user = self._owner.canonical_user(self._ctx.client_principal)
        if user is None:  # in the store but not an account of this machine
            self._reset()
            return AuthResult(response=_challenge(None, offer))
        self._user = user
        if not body:
            # The empty POST that message encryption sends to authenticate (§1.7).
            return AuthResult(response=(200, {}, b""))
        return AuthResult(user=user)

    def _reset(self) -> None:
        self._ctx = None
        self._user = None
        self._encrypt_reply = False

    def unwrap(self, headers: Message, body: bytes) -> bytes:
        ctype = headers.get("Content-Type") or ""
        self._encrypt_reply = False
        if self._owner.channel_binding is not None and (
                self._ctx is None or ctype.lower().startswith("application/soap+xml")):
            # Over HTTPS TLS protects the body: clear SOAP (or Basic) is fine.
            return super().unwrap(headers, body)
        if not ctype.lower().startswith("multipart/encrypted") \
                or f'protocol="{PROTOCOL.lower()}"' not in ctype.lower():
            # A Windows listener with AllowUnencrypted=false refuses a clear body.
            raise wsman.malformed(f"Content-Type {ctype!r}: this NTLM listener accepts only "
                                  f"message-encrypted bodies (multipart/encrypted, {PROTOCOL})")
        assert self._ctx is not None
        header, sealed, length = _split_encrypted(body)
        try:
            plain = self._ctx.unwrap_winrm(header, sealed)
        except SpnegoError as exc:
            raise wsman.malformed(f"the encrypted body does not verify: {exc}") from None
        if len(plain) != length:
            raise wsman.malformed(f"the encrypted body holds {len(plain)} bytes, its "
                                  f"OriginalContent says Length={length}")
        self._encrypt_reply = True
        return plain

    def wrap(self, body: bytes) -> tuple[str, bytes]:
        if not self._encrypt_reply or self._ctx is None:
            return SOAP_CONTENT_TYPE, body
        res = self._ctx.wrap_winrm(body)
        return ENCRYPTED_CONTENT_TYPE, _frame(body, res.header, res.data)


def _frame(plain: bytes, header: bytes, sealed: bytes) -> bytes:
    """The MS-WSMV single-part framing (docs/behaviour/protocols.md §1.7)."""
    return (BOUNDARY + b"\r\n\tContent-Type: " + PROTOCOL.encode() + b"\r\n"
            b"\tOriginalContent: type=" + SOAP_CONTENT_TYPE.encode()
            + b";Length=" + str(len(plain)).encode() + b"\r\n"
            + BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<i", len(header)) + header + sealed + BOUNDARY + b"--\r\n")


def _split_encrypted(body: bytes) -> tuple[bytes, bytes, int]:
    """(signature, sealed bytes, plain length) of one framed body; 400 fault if malformed."""
    first = BOUNDARY + b"\r\n"
    end = BOUNDARY + b"--\r\n"
    if not body.startswith(first) or not body.endswith(end):
        raise wsman.malformed("the encrypted body is not framed by '--Encrypted Boundary' "
                              "(a multipart/x-multi-encrypted body is not supported)")
    meta, sep, rest = body[len(first):-len(end)].partition(first)
    if not sep:
        raise wsman.malformed("the encrypted body has no second part")
    lines = [ln.strip() for ln in meta.split(b"\r\n") if ln.strip()]
    if b"Content-Type: " + PROTOCOL.encode() not in lines:
        raise wsman.malformed(f"the encrypted body's first part is not {PROTOCOL}")
    original = next((ln for ln in lines if ln.startswith(b"OriginalContent:")), b"")
    m = _LENGTH.search(original)
    if m is None:
        raise wsman.malformed("the encrypted body's OriginalContent has no Length")
    octet = b"\tContent-Type: application/octet-stream\r\n"
    if not rest.startswith(octet):
        raise wsman.malformed("the encrypted body's second part is not application/octet-stream")
    payload = rest[len(octet):]
    if len(payload) < 4:
        raise wsman.malformed("the encrypted body is truncated")
    (sig_len,) = struct.unpack("<i", payload[:4])
    if sig_len != 16 or len(payload) < 4 + sig_len:
        raise wsman.malformed(f"the encrypted body's signature length {sig_len} is not 16")
    return payload[4:4 + sig_len], payload[4 + sig_len:], int(m.group(1))
