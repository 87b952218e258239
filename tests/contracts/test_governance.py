"""AllianceRegistry: genesis, roles, and the M-of-N governance threshold."""

from __future__ import annotations

import pytest
from eth_account import Account

from sharing_api.chain import ProposalKind, Role
from tests.contracts.conftest import Actors
from tests.contracts.helpers import reverts

pytestmark = pytest.mark.integration


def test_genesis_members_roles_and_abe_hashes(actors: Actors) -> None:
    reg = actors.h1.registry
    h1, clinic = actors.h1.client.address, actors.clinic.client.address
    assert reg.members() == [h1, clinic, actors.h3.client.address, actors.regulator.client.address]
    assert reg.threshold() == 2
    assert reg.is_member(h1) and not reg.is_member(actors.outsider.client.address)
    assert not reg.is_member(actors.deployer.address)  # the deployer gets no power
    assert reg.roles_of(clinic) == Role.CLINIC | Role.ATTRIBUTE_AUTHORITY
    assert reg.has_role(clinic, Role.CLINIC) and not reg.has_role(clinic, Role.HOSPITAL)
    info = reg.member(h1)
    assert info.name == "Tertiary hospital" and info.abe_params_hash == b"\x11" * 32
    added = reg.events("MemberAdded")
    assert [e.args["account"] for e in added] == reg.members()


def test_outsider_cannot_propose_or_approve(actors: Actors) -> None:
    newcomer = Account.create().address
    reverts(
        "NotMember",
        lambda: actors.outsider.registry.propose_add_member(newcomer, Role.CLINIC, "x"),
    )
    proposed = actors.h1.registry.propose_add_member(newcomer, Role.CLINIC, "Township clinic")
    err = reverts("NotMember", lambda: actors.outsider.registry.approve(proposed.proposal_id))
    assert err.args_by_name["account"] == actors.outsider.client.address


def test_add_member_needs_threshold_approvals(actors: Actors) -> None:
    newcomer = Account.create().address
    proposed = actors.h1.registry.propose_add_member(
        newcomer, Role.CLINIC | Role.ATTRIBUTE_AUTHORITY, "Township clinic", b"\x33" * 32
    )
    assert not proposed.executed
    assert not actors.h1.registry.is_member(newcomer)  # one approval of two
    reverts("AlreadyApproved", lambda: actors.h1.registry.approve(proposed.proposal_id))
    approved = actors.regulator.registry.approve(proposed.proposal_id)
    assert approved.executed
    assert actors.h1.registry.is_member(newcomer)
    assert actors.h1.registry.member(newcomer).abe_params_hash == b"\x33" * 32
    reverts("ProposalAlreadyExecuted", lambda: actors.h3.registry.approve(proposed.proposal_id))
    reverts("UnknownProposal", lambda: actors.h3.registry.approve(999))
    executed = actors.h1.registry.events("ProposalExecuted")
    assert [e.args["proposalId"] for e in executed] == [proposed.proposal_id]


def test_remove_member_and_roles_and_threshold(actors: Actors) -> None:
    reg1, reg2 = actors.h1.registry, actors.clinic.registry
    h3 = actors.h3.client.address
    p = reg1.propose_set_roles(h3, Role.HOSPITAL | Role.ATTRIBUTE_AUTHORITY)
    reg2.approve(p.proposal_id)
    assert reg1.roles_of(h3) == Role.HOSPITAL | Role.ATTRIBUTE_AUTHORITY
    changed = reg1.events("RolesChanged")[-1].args
    assert (changed["oldRoles"], changed["newRoles"]) == (1, 9)

    p = reg1.propose_threshold(3)
    reg2.approve(p.proposal_id)
    assert reg1.threshold() == 3
    # 3-of-4: removing a member would leave 3, still enough; two approvals are not.
    p = reg1.propose_remove_member(h3)
    reg2.approve(p.proposal_id)
    assert reg1.is_member(h3)
    actors.regulator.registry.approve(p.proposal_id)
    assert not reg1.is_member(h3)
    assert reg1.events("MemberRemoved")[-1].args["account"] == h3
    # Now 3-of-3: removing another would make the threshold unreachable.
    reverts("InvalidThreshold", lambda: reg1.propose_remove_member(actors.regulator.client.address))
    reverts("NotMember", lambda: actors.h3.registry.set_abe_params_hash(b"\x01" * 32))


def test_invalid_proposals_are_refused(actors: Actors) -> None:
    reg = actors.h1.registry
    reverts(
        "AlreadyMember",
        lambda: reg.propose_add_member(actors.clinic.client.address, Role.CLINIC, "x"),
    )
    reverts("InvalidRoles", lambda: reg.propose_add_member(Account.create().address, Role(0), "x"))
    reverts(
        "InvalidRoles",
        lambda: reg.propose(
            ProposalKind.ADD_MEMBER, account=Account.create().address, roles=Role(32), name="x"
        ),
    )
    # TERTIARY is a hospital's tier: refused on a clinic.
    reverts(
        "InvalidRoles",
        lambda: reg.propose_add_member(Account.create().address, Role.CLINIC | Role.TERTIARY, "x"),
    )
    reverts("InvalidThreshold", lambda: reg.propose_threshold(0))
    reverts("InvalidThreshold", lambda: reg.propose_threshold(5))
    reverts("ZeroAddress", lambda: reg.propose_add_member("0x" + "00" * 20, Role.CLINIC, "x"))


def test_membership_change_makes_pending_proposals_stale(actors: Actors) -> None:
    reg1, reg2 = actors.h1.registry, actors.clinic.registry
    pending = reg1.propose_add_member(Account.create().address, Role.CLINIC, "A")
    other = reg1.propose_threshold(1)
    reg2.approve(other.proposal_id)  # executes: membership epoch moves on
    reverts("StaleProposal", lambda: reg2.approve(pending.proposal_id))


def test_member_rotates_its_abe_params_hash(actors: Actors) -> None:
    actors.clinic.registry.set_abe_params_hash(b"\x44" * 32)
    clinic = actors.clinic.client.address
    assert actors.h1.registry.member(clinic).abe_params_hash == b"\x44" * 32
    event = actors.h1.registry.events("AbeParamsChanged", account=clinic)[-1]
    assert event.args["abeParamsHash"] == b"\x44" * 32
