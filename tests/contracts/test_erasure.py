"""RecordRegistry.erase: the custodian marks records erased (their ciphertext deleted at the
patient's request); no access can be logged for them after, and the event names nothing
about the patient."""

from __future__ import annotations

import pytest

from sharing_api.chain import Basis, Category, Purpose
from tests.contracts.conftest import Actors
from tests.contracts.helpers import grant, register, reverts

pytestmark = pytest.mark.integration


def test_the_custodian_erases_and_no_access_is_logged_after(actors: Actors) -> None:
    record = register(actors.h1, actors.patient, Category.LAB, "erase")
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic)
    actors.clinic.access.log_access(record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id)

    reverts("NotCustodian", lambda: actors.clinic.records.erase([record]))
    reverts("UnknownRecord", lambda: actors.h1.records.erase([10**9]))
    actors.h1.records.erase([record])
    assert actors.regulator.records.get(record).erased
    reverts("AlreadyErased", lambda: actors.h1.records.erase([record]))
    reverts(
        "RecordIsErased",
        lambda: actors.clinic.access.log_access(
            record, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
        ),
    )
    event = actors.regulator.records.events("RecordErased")[-1]
    assert dict(event.args) == {"recordId": record, "custodian": actors.h1.client.address}


def test_a_batch_that_names_one_foreign_record_erases_none(actors: Actors) -> None:
    mine = register(actors.h1, actors.patient, Category.LAB, "mine")
    theirs = register(actors.clinic, actors.patient, Category.LAB, "theirs")
    reverts("NotCustodian", lambda: actors.h1.records.erase([mine, theirs]))
    assert not actors.regulator.records.get(mine).erased
