"""A custodian reads its own records without a consent (basis custodian), other members still
need one; GET /members shows each member's gateway from the on-chain directory."""

from __future__ import annotations

import hashlib

import pytest
from eth_account import Account

from sharing_api.sdk import ApiError
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration


def test_custodian_and_its_staff_read_their_own_record_without_consent(cast: Cast) -> None:
    patient = Account.create().address  # no consent of this patient exists anywhere
    sealed = cast.sealed(b"kept by the clinic")
    rid = cast.clinic_doctor.upload(patient, "lab", "c1.role:doctor", sealed)["record_id"]

    for reader in (cast.clinic_doctor, cast.clinic):  # its staff, and the member itself
        data, headers = reader.fetch(rid)
        assert data == sealed
    logged = cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})
    clinic = cast.address("clinic").lower()
    assert [(a["reader"], a["basis"], a["basis_id"], a["purpose"]) for a in logged] == [
        (clinic, "custodian", 0, "treatment")
    ] * 2
    assert logged[-1]["access_id"] == int(headers["x-access-id"])
    # The requested purpose is what is logged.
    _, headers = cast.clinic_doctor.fetch(rid, purpose="research")
    last = cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})[-1]
    assert (last["access_id"], last["purpose"]) == (int(headers["x-access-id"]), "research")
    # Emergency is still break-glass, for the custodian too.
    with pytest.raises(ApiError) as emergency:
        cast.clinic_doctor.fetch(rid, purpose="emergency")
    assert emergency.value.status == 400

    # Another member has no consent: refused, and nothing more is logged.
    for other in (cast.h1_doctor, cast.h3):
        with pytest.raises(ApiError) as refused:
            other.fetch(rid)
        assert refused.value.status == 403
    assert len(cast.regulator.json("GET", "/audit/accesses", params={"record_id": rid})) == 3
    # Auditors see a basis for every one of these reads, from the index and from the chain.
    for source in ("index", "chain"):
        anomalies = cast.regulator.json("GET", "/audit/anomalies", params={"source": source})
        flagged = {a["access_id"] for a in anomalies if a["rule"] == "no-live-basis"}
        assert not flagged & {a["access_id"] for a in logged}, source


def test_members_list_their_gateways(cast: Cast) -> None:
    h3 = cast.address("h3")
    fingerprint = hashlib.sha256(b"h3 gateway certificate").digest()
    signer = cast.api.services.signer(h3)
    signer.registry.set_gateway("https://gw.h3.example:8443", fingerprint)
    members = {m["address"]: m for m in cast.patient.json("GET", "/members")}
    entry = members[h3.lower()]
    assert entry["gateway_url"] == "https://gw.h3.example:8443"
    assert entry["gateway_fingerprint"] == "0x" + fingerprint.hex()
    regulator = members[cast.address("regulator").lower()]
    assert regulator["gateway_url"] is None and regulator["gateway_fingerprint"] is None
    # Moved: the list follows the chain.
    signer.registry.set_gateway("http://127.0.0.1:9", b"\0" * 32)
    entry = {m["address"]: m for m in cast.h1.json("GET", "/members")}[h3.lower()]
    assert (entry["gateway_url"], entry["gateway_fingerprint"]) == (
        "http://127.0.0.1:9",
        "0x" + "00" * 32,
    )
