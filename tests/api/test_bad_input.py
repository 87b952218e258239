"""Bad input gets a 4xx problem+json and changes nothing: on chain or in storage."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from eth_account import Account

from sharing_api.api.core.security import ISSUER, Kind, Principal, TokenService
from sharing_api.api.upload import check_sealed
from sharing_api.auth.siwe import SiweMessage, sign_message
from sharing_api.chain.typed_data import (
    GrantTerms,
    grant_typed_data,
    revoke_typed_data,
    sign_typed_data,
)
from sharing_api.sdk import SharingClient
from sharing_api.sdk.client import grant_body
from tests.api.conftest import Cast, known_patient

pytestmark = pytest.mark.integration
POLICY = "c1.role:doctor"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def _upload(cast: Cast, content: Any, **params: str) -> Any:
    query = {"patient": cast.patient_key.address, "category": "lab", "policy": POLICY, **params}
    return cast.clinic.http.post(
        "/records",
        params=query,
        content=content,
        headers={**cast.clinic._headers(), "Content-Type": "application/octet-stream"},
    )


def test_oversize_upload_declared(cast: Cast, unchanged: None) -> None:
    _problem(_upload(cast, b"x" * (300 * 1024)), 413)


def test_oversize_upload_streamed_without_length(cast: Cast, unchanged: None) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * 8192

    _problem(_upload(cast, chunks()), 413)


def test_malformed_policy_category_hash(cast: Cast, unchanged: None) -> None:
    _problem(_upload(cast, b"ciphertext", policy="role:doctor and and"), 400)
    _problem(_upload(cast, b"ciphertext", category="horoscope"), 400)
    mismatch = _problem(_upload(cast, b"ciphertext", sha256="00" * 32), 400)
    assert "`sha256` query parameter" in mismatch["detail"]  # what the SDK sends
    assert "00" * 32 in mismatch["detail"]
    _problem(_upload(cast, b""), 400)
    _problem(_upload(cast, b"ciphertext", patient="0xnotanaddress"), 422)


def test_plaintext_or_broken_containers_are_refused(cast: Cast, unchanged: None) -> None:
    """Only sealed record containers are stored: plaintext sent by mistake, or a container
    whose header is cut short or altered, is a 400 and nothing is written."""
    sealed = cast.sealed(b'{"resourceType": "Observation"}', POLICY)
    prefix = 9  # "ALRC" | version | header length
    header_len = int.from_bytes(sealed[5:9], "big")
    altered = bytearray(sealed)
    altered[prefix + header_len // 2] ^= 0xFF  # inside a group element or the policy text
    for body in (
        b'{"resourceType": "Patient", "name": [{"family": "Li"}]}',
        sealed[: prefix + header_len - 1],
        b"ALRC\x02" + sealed[5:],
        bytes(altered),
    ):
        problem = _problem(_upload(cast, body), 400)
        assert "not a sealed record container" in problem["detail"]
        assert "SharingClient.seal" in problem["detail"]
    # The same container, intact, passes the check (so the refusals above are about the
    # body; the route itself stores it, as every other upload in these tests shows).
    check_sealed(io.BytesIO(sealed))


def test_malformed_bodies(cast: Cast, unchanged: None) -> None:
    headers = {**cast.patient._headers(), "Content-Type": "application/json"}
    _problem(cast.patient.http.post("/consents", content=b"{not json", headers=headers), 422)
    _problem(cast.patient.http.post("/consents", json={"patient": 5}, headers=headers), 422)
    bad_sig = {"message": "hello", "signature": "0x1234"}
    _problem(cast.anonymous.http.post("/auth/login", json=bad_sig), 422)
    _problem(
        cast.h1.http.post(
            "/auth/staff-tokens",
            headers=cast.h1._headers(),
            json={"staff_id": "x y", "role": "doctor"},
        ),
        422,
    )
    # A staff token may not claim another authority's attributes.
    _problem(
        cast.h1.http.post(
            "/auth/staff-tokens",
            headers=cast.h1._headers(),
            json={"staff_id": "mallory", "role": "doctor", "attributes": ["c1.role:doctor"]},
        ),
        400,
    )


def test_unknown_records_consents_referrals(cast: Cast, unchanged: None) -> None:
    _problem(cast.h1.http.get("/records/424242", headers=cast.h1._headers()), 404)
    _problem(cast.h1.http.get("/records/424242/content", headers=cast.h1._headers()), 404)
    _problem(cast.patient.http.get("/consents/424242", headers=cast.patient._headers()), 404)
    _problem(cast.h1.http.post("/referrals/424242/accept", headers=cast.h1._headers()), 404)
    _problem(cast.anonymous.http.get("/keys/authorities/zz/params"), 404)


def _token_for(secret: str, clock: Any, kind: Kind = Kind.MEMBER) -> str:
    service = TokenService(secret, 60, clock=clock)
    return service.issue(
        Principal(
            kind=kind, subject="0x" + "11" * 20, member="0x" + "11" * 20, chain_roles=("hospital",)
        )
    )[0]


def test_forged_and_expired_tokens(cast: Cast) -> None:
    secret = cast.api.services.tokens.secret
    cases = {
        "forged": _token_for("not-the-secret-" + "0" * 40, time.time),
        "expired": _token_for(secret, lambda: time.time() - 3600),
        "none-alg": jwt.encode(
            {
                "sub": "x",
                "kind": "regulator",
                "iss": ISSUER,
                "jti": "1",
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
            },
            "",
            algorithm="none",
        ),
        "garbage": "abc.def.ghi",
    }
    for name, token in cases.items():
        response = cast.anonymous.http.get(
            "/audit/summary", headers={"Authorization": f"Bearer {token}"}
        )
        assert _problem(response, 401), name
    assert cast.anonymous.http.get("/auth/me").status_code == 401
    # The real secret with a live clock works: the checks above are not vacuous.
    ok = _token_for(secret, time.time, Kind.REGULATOR)
    assert (
        cast.anonymous.http.get("/auth/me", headers={"Authorization": f"Bearer {ok}"}).json()[
            "kind"
        ]
        == "regulator"
    )


@pytest.fixture
def referral_body(cast: Cast) -> dict[str, Any]:
    """A POST /referrals body that the clinic could really send: its record of a new patient,
    and the patient's consent to h3 for a referral (made before `unchanged` looks)."""
    patient = known_patient(cast)
    record = cast.clinic.upload(patient.address, "lab", POLICY, cast.sealed(b"refer-me", POLICY))
    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    consent = wallet.grant_consent(
        patient.key, grantee=cast.address("h3"), categories=["lab"], purposes=["referral"]
    )
    wallet.close()
    return {
        "patient": patient.address,
        "receiver": cast.address("h3"),
        "direction": "up",
        "record_ids": [record["record_id"]],
        "consent_id": consent["consent_id"],
    }


