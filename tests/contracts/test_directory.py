"""AllianceRegistry's gateway directory: each member publishes its own gateway (URL + TLS
fingerprint); governance can clear an entry; removing a member clears its entry."""

from __future__ import annotations

import pytest

from sharing_api.chain import GatewayEntry, ProposalKind
from tests.contracts.conftest import Actors
from tests.contracts.helpers import reverts, sha

pytestmark = pytest.mark.integration

FP_A = sha("h1 certificate")
FP_B = sha("clinic certificate")
ZERO = b"\0" * 32


def test_member_sets_and_moves_its_own_gateway(actors: Actors) -> None:
    h1, clinic = actors.h1.client.address, actors.clinic.client.address
    reg = actors.regulator.registry
    assert reg.gateway_of(h1) is None
    actors.clinic.registry.set_gateway("https://clinic.example:8443", FP_B)
    actors.h1.registry.set_gateway("https://h1.example", FP_A)
    # A's call sets A's entry only: there is no way to name another member's.
    assert reg.gateway_of(clinic) == GatewayEntry("https://clinic.example:8443", FP_B)
    assert reg.gateway_of(h1) == GatewayEntry("https://h1.example", FP_A)

    moved = actors.h1.registry.set_gateway("https://gw2.h1.example/alliance", sha("rotated"))
    assert reg.gateway_of(h1) == GatewayEntry("https://gw2.h1.example/alliance", sha("rotated"))
    assert reg.gateway_of(clinic) == GatewayEntry("https://clinic.example:8443", FP_B)
    events = reg.events("GatewaySet", member=h1)
    assert [(e.args["url"], e.args["tlsFingerprint"]) for e in events] == [
        ("https://h1.example", FP_A),
        ("https://gw2.h1.example/alliance", sha("rotated")),
    ]
    assert events[-1].block_number == moved.block_number
    # Plain http (loopback tests) needs no fingerprint; the gateway decides whether to use it.
    actors.h3.registry.set_gateway("http://127.0.0.1:8701", ZERO)
    assert reg.gateway_of(actors.h3.client.address) == GatewayEntry("http://127.0.0.1:8701", ZERO)


def test_outsider_and_bad_entries_are_refused(actors: Actors) -> None:
    reverts("NotMember", lambda: actors.outsider.registry.set_gateway("https://x.example", FP_A))
    set_gateway = actors.h1.registry.set_gateway
    for url in (
        "",
        "https://",  # nothing after the scheme
        "http://",
        "ftp://h1.example",
        "HTTPS://h1.example",  # the scheme is matched exactly
        "h1.example",
        "https://" + "a" * 249,  # 257 bytes
    ):
        reverts("InvalidGatewayUrl", lambda u=url: set_gateway(u, FP_A))  # type: ignore[misc]
    reverts("MissingTlsFingerprint", lambda: set_gateway("https://h1.example", ZERO))
    with pytest.raises(ValueError, match="32-byte"):
        set_gateway("https://h1.example", b"short")
    longest = "https://" + "a" * 248  # 256 bytes: the limit itself is allowed
    set_gateway(longest, FP_A)
    assert actors.h1.registry.gateway_of(actors.h1.client.address) == GatewayEntry(longest, FP_A)
    assert len(actors.h1.registry.events("GatewaySet")) == 1


def test_governance_clears_a_gateway_with_threshold_approvals(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    reg1 = actors.h1.registry
    reverts("NoGateway", lambda: reg1.propose_clear_gateway(clinic))
    actors.clinic.registry.set_gateway("https://clinic.example", FP_B)
    pending = reg1.propose_threshold(3)  # another pending proposal
    proposed = reg1.propose_clear_gateway(clinic)
    info = reg1.proposal(proposed.proposal_id)
    assert (info.kind, info.account) == (ProposalKind.CLEAR_GATEWAY, clinic)
    assert not proposed.executed  # 2-of-4: one approval is not enough
    assert reg1.gateway_of(clinic) is not None
    approved = actors.h3.registry.approve(proposed.proposal_id)
    assert approved.executed
    assert reg1.gateway_of(clinic) is None
    cleared = reg1.events("GatewayCleared")
    assert [e.args["member"] for e in cleared] == [clinic]
    assert cleared[0].tx_hash == approved.sent.tx_hash
    assert reg1.is_member(clinic)  # the member stays; only its directory entry goes
    # Clearing changes neither membership nor threshold: pending proposals stay valid.
    assert actors.regulator.registry.approve(pending.proposal_id).executed
    assert reg1.threshold() == 3


def test_clear_is_checked_again_at_execution(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    actors.clinic.registry.set_gateway("https://clinic.example", FP_B)
    first = actors.h1.registry.propose_clear_gateway(clinic)
    second = actors.h3.registry.propose_clear_gateway(clinic)
    actors.regulator.registry.approve(first.proposal_id)
    assert actors.h1.registry.gateway_of(clinic) is None
    # The entry is gone by now: the second proposal cannot execute.
    reverts("NoGateway", lambda: actors.regulator.registry.approve(second.proposal_id))
    assert len(actors.h1.registry.events("GatewayCleared")) == 1


def test_removing_a_member_clears_its_gateway(actors: Actors) -> None:
    h3, clinic = actors.h3.client.address, actors.clinic.client.address
    actors.h3.registry.set_gateway("https://h3.example", FP_A)
    actors.clinic.registry.set_gateway("https://clinic.example", FP_B)
    proposed = actors.h1.registry.propose_remove_member(h3)
    removed = actors.clinic.registry.approve(proposed.proposal_id)
    assert removed.executed and not actors.h1.registry.is_member(h3)
    assert actors.h1.registry.gateway_of(h3) is None
    assert actors.h1.registry.gateway_of(clinic) == GatewayEntry("https://clinic.example", FP_B)
    cleared = actors.h1.registry.events("GatewayCleared")
    assert [(e.args["member"], e.tx_hash) for e in cleared] == [(h3, removed.sent.tx_hash)]
    trail = [e.name for e in actors.regulator.audit_trail() if e.name.startswith("Gateway")]
    assert trail == ["GatewaySet", "GatewaySet", "GatewayCleared"]
    # A removed member without an entry leaves no GatewayCleared behind.
    p = actors.h1.registry.propose_remove_member(actors.regulator.client.address)
    actors.clinic.registry.approve(p.proposal_id)
    assert len(actors.h1.registry.events("GatewayCleared")) == 1
