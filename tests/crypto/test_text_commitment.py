"""Free text on chain as a salted commitment (crypto/text_commitment.py).

Threat: a referral's reason went on chain as SHA-256 of its text. Clinical reasons are short
phrases from a small vocabulary, so anyone reading the chain hashes a list of phrases and
reads the reason. A 32-byte random salt per text, kept off chain with the text, closes that.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator

import pytest

from crypto import text_commitment
from crypto.encoding import tagged_hash
from crypto.text_commitment import TextCommitmentError, commit, commit_new, matches

# A clinical vocabulary an observer could assemble: findings x sites x qualifiers, in two
# languages, with and without a follow-up phrase. Expanded to far more than 100,000.
FINDINGS = [
    "pain", "fracture", "infection", "bleeding", "mass", "ulcer", "stenosis", "failure",
    "insufficiency", "tumour", "lesion", "inflammation", "obstruction", "swelling", "injury",
    "chest pain", "acute coronary syndrome", "stroke", "diabetes", "hypertension", "depression",
    "胸痛", "骨折", "感染", "出血", "肿块", "卒中", "糖尿病", "高血压", "抑郁",
]  # fmt: skip
SITES = [
    "", "left", "right", "upper", "lower", "chest", "abdomen", "head", "knee", "hip", "spine",
    "liver", "kidney", "lung", "heart", "brain", "breast", "colon", "prostate", "thyroid",
]  # fmt: skip
QUALIFIERS = ["", "suspected", "acute", "chronic", "severe", "recurrent", "post-operative"]
FOLLOW_UPS = ["", " for rehab", " for follow-up", ", transfer for surgery", " 随访"]


def phrases() -> Iterator[str]:
    """Every combination, then numbered variants ("stroke, day 3"), as an observer would
    try them; each phrase once."""
    base = (
        " ".join(w for w in (q, s, f) if w) + tail
        for q, s, f, tail in itertools.product(QUALIFIERS, SITES, FINDINGS, FOLLOW_UPS)
    )
    numbered = (f"{f}, day {d}" for d in itertools.count(1) for f in FINDINGS)
    seen: set[str] = set()
    for phrase in itertools.chain(base, numbered):
        if phrase not in seen:
            seen.add(phrase)
            yield phrase


REASON = "suspected acute coronary syndrome"  # a phrase on the observer's list (below)


def test_the_phrase_list_is_100000_distinct_phrases_holding_the_reason() -> None:
    guesses = list(itertools.islice(phrases(), 100_000))
    assert len(set(guesses)) == 100_000
    assert REASON in guesses


def test_a_list_of_100000_phrases_opens_the_old_hash_but_not_the_commitment() -> None:
    """The old chain value (unsalted SHA-256) falls to the list; the salted commitment does
    not, whatever salts a guesser tries (zero, the text's own hash, repeated bytes)."""
    committed = commit_new("reason", REASON)
    old = hashlib.sha256(REASON.encode()).digest()
    assert committed.commitment != old
    guess_salts = [b"\x00" * 32, b"\xff" * 32]
    opened_old: list[str] = []
    for guess in itertools.islice(phrases(), 100_000):
        if hashlib.sha256(guess.encode()).digest() == old:
            opened_old.append(guess)
        for salt in guess_salts:
            assert tagged_hash("free-text", salt, "reason", guess) != committed.commitment
        assert hashlib.sha256(guess.encode()).digest() != committed.commitment
    assert opened_old == [REASON]  # the list reads the old value at once


def test_whoever_has_text_and_salt_checks_it() -> None:
    c = commit_new("reason", REASON)
    assert len(c.salt) == 32 and len(c.commitment) == 32
    assert matches(c.commitment, c.salt, "reason", REASON)
    assert not matches(c.commitment, c.salt, "reason", REASON + " ")  # altered text
    assert not matches(c.commitment, bytes(32), "reason", REASON)  # wrong salt
    assert not matches(c.commitment, c.salt, "cancel", REASON)  # another slot
    assert not matches(c.commitment[:31], c.salt, "reason", REASON)
    assert not matches(c.commitment, c.salt[:31], "reason", REASON)  # no exception either


def test_the_same_text_commits_differently_each_time() -> None:
    assert commit_new("reason", REASON).commitment != commit_new("reason", REASON).commitment


def test_no_text_is_zero_and_kinds_and_salts_are_checked() -> None:
    assert commit(bytes(32), "reject", "") == bytes(32)
    assert commit_new("complete", "").commitment == bytes(32)
    with pytest.raises(TextCommitmentError):
        commit(bytes(32), "diagnosis", "x")
    with pytest.raises(TextCommitmentError):
        commit(bytes(16), "reason", "x")
    assert set(text_commitment.KINDS) == {
        *("reason", "reject", "complete", "cancel"),  # a referral's
        *("question", "decline", "report", "close"),  # a consultation's (and cancel)
    }


def test_the_commitment_is_the_documented_tagged_hash() -> None:
    """The wallet implements exactly this (tests/web/test_wallet_units.py checks the bytes)."""
    salt = bytes(range(32))
    assert commit(salt, "reason", "rehab") == tagged_hash("free-text", salt, "reason", "rehab")
