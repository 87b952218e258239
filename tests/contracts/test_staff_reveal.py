"""AllianceRegistry.recordStaffReveal: a member records that it revealed one of its staff
pseudonyms to the regulator (event StaffRevealed); only to a regulator, only as itself."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import Actors
from tests.contracts.helpers import reverts, sha

pytestmark = pytest.mark.integration


def test_a_member_records_a_reveal_to_the_regulator_only(actors: Actors, chain: Any) -> None:
    regulator, clinic = actors.regulator.client.address, actors.clinic.client.address
    staff = sha("pseudonym")
    sent = actors.h1.registry.record_staff_reveal(staff, regulator)
    print(f"{chain.name}: recordStaffReveal {sent.gas_used} gas")
    [event] = actors.regulator.registry.events("StaffRevealed")
    assert event.args["member"] == actors.h1.client.address
    assert bytes(event.args["staff"]) == staff and event.args["regulator"] == regulator

    err = reverts("NotRegulator", lambda: actors.h1.registry.record_staff_reveal(staff, clinic))
    assert err.args_by_name["account"] == clinic
    reverts(
        "MissingPseudonym", lambda: actors.h1.registry.record_staff_reveal(b"\0" * 32, regulator)
    )
    reverts("NotMember", lambda: actors.outsider.registry.record_staff_reveal(staff, regulator))
    assert len(actors.regulator.registry.events("StaffRevealed")) == 1
