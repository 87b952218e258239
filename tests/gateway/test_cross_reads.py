"""Reads across institutions: a doctor asks their own gateway, which logs the access on chain
and fetches the ciphertext from the custodian's gateway; the custodian serves only against a
fresh, unused access logged by that reader for that record."""

from __future__ import annotations

import secrets
import sqlite3

import httpx
import pytest
from eth_account import Account

from sharing_api.chain import Alliance, ChainClient, Deployment
from sharing_api.gateway.fetch_auth import HEADER_EXPIRES, sign_fetch
from sharing_api.sdk import ApiError, DownloadInterrupted, SharingClient
from tests.gateway.conftest import Gateways

pytestmark = pytest.mark.integration
POLICY = "h1.role:doctor or c1.role:doctor"


def _publish(g: Gateways, payload: bytes, patient: str | None = None) -> tuple[int, bytes]:
    clinic_doctor = g.member("clinic").staff_client("dr-zhao", "doctor", ["dept:gp"])
    params = [clinic_doctor.authority_params(a) for a in ("c1", "h1")]
    sealed = SharingClient.seal(payload, POLICY, params)
    rec = clinic_doctor.upload(patient or g.patient.address, "summary", POLICY, sealed)
    return int(rec["record_id"]), sealed


def _consent(g: Gateways) -> None:
    wallet = g.client(g.h1, g.patient.key)
    wallet.grant_consent(
        g.patient.key,
        grantee=g.alliance.address("h1"),
        categories=["summary"],
        purposes=["treatment"],
    )


def _served(g: Gateways) -> list[int]:
    with sqlite3.connect(g.cloud.directory / "index.sqlite3") as db:
        return [row[0] for row in db.execute("SELECT access_id FROM served_accesses")]


