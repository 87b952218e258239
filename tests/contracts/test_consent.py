"""ConsentRegistry: EIP-712 grants and revocations relayed by members; the permission view."""

from __future__ import annotations

import dataclasses
import time

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from sharing_api.chain import Basis, Category, Purpose, Role
from sharing_api.chain.typed_data import Signature, grant_typed_data
from tests.contracts.conftest import Actors, ChainEndpoint
from tests.contracts.helpers import grant, register, reverts, sha, terms

pytestmark = pytest.mark.integration

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_relayed_grant_is_recorded_with_an_auditable_event(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    t = terms(actors.h1, actors.patient, grantee=clinic, document_hash=sha("fhir-consent"))
    sig = actors.h1.consents.sign_grant(t, actors.patient.key)
    granted = actors.h1.consents.grant_by_sig(t, sig)  # the patient holds no balance
    assert actors.h1.client.w3.eth.get_balance(actors.patient.address) == 0

    info = actors.h1.consents.get(granted.consent_id)
    assert info.patient == actors.patient.address and info.grantee == clinic
    assert not info.revoked
    event = actors.regulator.consents.events("ConsentGranted", patient=actors.patient.address)[-1]
    assert event.args["consentId"] == granted.consent_id
    assert event.args["grantee"] == clinic
    assert event.args["categories"] == t.categories and event.args["purposes"] == t.purposes
    assert event.args["validUntil"] == t.valid_until
    assert event.args["documentHash"] == sha("fhir-consent")
    assert event.args["relayer"] == actors.h1.client.address
    assert event.tx_hash == granted.sent.tx_hash
    assert actors.h1.consents.nonce_of(actors.patient.address) == 1


def test_permission_view_matches_scope(actors: Actors) -> None:
    clinic, h3 = actors.clinic.client.address, actors.h3.client.address
    patient = actors.patient.address
    granted = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    view = actors.regulator.consents
    assert view.is_permitted(patient, clinic, Category.LAB, Purpose.TREATMENT) == granted.consent_id
    assert view.permits(granted.consent_id, patient, clinic, Category.LAB, Purpose.REFERRAL)
    assert view.is_permitted(patient, clinic, Category.IMAGING, Purpose.TREATMENT) is None
    assert view.is_permitted(patient, clinic, Category.LAB, Purpose.RESEARCH) is None
    assert view.is_permitted(patient, h3, Category.LAB, Purpose.TREATMENT) is None
    other = Account.create().address
    assert not view.permits(granted.consent_id, other, clinic, Category.LAB, Purpose.TREATMENT)


def test_role_grantee_covers_every_member_with_that_role(actors: Actors) -> None:
    patient = actors.patient.address
    g = grant(actors.h1, actors.patient, grantee_role=Role.HOSPITAL)
    view = actors.h1.consents
    for hospital in (actors.h1.client.address, actors.h3.client.address):
        assert view.is_permitted(patient, hospital, Category.LAB, Purpose.TREATMENT) == g.consent_id
    assert (
        view.is_permitted(patient, actors.clinic.client.address, Category.LAB, Purpose.TREATMENT)
        is None
    )
    assert (
        view.is_permitted(patient, actors.outsider.client.address, Category.LAB, Purpose.TREATMENT)
        is None
    )


def test_non_member_cannot_relay(actors: Actors) -> None:
    t = terms(actors.outsider, actors.patient, grantee=actors.clinic.client.address)
    sig = actors.outsider.consents.sign_grant(t, actors.patient.key)
    err = reverts("NotMember", lambda: actors.outsider.consents.grant_by_sig(t, sig))
    assert err.args_by_name["account"] == actors.outsider.client.address


def test_replayed_signature_reverts(actors: Actors) -> None:
    t = terms(actors.h1, actors.patient, grantee=actors.clinic.client.address)
    sig = actors.h1.consents.sign_grant(t, actors.patient.key)
    actors.h1.consents.grant_by_sig(t, sig)
    err = reverts("InvalidNonce", lambda: actors.clinic.consents.grant_by_sig(t, sig))
    assert err.args_by_name["expected"] == 1
    assert len(actors.h1.consents.consent_ids_of(actors.patient.address)) == 1


def test_expired_signature_reverts(actors: Actors) -> None:
    now = actors.now()
    t = terms(actors.h1, actors.patient, grantee=actors.clinic.client.address, deadline=now - 1)
    sig = actors.h1.consents.sign_grant(t, actors.patient.key)
    err = reverts("SignatureExpired", lambda: actors.h1.consents.grant_by_sig(t, sig))
    assert err.args_by_name["deadline"] == now - 1


def test_forged_and_tampered_signatures_revert(actors: Actors) -> None:
    t = terms(actors.h1, actors.patient, grantee=actors.clinic.client.address)
    forger = Account.create()
    forged = actors.h1.consents.sign_grant(t, forger.key)  # someone else signs for the patient
    reverts("InvalidSignature", lambda: actors.h1.consents.grant_by_sig(t, forged))

    sig = actors.h1.consents.sign_grant(t, actors.patient.key)
    widened = dataclasses.replace(t, categories=0b111111)  # relayer widens the scope
    reverts("InvalidSignature", lambda: actors.h1.consents.grant_by_sig(widened, sig))
    redirected = dataclasses.replace(t, grantee=actors.h3.client.address)
    reverts("InvalidSignature", lambda: actors.h1.consents.grant_by_sig(redirected, sig))

    s = int.from_bytes(sig.s, "big")  # the malleable twin (n - s, flipped v) is refused too
    twin = Signature(v=55 - sig.v, r=sig.r, s=(SECP256K1_N - s).to_bytes(32, "big"))
    reverts("InvalidSignature", lambda: actors.h1.consents.grant_by_sig(t, twin))
    reverts(
        "InvalidSignature", lambda: actors.h1.consents.grant_by_sig(t, Signature(29, sig.r, sig.s))
    )
    # The genuine signature still works afterwards: nothing was consumed by the failures.
    assert actors.h1.consents.grant_by_sig(t, sig).consent_id > 0


def test_signature_for_another_deployment_is_refused(actors: Actors) -> None:
    t = terms(actors.h1, actors.patient, grantee=actors.clinic.client.address)
    wrong_contract = actors.h1.records.address  # domain bound to another verifyingContract
    typed = grant_typed_data(t, actors.h1.client.chain_id, wrong_contract)
    signed = Account.sign_message(encode_typed_data(full_message=typed), actors.patient.key)
    sig = Signature(signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))
    reverts("InvalidSignature", lambda: actors.h1.consents.grant_by_sig(t, sig))


