"""The chain's commitment to a record's policy (crypto/policy_commitment.py).

Threat: RecordRegistered carried the policy text (``h1.dept:psychiatry``) for every node
operator and JSON-RPC client to read. Now it carries a commitment salted with the sealed
header's random stream id; the header's holder can check it, a dictionary cannot open it.
"""

from __future__ import annotations

import hashlib
import itertools

import pytest

from crypto.authority import AttributeAuthority
from crypto.encoding import tagged_hash
from crypto.header import RecordHeader, seal_header
from crypto.policy_commitment import (
    PolicyCommitmentMismatch,
    check_policy_commitment,
    policy_commitment,
)
from crypto.stream import new_stream_id

DEPARTMENTS = ["psychiatry", "oncology", "cardiology", "obstetrics", "infectious-disease"]


@pytest.fixture(scope="module")
def sealed() -> tuple[RecordHeader, str]:
    authority = AttributeAuthority.setup("h1")
    policy = "h1.dept:psychiatry"
    header = seal_header(b"\x01" * 32, new_stream_id(), policy, [authority.params()])
    return header, policy


def test_the_holder_of_the_header_checks_the_commitment(sealed: tuple[RecordHeader, str]) -> None:
    header, _ = sealed
    commitment = policy_commitment(header)
    assert len(commitment) == 32
    check_policy_commitment(header, commitment)
    with pytest.raises(PolicyCommitmentMismatch):
        check_policy_commitment(header, bytes(32))
    with pytest.raises(PolicyCommitmentMismatch):
        check_policy_commitment(header, commitment[:31])


def test_the_same_policy_commits_differently_per_record() -> None:
    authority = AttributeAuthority.setup("h1")
    a = seal_header(b"\x01" * 32, b"\x03" * 16, "h1.dept:psychiatry", [authority.params()])
    b = seal_header(b"\x01" * 32, b"\x04" * 16, "h1.dept:psychiatry", [authority.params()])
    assert policy_commitment(a) != policy_commitment(b)  # nothing links two such records


def test_a_dictionary_of_100000_policies_does_not_open_a_commitment(
    sealed: tuple[RecordHeader, str],
) -> None:
    """The observer knows the policy language and every department name; without the stream
    id (16 random bytes kept in the header, off chain) 100,000 guesses find nothing. The
    same guesses open an unsalted hash at once: what the old event amounted to."""
    header, policy = sealed
    on_chain = policy_commitment(header)
    unsalted = hashlib.sha256(policy.encode()).digest()
    words = DEPARTMENTS + [f"dept-{i}" for i in range(20_000)]
    guesses = [f"h1.dept:{w}" for w in words][:20_000]
    guesses += [f"h1.role:{r}" for r in ("doctor", "nurse")] + [
        f"h1.dept:{w} and h1.role:doctor" for w in words
    ]
    salts = [b"\x00" * 16, b"\x02" * 15 + b"\x00", hashlib.sha256(b"h1").digest()[:16]]
    tried = 0
    found_unsalted = False
    for guess, salt in itertools.islice(itertools.product(guesses, salts), 100_000):
        tried += 1
        assert tagged_hash("policy-commitment", salt, guess) != on_chain
        found_unsalted |= hashlib.sha256(guess.encode()).digest() == unsalted
    assert tried == 100_000 and found_unsalted
