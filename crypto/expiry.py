"""Key expiry bound into the ciphertext: an expired key cannot open a newer record.

Epochs are whole days since 2020-01-01 (UTC), below 2^16 - 1 (the year 2199). A key valid
through epoch E holds, besides its real attributes, the dyadic intervals that exactly cover
[0, E]: ``_epoch.l<level>:<prefix>`` (at most 16 of them). A record encrypted at epoch t ANDs
its policy with "some interval containing t": an OR over t's 16 prefixes. Exactly one of those
is in the key's cover iff t <= E, so the check is enforced by the ABE scheme itself, and an OR
adds no LSSS columns (each row costs 6 G1 multiplications to encrypt, nothing to decrypt).

Names starting with ``_`` are reserved: users can neither hold nor write them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from crypto.errors import PolicyError
from crypto.policy import Attr, Gate, Node

EPOCH_ORIGIN = date(2020, 1, 1)
EPOCH_BITS = 16
MAX_EPOCH = (1 << EPOCH_BITS) - 2  # so the cover never needs the single top-level interval
RESERVED_PREFIX = "_"


def epoch_of(day: date) -> int:
    """The epoch number of a calendar day."""
    epoch = (day - EPOCH_ORIGIN).days
    if not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"date {day.isoformat()} is outside the supported epoch range")
    return epoch


def current_epoch(now: datetime | None = None) -> int:
    return epoch_of((now or datetime.now(UTC)).date())


def date_of(epoch: int) -> date:
    return date.fromordinal(EPOCH_ORIGIN.toordinal() + epoch)


def _interval(level: int, prefix: int) -> str:
    return f"{RESERVED_PREFIX}epoch.l{level}:{prefix}"


def cover_attributes(expiry_epoch: int) -> list[str]:
    """The dyadic intervals covering [0, expiry_epoch], as reserved attributes."""
    if not 0 <= expiry_epoch <= MAX_EPOCH:
        raise ValueError(f"expiry epoch {expiry_epoch} out of range 0..{MAX_EPOCH}")
    count, start, out = expiry_epoch + 1, 0, []
    for level in reversed(range(EPOCH_BITS)):
        if count & (1 << level):
            out.append(_interval(level, start >> level))
            start += 1 << level
    return out


def epoch_clause(epoch: int) -> Node:
    """The policy fragment satisfied by exactly the keys valid at ``epoch``."""
    if not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"epoch {epoch} out of range 0..{MAX_EPOCH}")
    return Gate(1, tuple(Attr(_interval(level, epoch >> level)) for level in range(EPOCH_BITS)))


def bind_epoch(policy: Node, epoch: int) -> Node:
    """``policy AND epoch_clause(epoch)``, flattening a top-level AND."""
    clause = epoch_clause(epoch)
    if isinstance(policy, Gate) and policy.is_and:
        return Gate(len(policy.children) + 1, (*policy.children, clause))
    return Gate(2, (policy, clause))


def check_not_reserved(attribute: str) -> None:
    if attribute.startswith(RESERVED_PREFIX):
        raise PolicyError(f"attribute {attribute!r} uses the reserved prefix '{RESERVED_PREFIX}'")
