"""Property: the on-chain ``permits`` agrees with the off-chain rule for random scopes."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharing_api.chain import Category, Purpose, Role
from tests.contracts.conftest import Actors
from tests.contracts.helpers import grant

pytestmark = pytest.mark.integration

scopes = st.tuples(
    st.sets(st.sampled_from(list(Category)), min_size=1),
    st.sets(st.sampled_from(list(Purpose)), min_size=1),
    st.sampled_from(["clinic", "h3", Role.HOSPITAL, Role.CLINIC, Role.REGULATOR]),
    st.sampled_from(["h1", "clinic", "h3", "regulator", "outsider"]),
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scope=scopes)
def test_permits_matches_the_python_rule(actors: Actors, scope: tuple[Any, ...]) -> None:
    categories, purposes, who, reader_name = scope
    patient = Account.create()
    if isinstance(who, Role):
        g = grant(
            actors.h1,
            patient,
            grantee_role=who,
            categories=tuple(categories),
            purposes=tuple(purposes),
        )
    else:
        grantee = getattr(actors, who).client.address
        g = grant(
            actors.h1, patient, grantee, categories=tuple(categories), purposes=tuple(purposes)
        )
    info = actors.h1.consents.get(g.consent_id)
    now = actors.now()
    reader = getattr(actors, reader_name).client.address
    roles = actors.h1.registry.roles_of(reader)
    for category in Category:
        for purpose in Purpose:
            expected = info.covers(reader, roles, category, purpose, now)
            got = actors.h1.consents.permits(
                g.consent_id, patient.address, reader, category, purpose
            )
            assert got == expected, (reader_name, category, purpose)
