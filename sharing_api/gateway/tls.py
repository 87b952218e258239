"""A gateway's TLS identity: a self-signed certificate whose SHA-256 fingerprint the member
registers on chain, and client contexts that trust exactly the registered certificate.

There is no CA: the chain is the trust anchor. A peer's certificate is fetched once, its
fingerprint compared with the directory's, and the context built to trust that certificate
alone, so every later handshake to the peer fails unless it presents those same bytes.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crypto.files import atomic_output

CERT_DAYS = 825  # what browsers accept for a leaf; renew with `alliance gateway init --renew`


class PinMismatch(ValueError):
    """The peer presented a certificate other than the one registered on chain."""


def fingerprint(cert_der: bytes) -> bytes:
    """SHA-256 of the certificate's DER bytes (what the directory holds)."""
    return hashlib.sha256(cert_der).digest()


def fingerprint_of_file(cert_file: Path) -> bytes:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make_certificate(cert_file: Path, key_file: Path, name: str, hosts: list[str]) -> bytes:
    """Write a new P-256 key (0600) and a self-signed certificate for ``hosts``; returns the
    certificate's fingerprint."""
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64] or "gateway")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        # Its own trust anchor: OpenSSL accepts a pinned self-signed certificate as a root.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    with atomic_output(key_file, mode=0o600) as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with atomic_output(cert_file, mode=0o644) as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"not a gateway URL: {url!r}")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def peer_certificate(url: str, timeout: float) -> bytes:
    """The DER certificate a TLS server presents (not verified: the caller pins it)."""
    host, port = host_port(url)
    probe = ssl.create_default_context()
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        probe.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise PinMismatch(f"{url} presented no certificate")
    return der


def pinned_context(url: str, expected: bytes, timeout: float = 10.0) -> ssl.SSLContext:
    """A client context for ``url`` that trusts only the certificate whose fingerprint is
    ``expected``; PinMismatch if the server presents another one now."""
    der = peer_certificate(url, timeout)
    found = fingerprint(der)
    if found != expected:
        raise PinMismatch(
            f"{url} presented certificate {found.hex()[:16]}..., the directory on chain "
            f"registers {expected.hex()[:16]}...: refusing to talk to it"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False  # the pin is the identity, not the name
    context.load_verify_locations(cadata=der)
    return context