def test_domain_separator_matches_eth_account(actors: Actors) -> None:
    consents = actors.h1.consents
    on_chain = bytes(consents.client.call(consents.fn.domainSeparator()))
    typed = grant_typed_data(
        terms(actors.h1, actors.patient, grantee=actors.clinic.client.address),
        consents.client.chain_id,
        consents.address,
    )
    assert encode_typed_data(full_message=typed).header == on_chain
    type_string = (
        "Grant(address patient,address grantee,uint8 granteeRole,uint16 categories,uint8 purposes,"
        "uint40 validFrom,uint40 validUntil,bytes32 documentHash,uint256 nonce,uint256 deadline)"
    )
    assert bytes(consents.client.call(consents.fn.GRANT_TYPEHASH())) == keccak(text=type_string)


def test_invalid_terms_are_refused(actors: Actors) -> None:
    h1, clinic = actors.h1, actors.clinic.client.address
    outsider = actors.outsider.client.address
    with pytest.raises(ValueError, match="not a member"):  # the client refuses before signing
        grant(h1, actors.patient, outsider)
    # Signed anyway and relayed: recorded, but inert while the grantee is not a member.
    t = dataclasses.replace(terms(h1, actors.patient, grantee=clinic), grantee=outsider)
    inert = h1.consents.grant_by_sig(t, h1.consents.sign_grant(t, actors.patient.key))
    assert not h1.consents.permits(
        inert.consent_id, actors.patient.address, outsider, Category.LAB, Purpose.TREATMENT
    )
    bad_role = dataclasses.replace(t, grantee_role=int(Role.CLINIC), nonce=t.nonce + 1)
    reverts(
        "InvalidGrantee",
        lambda: h1.consents.grant_by_sig(
            bad_role, h1.consents.sign_grant(bad_role, actors.patient.key)
        ),
    )
    reverts(
        "InvalidGrantee",
        lambda: grant(h1, actors.patient, grantee_role=Role.HOSPITAL | Role.CLINIC),
    )
    reverts("InvalidScope", lambda: grant(h1, actors.patient, clinic, categories=()))
    reverts("InvalidScope", lambda: grant(h1, actors.patient, clinic, purposes=()))
    now = actors.now()
    reverts(
        "InvalidWindow", lambda: grant(h1, actors.patient, clinic, valid_from=now, valid_until=now)
    )
    reverts("InvalidWindow", lambda: grant(h1, actors.patient, clinic, valid_until=now - 5))
    with pytest.raises(ValueError, match="exactly one"):
        h1.consents.grant_terms(
            actors.patient.address,
            grantee=clinic,
            grantee_role=Role.CLINIC,
            categories=[Category.LAB],
            purposes=[Purpose.TREATMENT],
            valid_from=now,
            valid_until=now + 10,
            deadline=now + 10,
        )


