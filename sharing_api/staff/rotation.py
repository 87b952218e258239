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
    # One key per person and attribute set, the longest-lived: a person who asked for the
    # same key ten times (one per device) gets one back, not ten key generations.
    latest: dict[tuple[str, tuple[str, ...]], IssuedKey] = {}
    for old in issued:
        if (
            old.staff_id in revoked
            or old.expiry_epoch < today
            or old.generation != authority.generation
        ):
            continue
        same = (old.staff_id, tuple(sorted(old.attributes)))
        if same not in latest or old.expiry_epoch > latest[same].expiry_epoch:
            latest[same] = old
    reissued = tuple(
        (old, rotated.issue_key(old.attributes, old.expiry_epoch, f"{old.staff_id}@{old.member}"))
        for old in latest.values()
    )
    return Rotation(rotated, reissued)
