"""ReferralRegistry: creation on consent or signature, every transition, access only while
accepted and unexpired, the patient's withdrawal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account

from sharing_api.chain import Basis, Category, Direction, Purpose, ReferralStatus
from sharing_api.chain.referrals import Referred
from sharing_api.chain.typed_data import Signature
from tests.contracts.conftest import Actors
from tests.contracts.helpers import grant, register, reverts, sha

pytestmark = pytest.mark.integration
LASTS = 1_800  # a referral's life in these tests (the helpers' consents last an hour)
MAX_DURATION = 90 * 86_400


def _referral(actors: Actors) -> tuple[Referred, int, int]:
    """h1 (tertiary) refers the patient down to the clinic with a lab and a discharge record."""
    clinic = actors.clinic.client.address
    g = grant(
        actors.h1,
        actors.patient,
        clinic,
        categories=(Category.LAB, Category.DISCHARGE),
        purposes=(Purpose.REFERRAL,),
    )
    lab = register(actors.h1, actors.patient, Category.LAB)
    discharge = register(actors.h1, actors.patient, Category.DISCHARGE)
    referred = actors.h1.referrals.create(
        actors.patient.address,
        clinic,
        Direction.DOWN,
        [lab, discharge],
        g.consent_id,
        actors.now() + LASTS,
        sha("rehab"),
    )
    return referred, lab, g.consent_id


def test_referral_lifecycle_and_access_while_active(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    referred, lab, consent_id = _referral(actors)
    rid = referred.referral_id
    info = actors.clinic.referrals.get(rid)
    assert (info.status, info.direction, info.referrer, info.receiver, info.consent_id) == (
        ReferralStatus.CREATED,
        Direction.DOWN,
        actors.h1.client.address,
        clinic,
        consent_id,
    )
    created = actors.regulator.referrals.events("ReferralCreated", referralId=rid)[-1].args
    assert created["recordIds"] == [lab, lab + 1] and created["reasonHash"] == sha("rehab")
    assert created["expiresAt"] == info.expires_at > actors.now()

    log = actors.clinic.access.log_access
    # Created is not yet a basis: access starts when the receiver accepts.
    reverts("BasisDoesNotCover", lambda: log(lab, clinic, Purpose.TREATMENT, Basis.REFERRAL, rid))
    actors.clinic.referrals.accept(rid)
    assert log(lab, clinic, Purpose.REFERRAL, Basis.REFERRAL, rid).access_id > 0
    reverts("InvalidPurpose", lambda: log(lab, clinic, Purpose.RESEARCH, Basis.REFERRAL, rid))
    not_handed_over = register(actors.h1, actors.patient, Category.LAB, "other")
    reverts(
        "BasisDoesNotCover",
        lambda: log(not_handed_over, clinic, Purpose.TREATMENT, Basis.REFERRAL, rid),
    )
    h3 = actors.h3.client.address
    reverts(
        "BasisDoesNotCover",
        lambda: actors.h3.access.log_access(lab, h3, Purpose.TREATMENT, Basis.REFERRAL, rid),
    )

    actors.clinic.referrals.complete(rid, sha("discharged home"))
    assert actors.h1.referrals.get(rid).status == ReferralStatus.COMPLETED
    reverts("BasisDoesNotCover", lambda: log(lab, clinic, Purpose.TREATMENT, Basis.REFERRAL, rid))
    moves = actors.regulator.referrals.events("ReferralStatusChanged", referralId=rid)
    assert [(e.args["from"], e.args["to"]) for e in moves] == [(0, 1), (1, 2), (2, 4)]
    assert moves[-1].args["by"] == clinic and moves[-1].args["noteHash"] == sha("discharged home")


def _assert_invalid(fn: Callable[[], object], from_status: ReferralStatus) -> None:
    err = reverts("InvalidTransition", fn)
    assert err.args_by_name["from"] == from_status


def test_every_invalid_transition_reverts(actors: Actors) -> None:
    receiver, referrer = actors.clinic.referrals, actors.h1.referrals
    # Created: complete is invalid
    created, _, _ = _referral(actors)
    _assert_invalid(lambda: receiver.complete(created.referral_id), ReferralStatus.CREATED)
    # Accepted: accept, reject are invalid
    receiver.accept(created.referral_id)
    _assert_invalid(lambda: receiver.accept(created.referral_id), ReferralStatus.ACCEPTED)
    _assert_invalid(lambda: receiver.reject(created.referral_id), ReferralStatus.ACCEPTED)
    # Rejected, Completed, Cancelled are final
    rejected, _, _ = _referral(actors)
    receiver.reject(rejected.referral_id, sha("no beds"))
    completed, cancelled = created, _referral(actors)[0]
    receiver.complete(completed.referral_id)
    referrer.cancel(cancelled.referral_id, sha("patient moved"))
    for final, status in (
        (rejected, ReferralStatus.REJECTED),
        (completed, ReferralStatus.COMPLETED),
        (cancelled, ReferralStatus.CANCELLED),
    ):
        rid = final.referral_id
        _assert_invalid(lambda rid=rid: receiver.accept(rid), status)  # type: ignore[misc]
        _assert_invalid(lambda rid=rid: receiver.reject(rid), status)  # type: ignore[misc]
        _assert_invalid(lambda rid=rid: receiver.complete(rid), status)  # type: ignore[misc]
        _assert_invalid(lambda rid=rid: referrer.cancel(rid), status)  # type: ignore[misc]
    # Accepted can be cancelled by the referrer
    accepted, _, _ = _referral(actors)
    receiver.accept(accepted.referral_id)
    referrer.cancel(accepted.referral_id)
    assert referrer.get(accepted.referral_id).status == ReferralStatus.CANCELLED


def test_only_the_right_party_moves_a_referral(actors: Actors) -> None:
    referred, _, _ = _referral(actors)
    rid = referred.referral_id
    reverts("NotReceiver", lambda: actors.h1.referrals.accept(rid))
    reverts("NotReceiver", lambda: actors.h3.referrals.reject(rid))
    reverts("NotReceiver", lambda: actors.outsider.referrals.complete(rid))
    reverts("NotReferrer", lambda: actors.clinic.referrals.cancel(rid))
    reverts("UnknownReferral", lambda: actors.clinic.referrals.accept(rid + 50))


def test_create_requires_a_live_referral_consent(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    patient = actors.patient.address
    treatment_only = grant(
        actors.h1, actors.patient, clinic, categories=(Category.LAB,), purposes=(Purpose.TREATMENT,)
    )
    lab = register(actors.h1, actors.patient, Category.LAB)
    imaging = register(actors.h1, actors.patient, Category.IMAGING)
    until = actors.now() + LASTS

    def create(
        patient: str, receiver: str, direction: Direction, ids: list[int], consent_id: int
    ) -> Referred:
        return actors.h1.referrals.create(patient, receiver, direction, ids, consent_id, until)

    reverts(
        "ConsentDoesNotCover",
        lambda: create(patient, clinic, Direction.DOWN, [lab], treatment_only.consent_id),
    )
    referral_lab = grant(
        actors.h1, actors.patient, clinic, categories=(Category.LAB,), purposes=(Purpose.REFERRAL,)
    )
    err = reverts(
        "ConsentDoesNotCover",
        lambda: create(patient, clinic, Direction.DOWN, [lab, imaging], referral_lab.consent_id),
    )
    assert err.args_by_name["recordId"] == imaging
    other = register(actors.h1, actors.paying_patient, Category.LAB)
    reverts(
        "RecordNotOfPatient",
        lambda: create(patient, clinic, Direction.DOWN, [other], referral_lab.consent_id),
    )
    reverts(
        "NoRecords", lambda: create(patient, clinic, Direction.DOWN, [], referral_lab.consent_id)
    )
    reverts(
        "InvalidReceiver",
        lambda: create(
            patient, actors.h1.client.address, Direction.UP, [lab], referral_lab.consent_id
        ),
    )
    reverts(
        "InvalidReceiver",
        lambda: create(
            patient, actors.outsider.client.address, Direction.UP, [lab], referral_lab.consent_id
        ),
    )
    reverts(
        "NotMember",
        lambda: actors.outsider.referrals.create(
            patient, clinic, Direction.UP, [lab], referral_lab.consent_id, until
        ),
    )
    reverts(
        "InvalidReceiver",
        lambda: create(
            patient, actors.regulator.client.address, Direction.UP, [lab], referral_lab.consent_id
        ),
    )
    # Every referral ends: in the future, within MAX_DURATION, not after its consent.
    at = actors.h1.referrals.create
    consent_id = referral_lab.consent_id
    for bad in (actors.now() - 1, actors.now() + MAX_DURATION + 600):
        err = reverts(
            "InvalidExpiry",
            lambda bad=bad: at(patient, clinic, Direction.DOWN, [lab], consent_id, bad),  # type: ignore[misc]
        )
        assert err.args_by_name["expiresAt"] == bad
    err = reverts(
        "ExpiryBeyondConsent",
        lambda: at(patient, clinic, Direction.DOWN, [lab], consent_id, actors.now() + 7_200),
    )
    assert err.args_by_name["consentId"] == consent_id
    assert create(patient, clinic, Direction.DOWN, [lab], referral_lab.consent_id).referral_id > 0


def test_revoking_the_consent_ends_referral_access(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    referred, lab, consent_id = _referral(actors)
    actors.clinic.referrals.accept(referred.referral_id)
    deadline = actors.now() + 600
    nonce, sig = actors.h1.consents.sign_revoke(consent_id, actors.patient.key, deadline=deadline)
    actors.h1.consents.revoke_by_sig(consent_id, nonce, deadline, sig)
    assert not actors.h1.referrals.covers_access(
        referred.referral_id, actors.patient.address, clinic, lab
    )
    reverts(
        "BasisDoesNotCover",
        lambda: actors.clinic.access.log_access(
            lab, clinic, Purpose.TREATMENT, Basis.REFERRAL, referred.referral_id
        ),
    )


def test_referral_signed_by_the_patient_in_the_same_call(actors: Actors) -> None:
    h1, clinic = actors.h1.client.address, actors.clinic.client.address
    patient = actors.patient
    record = register(actors.clinic, patient, Category.CHRONIC_CARE)
    deadline = actors.now() + 600
    until = actors.now() + LASTS
    refs = actors.clinic.referrals

    def sign(key: bytes, **changes: Any) -> Signature:
        fields: dict[str, Any] = {
            "referrer": clinic,
            "receiver": h1,
            "direction": Direction.UP,
            "record_ids": [record],
            "expires_at": until,
            "deadline": deadline,
        }
        fields.update(changes)
        return refs.sign_referral(key, **fields)

    forged = sign(Account.create().key)
    reverts(
        "InvalidSignature",
        lambda: refs.create_with_sig(
            patient.address, h1, Direction.UP, [record], until, deadline, forged
        ),
    )
    wrong_receiver = sign(patient.key, receiver=actors.h3.client.address)
    reverts(
        "InvalidSignature",
        lambda: refs.create_with_sig(
            patient.address, h1, Direction.UP, [record], until, deadline, wrong_receiver
        ),
    )
    expired = sign(patient.key, deadline=deadline - 1200)
    reverts(
        "SignatureExpired",
        lambda: refs.create_with_sig(
            patient.address, h1, Direction.UP, [record], until, deadline - 1200, expired
        ),
    )

    longer = sign(patient.key)  # signed for `until`, relayed with a later expiry
    reverts(
        "InvalidSignature",
        lambda: refs.create_with_sig(
            patient.address, h1, Direction.UP, [record], until + 60, deadline, longer
        ),
    )

    sig = sign(patient.key)
    referred = refs.create_with_sig(
        patient.address, h1, Direction.UP, [record], until, deadline, sig
    )
    info = refs.get(referred.referral_id)
    assert (info.direction, info.consent_id, info.receiver) == (Direction.UP, 0, h1)
    assert info.expires_at == until
    reverts(
        "InvalidSignature",
        lambda: refs.create_with_sig(
            patient.address, h1, Direction.UP, [record], until, deadline, sig
        ),
    )
    actors.h1.referrals.accept(referred.referral_id)
    logged = actors.h1.access.log_access(
        record, h1, Purpose.TREATMENT, Basis.REFERRAL, referred.referral_id
    )
    assert logged.access_id > 0


def _signed_referral(actors: Actors) -> tuple[int, int]:
    """The clinic refers the patient up to h1 on the patient's signature; h1 accepts."""
    h1 = actors.h1.client.address
    record = register(actors.clinic, actors.patient, Category.CHRONIC_CARE)
    deadline, until = actors.now() + 600, actors.now() + LASTS
    refs = actors.clinic.referrals
    sig = refs.sign_referral(
        actors.patient.key,
        referrer=actors.clinic.client.address,
        receiver=h1,
        direction=Direction.UP,
        record_ids=[record],
        expires_at=until,
        deadline=deadline,
    )
    rid = refs.create_with_sig(
        actors.patient.address, h1, Direction.UP, [record], until, deadline, sig
    ).referral_id
    actors.h1.referrals.accept(rid)
    return rid, record


