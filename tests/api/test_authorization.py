"""The authorization matrix: every kind of caller against every route, allowed or refused.

Allowed means the role guard let the request through (whatever the handler then says about
the deliberately unknown ids or empty bodies: 404, 422, ...); refused means 403 for a signed-in
caller of the wrong kind and 401 without a token. The table must name every route the app has.
"""

from __future__ import annotations

import pytest

from sharing_api.sdk import SharingClient
from tests.api.conftest import Cast, known_patient

pytestmark = pytest.mark.integration

PUBLIC = "public"
# Gateway-to-gateway routes take a request signed by a member's ledger key, never a bearer
# token: every kind of caller here is refused (401, or 404 for a record not held here).
GATEWAY = "gateway"
P, M, S, R = "patient", "member", "staff", "regulator"
AUTHED = {P, M, S, R}
CARE = {M, S}

# (method, path) -> caller kinds allowed (PUBLIC: also without a token)
MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/health"): {PUBLIC},
    ("GET", "/audit/staff/{pseudonym}"): {R},
    ("POST", "/auth/staff/{staff_id}/revoke"): {M},
    ("GET", "/gateway/records/{record_id}/ciphertext"): {GATEWAY},
    ("POST", "/gateway/referral-proposals/inbox"): {GATEWAY},
    ("POST", "/gateway/referral-proposals/{proposal_id}/accept"): {GATEWAY},
    ("POST", "/gateway/referral-proposals/{proposal_id}/decline"): {GATEWAY},
    ("GET", "/metrics"): {PUBLIC},
    ("POST", "/auth/nonce"): {PUBLIC},
    ("POST", "/auth/login"): {PUBLIC},
    ("POST", "/auth/staff-tokens"): {M},
    ("GET", "/auth/me"): AUTHED,
    ("POST", "/records"): CARE,
    ("POST", "/records/{record_id}/supersede"): CARE,
    ("POST", "/records/{record_id}/erase"): {P, M},  # the patient, or the custodian for them
    ("GET", "/records/{record_id}"): AUTHED,
    ("GET", "/records"): AUTHED,
    ("GET", "/records/{record_id}/content"): CARE,
    ("GET", "/consents/domain"): AUTHED,
    ("POST", "/consents"): {P, M, S},
    ("POST", "/consents/{consent_id}/revoke"): {P, M, S},
    ("GET", "/consents"): AUTHED,
    ("GET", "/consents/{consent_id}"): AUTHED,
    ("GET", "/consents/{consent_id}/fhir"): AUTHED,
    ("GET", "/fhir/Consent/{consent_id}"): AUTHED,
    ("GET", "/fhir/Task/{referral_id}"): AUTHED,
    ("GET", "/fhir/Task/consultation-{consultation_id}"): AUTHED,
    ("GET", "/fhir/Task/referral-{referral_id}"): AUTHED,
    ("GET", "/fhir/AuditEvent"): AUTHED,
    ("POST", "/referrals"): CARE,
    ("POST", "/referrals/{referral_id}/accept"): CARE,
    ("POST", "/referrals/{referral_id}/reject"): CARE,
    ("POST", "/referrals/{referral_id}/complete"): CARE,
    ("POST", "/referrals/{referral_id}/cancel"): CARE,
    ("POST", "/referrals/{referral_id}/withdraw"): {P, M, S},
    ("GET", "/referrals"): AUTHED,
    ("GET", "/referrals/{referral_id}"): AUTHED,
    ("GET", "/referrals/{referral_id}/history"): AUTHED,
    ("GET", "/referrals/{referral_id}/texts"): AUTHED,
    ("POST", "/consultations"): CARE,
    ("POST", "/consultations/{consultation_id}/accept"): CARE,
    ("POST", "/consultations/{consultation_id}/decline"): CARE,
    ("POST", "/consultations/{consultation_id}/report"): CARE,
    ("POST", "/consultations/{consultation_id}/close"): CARE,
    ("POST", "/consultations/{consultation_id}/cancel"): CARE,
    ("GET", "/consultations"): AUTHED,
    ("GET", "/consultations/{consultation_id}"): AUTHED,
    ("GET", "/consultations/{consultation_id}/texts"): AUTHED,
    ("POST", "/keys"): {S},
    ("GET", "/keys"): {S},
    ("GET", "/keys/authorities"): {PUBLIC},
    ("POST", "/keys/gid"): {S},
    ("POST", "/keys/credentials"): {R},
    ("GET", "/keys/credentials"): {R},
    # No token: the request signed by the GID's own key is the caller's proof.
    ("POST", "/keys/credentials/key"): {PUBLIC},
    ("GET", "/keys/authorities/{authority_id}/params"): {PUBLIC},
    ("GET", "/audit/accesses"): {R},
    ("GET", "/audit/consents"): {R},
    ("GET", "/audit/referrals"): {R},
    ("GET", "/audit/break-glass"): {R},
    ("GET", "/audit/summary"): {R},
    ("GET", "/audit/fhir"): {R},
    ("GET", "/audit/status"): {R},
    ("GET", "/audit/verification"): {R},
    ("GET", "/audit/timeline"): {R},
    ("GET", "/audit/timeline.csv"): {R},
    ("GET", "/audit/timeline.fhir"): {R},
    ("GET", "/audit/charts"): {R},
    ("GET", "/audit/anomalies"): {R},
    ("GET", "/audit/report"): {R},
    ("GET", "/audit/supervision"): {R},
    ("GET", "/audit/supervision.csv"): {R},
    ("GET", "/audit/supervision/thresholds"): {R},
    ("PUT", "/audit/supervision/thresholds"): {R},
    ("POST", "/audit/disclosed"): {R},
    ("POST", "/audit/break-glass/{access_id}/justify"): {S},
    ("POST", "/audit/break-glass/{access_id}/close"): {R},
    ("GET", "/audit/break-glass/{access_id}/sealed"): {R},
    ("GET", "/audit/break-glass/{access_id}/review"): {R},
    ("GET", "/members"): AUTHED,
    ("POST", "/patients/{address}/attest"): {M},
    ("GET", "/patients/me/records"): {P},
    ("GET", "/patients/me/accesses"): {P},
    ("GET", "/patients/me/signing"): {P},
    ("POST", "/referral-proposals"): CARE,
    ("GET", "/referral-proposals"): CARE,
    ("GET", "/referral-proposals/{proposal_id}"): {P, M, S},
    ("POST", "/referral-proposals/{proposal_id}/accept"): {P},
    ("POST", "/referral-proposals/{proposal_id}/decline"): {P},
    ("GET", "/patients/me/referral-proposals"): {P},
    ("POST", "/patients/me/referral-inbox"): {P},
    ("POST", "/patients/me/referral-inbox/{referrer}/{proposal_id}/accept"): {P},
    ("POST", "/patients/me/referral-inbox/{referrer}/{proposal_id}/decline"): {P},
}
UNKNOWN = {
    "record_id": "999999",
    "consent_id": "999999",
    "referral_id": "999999",
    "consultation_id": "999999",
    "access_id": "999999",
    "proposal_id": "999999",
    "referrer": "0x" + "11" * 20,
    "address": "0x" + "22" * 20,
    "authority_id": "nosuch",
    "pseudonym": "0x" + "22" * 32,
    "staff_id": "nobody",
}


