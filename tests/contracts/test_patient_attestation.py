"""ConsentRegistry.attestPatient: only a hospital or clinic attests; the event names the
patient's address and the member, nothing else."""

from __future__ import annotations

from eth_account import Account

from tests.contracts.conftest import Actors
from tests.contracts.helpers import reverts


def test_only_care_providers_attest_and_the_event_is_minimal(actors: Actors) -> None:
    patient = Account.create().address
    consents = actors.h1.consents
    assert not consents.is_known_patient(patient)
    reverts("NotCareProvider", lambda: actors.regulator.consents.attest_patient(patient))
    reverts("NotMember", lambda: actors.outsider.consents.attest_patient(patient))
    reverts("ZeroAddress", lambda: actors.clinic.consents.attest_patient("0x" + "00" * 20))
    assert not consents.is_known_patient(patient)

    sent = actors.clinic.consents.attest_patient(patient)
    assert consents.is_known_patient(patient)
    (event,) = consents.events("PatientAttested", from_block=sent.block_number)
    assert dict(event.args) == {"patient": patient, "member": actors.clinic.client.address}
    actors.h1.consents.attest_patient(patient)  # a second member may vouch too
    assert consents.is_known_patient(patient)