def test_the_patient_withdraws_by_signature_relayed_by_any_member(actors: Actors) -> None:
    h1 = actors.h1.client.address
    patient = actors.patient
    rid, record = _signed_referral(actors)
    assert actors.h1.referrals.covers_access(rid, patient.address, h1, record)
    refs = actors.h3.referrals  # a member party to nothing relays: the signature decides
    deadline = actors.now() + 600
    nonce, sig = refs.sign_withdraw(rid, patient.key, deadline=deadline)
    _, forged = refs.sign_withdraw(rid, Account.create().key, deadline=deadline, nonce=nonce)
    reverts("InvalidSignature", lambda: refs.withdraw_by_sig(rid, nonce, deadline, forged))
    reverts("InvalidNonce", lambda: refs.withdraw_by_sig(rid, nonce + 1, deadline, sig))
    reverts(
        "NotMember", lambda: actors.outsider.referrals.withdraw_by_sig(rid, nonce, deadline, sig)
    )
    refs.withdraw_by_sig(rid, nonce, deadline, sig)

    assert refs.get(rid).status == ReferralStatus.WITHDRAWN
    assert refs.nonce_of(patient.address) == nonce + 1
    assert not refs.covers_access(rid, patient.address, h1, record)
    reverts(
        "BasisDoesNotCover",
        lambda: actors.h1.access.log_access(record, h1, Purpose.TREATMENT, Basis.REFERRAL, rid),
    )
    moved = actors.regulator.referrals.events("ReferralStatusChanged", referralId=rid)[-1].args
    assert (moved["from"], moved["to"], moved["by"]) == (2, 6, patient.address)
    # Withdrawn is final; the same signature cannot be replayed either.
    reverts("InvalidNonce", lambda: refs.withdraw_by_sig(rid, nonce, deadline, sig))
    _assert_invalid(lambda: actors.h1.referrals.complete(rid), ReferralStatus.WITHDRAWN)
    _assert_invalid(lambda: actors.clinic.referrals.cancel(rid), ReferralStatus.WITHDRAWN)


def test_the_patient_withdraws_by_own_transaction(actors: Actors, open_chain: Any) -> None:
    """A patient that can pay gas calls `withdraw` itself; nobody else may."""
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.paying_patient, clinic, purposes=(Purpose.REFERRAL,))
    lab = register(actors.h1, actors.paying_patient, Category.LAB)
    rid = actors.h1.referrals.create(
        actors.paying_patient.address, clinic, Direction.DOWN, [lab], g.consent_id,
        actors.now() + LASTS,
    ).referral_id  # fmt: skip
    reverts("NotPatient", lambda: actors.h1.referrals.withdraw(rid))
    actors.paying_patient_chain.referrals.withdraw(rid)  # still Created: withdrawn before use
    assert actors.h1.referrals.get(rid).status == ReferralStatus.WITHDRAWN
    _assert_invalid(lambda: actors.clinic.referrals.accept(rid), ReferralStatus.WITHDRAWN)
