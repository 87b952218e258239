"""Sign-in (EIP-4361) for members, the regulator and patients; staff tokens from members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from crypto.authority import qualify
from sharing_api.api.core.limits import client_key
from sharing_api.api.core.security import Kind, NonceLimitError, Principal
from sharing_api.api.deps import Anyone, MemberOnly, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES, ApiError, forbidden
from sharing_api.api.staff_revocation import revoke_staff as revoke_staff_at_gateway
from sharing_api.auth.pseudonym_proofs import (
    MAX_PSEUDONYMS,
    PseudonymProof,
    PseudonymProofError,
    verify_pseudonyms,
)
from sharing_api.auth.siwe import SiweError, parse_message, verify_message
from sharing_api.chain import Role
from sharing_api.index.credentials import GidConflict

router = APIRouter(prefix="/auth", tags=["auth"])


class NonceOut(BaseModel):
    nonce: str
    domain: str
    chain_id: int


class PseudonymIn(BaseModel):
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    signature: str = Field(
        pattern=r"^0x[0-9a-fA-F]{130}$", description="its EIP-191 signature of `message`"
    )


class LoginIn(BaseModel):
    message: str = Field(max_length=4096, description="the EIP-4361 message as signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    pseudonyms: list[PseudonymIn] = Field(
        default_factory=list,
        max_length=MAX_PSEUDONYMS,
        description="a patient's pairwise pseudonyms, each signing the same message: the "
        "token covers them all (kept in the token only, never stored by the gateway)",
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: int
    kind: str
    subject: str
    pseudonyms: list[str] = Field(default_factory=list, description="proven (patients)")


class StaffTokenIn(BaseModel):
    staff_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]
    role: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    attributes: list[Annotated[str, StringConstraints(max_length=128)]] = Field(
        default_factory=list, max_length=32
    )
    gid: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="the staff member's own key address (their GID for RW15 keys), which "
        "the member binds to this staff id: its authority issues RW15 keys only to it",
    )


StaffId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]


class StaffRevokedOut(BaseModel):
    staff_id: str
    member: str
    revoked: bool = Field(description="false if the staff member was revoked already")
    key_ids: list[str] = Field(description="every ABE key recorded as issued to them")
    rotated: bool = Field(
        description="the member's authority rotated: their keys open nothing sealed from now on"
    )
    generation: int | None = Field(description="the authority's generation now (null: none)")
    reissued: int = Field(description="keys of other staff re-issued (fetched with GET /keys)")
    params_hash_tx: str | None = Field(
        description="the transaction publishing the new parameters' hash on chain, if sent"
    )
    note: str = Field(description="what happened, in words")


class MeOut(BaseModel):
    kind: str
    subject: str
    member: str
    staff_role: str
    attributes: list[str]
    chain_roles: list[str]
    pseudonyms: list[str]


@router.post("/nonce", summary="A single-use nonce for an EIP-4361 sign-in message")
def nonce(request: Request, services: ServicesDep) -> NonceOut:
    # Per client first: one client flooding this route meets its own limit long before
    # the global ceiling of live nonces, so it cannot lock anyone else out.
    client = request.client.host if request.client else None
    services.limits.hit("nonce_per_ip", client_key(client), what="sign-in nonces")
    try:
        issued = services.nonces.issue()
    except NonceLimitError as exc:
        raise ApiError(429, str(exc), "Too Many Requests") from None
    return NonceOut(
        nonce=issued,
        domain=services.settings.siwe_domain,
        chain_id=services.deployment.chain_id,
    )


@router.post("/login", summary="Exchange a signed EIP-4361 message for a short-lived token")
def login(body: LoginIn, request: Request, services: ServicesDep) -> TokenOut:
    # The URI a client signs is the gateway it talks to: this request's own origin, or the
    # public URL the gateway is registered under (behind a proxy the two differ).
    origins = [str(request.base_url)]
    if services.settings.public_url:
        origins.append(services.settings.public_url)
    try:
        parsed = parse_message(body.message)
        message = verify_message(
            body.message,
            body.signature,
            domain=services.settings.siwe_domain,
            nonce=parsed.nonce,
            chain_id=services.deployment.chain_id,
            uri_origins=origins,
        )
    except SiweError as exc:
        raise ApiError(401, str(exc), "Unauthorized") from None
    # Up to 64 signature recoveries follow: a replayed message (its nonce spent) must not get
    # them for free, so a dead nonce is refused first.
    if body.pseudonyms and not services.nonces.is_live(message.nonce):
        raise ApiError(401, "sign-in nonce is unknown, expired or already used", "Unauthorized")
    try:  # before the nonce is spent: a bad pseudonym list costs the patient no nonce
        pseudonyms = verify_pseudonyms(
            body.message,
            message.address,
            [PseudonymProof(p.address, p.signature) for p in body.pseudonyms],
        )
    except PseudonymProofError as exc:
        raise ApiError(exc.status, str(exc), "Unauthorized" if exc.status == 401 else "") from None
    if not services.nonces.consume(message.nonce):
        raise ApiError(401, "sign-in nonce is unknown, expired or already used", "Unauthorized")
    roles = services.roles_of(message.address)
    if not roles:
        kind = Kind.PATIENT
    elif Role.REGULATOR in roles:
        kind = Kind.REGULATOR
    else:
        kind = Kind.MEMBER
    if pseudonyms and kind is not Kind.PATIENT:
        raise ApiError(400, "only patients sign in with pseudonyms")
    principal = Principal(
        kind=kind,
        subject=message.address,
        member=message.address if kind is not Kind.PATIENT else "",
        chain_roles=tuple(roles.labels()),
        pseudonyms=pseudonyms,
    )
    token, expires = services.tokens.issue(principal)
    return TokenOut(
        access_token=token,
        expires_at=expires,
        kind=kind.value,
        subject=message.address,
        pseudonyms=list(pseudonyms),
    )


@router.post("/staff-tokens", summary="A member issues a token to one of its staff")
def staff_token(body: StaffTokenIn, member: MemberOnly, services: ServicesDep) -> TokenOut:
    if not ({"hospital", "clinic"} & set(member.chain_roles)):
        raise ApiError(403, "only hospitals and clinics have clinical staff", "Forbidden")
    if services.staff.is_revoked(member.member, body.staff_id):
        raise forbidden(f"staff member {body.staff_id} was revoked")
    authority = services.authorities.get(member.member)
    prefix = authority.authority if authority is not None else ""
    attributes = [f"role:{body.role}", *body.attributes]
    if prefix:
        # A member's attributes always carry its own authority prefix: a staff token can
        # never claim another member's attributes.
        attributes = sorted({qualify(a, prefix) for a in attributes})
    if body.gid is not None:
        try:
            services.credentials.bind_gid(member.member, body.staff_id, body.gid)
        except GidConflict as exc:
            raise ApiError(409, str(exc), "Conflict") from None
    principal = Principal(
        kind=Kind.STAFF,
        subject=f"{body.staff_id}@{member.member}",
        member=member.member,
        staff_role=body.role,
        attributes=tuple(attributes),
        chain_roles=member.chain_roles,
    )
    token, expires = services.tokens.issue(principal, services.settings.staff_token_ttl_s)
    return TokenOut(access_token=token, expires_at=expires, kind="staff", subject=principal.subject)


@router.post(
    "/staff/{staff_id}/revoke",
    responses=PROBLEM_RESPONSES,
    summary="A member revokes one of its staff: every token of theirs stops working now, and "
    "the member's authority rotates so their ABE keys open nothing sealed from now on",
)
def revoke_staff(
    staff_id: StaffId,
    member: MemberOnly,
    services: ServicesDep,
    rotate: Annotated[
        bool,
        Query(
            description="rotate the member's ABE authority if the person holds a live key of "
            "its current generation (re-issuing every other live key); false: tokens only"
        ),
    ] = True,
) -> StaffRevokedOut:
    done = revoke_staff_at_gateway(services, member.member, staff_id, rotate)
    return StaffRevokedOut(staff_id=staff_id, member=member.member, **vars(done))


@router.get("/me", summary="Who the token says you are")
def me(principal: Anyone) -> MeOut:
    return MeOut(
        kind=principal.kind.value,
        subject=principal.subject,
        member=principal.member,
        staff_role=principal.staff_role,
        attributes=list(principal.attributes),
        chain_roles=list(principal.chain_roles),
        pseudonyms=list(principal.pseudonyms),
    )