def _custodian_get(g: Gateways, record_id: int, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(
        f"{g.cloud.url}/gateway/records/{record_id}/ciphertext",
        headers=headers,
        verify=g.cloud.verify,
        timeout=30,
    )


def test_cross_gateway_read_needs_consent_and_is_served_by_the_custodian(g: Gateways) -> None:
    record_id, sealed = _publish(g, b'{"resourceType": "Bundle", "type": "document"}')
    doctor = g.member("h1").staff_client("dr-chen", "doctor", ["dept:cardiology"])
    before = _served(g)
    with pytest.raises(ApiError) as refused:
        doctor.fetch(record_id)
    assert refused.value.status == 403
    assert _served(g) == before  # refused at the reader's gateway: the custodian saw nothing

    _consent(g)
    data, headers = doctor.fetch(record_id)
    assert data == sealed
    assert SharingClient.open(data, doctor.issue_my_key()) == (
        b'{"resourceType": "Bundle", "type": "document"}'
    )
    access_id = int(headers["x-access-id"])
    assert access_id in _served(g)
    # The access is the reader's, logged by the reader (never by the custodian).
    regulator = g.client(g.h1, g.alliance.keys["regulator"])
    logged = [a for a in regulator.json("GET", "/audit/accesses") if a["access_id"] == access_id]
    assert logged and logged[0]["reader"] == g.alliance.address("h1").lower()
    assert logged[0]["basis"] == "consent"


def test_custodian_refuses_without_a_matching_fresh_unused_access(g: Gateways) -> None:
    record_id, _ = _publish(g, b'{"resourceType": "Bundle"}')
    h1_key = bytes.fromhex(g.alliance.keys["h1"][2:])
    clinic = g.alliance.address("clinic")

    # No access logged at all.
    nothing = _custodian_get(g, record_id, sign_fetch(h1_key, clinic, record_id, 10**9))
    assert nothing.status_code == 403, nothing.text
    assert "no access" in nothing.json()["detail"]

    _consent(g)
    doctor = g.member("h1").staff_client("dr-chen", "doctor", ["dept:cardiology"])
    _, headers = doctor.fetch(record_id)
    used = int(headers["x-access-id"])

    # Signed for a custodian the record does not have (h3, hosted on the same gateway).
    wrong = sign_fetch(h1_key, g.alliance.address("h3"), record_id, used)
    assert _custodian_get(g, record_id, wrong).status_code == 404
    # Unsigned: refused before anything is looked up.
    assert _custodian_get(g, record_id, {}).status_code == 401

    # The same access again, freshly signed by its own reader: single use.
    replay = _custodian_get(g, record_id, sign_fetch(h1_key, clinic, record_id, used))
    assert replay.status_code == 409, replay.text

    # Another member presenting h1's access: the chain holds no such access for it.
    h3_key = bytes.fromhex(g.alliance.keys["h3"][2:])
    other = _custodian_get(g, record_id, sign_fetch(h3_key, clinic, record_id, used))
    assert other.status_code == 403, other.text

    # A key that is no member at all.
    stranger = _custodian_get(
        g, record_id, sign_fetch(secrets.token_bytes(32), clinic, record_id, used)
    )
    assert stranger.status_code == 403 and "not a member" in stranger.json()["detail"]

    # A signature that does not match the headers, and an expired request.
    forged = sign_fetch(h1_key, clinic, record_id, used)
    forged["X-Alliance-Access"] = str(used + 1)
    assert _custodian_get(g, record_id, forged).status_code == 401
    expired = sign_fetch(h1_key, clinic, record_id, used, lifetime_s=-1)
    assert _custodian_get(g, record_id, expired).status_code == 401
    too_long = sign_fetch(h1_key, clinic, record_id, used, lifetime_s=3600)
    assert _custodian_get(g, record_id, too_long).status_code == 401
    assert HEADER_EXPIRES in too_long


def test_custodian_reads_its_own_record_on_a_custodian_basis(g: Gateways) -> None:
    record_id, sealed = _publish(
        g, b'{"resourceType": "Bundle", "id": "own"}', Account.create().address
    )
    clinic_doctor = g.member("clinic").staff_client("dr-zhao", "doctor", ["dept:gp"])
    data, headers = clinic_doctor.fetch(record_id)
    assert data == sealed
    regulator = g.client(g.cloud, g.alliance.keys["regulator"])
    access = int(headers["x-access-id"])
    logged = [a for a in regulator.json("GET", "/audit/accesses") if a["access_id"] == access]
    assert logged[0]["basis"] == "custodian"
    assert logged[0]["reader"] == g.alliance.address("clinic").lower()


def test_a_wrong_tls_fingerprint_on_chain_is_refused(g: Gateways) -> None:
    record_id, _ = _publish(g, b'{"resourceType": "Bundle", "id": "pin"}')
    _consent(g)
    deployment = Deployment.load(g.alliance.root / "deployment.json")
    clinic = Alliance(ChainClient(g.alliance.chain_url, g.alliance.keys["clinic"]), deployment)
    good = clinic.registry.gateway_of(clinic.client.address)
    assert good is not None
    clinic.registry.set_gateway(good.url, secrets.token_bytes(32))
    try:
        doctor = g.member("h1").staff_client("dr-chen", "doctor", ["dept:cardiology"])
        import time

        time.sleep(0.3)  # past the h1 gateway's directory cache (0.2 s in these tests)
        with pytest.raises(ApiError) as refused:
            doctor.fetch(record_id)
        assert refused.value.status == 502
        assert "presented certificate" in refused.value.problem["detail"]
    finally:
        clinic.registry.set_gateway(good.url, good.fingerprint)


@pytest.fixture
def g(gateways: Gateways) -> Gateways:
    return gateways


def test_a_restarted_gateway_resumes_its_index(g: Gateways) -> None:
    g.h1.stop()
    try:
        record_id, _ = _publish(g, b'{"resourceType": "Bundle", "id": "while-down"}')
    finally:
        g.h1.start()
    regulator = g.client(g.h1, g.alliance.keys["regulator"])
    ids = [r["record_id"] for r in regulator.json("GET", "/records")]
    assert record_id in ids and ids.count(record_id) == 1
    # Nothing indexed twice: every record once, in order.
    assert sorted(set(ids)) == sorted(ids)


def test_custodian_stopped_mid_stream_gives_one_clear_error(g: Gateways) -> None:
    payload = secrets.token_bytes(24 * 1024 * 1024)  # streams in many chunks
    record_id, _ = _publish(g, payload)
    _consent(g)
    doctor = g.member("h1").staff_client("dr-chen", "doctor", ["dept:cardiology"])
    try:
        with pytest.raises(DownloadInterrupted) as broke, doctor.download(record_id) as download:
            assert next(download.chunks)
            g.cloud.stop()  # SIGTERM then SIGKILL to the custodian's whole process group
            for _ in download.chunks:
                pass
        assert "broke off" in str(broke.value)
        # And a read while the custodian is down: one problem, logged access named.
        with pytest.raises(ApiError) as down:
            doctor.fetch(record_id)
        assert down.value.status == 502
        assert "cannot reach" in down.value.problem["detail"]
    finally:
        g.cloud.start()
