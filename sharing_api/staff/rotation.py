"""Revoking a staff member's ABE keys: rotate the member's authority, re-issue the others.

ABE keys cannot be recalled one by one; a new authority generation is what shuts a key out:
records sealed under the new parameters open only with keys of that generation. Every live
key recorded for the member's other (unrevoked) staff is re-issued with the same attributes
and expiry; the revoked staff's keys are not, so they open nothing sealed from then on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crypto.authority import AttributeAuthority, UserKey
from crypto.expiry import current_epoch
from sharing_api.index.staff import IssuedKey


@dataclass(frozen=True)
class Rotation:
    authority: AttributeAuthority  # the next generation: save it, publish its params hash
    reissued: tuple[tuple[IssuedKey, UserKey], ...]  # (old record, its replacement)


def rotate_without(
    authority: AttributeAuthority,
    issued: Iterable[IssuedKey],
    revoked_staff: Iterable[str],
    today: int | None = None,
) -> Rotation:
    """The next generation of ``authority`` and fresh keys for every live key in ``issued``
    that belongs to staff not in ``revoked_staff`` (subject: ``staff_id@member``)."""
    today = current_epoch() if today is None else today
    revoked = set(revoked_staff)
    rotated = authority.rotate()
    reissued = tuple(
        (old, rotated.issue_key(old.attributes, old.expiry_epoch, f"{old.staff_id}@{old.member}"))
        for old in issued
        if old.staff_id not in revoked
        and old.expiry_epoch >= today
        and old.generation == authority.generation
    )
    return Rotation(rotated, reissued)
