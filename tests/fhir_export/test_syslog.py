"""AuditEvents as RFC 5424 syslog to real collectors on 127.0.0.1 (UDP, TCP, TLS)."""

from __future__ import annotations

import json
import re
import ssl
import time
from pathlib import Path

import pytest

from sharing_api.fhir_export.audit_event import access_event
from sharing_api.fhir_export.syslog import BOM, SyslogError, parse_collector, rfc5424, send
from sharing_api.gateway.tls import make_certificate
from tests.fhir_export.collector import collector
from tests.fhir_export.samples import CLINIC, access_row

HEADER = re.compile(rb"^<85>1 (\S+) (\S+) alliance - IHE\+FHIR - ")
EVENTS = [access_event(access_row(b), CLINIC) for b in range(4)]


def wait_for(received: list[bytes], n: int) -> list[bytes]:
    for _ in range(100):
        if len(received) >= n:
            break
        time.sleep(0.05)
    return received


def check(message: bytes, event: dict[str, object]) -> None:
    head = HEADER.match(message)
    assert head is not None, message[:80]
    assert head.group(1).decode() == event["recorded"] and head.group(2) == b"gw-h1"
    body = message[head.end() :]
    assert body.startswith(BOM)
    assert json.loads(body[len(BOM) :]) == event


@pytest.mark.parametrize("scheme", ["udp", "tcp"])
def test_events_reach_a_collector(scheme: str) -> None:
    with collector(scheme) as (url, received):
        assert send([rfc5424(e, hostname="gw-h1") for e in EVENTS], url) == 4
        got = wait_for(received, 4)
    assert len(got) == 4
    by_id = {json.loads(m.split(BOM, 1)[1])["id"]: m for m in got}
    for event in EVENTS:
        check(by_id[event["id"]], event)


def test_tls_collector_with_its_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    make_certificate(cert, key, "collector", ["127.0.0.1"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    with collector("tls", server) as (url, received):
        send([rfc5424(EVENTS[0], hostname="gw-h1")], url, ca_file=str(cert))
        got = wait_for(received, 1)
    assert len(got) == 1
    check(got[0], EVENTS[0])


def test_tls_refuses_an_untrusted_collector(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    make_certificate(cert, key, "collector", ["127.0.0.1"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    with collector("tls", server) as (url, received):
        with pytest.raises(ssl.SSLError):
            send([rfc5424(EVENTS[0], hostname="gw-h1")], url)  # system CAs only
        time.sleep(0.1)
    assert received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:514",
        "udp://127.0.0.1",
        "tcp://:514",
        "tcp://127.0.0.1:99999",
        "udp://h:1/x",
    ],
)
def test_bad_collector_addresses(url: str) -> None:
    with pytest.raises(SyslogError):
        parse_collector(url)


def test_header_fields_are_checked() -> None:
    with pytest.raises(SyslogError, match="hostname"):
        rfc5424(EVENTS[0], hostname="has space")
    with pytest.raises(SyslogError, match="msgid"):
        rfc5424(EVENTS[0], hostname="h", msgid="x" * 33)
