"""Threat: a referral's reason and its reject, complete and cancel notes went on chain as
SHA-256 of their text. Clinical reasons are short phrases, so anyone reading the chain
hashed a phrase list and read them. Now the chain holds salted commitments
(crypto/text_commitment.py) and the texts stay with the gateway that wrote them: no log of
the ReferralRegistry holds a text, or the unsalted hash of one."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from sharing_api.sdk import SharingClient
from tests.api.conftest import Cast, known_patient

pytestmark = pytest.mark.integration
POLICY = "c1.role:doctor"
REASON = "rehab"  # as short as clinical reasons come
NOTES = {"reject": "no beds", "cancel": "patient moved away"}


def _registry_logs(cast: Cast) -> list[bytes]:
    """Every log of the ReferralRegistry, as its topics and data bytes."""
    address = cast.api.services.deployment.addresses["ReferralRegistry"]
    reply = httpx.post(
        cast.alliance.chain_url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getLogs",
            "params": [{"address": address, "fromBlock": "0x0", "toBlock": "latest"}],
        },
        timeout=10,
    ).json()
    return [
        b"".join(bytes.fromhex(t[2:]) for t in log["topics"]) + bytes.fromhex(log["data"][2:])
        for log in reply["result"]
    ]


def _refer(cast: Cast, wallet: SharingClient, patient: str, key: bytes) -> int:
    sealed = cast.sealed(b"referred", POLICY)
    record_id = cast.clinic_doctor.upload(patient, "lab", POLICY, sealed)["record_id"]
    consent = wallet.grant_consent(
        key, grantee=cast.address("h3"), categories=["lab"], purposes=["referral"]
    )
    out = cast.clinic_doctor.create_referral(
        patient, cast.address("h3"), [record_id], consent["consent_id"], reason=REASON
    )
    return int(out["referral_id"])


def test_no_referral_event_holds_a_text_or_its_unsalted_hash(cast: Cast) -> None:
    account = known_patient(cast)
    with SharingClient(cast.api.url) as wallet:
        wallet.login(account.key)
        rejected = _refer(cast, wallet, account.address, account.key)
        cast.h3_doctor.reject_referral(rejected, NOTES["reject"])
        cancelled = _refer(cast, wallet, account.address, account.key)
        cast.clinic_doctor.cancel_referral(cancelled, NOTES["cancel"])
        logs = _registry_logs(cast)
        assert logs
        for text in [REASON, *NOTES.values()]:
            unsalted = hashlib.sha256(text.encode()).digest()
            for raw in logs:
                assert unsalted not in raw, f"the chain holds SHA-256({text!r})"
                assert text.encode() not in raw
        # The texts are kept off chain, and the patient checks them against the chain.
        texts = {t.kind: t for t in wallet.referral_texts(rejected)}
    assert texts["reason"].text == REASON and texts["reason"].matches_chain
    assert texts["reject"].text == NOTES["reject"] and texts["reject"].matches_chain