def _path(template: str) -> str:
    for name, value in UNKNOWN.items():
        template = template.replace("{" + name + "}", value)
    return template


def test_matrix_covers_every_route(cast: Cast) -> None:
    paths = cast.anonymous.json("GET", "/openapi.json")["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert routes == set(MATRIX)


def _client(cast: Cast, kind: str) -> SharingClient:
    return {
        P: cast.patient,
        M: cast.h1,
        S: cast.h1_doctor,
        R: cast.regulator,
        "anonymous": cast.anonymous,
    }[kind]


@pytest.mark.parametrize("kind", ["anonymous", P, M, S, R])
def test_every_route_for(cast: Cast, kind: str) -> None:
    failures = []
    for (method, template), allowed in sorted(MATRIX.items()):
        client = _client(cast, kind)
        body: dict[str, str] | None = {} if method == "POST" and template != "/records" else None
        response = client.http.request(
            method, _path(template), headers=client._headers(), json=body
        )
        ok = PUBLIC in allowed or kind in allowed
        if GATEWAY in allowed:
            good = response.status_code in (401, 404)
        elif ok:
            good = response.status_code not in (401, 403)
        elif kind == "anonymous":
            good = response.status_code == 401
        else:
            good = response.status_code == 403
        if not good:
            failures.append(f"{method} {template}: {response.status_code} {response.text[:120]}")
        elif response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
    assert not failures, "\n".join(failures)


# The regulator's writes: closing a break-glass review (AccessLog.closeBreakGlass), and, as
# the authority of titles and licences, its own registry of what it verified (off chain),
# and the supervision dashboard's thresholds (kept at its gateway, off chain).
REGULATOR_WRITES = {
    ("POST", "/audit/break-glass/{access_id}/close"),
    ("POST", "/keys/credentials"),
    ("PUT", "/audit/supervision/thresholds"),
}
# Reads that take a document in the body: checking a patient's pseudonym disclosure.
REGULATOR_POSTED_READS = {("POST", "/audit/disclosed")}


def test_regulator_is_read_only(cast: Cast) -> None:
    writes = [
        (m, p)
        for (m, p) in MATRIX
        if m != "GET"
        and not p.startswith("/auth/")
        and PUBLIC not in MATRIX[(m, p)]  # no token taken: a signed request is the proof
        and (m, p) not in REGULATOR_WRITES
        and (m, p) not in REGULATOR_POSTED_READS
    ]
    assert writes
    for method, path in writes:
        assert R not in MATRIX[(method, path)], path
        response = cast.regulator.http.request(
            method, _path(path), headers=cast.regulator._headers(), json={}
        )
        # Gateway routes take no bearer token at all: the regulator's is as good as none.
        assert response.status_code == (401 if GATEWAY in MATRIX[(method, path)] else 403), path


def test_consents_visible_only_to_their_parties(cast: Cast) -> None:
    """A patient's consent to h1 is h1's (and its staff's), the patient's and the regulator's
    to see: another member, its staff and another patient get 403 and lists without it. A
    consent to a role (hospitals) is seen by the members holding that role, not the clinic."""
    from eth_account import Account

    from sharing_api.chain import Role

    patient = known_patient(cast)
    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    to_h1 = wallet.grant_consent(
        patient.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
    )["consent_id"]
    to_hospitals = wallet.grant_consent(
        patient.key, grantee_role=int(Role.HOSPITAL), categories=["lab"], purposes=["treatment"]
    )["consent_id"]

    def sees(client: SharingClient) -> dict[int, int]:
        """consent id -> status of GET /consents/{id}, /fhir, and whether lists show it."""
        out = {}
        for cid in (to_h1, to_hospitals):
            one = client.http.get(f"/consents/{cid}", headers=client._headers())
            fhir = client.http.get(f"/consents/{cid}/fhir", headers=client._headers())
            assert one.status_code == fhir.status_code, (one.text, fhir.text)
            if one.status_code == 403:
                assert one.headers["content-type"].startswith("application/problem+json")
            else:
                assert one.status_code == 200 and one.json()["consent_id"] == cid
            out[cid] = one.status_code
            listed = [
                {c["consent_id"] for c in client.json("GET", "/consents", params=params)}
                for params in ({}, {"patient": patient.address})
                if client not in (wallet, other) or params == {}  # patients: their own
            ]
            assert all((cid in ids) == (one.status_code == 200) for ids in listed), (cid, listed)
        return out

    other = SharingClient(cast.api.url)
    other.login(Account.create().key)
    try:
        both = {to_h1: 200, to_hospitals: 200}
        assert sees(wallet) == both
        assert sees(cast.regulator) == both
        assert sees(cast.h1) == sees(cast.h1_doctor) == sees(cast.h1_nurse) == both
        # h3 is a hospital too: the role consent only; the clinic: neither.
        assert sees(cast.h3) == sees(cast.h3_doctor) == {to_h1: 403, to_hospitals: 200}
        assert sees(cast.clinic) == sees(cast.clinic_doctor) == {to_h1: 403, to_hospitals: 403}
        assert sees(other) == {to_h1: 403, to_hospitals: 403}
        theirs = other.http.get(
            "/consents", params={"patient": patient.address}, headers=other._headers()
        )
        assert theirs.status_code == 403
    finally:
        wallet.close()
        other.close()
