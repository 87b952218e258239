"""Threat (linking through the inbox): the home gateway sent every pseudonym's inbox
statement to every peer, so each member's gateway learnt that all of a patient's
pseudonyms were one person. Now a peer gets only the statements of the custodians it hosts,
and the primary's only from a wallet without pseudonyms."""

from __future__ import annotations

import json

from sharing_api.api.alliance_inbox import (
    InboxIn,
    PeerGateway,
    PseudonymStatementIn,
    peer_bodies,
)

A, B, C = ("0x" + c * 40 for c in "abc")  # custodians
CLOUD = PeerGateway("https://cloud", (B, C), ("clinic b", "clinic c"))
H1 = PeerGateway("https://h1", (A,), ("hospital a",))
IDLE = PeerGateway("https://idle", ("0x" + "d" * 40,), ("clinic d",))
PRIMARY = "0x" + "1" * 40
SIG = "0x" + "ab" * 65


def _entry(patient: str, custodian: str) -> PseudonymStatementIn:
    return PseudonymStatementIn(patient=patient, custodian=custodian, expires=9, signature=SIG)


def test_each_peer_gets_only_its_custodians_pseudonyms() -> None:
    at = {A: "0x" + "2" * 40, B: "0x" + "3" * 40, C: "0x" + "4" * 40}
    statement = InboxIn(expires=9, signature=SIG, pseudonyms=[_entry(at[m], m) for m in (A, B, C)])
    bodies = peer_bodies([CLOUD, H1, IDLE], PRIMARY, statement)
    assert set(bodies) == {"https://cloud", "https://h1"}  # a peer with none: not asked
    for url, (raw, names) in bodies.items():
        sent = raw.decode().lower()
        assert PRIMARY not in sent  # the primary never leaves the home gateway
        hosted = CLOUD.members if url == "https://cloud" else H1.members
        assert names == {at[m] for m in hosted}
        for custodian, pseudonym in at.items():
            assert (pseudonym in sent) == (custodian in hosted), (url, custodian)
    cloud = json.loads(bodies["https://cloud"][0])
    assert cloud["patient"] == at[B] and [p["patient"] for p in cloud["pseudonyms"]] == [at[C]]


def test_a_wallet_without_pseudonyms_asks_every_peer_for_its_primary() -> None:
    bodies = peer_bodies([CLOUD, H1], PRIMARY, InboxIn(expires=9, signature=SIG))
    assert {names for _, names in bodies.values()} == {frozenset({PRIMARY})}
    assert {json.loads(raw)["patient"] for raw, _ in bodies.values()} == {PRIMARY}