def test_revoke_by_signature_stops_the_view_and_the_access_log(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    patient = actors.patient.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    record = register(actors.h1, actors.patient, Category.LAB)
    actors.clinic.access.log_access(record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id)

    deadline = actors.now() + 600
    nonce, sig = actors.h1.consents.sign_revoke(g.consent_id, actors.patient.key, deadline=deadline)
    reverts(
        "NotMember",
        lambda: actors.outsider.consents.revoke_by_sig(g.consent_id, nonce, deadline, sig),
    )
    forged_nonce, forged = actors.h1.consents.sign_revoke(
        g.consent_id, Account.create().key, deadline=deadline, nonce=nonce
    )
    reverts(
        "InvalidSignature",
        lambda: actors.h3.consents.revoke_by_sig(g.consent_id, forged_nonce, deadline, forged),
    )
    actors.h3.consents.revoke_by_sig(g.consent_id, nonce, deadline, sig)  # any member relays
    reverts(
        "InvalidNonce", lambda: actors.h3.consents.revoke_by_sig(g.consent_id, nonce, deadline, sig)
    )

    assert actors.h1.consents.get(g.consent_id).revoked
    assert actors.h1.consents.is_permitted(patient, clinic, Category.LAB, Purpose.TREATMENT) is None
    reverts(
        "BasisDoesNotCover",
        lambda: actors.clinic.access.log_access(
            record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
        ),
    )
    event = actors.regulator.consents.events("ConsentRevoked", consentId=g.consent_id)[-1]
    assert event.args["patient"] == patient and event.args["relayer"] == actors.h3.client.address


def test_expired_revoke_signature_reverts(actors: Actors) -> None:
    g = grant(actors.h1, actors.patient, actors.clinic.client.address)
    deadline = actors.now() - 1
    nonce, sig = actors.h1.consents.sign_revoke(g.consent_id, actors.patient.key, deadline=deadline)
    reverts(
        "SignatureExpired",
        lambda: actors.h1.consents.revoke_by_sig(g.consent_id, nonce, deadline, sig),
    )


def test_patient_revokes_by_own_transaction(actors: Actors, open_chain: ChainEndpoint) -> None:
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.paying_patient, clinic)
    reverts("NotPatient", lambda: actors.h1.consents.revoke(g.consent_id))
    actors.paying_patient_chain.consents.revoke(g.consent_id)
    reverts("AlreadyRevoked", lambda: actors.paying_patient_chain.consents.revoke(g.consent_id))
    reverts("UnknownConsent", lambda: actors.paying_patient_chain.consents.revoke(10_000))
    assert (
        actors.h1.consents.is_permitted(
            actors.paying_patient.address, clinic, Category.LAB, Purpose.TREATMENT
        )
        is None
    )


def test_patient_voids_an_unrelayed_signature(actors: Actors, open_chain: ChainEndpoint) -> None:
    t = terms(actors.h1, actors.paying_patient, grantee=actors.clinic.client.address)
    sig = actors.h1.consents.sign_grant(t, actors.paying_patient.key)
    actors.paying_patient_chain.consents.use_nonce()
    reverts("InvalidNonce", lambda: actors.h1.consents.grant_by_sig(t, sig))


def test_expired_consent_stops_the_view_and_the_access_log(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    patient = actors.patient.address
    # Endpoint-agnostic (no evm_increaseTime): a short window, then wait it out on the clock.
    record = register(actors.h1, actors.patient, Category.LAB)  # also mines a fresh block
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,), valid_for=5)
    assert (
        actors.h1.consents.is_permitted(patient, clinic, Category.LAB, Purpose.TREATMENT)
        == g.consent_id
    )
    valid_until = actors.h1.consents.get(g.consent_id).valid_until
    while actors.now() < valid_until:
        time.sleep(max(0.5, valid_until - time.time() + 0.5))
        register(actors.h1, actors.patient, Category.LAB, f"tick{time.time()}")  # a new block
    assert actors.h1.consents.is_permitted(patient, clinic, Category.LAB, Purpose.TREATMENT) is None
    reverts(
        "BasisDoesNotCover",
        lambda: actors.clinic.access.log_access(
            record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
        ),
    )


def test_newest_covering_consent_is_found_among_many(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    patient = actors.patient.address
    lab = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    grant(actors.h1, actors.patient, clinic, categories=(Category.IMAGING,))
    grant(actors.h1, actors.patient, actors.h3.client.address, categories=(Category.LAB,))
    ids = actors.h1.consents.consent_ids_of(patient)
    assert len(ids) == 3 and ids[-1] == lab.consent_id
    assert (
        actors.h1.consents.is_permitted(patient, clinic, Category.LAB, Purpose.TREATMENT)
        == lab.consent_id
    )
