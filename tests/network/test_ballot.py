"""votes.py in-process: what a signed vote and a faulty mark prove, and what they do not."""

from __future__ import annotations

import json

from coincurve import PrivateKey

from ledger_node.block import Header, address_of
from ledger_node.network.votes import Ballot

KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(5)]
SEALERS = tuple(address_of(k) for k in KEYS)


def block_by(key: PrivateKey, number: int = 7) -> Header:
    coinbase = address_of(key)
    fields = (bytes(32), number, 1_700_000_000, coinbase, bytes(32), bytes(32), bytes(32))
    return Header(*fields, bytes(256), 30_000_000, 0).sealed(key)


def test_a_vote_counts_only_for_a_sealer_on_exactly_what_it_signed() -> None:
    ballot = Ballot("net", 7171, SEALERS)
    bad = block_by(KEYS[0])
    vote = ballot.sign(KEYS[1], 7, bad.hash, SEALERS[0], "state root differs")
    parsed = ballot.parse(vote)
    assert parsed is not None and parsed.voter == SEALERS[1] and parsed.reason.startswith("state")
    assert ballot.voters([parsed], 7, bad.hash, SEALERS[0]) == {SEALERS[1]}
    assert ballot.voters([parsed], 8, bad.hash, SEALERS[0]) == set()  # another height
    assert ballot.voters([parsed], 7, bytes(32), SEALERS[0]) == set()  # another block
    # another network or chain, an edited field, a key that is no sealer: no voter at all
    assert Ballot("other", 7171, SEALERS).parse(vote) is None
    assert Ballot("net", 1, SEALERS).parse(vote) is None
    edited = json.loads(vote)
    edited["reason"] = "something else"
    assert ballot.parse(json.dumps(edited).encode()) is None
    assert ballot.parse(ballot.sign(PrivateKey(), 7, bad.hash, SEALERS[0], "x")) is None
    for junk in (b"", b"{}", b"[1]", b'{"height": "7"}', json.dumps({"voter": "0x00"}).encode()):
        assert ballot.parse(junk) is None
    # the accused sealer's own vote never counts against it
    own = ballot.parse(ballot.sign(KEYS[0], 7, bad.hash, SEALERS[0], "x"))
    assert own is not None and ballot.voters([own], 7, bad.hash, SEALERS[0]) == set()


def test_a_faulty_mark_needs_a_quorum_of_distinct_signed_votes() -> None:
    ballot = Ballot("net", 7171, SEALERS)
    bad = block_by(KEYS[0])
    assert ballot.quorum(SEALERS[0]) == 3  # a majority of the 4 other sealers
    votes = [ballot.sign(KEYS[i], 7, bad.hash, SEALERS[0], "x") for i in (1, 2, 3)]
    assert ballot.mark_holds(ballot.mark(bad, votes, "node1"), SEALERS[0])
    assert not ballot.mark_holds(ballot.mark(bad, votes[:2], "node1"), SEALERS[0])
    same_voter = [votes[0], votes[1], ballot.sign(KEYS[2], 7, bad.hash, SEALERS[0], "again")]
    assert not ballot.mark_holds(ballot.mark(bad, same_voter, "node1"), SEALERS[0])
    # the mark must name the block's real sealer, and the votes must be about that block
    assert not ballot.mark_holds(ballot.mark(bad, votes, "node1"), SEALERS[4])
    other = block_by(KEYS[0], number=8)
    assert not ballot.mark_holds(ballot.mark(other, votes, "node1"), SEALERS[0])
    for junk in (b"", b"{}", b'{"header": "0x00", "votes": []}'):
        assert not ballot.mark_holds(junk, SEALERS[0])
