"""ABE keys: a member acting as attribute authority issues keys to its authenticated staff,
carrying exactly the attributes of the staff token; public parameters per authority."""

from __future__ import annotations

import base64
import hashlib

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from crypto.authority import UserKey
from crypto.expiry import current_epoch, date_of
from sharing_api.api.deps import ServicesDep, StaffOnly
from sharing_api.api.errors import PROBLEM_RESPONSES, forbidden, not_found
from sharing_api.index.staff import IssuedKey
from sharing_api.staff.delivery import open_key

router = APIRouter(prefix="/keys", tags=["keys"])
MAX_DAYS = 366


class KeyRequest(BaseModel):
    valid_days: int = Field(default=30, ge=1, le=MAX_DAYS)


class KeyOut(BaseModel):
    authority: str
    generation: int
    key_id: str
    subject: str
    attributes: list[str]
    expires: str
    key: str = Field(description="the UserKey bytes, base64 (keep it inside the hospital)")


class AuthorityOut(BaseModel):
    member: str
    authority: str
    generation: int
    fingerprint: str
    params_sha256: str
    params_url: str


@router.post("", responses=PROBLEM_RESPONSES, summary="Issue my ABE key (staff token)")
def issue(body: KeyRequest, staff: StaffOnly, services: ServicesDep) -> KeyOut:
    """The key lives ``valid_days``, clamped to the gateway's ``staff_key_max_days`` (default
    30): a key cannot be recalled, so its life is what bounds a revoked person's reach."""
    authority = services.authorities.get(staff.member)
    if authority is None:
        raise forbidden(f"member {staff.member} is not an attribute authority on this API")
    services.limits.hit("key_issue_per_staff", staff.subject, what="ABE keys for you")
    expiry = current_epoch() + min(body.valid_days, services.settings.staff_key_max_days)
    key = authority.issue_key(staff.attributes, expiry, staff.subject)
    # Recorded so that revoking this person can rotate the authority and re-issue the rest.
    services.staff.record_key(
        IssuedKey(
            key_id=key.key_id.hex(),
            member=staff.member,
            staff_id=staff.staff_id,
            attributes=key.attributes,
            generation=key.generation,
            expiry_epoch=expiry,
        )
    )
    return _key_out(key)


def _key_out(key: UserKey) -> KeyOut:
    return KeyOut(
        authority=key.authority,
        generation=key.generation,
        key_id=key.key_id.hex(),
        subject=key.subject,
        attributes=list(key.attributes),
        expires=date_of(key.expiry_epoch).isoformat(),
        key=base64.b64encode(key.to_bytes()).decode(),
    )


@router.get(
    "",
    responses=PROBLEM_RESPONSES,
    summary="My keys of the authority's current generation, re-issued when it rotated",
)
def mine(staff: StaffOnly, services: ServicesDep) -> list[KeyOut]:
    """When revoking a colleague rotates the member's authority, the gateway re-issues every
    live key of the others under the new generation: here is where each holder fetches
    theirs (keep the keys you have: they still open records sealed before). Empty when
    nothing was re-issued to you for the current generation."""
    authority = services.authorities.get(staff.member)
    if authority is None:
        raise forbidden(f"member {staff.member} is not an attribute authority on this API")
    today = current_epoch()
    out = []
    waiting = services.staff.waiting(staff.member, staff.staff_id, authority.params().fingerprint)
    for key_id, sealed in waiting:
        key = open_key(authority, sealed, key_id, staff.member, staff.staff_id)
        if key.expiry_epoch >= today:
            out.append(_key_out(key))
    return out


@router.get("/authorities", summary="The attribute authorities this API serves")
def authorities(services: ServicesDep) -> list[AuthorityOut]:
    out = []
    for member, authority in sorted(services.authorities.items()):
        params = authority.params()
        raw = params.to_bytes()
        out.append(
            AuthorityOut(
                member=member,
                authority=authority.authority,
                generation=authority.generation,
                fingerprint=params.fingerprint.hex(),
                params_sha256=hashlib.sha256(raw).hexdigest(),
                params_url=f"/keys/authorities/{authority.authority}/params",
            )
        )
    return out


@router.get(
    "/authorities/{authority_id}/params",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **PROBLEM_RESPONSES},
    summary="An authority's public parameters (for encrypting to its attributes)",
)
def params(authority_id: str, services: ServicesDep) -> Response:
    for authority in services.authorities.values():
        if authority.authority == authority_id:
            return Response(authority.params().to_bytes(), media_type="application/octet-stream")
    # Another member's authority: from its gateway, checked against its hash on chain.
    remote = services.remote_authorities.params(authority_id)
    if remote is None:
        raise not_found(f"no attribute authority {authority_id!r} in the alliance")
    return Response(remote.to_bytes(), media_type="application/octet-stream")
