"""RW15 attribute keys, issued to a GID (a person's own key address) that proved possession
by signing the request (``sharing_api.auth.key_request``) and that the authority verified:

- ``POST /keys/gid``: a member's authority issues to one of its staff (staff token) the
  attributes of their token, to the GID the member bound to that staff id.
- ``POST /keys/credentials``: the regulator records a title and/or licence it verified for a
  GID (its registry; off chain); ``GET /keys/credentials`` lists them.
- ``POST /keys/credentials/key``: an authority hosted here issues what it verified for the
  GID; no token: the signed request is the caller's proof (the doctor is not a user of
  the regulator's gateway).
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from crypto.authority import AttributeAuthority
from crypto.expiry import current_epoch, date_of, epoch_of
from crypto.policy import validate_attribute
from crypto.rw15_keys import Rw15Key
from sharing_api.api.deps import Regulator, ServicesDep, StaffOnly
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden, not_found
from sharing_api.api.routes.keys import MAX_DAYS  # one lifetime cap for every key issued
from sharing_api.api.services import Services
from sharing_api.auth.key_request import KeyRequest, KeyRequestError, verify_request

router = APIRouter(prefix="/keys", tags=["keys"])
ADDRESS = r"^0x[0-9a-fA-F]{40}$"
VALUE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class SignedKeyRequest(BaseModel):
    request: str = Field(max_length=4096, description="the key request text as signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="EIP-191, by the GID")


class GidKeyOut(BaseModel):
    authority: str
    gid: str
    generation: int
    attributes: list[str]
    expires: str
    key: str = Field(description="the RW15 key bundle (ALMK) bytes, base64")


class CredentialIn(BaseModel):
    gid: str = Field(pattern=ADDRESS)
    title: str | None = Field(default=None, pattern=VALUE)
    licence: str | None = Field(default=None, pattern=VALUE)
    valid_until: date | None = Field(default=None, description="default: a year from today")


class CredentialOut(BaseModel):
    authority: str
    gid: str
    attribute: str
    valid_until: str


def _checked(body: SignedKeyRequest, services: Services) -> KeyRequest:
    try:
        return verify_request(body.request, body.signature, services.deployment.chain_id)
    except KeyRequestError as exc:
        if exc.status == 403:
            raise forbidden(str(exc)) from None
        raise ApiError(400, str(exc), "Bad Request") from None


def _issue(
    services: Services, authority: AttributeAuthority, request: KeyRequest, subject: str
) -> GidKeyOut:
    # The nonce last: a refused request leaves it to expire, an accepted one cannot repeat.
    if not services.nonces.consume(request.nonce):
        raise ApiError(401, "the request's nonce is unknown, expired or already used")
    grant = authority.issue_rw15_key(request.gid, request.attributes, request.expiry_epoch, subject)
    return GidKeyOut(
        authority=grant.authority,
        gid=request.gid,
        generation=grant.generation,
        attributes=list(grant.attributes),
        expires=date_of(grant.expiry_epoch).isoformat(),
        key=base64.b64encode(Rw15Key(request.gid, (grant,)).to_bytes()).decode(),
    )


def _expiry_within(request: KeyRequest, last: int) -> None:
    if request.expiry_epoch < current_epoch():
        raise ApiError(400, "the requested key expiry is in the past", "Bad Request")
    if request.expiry_epoch > last:
        raise forbidden(f"a key issued here may run until {date_of(last).isoformat()} at most")


@router.post("/gid", responses=PROBLEM_RESPONSES, summary="Issue my RW15 key to my own GID")
def issue_to_staff(body: SignedKeyRequest, staff: StaffOnly, services: ServicesDep) -> GidKeyOut:
    authority = services.authorities.get(staff.member)
    if authority is None:
        raise forbidden(f"member {staff.member} is not an attribute authority on this API")
    request = _checked(body, services)
    if request.authority != authority.authority:
        raise forbidden(f"this is authority {authority.authority!r}, not {request.authority!r}")
    bound = services.credentials.gid_of(staff.member, staff.staff_id)
    if bound is None:
        raise forbidden(
            "your member bound no GID to you: it must issue your staff token naming your "
            "own key's address (gid)"
        )
    if bound != request.gid:
        raise forbidden(f"the request's GID is not the one your member bound to you ({bound})")
    extra = sorted(set(request.attributes) - set(staff.attributes))
    if extra:
        raise forbidden(f"your staff token does not carry {', '.join(extra)}")
    _expiry_within(request, current_epoch() + services.settings.staff_key_max_days)
    return _issue(services, authority, request, staff.subject)


@router.post(
    "/credentials",
    responses=PROBLEM_RESPONSES,
    summary="The regulator records a title and/or licence it verified for a GID",
)
def verify_credential(
    body: CredentialIn, regulator: Regulator, services: ServicesDep
) -> list[CredentialOut]:
    authority = services.authorities.get(regulator.member)
    if authority is None:
        raise not_found("the regulator is not an attribute authority on this gateway")
    names = {"title": body.title, "licence": body.licence}
    attributes = [f"{authority.authority}.{k}:{v}" for k, v in names.items() if v]
    if not attributes:
        raise ApiError(422, "name a title, a licence or both", "Unprocessable Entity")
    for attribute in attributes:
        validate_attribute(attribute)
    today = current_epoch()
    until = today + 365 if body.valid_until is None else epoch_of(body.valid_until)
    if until < today:
        raise ApiError(400, "valid_until is in the past", "Bad Request")
    services.credentials.verify(authority.authority, body.gid, attributes, until)
    return _listed(services, authority.authority, body.gid)


@router.get("/credentials", responses=PROBLEM_RESPONSES, summary="The regulator's registry")
def credentials(
    regulator: Regulator,
    services: ServicesDep,
    gid: Annotated[str | None, Query(pattern=ADDRESS)] = None,
) -> list[CredentialOut]:
    authority = services.authorities.get(regulator.member)
    if authority is None:
        raise not_found("the regulator is not an attribute authority on this gateway")
    return _listed(services, authority.authority, gid)


def _listed(services: Services, authority: str, gid: str | None) -> list[CredentialOut]:
    return [
        CredentialOut(
            authority=c.authority,
            gid=c.gid,
            attribute=c.attribute,
            valid_until=date_of(c.valid_until).isoformat(),
        )
        for c in services.credentials.credentials(authority, gid)
    ]


@router.post(
    "/credentials/key",
    responses=PROBLEM_RESPONSES,
    summary="Issue an RW15 key over credentials an authority hosted here verified for a GID",
)
def issue_verified(body: SignedKeyRequest, services: ServicesDep) -> GidKeyOut:
    request = _checked(body, services)
    authority = next(
        (a for a in services.authorities.values() if a.authority == request.authority), None
    )
    if authority is None:
        raise not_found(f"no attribute authority {request.authority!r} on this gateway")
    verified = {
        c.attribute: c.valid_until
        for c in services.credentials.credentials(authority.authority, request.gid)
    }
    missing = [a for a in request.attributes if a not in verified]
    if missing:
        raise forbidden(
            f"authority {authority.authority!r} has not verified {', '.join(missing)} "
            f"for {request.gid}"
        )
    last = min(verified[a] for a in request.attributes)
    _expiry_within(request, min(last, current_epoch() + MAX_DAYS))
    return _issue(services, authority, request, request.gid)
