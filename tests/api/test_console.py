"""The regulator console's API on a fresh patient's small history in the session alliance:
status and verification, the timeline's filters (JSON and CSV), chart counts, anomalies
and the HTML report. Everything is filtered by this patient, since other tests share the
alliance."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest

from sharing_api.sdk import SharingClient
from sharing_api.sdk.client import ApiError
from tests.api.conftest import Cast, known_patient

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def story(cast: Cast) -> dict[str, Any]:
    """Consent to h1, two reads by h1's doctor, a referral up from the clinic to h1 with one
    read on it, the revocation, then h3's unjustified break-glass read."""
    patient = known_patient(cast)
    pclient = SharingClient(cast.api.url)
    pclient.login(patient.key)
    sealed = cast.clinic.seal(b"{}", "c1.role:doctor", [cast.clinic.authority_params("c1")])
    rid = cast.clinic.upload(patient.address, "lab", "c1.role:doctor", sealed)["record_id"]
    consent = pclient.grant_consent(
        patient.key,
        grantee=cast.address("h1"),
        categories=["lab"],
        purposes=["treatment", "referral"],
    )
    for _ in range(2):
        cast.h1_doctor.fetch(rid)
    referral = cast.clinic_doctor.json(
        "POST",
        "/referrals",
        json={
            "patient": patient.address,
            "receiver": cast.address("h1"),
            "direction": "up",
            "record_ids": [rid],
            "consent_id": consent["consent_id"],
        },
    )
    cast.h1_doctor.json("POST", f"/referrals/{referral['referral_id']}/accept")
    cast.h1_doctor.fetch(rid, referral_id=referral["referral_id"], purpose="referral")
    pclient.revoke_consent(patient.key, consent["consent_id"])
    _, headers = cast.h3_doctor.fetch(rid, break_glass=True, reason="unconscious")
    pclient.close()
    return {
        "patient": patient.address.lower(),
        "record": rid,
        "break_glass": int(headers["x-access-id"]),
        "h1": cast.address("h1").lower(),
        "h3": cast.address("h3").lower(),
    }


def test_status_lists_members_and_the_head(cast: Cast, story: dict[str, Any]) -> None:
    status = cast.regulator.json("GET", "/audit/status")
    assert status["head"]["number"] >= status["indexed_block"] > 0
    assert status["head"]["hash"].startswith("0x") and len(status["head"]["hash"]) == 66
    by_addr = {m["address"]: m for m in status["members"]}
    assert by_addr[story["h1"]]["name"] == "City Third People's Hospital"
    assert "hospital" in by_addr[story["h1"]]["roles"]
    assert by_addr[cast.address("clinic").lower()]["tier"] == 1
    assert by_addr[cast.address("regulator").lower()]["tier"] is None


def test_verification_checks_links_seals_and_blobs(cast: Cast, story: dict[str, Any]) -> None:
    first = cast.regulator.json("GET", "/audit/verification", params={"run": "true"})
    assert first["ok"], first["errors"]
    assert first["chain"]["checked"] and first["chain"]["blocks"] > 10
    assert first["blobs"]["checked"] == first["blobs"]["total"] >= 1
    again = cast.regulator.json("GET", "/audit/verification", params={"run": "true"})
    assert again["ran_at"] >= first["ran_at"]
    # The second run reads only the blocks sealed since the first.
    assert again["chain"]["new_blocks"] < first["chain"]["blocks"]
    status = cast.regulator.json("GET", "/audit/status")
    assert status["verification"]["ran_at"] == again["ran_at"]


def test_timeline_filters(cast: Cast, story: dict[str, Any]) -> None:
    p = {"patient": story["patient"]}
    every = cast.regulator.json("GET", "/audit/timeline", params=p)
    assert [(a["reader"], a["basis"]) for a in every] == [
        (story["h1"], "consent"),
        (story["h1"], "consent"),
        (story["h1"], "referral"),
        (story["h3"], "break-glass"),
    ]
    assert {a["category"] for a in every} == {"lab"}
    h3 = cast.regulator.json("GET", "/audit/timeline", params={**p, "member": story["h3"]})
    assert [a["access_id"] for a in h3] == [story["break_glass"]]
    referral = cast.regulator.json("GET", "/audit/timeline", params={**p, "purpose": "referral"})
    assert [a["basis"] for a in referral] == ["referral"]
    consent = cast.regulator.json("GET", "/audit/timeline", params={**p, "basis": "consent"})
    assert len(consent) == 2
    future = cast.regulator.json(
        "GET", "/audit/timeline", params={**p, "since": int(time.time()) + 3600}
    )
    assert future == []
    with pytest.raises(ApiError) as bad:
        cast.regulator.json("GET", "/audit/timeline", params={"purpose": "gossip"})
    assert bad.value.status == 422
    text = cast.regulator.request("GET", "/audit/timeline.csv", params=p).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["basis"] for r in rows] == ["consent", "consent", "referral", "break-glass"]
    fhir = cast.regulator.request(
        "GET", "/audit/timeline.fhir", params={**p, "basis": "break-glass"}
    ).json()
    assert [e["resource"]["id"] for e in fhir["entry"]] == [f"access-{story['break_glass']}"]


def test_chart_counts(cast: Cast, story: dict[str, Any]) -> None:
    c = cast.regulator.json("GET", "/audit/charts", params={"patient": story["patient"]})
    per_member = {(m["member"], m["count"]) for m in c["accesses_per_member"]}
    assert per_member == {(story["h1"], 3), (story["h3"], 1)}
    assert [(d["granted"], d["revoked"]) for d in c["consents"]] == [(1, 1)]
    assert [(d["up"], d["down"]) for d in c["referrals"]] == [(1, 0)]
    assert [(d["count"], d["unjustified"]) for d in c["break_glass"]] == [(1, 1)]
    assert c["direction_mismatches"] == []  # clinic (tier 1) up to a hospital (tier 2)


def test_anomalies_and_report(cast: Cast, story: dict[str, Any]) -> None:
    later = int(time.time()) + 7200
    found = cast.regulator.json(
        "GET", "/audit/anomalies", params={"justify_within": 3600, "now": later}
    )
    mine = [a for a in found if a["access_id"] == story["break_glass"]]
    assert [a["rule"] for a in mine] == ["unjustified-break-glass"]
    from_chain = cast.regulator.json(
        "GET", "/audit/anomalies", params={"justify_within": 3600, "now": later, "source": "chain"}
    )
    assert from_chain == found
    in_time = cast.regulator.json("GET", "/audit/anomalies", params={"now": later})
    assert story["break_glass"] not in [a["access_id"] for a in in_time]
    response = cast.regulator.request(
        "GET",
        "/audit/report",
        params={"patient": story["patient"], "justify_within": 3600, "now": later},
    )
    assert response.headers["content-type"].startswith("text/html")
    assert "attachment" in response.headers["content-disposition"]
    html = response.text
    assert html.count("<svg") == 4
    assert "unjustified-break-glass" in html and "Accesses (4)" in html
