"""Certificates for the simulated host's HTTPS listener.

A real WinRM HTTPS listener presents a certificate the client must trust
(docs/behaviour/ecosystem.md §4.5: a self-signed certificate bound to the 5986 listener).  Clients
of the simulator pin a CA bundle instead of disabling verification, so the harness's
certificate-validation path is exercised exactly as against a lab host
(docs/behaviour/protocols.md §1.7 ``server_cert_validation``/``ca_trust_path``).

The files are kept in the state directory and reused while they are valid, so a CA bundle
handed to a client survives ``sim serve`` restarts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server.key"

# Renew when less than this much validity is left, so a long-running serve never expires.
_MIN_REMAINING = dt.timedelta(days=7)
_VALIDITY = dt.timedelta(days=825)
_SERVER_NAMES = ("localhost",)
_SERVER_IPS = ("127.0.0.1",)


@dataclass(frozen=True)
class TLSFiles:
    ca_bundle: Path  # what clients pin (ca_trust_path / REQUESTS_CA_BUNDLE)
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


def ensure_certificates(directory: str | os.PathLike[str]) -> TLSFiles:
    """Return usable CA and server files in ``directory``, creating them if needed."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(d / CA_FILE, d / CERT_FILE, d / KEY_FILE)
    if _still_valid(files):
        return files
    _generate(d, files)
    return files


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _still_valid(files: TLSFiles) -> bool:
    """True if the existing files form a chain that covers our names for a while yet."""
    try:
        ca = x509.load_pem_x509_certificate(files.ca_bundle.read_bytes())
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    horizon = _now() + _MIN_REMAINING
    for c in (ca, cert):
        if c.not_valid_after_utc < horizon or c.not_valid_before_utc > _now():
            return False
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        return False
    try:
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    names = set(san.get_values_for_type(x509.DNSName))
    ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    return set(_SERVER_NAMES) <= names and set(_SERVER_IPS) <= ips


def _write(path: Path, data: bytes, private: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _generate(d: Path, files: TLSFiles) -> None:
    now = _now() - dt.timedelta(minutes=5)  # tolerate small clock differences
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hpc-e2e simulated host CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName(n) for n in _SERVER_NAMES] + \
          [x509.IPAddress(ipaddress.ip_address(i)) for i in _SERVER_IPS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                     key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, data_encipherment=False,
                                     key_agreement=True, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    nokey = serialization.NoEncryption()
    pkcs8 = serialization.PrivateFormat.PKCS8
    # The CA key is thrown away: nothing is ever signed by it again, so it cannot leak.
    _write(files.key, key.private_bytes(pem, pkcs8, nokey), private=True)
    _write(files.cert, cert.public_bytes(pem), private=False)
    _write(files.ca_bundle, ca.public_bytes(pem), private=False)