@pytest.mark.parametrize("kind", ["forged", "expired"])
def test_forged_or_expired_token_writes_nothing(
    cast: Cast, kind: str, referral_body: dict[str, Any], unchanged: None
) -> None:
    """A clinic's token forged (wrong secret) or expired, on every kind of write: 401
    problem+json, and nothing on chain or in storage, though each request would succeed
    with a good token (real record, consent, signed grant)."""
    clinic = cast.address("clinic")
    claims = Principal(kind=Kind.MEMBER, subject=clinic, member=clinic, chain_roles=("clinic",))
    secret = cast.api.services.tokens.secret
    if kind == "forged":
        token = TokenService("not-the-secret-" + "0" * 40, 60).issue(claims)[0]
    else:
        token = TokenService(secret, 60, clock=lambda: time.time() - 3600).issue(claims)[0]
    bearer = {"Authorization": f"Bearer {token}"}
    octets = {**bearer, "Content-Type": "application/octet-stream"}
    http = cast.anonymous.http
    rid = referral_body["record_ids"][0]
    sealed = cast.sealed(b"v2", POLICY)  # a body the API would store
    upload = {"patient": referral_body["patient"], "category": "lab", "policy": POLICY}
    responses = {
        "upload": http.post("/records", params=upload, content=sealed, headers=octets),
        "supersede": http.post(
            f"/records/{rid}/supersede", params={"policy": POLICY}, content=sealed, headers=octets
        ),
        "consent": http.post(
            "/consents", json=_signed_grant(cast, Account.create(), clinic), headers=bearer
        ),
        "referral": http.post("/referrals", json=referral_body, headers=bearer),
    }
    why = "token expired" if kind == "expired" else "invalid token"
    for route, response in responses.items():
        assert why in _problem(response, 401)["detail"], route
    # The same claims signed with the real secret on a live clock are accepted.
    good = TokenService(secret, 60).issue(claims)[0]
    me = http.get("/auth/me", headers={"Authorization": f"Bearer {good}"})
    assert me.status_code == 200 and me.json()["kind"] == "member"


