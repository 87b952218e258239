"""The chain's commitment to a record's ABE policy: the policy text itself stays off chain.

A policy such as ``h1.dept:psychiatry`` says what a record is about, so the chain holds only

    commitment = tagged_hash("policy-commitment", stream_id, policy)

where ``stream_id`` is the record's 16 random bytes from its sealed header (never on chain)
and ``policy`` the header's canonical policy text. Whoever holds the header (the custodian,
a reader who fetched the record, an auditor handed it) recomputes the commitment and checks
it against the chain; without the header, 2^128 salts stand between a dictionary of
policies and the commitment.

A labelled record (header version 4, ``crypto.labels``) commits to its security labels too,
under its own tag::

    commitment = tagged_hash("policy-labels-commitment", stream_id, policy, labels)

so a gateway that changed a label (say, dropped HIV to lower the wallet's warning) or
stripped the labels back to a version 3 header no longer matches the chain. The header MAC
already binds the labels for every reader that opens the record; the commitment binds them
for whoever holds only the header (the gateway, an auditor), without the data key. Headers
of versions 1 to 3 keep the first form, so records registered before labels still verify.
"""

from __future__ import annotations

import hmac

from crypto.encoding import tagged_hash
from crypto.errors import CryptoError
from crypto.header import VERSION_LABELS, RecordHeader

COMMITMENT_BYTES = 32


class PolicyCommitmentMismatch(CryptoError):
    """The header's policy is not the one the chain committed to."""


def policy_commitment(header: RecordHeader) -> bytes:
    if header.version >= VERSION_LABELS:
        labels = header.labels.to_bytes()
        return tagged_hash("policy-labels-commitment", header.stream_id, header.policy, labels)
    return tagged_hash("policy-commitment", header.stream_id, header.policy)


def check_policy_commitment(header: RecordHeader, commitment: bytes) -> None:
    if len(commitment) != COMMITMENT_BYTES or not hmac.compare_digest(
        policy_commitment(header), commitment
    ):
        raise PolicyCommitmentMismatch(
            "the record's sealed header does not match the policy commitment on chain"
        )
