"""Threat: a referral only *created* by the referrer already let the receiver read the
handed-over records, before the receiver took the patient on (main: coversAccess accepted
status Created). Access now starts when the receiver accepts."""

from __future__ import annotations

import pytest

from sharing_api.chain import Basis, Category, Direction, Purpose, ReferralStatus
from tests.contracts.conftest import Actors
from tests.contracts.helpers import grant, register, reverts
from tests.security.anvil_alliance import anvil_actors, anvil_endpoint  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


def test_a_created_referral_does_not_grant_reading(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    patient = actors.patient.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    lab = register(actors.h1, actors.patient, Category.LAB)
    rid = actors.h1.referrals.create(
        patient, clinic, Direction.DOWN, [lab], g.consent_id, expires_at=actors.now() + 600
    ).referral_id
    assert actors.clinic.referrals.get(rid).status is ReferralStatus.CREATED

    assert not actors.clinic.referrals.covers_access(rid, patient, clinic, lab)
    reverts(
        "BasisDoesNotCover",
        lambda: actors.clinic.access.log_access(
            lab, clinic, Purpose.TREATMENT, Basis.REFERRAL, rid
        ),
    )
    actors.clinic.referrals.accept(rid)  # now, and only now, it is a basis
    assert actors.clinic.referrals.covers_access(rid, patient, clinic, lab)
