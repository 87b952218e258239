"""Short-lived bearer tokens (JWT, HS256) and single-use sign-in nonces.

Who is who:
- ``patient``: any wallet that signed in with EIP-4361 and is not an alliance member; with
  the pairwise pseudonyms it proved at sign-in (one per custodian), which the token carries
  and nothing else keeps: the gateway stores no link between them.
- ``member``: a hospital or clinic's own ledger account (its administrator).
- ``regulator``: a member holding the regulator role; read-only everywhere.
- ``staff``: a person a member vouches for; the member issues the token, naming the staff
  role (doctor, nurse, records-officer, ...) and the ABE attributes its keys may carry.
  On chain, staff act through their member's account (the member is the reader of record).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt
from sqlalchemy import Engine, delete, func, insert, select

from sharing_api.index.schema import siwe_nonces

ALGORITHM = "HS256"
ISSUER = "alliance-sharing-api"
# A token names the gateway it is for (its public URL, else this default): one gateway's
# token is never accepted by another, even one that shares its secret by mistake.
DEFAULT_AUDIENCE = "alliance-gateway"


class Kind(StrEnum):
    PATIENT = "patient"
    MEMBER = "member"
    STAFF = "staff"
    REGULATOR = "regulator"


class TokenError(ValueError):
    """A bearer token that is missing, malformed, forged or expired."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``member`` is the member account acting on chain (the
    caller's own for members, the employer's for staff; empty for patients)."""

    kind: Kind
    subject: str
    member: str = ""
    staff_role: str = ""
    attributes: tuple[str, ...] = ()
    chain_roles: tuple[str, ...] = ()
    token_id: str = ""
    # A patient's pseudonyms proven at sign-in, lowercase, the primary (subject) excluded.
    pseudonyms: tuple[str, ...] = ()

    @property
    def patients(self) -> tuple[str, ...]:
        """Every address that is this patient: the primary, then its pseudonyms (lowercase);
        empty for anyone else. Patient views are restricted to rows under these."""
        if self.kind is not Kind.PATIENT:
            return ()
        return (self.subject.lower(), *self.pseudonyms)

    def owns(self, address: str) -> bool:
        """Is ``address`` one of this patient's own (primary or a proven pseudonym)?"""
        return address.lower() in self.patients

    @property
    def address(self) -> str:
        """The wallet address of a patient or member (staff have none of their own)."""
        return self.subject if self.kind is not Kind.STAFF else ""

    @property
    def staff_id(self) -> str:
        """The member's own id of a staff member (the subject is ``staff_id@member``)."""
        return self.subject.rsplit("@", 1)[0] if self.kind is Kind.STAFF else ""


VERIFIED_CACHE_SIZE = 10_000


@dataclass
class TokenService:
    secret: str
    ttl_s: int
    clock: Any = field(default=time.time)
    audience: str = DEFAULT_AUDIENCE
    # token text -> (caller, expiry): a token whose HMAC was checked once is the same bytes
    # next time, so a repeat caller skips PyJWT (about a third of a millisecond per request).
    _verified: dict[str, tuple[Principal, int]] = field(default_factory=dict, repr=False)

    def issue(self, principal: Principal, ttl_s: int | None = None) -> tuple[str, int]:
        now = int(self.clock())
        expires = now + (ttl_s or self.ttl_s)
        claims = {
            "iss": ISSUER,
            "aud": self.audience,
            "sub": principal.subject,
            "kind": principal.kind.value,
            "member": principal.member,
            "staff_role": principal.staff_role,
            "attrs": list(principal.attributes),
            "roles": list(principal.chain_roles),
            "iat": now,
            "exp": expires,
            "jti": uuid.uuid4().hex,
        }
        if principal.pseudonyms:  # 40 hex digits each: at most 64 keep a token under 4 KB
            claims["pseud"] = [p.removeprefix("0x") for p in principal.pseudonyms]
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM), expires

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if expires > int(self.clock()):
                return principal
            self._verified.pop(token, None)
            raise TokenError("token expired")
        principal, expires = self._decode(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _decode(self, token: str) -> tuple[Principal, int]:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                audience=self.audience,
                options={"require": ["exp", "iat", "sub", "iss", "jti", "aud"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        if int(claims["exp"]) <= int(self.clock()):
            raise TokenError("token expired")
        try:
            principal = Principal(
                kind=Kind(claims["kind"]),
                subject=str(claims["sub"]),
                member=str(claims.get("member", "")),
                staff_role=str(claims.get("staff_role", "")),
                attributes=tuple(str(a) for a in claims.get("attrs", [])),
                chain_roles=tuple(str(r) for r in claims.get("roles", [])),
                token_id=str(claims["jti"]),
                pseudonyms=tuple("0x" + str(p).lower() for p in claims.get("pseud", [])),
            )
        except (KeyError, ValueError, TypeError):
            raise TokenError("invalid token claims") from None
        return principal, int(claims["exp"])


class NonceLimitError(OSError):
    """Too many unused sign-in nonces are live (a flood of /auth/nonce calls)."""


class NonceStore:
    """Sign-in nonces: issued by the API, usable once, for a limited time (anti-replay).

    They live in the index database, so a nonce issued before a restart, or by another
    worker, can be used once and only once. Times are wall-clock (shared across processes).
    """

    def __init__(
        self, engine: Engine, ttl_s: int, clock: Any = time.time, limit: int = 100_000
    ) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self.clock = clock
        self.limit = limit  # live nonces at most: /auth/nonce is public, the table is not free

    def issue(self) -> str:
        nonce = secrets.token_hex(12)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(delete(siwe_nonces).where(siwe_nonces.c.expires_at <= now))
            live = conn.execute(select(func.count()).select_from(siwe_nonces)).scalar() or 0
            if live >= self.limit:
                raise NonceLimitError("too many sign-ins pending; try again shortly")
            conn.execute(insert(siwe_nonces).values(nonce=nonce, expires_at=now + self.ttl_s))
        return nonce

    def is_live(self, nonce: str) -> bool:
        """Whether ``nonce`` could still be consumed (a read: ``consume`` decides)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(siwe_nonces.c.nonce).where(
                    siwe_nonces.c.nonce == nonce, siwe_nonces.c.expires_at > self.clock()
                )
            ).first()
        return found is not None

    def consume(self, nonce: str) -> bool:
        """True once for a live nonce; False if unknown, used or expired. The DELETE is the
        check: of two workers racing on one nonce, only one deletes the row."""
        with self.engine.begin() as conn:
            used = conn.execute(
                delete(siwe_nonces).where(
                    siwe_nonces.c.nonce == nonce, siwe_nonces.c.expires_at > self.clock()
                )
            )
        return bool(used.rowcount == 1)