def test_replayed_and_misaddressed_sign_in(cast: Cast) -> None:
    key = Account.create()
    nonce = cast.anonymous.json("POST", "/auth/nonce")
    now = datetime.now(UTC)

    def signed(**changes: Any) -> dict[str, str]:
        fields: dict[str, Any] = {
            "domain": nonce["domain"],
            "address": key.address,
            "statement": "",
            "uri": cast.api.url,
            "chain_id": nonce["chain_id"],
            "nonce": nonce["nonce"],
            "issued_at": now,
            "expiration_time": now + timedelta(minutes=5),
            **changes,
        }
        message = SiweMessage(**fields)
        return {"message": message.to_text(), "signature": sign_message(message, key.key)}

    _problem(cast.anonymous.http.post("/auth/login", json=signed(domain="evil.example")), 401)
    _problem(cast.anonymous.http.post("/auth/login", json=signed(chain_id=1)), 401)
    _problem(
        cast.anonymous.http.post(
            "/auth/login", json=signed(expiration_time=now - timedelta(seconds=1))
        ),
        401,
    )
    _problem(cast.anonymous.http.post("/auth/login", json=signed(nonce="abcdef123456")), 401)
    good = signed()
    assert cast.anonymous.http.post("/auth/login", json=good).status_code == 200
    _problem(cast.anonymous.http.post("/auth/login", json=good), 401)  # replay


def _signed_grant(cast: Cast, patient: Any, grantee: str) -> dict[str, Any]:
    """The POST /consents body of a lab/treatment grant ``patient`` signed for ``grantee``."""
    domain = cast.h1.json("GET", "/consents/domain", params={"patient": patient.address})
    now = int(time.time())
    terms = GrantTerms(
        patient=patient.address,
        grantee=grantee,
        grantee_role=0,
        categories=1 << 1,
        purposes=1,
        valid_from=now - 60,
        valid_until=now + 3600,
        document_hash=b"\x00" * 32,
        nonce=int(domain["nonce"]),
        deadline=now + 600,
    )
    sig = sign_typed_data(
        grant_typed_data(terms, int(domain["chain_id"]), domain["consent_registry"]), patient.key
    )
    return grant_body(terms, ["lab"], ["treatment"], sig.v, sig.r, sig.s)


