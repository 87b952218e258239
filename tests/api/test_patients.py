"""The patient-facing routes: /members (names for the wallet) and /patients/me/{records,
accesses}: a patient sees every access to their own records (who, when, on what basis, for
what) and nobody else's."""

from __future__ import annotations

import time

import pytest

from sharing_api.sdk import ApiError, SharingClient
from tests.api.conftest import Cast, known_patient

pytestmark = pytest.mark.integration


def test_members_have_names_and_roles(cast: Cast) -> None:
    members = {m["address"]: m for m in cast.patient.json("GET", "/members")}
    h1 = members[cast.address("h1").lower()]
    assert h1["name"] == "City Third People's Hospital"
    assert set(h1["roles"]) == {"hospital", "tertiary", "attribute-authority"} and h1["active"]
    assert members[cast.address("regulator").lower()]["roles"] == ["regulator"]
    assert len(members) == 4


def test_patient_sees_accesses_to_own_records_only(cast: Cast) -> None:
    patient = known_patient(cast)
    other = known_patient(cast)
    with SharingClient(cast.api.url) as me, SharingClient(cast.api.url) as stranger:
        me.login(patient.key)
        stranger.login(other.key)
        sealed = cast.clinic.seal(b"lab", "h1.role:doctor", [cast.h1.authority_params("h1")])
        before = int(time.time())
        rid = cast.clinic.upload(patient.address, "lab", "h1.role:doctor", sealed)["record_id"]

        mine = me.json("GET", "/patients/me/records")
        assert [r["record_id"] for r in mine] == [rid]
        assert mine[0]["custodian_name"] == "Xinqiao Community Clinic"
        assert mine[0]["category"] == "lab"
        assert before - 5 <= mine[0]["timestamp"] <= time.time() + 5
        assert me.json("GET", "/patients/me/accesses") == []

        consent = me.grant_consent(
            patient.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
        )
        _, headers = cast.h1_doctor.fetch(rid)
        (access,) = me.json("GET", "/patients/me/accesses")
        assert access["access_id"] == int(headers["x-access-id"])
        assert access["record_id"] == rid and access["category"] == "lab"
        assert access["reader"] == cast.address("h1").lower()
        assert access["reader_name"] == "City Third People's Hospital"
        assert access["basis"] == "consent" and access["basis_id"] == consent["consent_id"]
        assert access["purpose"] == "treatment"
        assert before - 5 <= access["timestamp"] <= time.time() + 5

        # Another patient sees none of it; members and the regulator are refused the route.
        assert stranger.json("GET", "/patients/me/accesses") == []
        assert stranger.json("GET", "/patients/me/records") == []
        for client in (cast.h1, cast.h1_doctor, cast.regulator):
            with pytest.raises(ApiError) as refused:
                client.json("GET", "/patients/me/accesses")
            assert refused.value.status == 403


def test_signing_facts_are_the_patients_nonces(cast: Cast) -> None:
    patient = known_patient(cast)
    with SharingClient(cast.api.url) as me:
        me.login(patient.key)
        facts = me.json("GET", "/patients/me/signing")
        domain = me.json("GET", "/consents/domain", params={"patient": patient.address})
        assert facts["chain_id"] == domain["chain_id"]
        assert facts["consent_registry"] == domain["consent_registry"]
        assert facts["referral_registry"] == domain["referral_registry"]
        assert facts["consent_nonce"] == domain["nonce"] == 0
        assert facts["referral_nonce"] == 0
        me.grant_consent(
            patient.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
        )
        after = me.json("GET", "/patients/me/signing")
        assert after["consent_nonce"] == 1 and after["referral_nonce"] == 0
