"""Threat: a referral the patient signed (no consent behind it) lasted for ever: nothing
ended it but the referrer or receiver (main: no expiry at all). Every referral now carries
the expiry the patient signed, and access through it stops then."""

from __future__ import annotations

import pytest

from sharing_api.chain import Basis, Category, Direction, Purpose, ReferralStatus
from tests.contracts.conftest import Actors
from tests.contracts.helpers import register, reverts
from tests.security.anvil_alliance import anvil_actors, anvil_endpoint, travel  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


def _signed(actors: Actors, lasts: int) -> tuple[int, int]:
    h1 = actors.h1.client.address
    record = register(actors.clinic, actors.patient, Category.CHRONIC_CARE)
    deadline, expires_at = actors.now() + 600, actors.now() + lasts
    refs = actors.clinic.referrals
    sig = refs.sign_referral(
        actors.patient.key,
        referrer=actors.clinic.client.address,
        receiver=h1,
        direction=Direction.UP,
        record_ids=[record],
        expires_at=expires_at,
        deadline=deadline,
    )
    referred = refs.create_with_sig(
        actors.patient.address, h1, Direction.UP, [record], expires_at, deadline, sig
    )
    return referred.referral_id, record


def test_a_referral_past_its_own_expiry_does_not_grant_reading(
    actors: Actors,
) -> None:
    h1, patient = actors.h1.client.address, actors.patient.address
    rid, record = _signed(actors, lasts=3_600)
    actors.h1.referrals.accept(rid)
    assert actors.h1.referrals.covers_access(rid, patient, h1, record)

    travel(actors, 3_601)

    info = actors.h1.referrals.get(rid)
    assert info.status is ReferralStatus.ACCEPTED and not info.grants_access(actors.now())
    assert not actors.h1.referrals.covers_access(rid, patient, h1, record)
    reverts(
        "BasisDoesNotCover",
        lambda: actors.h1.access.log_access(record, h1, Purpose.TREATMENT, Basis.REFERRAL, rid),
    )


def test_an_expired_referral_cannot_be_accepted(actors: Actors) -> None:
    rid, _ = _signed(actors, lasts=600)
    travel(actors, 601)
    err = reverts("ReferralExpired", lambda: actors.h1.referrals.accept(rid))
    assert err.args_by_name["referralId"] == rid


def test_no_referral_lasts_longer_than_the_maximum(actors: Actors) -> None:
    reverts("InvalidExpiry", lambda: _signed(actors, lasts=90 * 86_400 + 600))
