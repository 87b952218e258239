"""The chain's commitment to a piece of free text (a referral's reason, a reject, complete or
cancel note): the text itself stays off chain, with the gateway that wrote it.

A short clinical phrase ("suspected stroke", "rehab") is opened from its unsalted hash by
hashing a list of phrases, so the chain holds only

    commitment = tagged_hash("free-text", salt, kind, text)

with a fresh 32-byte random ``salt`` per text. Whoever is handed the text and its salt (the
referral's parties, the patient, the regulator) recomputes the commitment and checks it
against the chain; without the salt, 2^256 salts stand between a dictionary and the
commitment. ``kind`` binds the text to its slot, so a cancel note cannot pass for the
reason. No text is zero on chain, as before.

The wallet computes the same bytes (``sharing_api/web/apps/wallet/commitment.js``).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from crypto.encoding import tagged_hash

TAG = "free-text"
SALT_BYTES = 32
ZERO = b"\x00" * 32
# reason: the referral's, as created (and as the patient signs it); question: a
# consultation's, as requested; the others: the note of the transition (of a referral or a
# consultation) of that name.
KINDS = ("reason", "reject", "complete", "cancel", "question", "decline", "report", "close")


class TextCommitmentError(ValueError):
    """A kind that is not a free-text slot, or a salt that is not 32 bytes."""


@dataclass(frozen=True)
class Committed:
    kind: str
    text: str
    salt: bytes  # all zero when there is no text
    commitment: bytes  # what the chain holds


def _check(kind: str, salt: bytes) -> None:
    if kind not in KINDS:
        raise TextCommitmentError(f"free text of kind {kind!r}: expected one of {KINDS}")
    if len(salt) != SALT_BYTES:
        raise TextCommitmentError(f"a free-text salt is {SALT_BYTES} bytes, not {len(salt)}")


def commit(salt: bytes, kind: str, text: str) -> bytes:
    """The commitment to ``text`` under ``salt``; zero for no text (nothing to bind)."""
    _check(kind, salt)
    if not text:
        return ZERO
    return tagged_hash(TAG, salt, kind, text)


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def commit_new(kind: str, text: str, salt: bytes | None = None) -> Committed:
    """A fresh salt (unless given) and the commitment to ``text`` under it."""
    if not text:
        return Committed(kind, "", ZERO, commit(ZERO, kind, ""))
    salt = new_salt() if salt is None else salt
    return Committed(kind, text, salt, commit(salt, kind, text))


def matches(commitment: bytes, salt: bytes, kind: str, text: str) -> bool:
    """True iff ``text`` under ``salt`` is what ``commitment`` binds (constant time)."""
    try:
        recomputed = commit(salt, kind, text)
    except TextCommitmentError:
        return False
    return len(commitment) == len(recomputed) and hmac.compare_digest(recomputed, commitment)
