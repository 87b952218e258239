"""Pairwise pseudonyms at the API: one sign-in proves every pseudonym (EIP-4361 text signed
by each), the patient's lists span them all with one cursor, and a consent covers only the
records under the pseudonym that signed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sharing_api.auth.siwe import SiweMessage, sign_message
from sharing_api.sdk import ApiError, PatientWallet, SharingClient
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration


def new_wallet() -> PatientWallet:
    account, phrase = Account.create_with_mnemonic()
    del account
    return PatientWallet(phrase)


def login_body(client: SharingClient, primary: LocalAccount, others: list[Any]) -> dict[str, Any]:
    """A sign-in body by hand: ``others`` are (address, signing key) pairs, so a test can
    pair an address with someone else's signature."""
    facts = client.json("POST", "/auth/nonce")
    now = datetime.now(UTC)
    message = SiweMessage(
        domain=facts["domain"],
        address=primary.address,
        statement="Sign in to the alliance sharing API.",
        uri=client.base_url,
        chain_id=int(facts["chain_id"]),
        nonce=facts["nonce"],
        issued_at=now,
        expiration_time=now + timedelta(minutes=5),
    )
    return {
        "message": message.to_text(),
        "signature": sign_message(message, primary.key),
        "pseudonyms": [
            {"address": address, "signature": sign_message(message, key)} for address, key in others
        ],
    }


