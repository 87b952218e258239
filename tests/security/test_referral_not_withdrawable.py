"""Threat: a patient who signed a referral in the wallet could never take it back (main:
no withdrawal; only the referrer or receiver ended it). End to end through the API: the
patient signs a Withdraw, a member relays it, and the receiver's next read is refused."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from sharing_api.sdk import ApiError, SharingClient
from tests.api.conftest import Cast, alliance, api, cast  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


def test_a_patient_withdraws_a_signed_referral_and_the_next_read_is_refused(
    request: pytest.FixtureRequest,
) -> None:
    c: Cast = request.getfixturevalue("cast")
    key = Account.create()
    patient = SharingClient(c.api.url)
    patient.login(key.key)
    hex_key = "0x" + bytes(key.key).hex()
    try:
        sealed = c.clinic.seal(b"{}", "c1.role:doctor", [c.clinic.authority_params("c1")])
        record = c.clinic.upload(key.address, "summary", "c1.role:doctor", sealed)["record_id"]
        proposal = c.clinic_doctor.propose_referral(
            key.address, c.address("h3"), record_ids=[record], reason="cardiology"
        )
        accepted = patient.accept_referral_proposal(
            hex_key, proposal["proposal_id"], lasts_s=7 * 86_400
        )
        rid = int(accepted["referral_id"])
        referral = c.h3_doctor.json("POST", f"/referrals/{rid}/accept")
        assert referral["status"] == "accepted" and not referral["expired"]
        assert 0 < referral["expires_at"] - time.time() <= 7 * 86_400
        c.h3_doctor.fetch(record, referral_id=rid)  # the receiver reads

        withdrawn = patient.withdraw_referral(hex_key, rid)

        assert withdrawn["status"] == "withdrawn"
        with pytest.raises(ApiError) as refused:
            c.h3_doctor.fetch(record, referral_id=rid)
        assert refused.value.status == 403
        history = patient.referral_history(rid)
        assert history[-1]["to_status"] == "withdrawn"
        assert history[-1]["by"] == key.address.lower()
        # Someone else's signature withdraws nothing (the contract checks it).
        stranger = "0x" + bytes(Account.create().key).hex()
        with pytest.raises(ApiError):
            patient.withdraw_referral(stranger, rid)
    finally:
        patient.close()
