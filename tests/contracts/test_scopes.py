"""The Python numbers in ``sharing_api.chain.scopes`` are the contracts' numbers: enum
members in the same order as the Solidity enums, and the appended members (Basis.Custodian,
ProposalKind.ClearGateway) meaning on chain what Python calls them."""

from __future__ import annotations

import re
from enum import IntEnum

import pytest

from contracts import build
from sharing_api.chain import Basis, Category, ProposalKind, Purpose
from sharing_api.chain.scopes import ConsultationStatus, Direction, ReferralStatus, Review
from tests.contracts.conftest import Actors
from tests.contracts.helpers import register, reverts


def _solidity_enum(source: str, name: str) -> list[str]:
    text = (build.REPO / "contracts" / "src" / source).read_text()
    found = re.search(r"enum\s+" + name + r"\s*\{([^}]*)\}", text)
    assert found, f"no enum {name} in {source}"
    body = re.sub(r"//[^\n]*", "", found.group(1))
    return [m.strip() for m in body.split(",") if m.strip()]


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper()


@pytest.mark.parametrize(
    ("source", "name", "py"),
    [
        ("AccessLog.sol", "Basis", Basis),
        ("AccessLog.sol", "Review", Review),
        ("AllianceRegistry.sol", "ProposalKind", ProposalKind),
        ("ReferralRegistry.sol", "Status", ReferralStatus),
        ("ReferralRegistry.sol", "Direction", Direction),
        ("ConsultationRegistry.sol", "Status", ConsultationStatus),
    ],
)
def test_python_enums_follow_the_solidity_enums(source: str, name: str, py: type[IntEnum]) -> None:
    assert [_snake(m) for m in _solidity_enum(source, name)] == [m.name for m in py]


def test_appended_members_keep_earlier_numbers() -> None:
    assert [int(b) for b in Basis] == [0, 1, 2, 3, 4] and int(Basis.CUSTODIAN) == 3
    assert [int(k) for k in ProposalKind] == [0, 1, 2, 3, 4]
    assert int(ProposalKind.CLEAR_GATEWAY) == 4
    assert len(Category) == 6 and int(Purpose.EMERGENCY) == 4


@pytest.mark.integration
def test_deployed_contracts_agree_on_the_new_numbers(actors: Actors) -> None:
    h1, clinic = actors.h1.client.address, actors.clinic.client.address
    record = register(actors.h1, actors.patient, Category.LAB)
    # Basis 3 is Custodian: its own rule (reader must be the custodian) answers, not another.
    reverts(
        "ReaderNotCustodian",
        lambda: actors.clinic.access.log_access(record, clinic, Purpose.TREATMENT, Basis(3)),
    )
    logged = actors.h1.access.log_access(record, h1, Purpose.TREATMENT, Basis(3))
    assert actors.h1.access.events("AccessLogged")[-1].args["accessId"] == logged.access_id
    # ProposalKind 4 is ClearGateway: it asks for an existing gateway entry.
    reverts("NoGateway", lambda: actors.h1.registry.propose(ProposalKind(4), account=clinic))