def refused(client: SharingClient, body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        client.json("POST", "/auth/login", json=body)
    return caught.value


def test_one_sign_in_proves_every_pseudonym(cast: Cast) -> None:
    wallet = new_wallet()
    with SharingClient(cast.api.url) as client:
        out = wallet.login(client)
        providers = [cast.address(n) for n in ("h1", "clinic", "h3")]
        expected = {wallet.address_at(m).lower() for m in providers}
        assert out["kind"] == "patient" and out["subject"] == wallet.address
        assert set(out["pseudonyms"]) == expected
        me = client.json("GET", "/auth/me")
        assert set(me["pseudonyms"]) == expected and me["subject"] == wallet.address
        assert len(client.token) < 4096


def test_forged_too_many_duplicate_and_primary_pseudonyms_are_refused(cast: Cast) -> None:
    primary = Account.create()
    a, b = Account.create(), Account.create()
    with SharingClient(cast.api.url) as client:
        # b signs for a: the answer names a, and no token is issued.
        forged = refused(client, login_body(client, primary, [(a.address, b.key)]))
        assert forged.status == 401 and a.address in str(forged)
        twice = refused(client, login_body(client, primary, [(a.address, a.key)] * 2))
        assert twice.status == 400 and "twice" in str(twice)
        itself = refused(client, login_body(client, primary, [(primary.address, primary.key)]))
        assert itself.status == 400 and "itself" in str(itself)
        many = [Account.create() for _ in range(65)]
        too_many = refused(client, login_body(client, primary, [(m.address, m.key) for m in many]))
        assert too_many.status == 422
        # The nonce of a refused list is still good for one sign-in: none was spent.
        assert client.token == ""


def test_a_member_cannot_carry_pseudonyms(cast: Cast) -> None:
    member = Account.from_key(cast.alliance.keys["h1"])
    other = Account.create()
    with SharingClient(cast.api.url) as client:
        error = refused(client, login_body(client, member, [(other.address, other.key)]))
        assert error.status == 400 and "only patients" in str(error)


def upload_at(cast: Cast, custodian: SharingClient, patient: str, category: str) -> int:
    sealed = cast.clinic.seal(b"x", "h1.role:doctor", [cast.h1.authority_params("h1")])
    return int(custodian.upload(patient, category, "h1.role:doctor", sealed)["record_id"])


def test_patient_lists_records_and_accesses_across_custodians(cast: Cast) -> None:
    wallet = new_wallet()
    clinic, h1, h3 = (cast.address(n) for n in ("clinic", "h1", "h3"))
    for custodian in (clinic, h1):
        cast.clinic.attest_patient(wallet.address_at(custodian))
    at_clinic = upload_at(cast, cast.clinic, wallet.address_at(clinic), "lab")
    at_h1 = upload_at(cast, cast.h1, wallet.address_at(h1), "summary")
    with SharingClient(cast.api.url) as me, SharingClient(cast.api.url) as one:
        wallet.login(me)
        wallet.login(one, [clinic])  # proves the clinic's pseudonym only
        mine = [r["record_id"] for r in me.json("GET", "/records")]
        assert mine == [at_clinic, at_h1]
        assert [r["record_id"] for r in me.json("GET", "/patients/me/records")] == mine
        assert [r["record_id"] for r in one.json("GET", "/records")] == [at_clinic]
        # One cursor across pseudonyms: pages of one row each, in record order.
        first, cursor = me.page("/records", limit=1)
        second, last = me.page("/records", cursor=cursor, limit=1)
        assert [first[0]["record_id"], second[0]["record_id"]] == mine
        _, end = me.page("/records", cursor=last, limit=1) if last else ([], "")
        assert end == ""
        # Filtering by one of my pseudonyms works; by someone else's address is refused.
        only = me.json("GET", "/records", params={"patient": wallet.address_at(h1)})
        assert [r["record_id"] for r in only] == [at_h1]
        with pytest.raises(ApiError) as caught:
            one.json("GET", "/records", params={"patient": wallet.address_at(h1)})
        assert caught.value.status == 403
        with pytest.raises(ApiError):
            one.json("GET", f"/records/{at_h1}")
        assert me.json("GET", f"/records/{at_h1}")["record_id"] == at_h1

        # Consents at each custodian, each signed by that custodian's pseudonym.
        for custodian, grantee, category in ((clinic, h1, "lab"), (h1, h3, "summary")):
            wallet.grant_consent(
                me,
                custodian=custodian,
                grantee=grantee,
                categories=[category],
                purposes=["treatment"],
            )
        cast.h1_doctor.fetch(at_clinic)
        cast.h3_doctor.fetch(at_h1)
        accesses = me.json("GET", "/patients/me/accesses")
        assert sorted(a["record_id"] for a in accesses) == sorted(mine)
        consents = me.json("GET", "/consents")
        assert {c["patient"] for c in consents} == {
            wallet.address_at(clinic).lower(),
            wallet.address_at(h1).lower(),
        }
        nonces = me.json("GET", "/patients/me/signing", params={"patient": wallet.address_at(h1)})
        assert nonces["consent_nonce"] == 1
        with pytest.raises(ApiError) as caught:
            one.json("GET", "/patients/me/signing", params={"patient": wallet.address_at(h1)})
        assert caught.value.status == 403


def test_consent_covers_only_its_own_pseudonyms_records(cast: Cast) -> None:
    wallet = new_wallet()
    clinic, h1 = cast.address("clinic"), cast.address("h1")
    for custodian in (clinic, h1):
        cast.clinic.attest_patient(wallet.address_at(custodian))
    record = upload_at(cast, cast.clinic, wallet.address_at(clinic), "lab")
    with SharingClient(cast.api.url) as me:
        wallet.login(me)
        # Signed with the h1 pseudonym: says nothing about the clinic's records.
        wrong = wallet.grant_consent(
            me, custodian=h1, grantee=h1, categories=["lab"], purposes=["treatment"]
        )
        assert wrong["patient"].lower() == wallet.address_at(h1).lower()
        with pytest.raises(ApiError) as caught:
            cast.h1_doctor.fetch(record)
        assert caught.value.status == 403
        right = wallet.grant_consent(
            me, custodian=clinic, grantee=h1, categories=["lab"], purposes=["treatment"]
        )
        _, headers = cast.h1_doctor.fetch(record)
        assert int(headers["x-access-id"]) > 0
        # Revoked with the pseudonym that granted it, found by the wallet itself.
        wallet.revoke_consent(me, right["consent_id"])
        with pytest.raises(ApiError):
            cast.h1_doctor.fetch(record)


def test_a_replayed_sign_in_gets_no_signature_checks_for_free(cast: Cast) -> None:
    """Threat: a sign-in message whose nonce is spent, replayed with 64 pseudonym proofs,
    made the gateway recover 64 signatures before it found the nonce dead."""
    primary, other = Account.create(), Account.create()
    with SharingClient(cast.api.url) as client:
        body = login_body(client, primary, [(other.address, other.key)])
        client.json("POST", "/auth/login", json=body)  # spends the nonce
        forged = {**body, "pseudonyms": [{"address": other.address, "signature": "0x" + "11" * 65}]}
        replayed = refused(client, forged)
        assert replayed.status == 401 and "nonce" in str(replayed)
