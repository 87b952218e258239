"""Threat: a referral created on a consent kept granting access after that consent ran
out (main: coversAccess checked revocation only, never the consent's end date)."""

from __future__ import annotations

import pytest

from sharing_api.chain import Basis, Category, Direction, Purpose
from tests.contracts.conftest import Actors
from tests.contracts.helpers import grant, register, reverts
from tests.security.anvil_alliance import anvil_actors, anvil_endpoint, travel  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


def test_a_referral_whose_consent_expired_does_not_grant_reading(
    actors: Actors,
) -> None:
    clinic = actors.clinic.client.address
    patient = actors.patient.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,), valid_for=3_600)
    lab = register(actors.h1, actors.patient, Category.LAB)
    consent_end = actors.h1.consents.get(g.consent_id).valid_until
    rid = actors.h1.referrals.create(
        patient, clinic, Direction.DOWN, [lab], g.consent_id, expires_at=consent_end
    ).referral_id
    actors.clinic.referrals.accept(rid)
    assert actors.clinic.referrals.covers_access(rid, patient, clinic, lab)

    travel(actors, consent_end - actors.now() + 1)  # the consent is over

    assert not actors.clinic.referrals.covers_access(rid, patient, clinic, lab)
    reverts(
        "BasisDoesNotCover",
        lambda: actors.clinic.access.log_access(
            lab, clinic, Purpose.TREATMENT, Basis.REFERRAL, rid
        ),
    )


def test_a_referral_cannot_be_made_to_outlast_its_consent(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,), valid_for=3_600)
    lab = register(actors.h1, actors.patient, Category.LAB)
    consent_end = actors.h1.consents.get(g.consent_id).valid_until
    err = reverts(
        "ExpiryBeyondConsent",
        lambda: actors.h1.referrals.create(
            actors.patient.address,
            clinic,
            Direction.DOWN,
            [lab],
            g.consent_id,
            expires_at=consent_end + 1,
        ),
    )
    assert err.args_by_name["consentUntil"] == consent_end