def test_replayed_consent_signature(cast: Cast) -> None:
    patient = known_patient(cast)
    body = _signed_grant(cast, patient, cast.address("h1"))
    before = len(cast.regulator.json("GET", "/audit/consents"))
    first = cast.h1.http.post("/consents", json=body, headers=cast.h1._headers())
    assert first.status_code == 201, first.text
    replay = cast.h1.http.post("/consents", json=body, headers=cast.h1._headers())
    assert _problem(replay, 409)["revert"] == "InvalidNonce"
    # Tampered terms (a longer validity than signed): the signature no longer matches.
    tampered = {**body, "valid_until": body["valid_until"] + 1, "nonce": body["nonce"] + 1}
    rejected = cast.h1.http.post("/consents", json=tampered, headers=cast.h1._headers())
    assert rejected.status_code in (403, 409)
    assert len(cast.regulator.json("GET", "/audit/consents")) == before + 1
    # Another patient cannot relay it as their own.
    _problem(cast.patient.http.post("/consents", json=body, headers=cast.patient._headers()), 403)


@pytest.fixture
def a_record(cast: Cast) -> int:
    record = cast.clinic.upload(
        cast.patient_key.address, "imaging", POLICY, cast.sealed(b"sealed-bytes", POLICY)
    )
    return int(record["record_id"])


def test_fetch_without_basis_logs_nothing(cast: Cast, a_record: int, unchanged: None) -> None:
    path = f"/records/{a_record}/content"
    _problem(cast.h3_doctor.http.get(path, headers=cast.h3_doctor._headers()), 403)
    no_reason = {"break_glass": "true"}
    _problem(
        cast.h3_doctor.http.get(path, params=no_reason, headers=cast.h3_doctor._headers()), 400
    )
    nurse = {"break_glass": "true", "reason": "curious"}
    _problem(cast.h1_nurse.http.get(path, params=nurse, headers=cast.h1_nurse._headers()), 403)
    bad_referral = {"referral_id": "424242"}
    _problem(cast.h3.http.get(path, params=bad_referral, headers=cast.h3._headers()), 403)


def test_oversize_or_bad_supersede(cast: Cast, a_record: int, unchanged: None) -> None:
    path = f"/records/{a_record}/supersede"
    headers = {**cast.clinic._headers(), "Content-Type": "application/octet-stream"}
    big = cast.clinic.http.post(
        path, params={"policy": POLICY}, content=b"z" * (300 * 1024), headers=headers
    )
    _problem(big, 413)
    bad_policy = {"policy": "role:doctor and and"}
    _problem(cast.clinic.http.post(path, params=bad_policy, content=b"v2", headers=headers), 400)
    unknown = "/records/424242/supersede"
    _problem(
        cast.clinic.http.post(unknown, params={"policy": POLICY}, content=b"v2", headers=headers),
        404,
    )


def test_replayed_revocation_signature(cast: Cast) -> None:
    patient = known_patient(cast)
    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    first = wallet.grant_consent(
        patient.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
    )
    second = wallet.grant_consent(
        patient.key, grantee=cast.address("h3"), categories=["lab"], purposes=["treatment"]
    )
    domain = wallet.json("GET", "/consents/domain", params={"patient": patient.address})
    deadline = int(time.time()) + 600
    typed = revoke_typed_data(
        patient.address,
        first["consent_id"],
        int(domain["nonce"]),
        deadline,
        int(domain["chain_id"]),
        domain["consent_registry"],
    )
    sig = sign_typed_data(typed, patient.key)
    body = {
        "nonce": int(domain["nonce"]),
        "deadline": deadline,
        "signature": {"v": sig.v, "r": "0x" + sig.r.hex(), "s": "0x" + sig.s.hex()},
    }
    path = f"/consents/{first['consent_id']}/revoke"
    assert cast.h1.http.post(path, json=body, headers=cast.h1._headers()).status_code == 200
    # The same signature again, or moved onto another consent: refused, nothing revoked.
    _problem(cast.h1.http.post(path, json=body, headers=cast.h1._headers()), 409)
    other = f"/consents/{second['consent_id']}/revoke"
    assert cast.h1.http.post(other, json=body, headers=cast.h1._headers()).status_code in (
        403,
        409,
    )
    states = {c["consent_id"]: c["revoked"] for c in wallet.json("GET", "/consents")}
    assert states == {first["consent_id"]: True, second["consent_id"]: False}
    wallet.close()
