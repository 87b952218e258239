"""Send AuditEvents to a collector as syslog, as IHE ATNA (ITI-20) does: each event one
RFC 5424 message whose MSG is the AuditEvent's JSON (UTF-8 with its BOM), over UDP
(RFC 5426: one message per datagram), TCP (RFC 6587 octet counting) or TLS (RFC 5425:
octet counting over TLS, the transport ATNA requires between machines).
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

BOM = b"\xef\xbb\xbf"
AUTHPRIV, NOTICE = 10, 5  # facility security/authorization, severity notice
MAX_UDP = 65_507  # the largest UDP payload over IPv4
SCHEMES = ("udp", "tcp", "tls")


class SyslogError(ValueError):
    """A collector address or message we cannot use."""


def _field(value: str, limit: int, what: str) -> str:
    """An RFC 5424 header field: printable US-ASCII, no spaces, at most ``limit`` long."""
    if not value or len(value) > limit or any(not 33 <= ord(c) <= 126 for c in value):
        raise SyslogError(f"{what} must be 1-{limit} printable ASCII characters without spaces")
    return value


def rfc5424(
    event: dict[str, Any],
    *,
    hostname: str,
    app_name: str = "alliance",
    msgid: str = "IHE+FHIR",
    procid: str = "-",
) -> bytes:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - BOM JSON``.
    The timestamp is the event's own (``recorded``, when the chain recorded it)."""
    header = " ".join(
        [
            f"<{AUTHPRIV * 8 + NOTICE}>1",
            _field(str(event["recorded"]), 32, "recorded"),
            _field(hostname, 255, "hostname"),
            _field(app_name, 48, "app name"),
            _field(procid, 128, "procid"),
            _field(msgid, 32, "msgid"),
            "-",  # no structured data
        ]
    )
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    return header.encode() + b" " + BOM + body


def parse_collector(url: str) -> tuple[str, str, int]:
    """``udp://host:port`` | ``tcp://host:port`` | ``tls://host:port`` -> (scheme, host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname or parts.path not in ("", "/"):
        raise SyslogError(f"collector {url!r}: give udp://, tcp:// or tls://HOST:PORT")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not port:
        raise SyslogError(f"collector {url!r}: give a port (1-65535)")
    return parts.scheme, parts.hostname, port


def send(
    messages: Iterable[bytes],
    collector: str,
    *,
    ca_file: str | None = None,
    timeout: float = 10.0,
) -> int:
    """Send each message to the collector; returns how many were sent."""
    scheme, host, port = parse_collector(collector)
    items = list(messages)
    if scheme == "udp":
        too_big = [len(m) for m in items if len(m) > MAX_UDP]
        if too_big:
            raise SyslogError(f"a {too_big[0]}-byte message does not fit a UDP datagram: use tcp")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for m in items:
                sock.sendto(m, (host, port))
        return len(items)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        stream: socket.socket = raw
        if scheme == "tls":
            context = ssl.create_default_context(cafile=ca_file)
            stream = context.wrap_socket(raw, server_hostname=host)
        try:
            for m in items:
                stream.sendall(f"{len(m)} ".encode() + m)
        finally:
            if stream is not raw:
                stream.close()
    return len(items)
