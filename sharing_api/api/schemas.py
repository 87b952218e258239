"""The request fields and response models that several route families share, and how an
index row becomes each response: one place, so no route imports another."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, Field

from sharing_api.chain import Basis, Category, Direction, Purpose, ReferralStatus, Signature
from sharing_api.chain.scopes import Review, unmask

Hex32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]


AddressField = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]


AddressQuery = Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")]

# Ids as the index stores them (64-bit signed): anything larger is a 422, not an overflow.
MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=0, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# The last second of year 9999: later times do not fit a datetime (the reports format them).
MAX_UNIX_TIME = 253_402_300_799


class SignatureIn(BaseModel):
    v: Annotated[int, Field(ge=0, le=255)]
    r: Hex32
    s: Hex32

    def to_sig(self) -> Signature:
        return Signature(self.v, bytes.fromhex(self.r[2:]), bytes.fromhex(self.s[2:]))


class RecordOut(BaseModel):
    record_id: int
    patient: str
    custodian: str
    category: str
    content_hash: str
    cid: str
    policy_commitment: str  # on chain: crypto.policy_commitment of the sealed header
    policy: str | None = None  # the text, where this gateway received the sealed header
    # Security labels (DS4P) from the sealed header, likewise only where it came through
    # this gateway; None: not known here (not "normal").
    confidentiality: str | None = None
    sensitivity: list[str] | None = None
    supersedes: int
    superseded_by: int
    erased: bool = False  # at the patient's request: the ciphertext is gone for good
    block_number: int
    tx_hash: str


def record_out(row: dict[str, Any]) -> RecordOut:
    codes = row.get("sensitivity")
    sensitivity = None if codes is None else [c for c in str(codes).split(",") if c]
    return RecordOut(
        **{**row, "category": Category(int(row["category"])).label, "sensitivity": sensitivity}
    )


class ConsentOut(BaseModel):
    consent_id: int
    patient: str
    grantee: str
    grantee_role: int
    categories: list[str]
    purposes: list[str]
    valid_from: int
    valid_until: int
    revoked: bool
    relayer: str
    block_number: int
    tx_hash: str


def consent_out(row: dict[str, Any]) -> ConsentOut:
    return ConsentOut(
        **{k: row[k] for k in ConsentOut.model_fields if k not in ("categories", "purposes")},
        categories=[c.label for c in unmask(Category, int(row["categories"]))],
        purposes=[p.label for p in unmask(Purpose, int(row["purposes"]))],
    )


class ReferralOut(BaseModel):
    referral_id: int
    patient: str
    referrer: str
    receiver: str
    direction: str
    record_ids: list[int]
    consent_id: int
    status: str
    expires_at: int
    expired: bool  # past expires_at: no access through it, whatever its status says
    # The chain's salted commitment to the reason (zero: none); the text is off chain.
    reason_hash: str
    # The reason, where this gateway holds it (or fetched it) and it matches reason_hash.
    reason: str | None = None
    block_number: int
    tx_hash: str


def referral_out(row: dict[str, Any], reason: str | None = None) -> ReferralOut:
    return ReferralOut(
        **{
            k: row[k]
            for k in ReferralOut.model_fields
            if k not in ("direction", "status", "expired", "reason")
        },
        reason=reason,
        direction=Direction(int(row["direction"])).name.lower(),
        status=ReferralStatus(int(row["status"])).name.lower(),
        expired=int(row["expires_at"]) <= time.time(),
    )


class AccessOut(BaseModel):
    access_id: int
    record_id: int
    patient: str
    reader: str
    logger: str
    purpose: str
    basis: str
    basis_id: int
    reason_hash: str
    # The reading person's keyed pseudonym (0x00..00: the member itself). Never a name: the
    # regulator asks the reader's gateway (GET /audit/staff/{pseudonym}), and that is audited.
    staff: str
    justified: bool
    # break-glass only: open (waiting for justification), justified, accepted, flagged
    review: str | None
    block_number: int
    tx_hash: str
    timestamp: int


def access_out(row: dict[str, Any]) -> AccessOut:
    return AccessOut(
        **{k: row[k] for k in AccessOut.model_fields if k not in ("purpose", "basis", "review")},
        purpose=Purpose(int(row["purpose"])).label,
        basis=Basis(int(row["basis"])).label,
        review=Review(int(row["review"] or 0)).label if row["review"] else None,
    )


class MemberOut(BaseModel):
    address: str
    name: str
    roles: list[str]
    active: bool
    gateway_url: str | None  # None: the member has published no gateway
    gateway_fingerprint: str | None  # 0x-hex SHA-256 of the gateway's TLS certificate
