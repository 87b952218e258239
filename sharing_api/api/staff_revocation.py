"""Revoking a staff member at their member's gateway: their tokens stop at once, and (by
default) the member's attribute authority rotates, so the ABE keys they hold open nothing
sealed from then on.

A rotation, in the order that leaves a crash harmless:
1. the other staff's live keys are re-issued under the next generation, recorded and kept
   (sealed) for their holders, in one transaction; a crash here leaves rows of a generation
   never put in service, which ``GET /keys`` never hands out;
2. the new generation is sealed over the member's authority key file (atomic, 0600): a
   restart serves it;
3. the gateway serves its parameters and issues its keys from now on;
4. its parameters' hash is published on chain (``AllianceRegistry.setAbeParamsHash``), what
   every other gateway checks the parameters it fetches against.
Revoking again rotates only if the person still holds a live key of the current generation,
and re-publishes the hash if the chain does not hold the served one (step 4 failed).
Records sealed before keep their generation: kept staff open them with the keys they hold.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from crypto.authority import AttributeAuthority
from crypto.expiry import current_epoch
from sharing_api.api.errors import ApiError
from sharing_api.api.services import Services
from sharing_api.index.staff import IssuedKey
from sharing_api.staff.delivery import seal_key
from sharing_api.staff.rotation import rotate_without

log = logging.getLogger(__name__)
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Revocation:
    revoked: bool  # False: they were revoked already
    key_ids: list[str]  # every ABE key recorded as issued to them
    rotated: bool
    generation: int | None  # the authority's generation now (None: no authority here)
    reissued: int  # keys of other staff re-issued by this rotation
    params_hash_tx: str | None  # the setAbeParamsHash transaction, if one was sent
    note: str


def _lock(member: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(member.lower(), threading.Lock())


def revoke_staff(services: Services, member: str, staff_id: str, rotate: bool) -> Revocation:
    revoked = services.staff.revoke(member, staff_id)
    log.warning("member %s revoked staff %s", member, staff_id)
    theirs = services.staff.keys(member, staff_id)  # their tokens are dead: no new keys
    key_ids = [k.key_id for k in theirs]
    address = services.signer(member).client.address
    if address not in services.authorities:
        note = "this member issues no ABE keys on this gateway: nothing to rotate"
        return Revocation(revoked, key_ids, False, None, 0, None, note)
    with _lock(address):  # one rotation of a member at a time
        authority = services.authorities[address]
        today = current_epoch()
        live = [
            k for k in theirs if k.generation == authority.generation and k.expiry_epoch >= today
        ]
        if not rotate:
            note = (
                f"not rotated: {len(live)} live key(s) of theirs still open records sealed "
                "from now on (revoke again with rotation on)"
                if live
                else "not rotated: they hold no live key of the current generation"
            )
            return Revocation(revoked, key_ids, False, authority.generation, 0, None, note)
        reissued = 0
        if live:
            authority, reissued = _rotate(services, address, authority)
        tx = _publish(services, address, authority)
    if live:
        note = (
            f"authority rotated to generation {authority.generation}; "
            f"{reissued} key(s) of other staff re-issued (GET /keys)"
        )
    else:
        note = "no rotation needed: they hold no live key of the current generation"
    return Revocation(revoked, key_ids, bool(live), authority.generation, reissued, tx, note)


def _rotate(
    services: Services, member: str, authority: AttributeAuthority
) -> tuple[AttributeAuthority, int]:
    target = services.authority_files.get(member)
    if target is None:
        raise ApiError(
            503, f"member {member}'s authority has no key file here to save a new generation"
        )
    rotation = rotate_without(
        authority, services.staff.keys(member), services.staff.revoked(member)
    )
    new = rotation.authority
    rows = [
        (
            IssuedKey(
                key_id=key.key_id.hex(),
                member=old.member,
                staff_id=old.staff_id,
                attributes=key.attributes,
                generation=key.generation,
                expiry_epoch=key.expiry_epoch,
            ),
            seal_key(new, key, old.member, old.staff_id),
        )
        for old, key in rotation.reissued
    ]
    services.staff.record_reissued(rows, new.params().fingerprint)
    target.save(new)
    services.authorities[member] = new
    log.warning(
        "member %s: authority %s rotated to generation %d, %d key(s) re-issued",
        member,
        new.authority,
        new.generation,
        len(rows),
    )
    return new, len(rows)


def _publish(services: Services, member: str, authority: AttributeAuthority) -> str | None:
    """Put the served parameters' hash on chain unless it is there already."""
    fingerprint = authority.params().fingerprint
    if services.reader.registry.member(member).abe_params_hash == fingerprint:
        return None
    try:
        sent = services.signer(member).registry.set_abe_params_hash(fingerprint)
    except Exception as exc:  # the rotation stands; only its announcement is missing
        raise ApiError(
            503,
            f"authority {authority.authority} is at generation {authority.generation}, but "
            f"its parameters' hash could not be published on chain ({exc}): revoke again "
            "to retry",
        ) from exc
    services.metrics.chain_writes.labels("abe-params").inc()
    return sent.tx_hash
