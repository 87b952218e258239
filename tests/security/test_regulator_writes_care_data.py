"""Threat: the regulator, read-only in the API, was a full writer on chain: it could
register records, create referrals and log accesses (main: every member could). Only
hospitals and clinics write care data now; the regulator keeps its governance vote
(contracts/README.md says why)."""

from __future__ import annotations

import pytest

from sharing_api.chain import Basis, Category, Direction, Purpose, Role
from tests.contracts.conftest import Actors
from tests.contracts.helpers import CID, POLICY, grant, register, reverts, sha
from tests.security.anvil_alliance import anvil_actors, anvil_endpoint  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


def test_the_regulator_cannot_register_a_record(actors: Actors) -> None:
    regulator = actors.regulator.client.address
    err = reverts(
        "NotCareProvider",
        lambda: actors.regulator.records.register(
            actors.patient.address, Category.LAB, CID, sha("x"), POLICY
        ),
    )
    assert err.args_by_name["account"] == regulator


def test_the_regulator_cannot_create_a_referral(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    regulator = actors.regulator.client.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    lab = register(actors.h1, actors.patient, Category.LAB)
    err = reverts(
        "NotCareProvider",
        lambda: actors.regulator.referrals.create(
            actors.patient.address,
            clinic,
            Direction.DOWN,
            [lab],
            g.consent_id,
            expires_at=actors.now() + 600,
        ),
    )
    assert err.args_by_name["account"] == regulator


def test_the_regulator_cannot_log_an_access(actors: Actors) -> None:
    regulator = actors.regulator.client.address
    # Even with a consent that names the regulator, and even break-glass.
    g = grant(actors.h1, actors.patient, regulator, categories=(Category.LAB,))
    lab = register(actors.h1, actors.patient, Category.LAB)
    access = actors.regulator.access
    for log in (
        lambda: access.log_access(lab, regulator, Purpose.TREATMENT, Basis.CONSENT, g.consent_id),
        lambda: access.log_break_glass(lab, regulator, sha("audit")),
    ):
        err = reverts("NotCareProvider", log)
        assert err.args_by_name["account"] == regulator


def test_the_regulator_keeps_its_governance_vote(actors: Actors) -> None:
    """The decision recorded in contracts/README.md: membership is the regulator's business."""
    newcomer = actors.outsider.client.address
    proposed = actors.h1.registry.propose_add_member(newcomer, Role.CLINIC, "Township clinic")
    assert not proposed.executed
    assert actors.regulator.registry.approve(proposed.proposal_id).executed  # 2nd of 2
    assert actors.h1.registry.is_member(newcomer)
