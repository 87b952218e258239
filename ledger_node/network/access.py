"""How a client reaches etcd: TLS (the alliance CA, its own client certificate) and, when
authentication is on, its etcd user's credentials.

etcd maps a certificate's CN to a user only on its gRPC API; on the JSON gateway this
project speaks, with authentication on, it refuses any client certificate that has a CN
(HTTP 400 "CommonName of client sending a request against gateway will be ignored and not
used as expected"). So the certificate (no CN; the node in its UID, ``pki.py``) admits a
client to the cluster at all (``--client-cert-auth``: no alliance certificate, no TLS
connection), and the etcd user it names proves who it is with a password, traded for a
token at ``/v3/auth/authenticate`` and sent in the ``Authorization`` header of every call.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger_node.network.pki import TlsFiles, cert_user

PASSWORD_FILE = "etcd.password"
AUTHENTICATE = "/v3/auth/authenticate"
# etcd's answers when a token is unknown (a member restarted, or a simple token expired on
# the member a client failed over to): authenticate again and retry.
_STALE_TOKEN = ("invalid auth token", "user name is empty", "auth token")


@dataclass(frozen=True)
class EtcdAccess:
    tls: TlsFiles
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_dir(cls, directory: Path) -> EtcdAccess:
        """``ca.crt``, ``tls.crt``, ``tls.key`` and, if present, ``etcd.password`` (the
        user is the one the certificate names)."""
        files = TlsFiles.in_dir(directory)
        files.check()
        pw = directory / PASSWORD_FILE
        if not pw.exists():
            return cls(files)
        return cls(files, cert_user(files.cert), pw.read_text().strip())

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the server against the alliance CA (and its name), presents our cert."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.tls.ca))
        ctx.load_cert_chain(str(self.tls.cert), str(self.tls.key))
        return ctx

    def credentials(self) -> dict[str, Any] | None:
        if self.user is None:
            return None
        return {"name": self.user, "password": self.password or ""}


def stale_token(message: str) -> bool:
    return any(t in message for t in _STALE_TOKEN)


def client_options(access: EtcdAccess | None) -> dict[str, Any]:
    """httpx client keyword arguments: the alliance CA and our certificate, or nothing."""
    return {"verify": access.ssl_context()} if access is not None else {}
