"""The alliance CA and the certificates of etcd members and ledger nodes (``cryptography``).

One CA per network signs: per etcd member a server and a peer certificate (SAN 127.0.0.1
and localhost, or the hosts given), and per ledger node a client certificate naming the node
(the etcd user it acts as) in its subject's UID, not its CN: with client certificates,
authentication and the JSON gateway all on, etcd 3.4 answers HTTP 400 to any client
certificate that has a CN (it could not map it to a user through the gateway), so the user
proves itself with a password instead (``access.py``). Keys are ECDSA P-256; every file is
written 0600. ``alliance network cert ...`` exposes the same calls for multi-host set-ups.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
CERT = "tls.crt"
KEY = "tls.key"
PEER_STEM = "peer"  # an etcd member's peer certificate: peer.crt, peer.key
PEER_CN = "etcd-peer"  # members accept peers with this CN only (--peer-cert-allowed-cn)
DEFAULT_DAYS = 825  # the longest validity common TLS clients accept for leaf certificates
CA_DAYS = 3650
LOCAL_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """What a client (or server) needs: the CA to trust, and its own certificate and key."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def in_dir(cls, directory: Path, ca: Path | None = None) -> TlsFiles:
        return cls(ca or directory / CA_CERT, directory / CERT, directory / KEY)

    def check(self) -> None:
        for path in (self.ca, self.cert, self.key):
            if not path.is_file():
                raise FileNotFoundError(f"TLS file missing: {path}")


def _write_private(path: Path, data: bytes) -> None:
    """Create the file 0600 from the start (no window where it is world-readable)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(0o600)


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    _write_private(path, cert.public_bytes(serialization.Encoding.PEM))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(name: str, client: bool = False) -> x509.Name:
    """O=AllianceLedger plus CN=name, or for a client UID=name (no CN: see above)."""
    oid = NameOID.USER_ID if client else NameOID.COMMON_NAME
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AllianceLedger"),
            x509.NameAttribute(oid, name),
        ]
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def create_ca(ca_dir: Path, name: str = "alliance") -> Path:
    """A self-signed CA (``ca.crt``, ``ca.key``) in ``ca_dir``; refuses to overwrite one."""
    if (ca_dir / CA_KEY).exists():
        raise ValueError(f"{ca_dir} already holds a CA key")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"{name} CA")
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write_private(ca_dir / CA_KEY, _key_pem(key))
    _write_cert(ca_dir / CA_CERT, cert)
    return ca_dir / CA_CERT


def _load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate((ca_dir / CA_CERT).read_bytes())
    key = serialization.load_pem_private_key((ca_dir / CA_KEY).read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_dir / CA_KEY}: not an EC key")
    return cert, key


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def issue(
    ca_dir: Path,
    cn: str,
    out_dir: Path,
    server: bool = False,
    hosts: list[str] | None = None,
    days: int = DEFAULT_DAYS,
    stem: str = "tls",
) -> TlsFiles:
    """A key and certificate signed by the CA in ``ca_dir``, written to ``out_dir`` as
    ``<stem>.crt``/``<stem>.key`` (with a copy of the CA certificate). ``server``: CN ``cn``,
    also valid as a TLS server (an etcd member's client port, or its peer port, where it is
    both server and client) for ``hosts``; otherwise a client certificate for user ``cn``."""
    if not cn or not cn.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"bad certificate name {cn!r} (letters, digits, - and _ only)")
    ca_cert, ca_key = _load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, client=not server))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if server:
        builder = builder.add_extension(_san(hosts or list(LOCAL_HOSTS)), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    files = TlsFiles(out_dir / CA_CERT, out_dir / f"{stem}.crt", out_dir / f"{stem}.key")
    _write_private(files.key, _key_pem(key))
    _write_cert(files.cert, cert)
    _write_cert(files.ca, ca_cert)
    return files


def cert_user(cert_file: Path) -> str:
    """The user a client certificate names (its UID)."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    uids = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
    if not uids:
        raise ValueError(f"{cert_file}: not a client certificate of this alliance (no UID)")
    return str(uids[0].value)
