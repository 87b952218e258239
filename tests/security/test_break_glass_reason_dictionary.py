"""Threat: the break-glass reason was on chain as an unsalted SHA-256, which every member
and node operator reads, and a short clinical phrase falls to a dictionary (main: the
reasonHash of AccessLogged = SHA-256(reason)); nor could the regulator ever read it. Now the
chain holds HMAC-SHA256 under a random salt sealed with the reason to the regulator's audit
key: a dictionary of 1,000 phrases opens the old hash and not the commitment, and the
regulator opens the reason and checks it against the chain."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto import audit_seal
from tests.api.conftest import Cast
from tests.security.break_glass_cast import unconsented_record

pytestmark = pytest.mark.integration

STATES = ["unconscious", "collapsed", "seizing", "bleeding", "confused", "in shock", "intubated",
          "arrested", "hypotensive", "cyanotic"]  # fmt: skip
FINDINGS = ["suspected MI", "suspected stroke", "head injury", "sepsis", "overdose",
            "anaphylaxis", "polytrauma", "GI bleed", "DKA", "pulmonary embolism"]  # fmt: skip
CONTEXT = ["in ER", "no consent reachable", "family unreachable", "on arrival", "in ICU",
           "at triage", "in ambulance", "after fall", "after RTA", "no ID"]  # fmt: skip


def dictionary() -> list[str]:
    """1,000 short clinical phrases of the kind a reason field gets."""
    return [", ".join(p) for p in itertools.product(STATES, FINDINGS, CONTEXT)]


def test_the_reason_on_chain_resists_a_dictionary_and_the_regulator_reads_it(
    cast: Cast,
) -> None:
    words = dictionary()
    assert len(words) == 1000
    reason = "unconscious, suspected MI, no consent reachable"
    assert reason in words
    old_hashes = {hashlib.sha256(w.encode()).hexdigest(): w for w in words}
    assert old_hashes[hashlib.sha256(reason.encode()).hexdigest()] == reason  # main's hash falls

    rid = unconsented_record(cast)
    doctor = cast.h1.staff_client("dr-er-luo", "doctor", ["dept:emergency"])
    _data, headers = doctor.fetch(rid, break_glass=True, reason=reason)
    access_id = int(headers["x-access-id"])
    reader = cast.api.services.reader.access
    logged = reader.events("AccessLogged", recordId=rid)[-1].args
    on_chain = bytes(logged["reasonHash"]).hex()
    assert int(logged["accessId"]) == access_id and int(on_chain, 16) != 0
    assert on_chain not in old_hashes  # the dictionary opens nothing
    # nor does guessing the commitment without the salt (a zero or a guessed salt)
    for salt in (b"\0" * 32, hashlib.sha256(b"alliance").digest()):
        assert all(audit_seal.commit(salt, "reason", w).hex() != on_chain for w in words)

    review = cast.regulator.json("GET", f"/audit/break-glass/{access_id}/review")
    assert review["reason"]["text"] == reason
    assert review["reason"]["commitment"] == "0x" + on_chain
    assert review["reason"]["matches_chain"] is True

    # The sealed envelope opens with the regulator's key only, and checks against the chain.
    sealed = cast.regulator.json("GET", f"/audit/break-glass/{access_id}/sealed")
    envelope = bytes.fromhex(sealed[0]["envelope"].removeprefix("0x"))
    opened = audit_seal.open_sealed(cast.alliance.audit_key, "reason", envelope)
    assert opened.text == reason and opened.commitment("reason").hex() == on_chain
    with pytest.raises(ValueError):
        audit_seal.open_sealed(X25519PrivateKey.generate(), "reason", envelope)
    with pytest.raises(ValueError):  # bound to its kind: not a justification
        audit_seal.open_sealed(cast.alliance.audit_key, "justification", envelope)
