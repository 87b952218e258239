"""Break-glass, as each hosted member configures it: who may break the glass (staff roles),
how often per person (a count per window, kept in the index DB), who may justify it
(another person, in a reviewing role), and the reason and justification sealed to the
regulator's audit key (on chain only their keyed commitments: ``crypto.audit_seal``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto import audit_seal
from sharing_api.api.core.config import HostedMember, RateLimit
from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.errors import ApiError, forbidden
from sharing_api.api.services import Services
from sharing_api.audit.break_glass_texts import (
    BreakGlassOnChain,
    OpenedText,
    SealedText,
    TamperedText,
    fetch_sealed,
    open_checked,
)
from sharing_api.chain.scopes import Review
from sharing_api.gateway.peer_get import PEER_TOKENS, GatewayUnreachable
from sharing_api.index.break_glass import SealedText as StoredText
from sharing_api.sdk.client import ApiError as SdkApiError


@dataclass(frozen=True)
class SealedReason:
    envelope: bytes
    commitment: bytes


def rules_of(services: Services, member: str) -> HostedMember:
    return services.member_settings(member)


def seal_reason(services: Services, principal: Principal, reason: str | None) -> SealedReason:
    """The checks before a break-glass read, in order: a person (staff token) in a role the
    member allows (403), a reason (400), an audit key to seal it to (503), and the person's
    turn within the rate limit (429, saying when it resets). The turn is counted here,
    before the read is logged: a burst cannot outrun the count."""
    if principal.kind is not Kind.STAFF:
        raise forbidden("break-glass is for staff (a person), not a member's own token")
    rules = rules_of(services, principal.member)
    if principal.staff_role not in rules.break_glass_roles:
        allowed = ", ".join(rules.break_glass_roles) or "nobody"
        raise forbidden(f"break-glass is for {allowed}; your role is {principal.staff_role}")
    if not reason or not reason.strip():
        raise ApiError(400, "break-glass needs a reason")
    _owner, public_key = services.reader.access.audit_key()
    if not any(public_key):
        raise ApiError(503, "no regulator audit key on chain: a reason could not be sealed")
    # The person's turn, under the member's own rule, in the gateway's one limiter (429 with
    # Retry-After past it).
    services.limits.hit(
        "break_glass_per_person",
        principal.subject,  # staff_id@member: one person of one member
        what="break-glass reads by this person",
        rule=RateLimit(limit=rules.break_glass_limit, window_s=rules.break_glass_window_s),
    )
    sealed = audit_seal.seal(public_key, "reason", reason.strip())
    return SealedReason(sealed.envelope, sealed.commitment)


def keep_reason(
    services: Services, principal: Principal, access_id: int, sealed: SealedReason
) -> None:
    services.break_glass.put(
        StoredText(
            access_id,
            "reason",
            principal.member,
            principal.subject,
            sealed.envelope,
            "0x" + sealed.commitment.hex(),
        )
    )


def check_reviewer(services: Services, principal: Principal, access_id: int, reader: str) -> None:
    """403 unless the caller is another person of the reader's member, in a reviewing role."""
    if principal.kind is not Kind.STAFF:
        raise forbidden("a justification comes from a person (a staff token) in a reviewing role")
    if principal.member.lower() != reader.lower():
        raise forbidden("only the reader's member may justify its break-glass access")
    rules = rules_of(services, principal.member)
    if principal.staff_role not in rules.break_glass_reviewers:
        allowed = ", ".join(rules.break_glass_reviewers) or "nobody"
        raise forbidden(
            f"break-glass is justified by {allowed}; your role is {principal.staff_role}"
        )
    reason = services.break_glass.texts(access_id).get("reason")
    if reason is None or reason.staff == principal.subject:
        # Without the reason's record nobody can show the reviewer is another person.
        raise forbidden("the person who broke the glass cannot justify it")


def seal_justification(
    services: Services, principal: Principal, access_id: int, justification: str
) -> tuple[bytes, bytes]:
    """(commitment, reviewer pseudonym) for the chain; the sealed text is kept here."""
    _owner, public_key = services.reader.access.audit_key()
    if not any(public_key):
        raise ApiError(503, "no regulator audit key on chain: a justification could not be sealed")
    sealed = audit_seal.seal(public_key, "justification", justification.strip())
    # Over any earlier justification kept here: the caller checked that the chain took none
    # (a transaction that failed, or a gateway stopped between the two, left it behind).
    services.break_glass.put(
        StoredText(
            access_id,
            "justification",
            principal.member,
            principal.subject,
            sealed.envelope,
            "0x" + sealed.commitment.hex(),
        ),
        replace=True,
    )
    # The reviewer by the same keyed pseudonym as their reads (revealable to the regulator).
    reviewer = services.staff_pseudonym(principal.member, principal.staff_id)
    services.staff.remember(reviewer, principal.member, principal.staff_id, principal.staff_role)
    return sealed.commitment, reviewer


def review_texts(
    services: Services, principal: Principal, row: dict[str, Any]
) -> dict[str, OpenedText]:
    """The regulator's console view of one break-glass access: its texts opened with the
    audit key this gateway holds for the regulator, each checked against the chain. They are
    kept by the reader's member gateway: read here if that is this gateway, else fetched
    from it as the regulator (signed in there with the regulator's ledger key, which this
    gateway holds to close reviews; TLS pinned to the directory's fingerprint)."""
    signer = services.signer(principal.member)
    key = services.audit_keys.get(signer.client.address)
    if key is None:
        raise forbidden("this gateway holds no audit key of yours")
    access_id, reader = int(row["access_id"]), str(row["reader"])
    facts = BreakGlassOnChain(
        access_id=access_id,
        record_id=int(row["record_id"]),
        reader=reader,
        reason=str(row["reason_hash"] or ""),
        justification=row["justification_hash"],
        review=Review(int(row["review"] or 0)),
    )
    local = services.break_glass.texts(access_id)
    if local or services.hosts(reader):
        sealed = [SealedText(kind, t.envelope) for kind, t in local.items()]
    else:
        try:
            sealed = fetch_sealed(
                services.reader,
                reader,
                access_id,
                bytes(signer.client.account.key),
                insecure_http=services.settings.insecure_http,
                timeout=services.settings.peer_timeout_s,
                tokens=PEER_TOKENS,
            )
        except (GatewayUnreachable, TamperedText, SdkApiError) as exc:
            raise ApiError(502, f"the reader's gateway did not give the texts: {exc}") from None
    return open_checked(key, sealed, facts)
