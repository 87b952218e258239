"""Threat: any address that signed in became a "patient" and the API relayed its grants,
so anyone could mint keys and make the alliance pay for their consents. Now a consent is
relayed only for a patient a member has verified and attested on chain (the attestation
names the patient's address and the member, nothing else); others get 403 with what to do."""

from __future__ import annotations

import pytest
from eth_account import Account

from sharing_api.sdk import ApiError, SharingClient
from tests.api.conftest import Cast


def test_unattested_patients_grant_is_refused_until_a_member_attests(
    cast: Cast, unchanged: None
) -> None:
    patient = Account.create()
    with SharingClient(cast.api.url) as wallet:
        wallet.login(patient.key)
        for relayer in (wallet, cast.h1):  # the patient's own wallet, or a member relaying
            with pytest.raises(ApiError) as caught:
                relayer.grant_consent(
                    patient.key,
                    grantee=cast.address("h1"),
                    categories=["lab"],
                    purposes=["treatment"],
                )
            assert caught.value.status == 403
            assert "ask a member" in str(caught.value) and "attest" in str(caught.value)


def test_attestation_names_only_the_patient_and_the_member(cast: Cast) -> None:
    patient = Account.create()
    for stranger in (cast.patient, cast.regulator, cast.h1_doctor):  # members only
        with pytest.raises(ApiError) as caught:
            stranger.attest_patient(patient.address)
        assert caught.value.status == 403
    out = cast.clinic.attest_patient(patient.address)
    assert out["known"] is True and out["member"] == cast.address("clinic")
    consents = cast.api.services.reader.consents
    (event,) = consents.events("PatientAttested", from_block=0, patient=patient.address)
    assert dict(event.args) == {"patient": patient.address, "member": cast.address("clinic")}
    with SharingClient(cast.api.url) as wallet:
        wallet.login(patient.key)
        granted = wallet.grant_consent(
            patient.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
        )
    assert granted["patient"] == patient.address.lower()
