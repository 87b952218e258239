"""The thin I/O layer: read the alliance's audit trail from the chain into the rule records
(``rules.History``) plus index-style rows (the shape the API's indexer stores, which the
FHIR AuditEvent builder and the CSV take)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account

from sharing_api.audit.rules import (
    Access,
    Consent,
    History,
    Justification,
    Pos,
    Referral,
    Revocation,
)
from sharing_api.chain import Alliance, ChainClient, Deployment, ReferralStatus
from sharing_api.chain.events import ChainEvent

if TYPE_CHECKING:
    from sharing_api.index.db import IndexDB

Row = dict[str, Any]
OPEN_REFERRAL = (ReferralStatus.CREATED, ReferralStatus.ACCEPTED)


@dataclass
class AuditData:
    history: History
    accesses: list[Row]  # index-style rows (see sharing_api.index.schema.accesses)
    records: list[Row]  # record_id, patient, custodian, category, content_hash, cid, ...
    head: int  # chain head block number when read
    head_timestamp: int


def connect(rpc: str, deployment_file: Path) -> Alliance:
    """A read-only view of the deployment: a throwaway key, since nothing is signed."""
    deployment = Deployment.load(deployment_file)
    return Alliance(ChainClient(rpc, Account.create().key), deployment)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def from_events(events: Iterable[ChainEvent], timestamps: dict[int, int]) -> AuditData:
    """Fold the decoded audit trail (chain order) into rule records and rows."""
    consents: list[Consent] = []
    revocations: list[Revocation] = []
    referrals: dict[int, Referral] = {}
    justifications: list[Justification] = []
    records: dict[int, Row] = {}
    rows: dict[int, Row] = {}
    raw_accesses: list[tuple[ChainEvent, Row]] = []
    roles: dict[str, int] = {}  # member -> role mask, as of the event being folded
    reader_roles: dict[int, int] = {}  # access id -> the reader's roles when it was logged
    for ev in events:
        a, pos, ts = ev.args, (ev.block_number, ev.log_index), timestamps[ev.block_number]
        if ev.name == "MemberAdded":
            roles[str(a["account"]).lower()] = int(a["roles"])
        elif ev.name == "RolesChanged":
            roles[str(a["account"]).lower()] = int(a["newRoles"])
        elif ev.name == "MemberRemoved":
            roles.pop(str(a["account"]).lower(), None)
        elif ev.name == "RecordRegistered":
            records[int(a["recordId"])] = {
                "record_id": int(a["recordId"]),
                "patient": str(a["patient"]).lower(),
                "custodian": str(a["custodian"]).lower(),
                "category": int(a["category"]),
                "content_hash": _hex(a["contentHash"]),
                "cid": str(a["cid"]),
                "policy_commitment": _hex(a["policyCommitment"]),
                "block_number": ev.block_number,
            }
        elif ev.name == "RecordErased" and int(a["recordId"]) in records:
            records[int(a["recordId"])]["erased"] = True
        elif ev.name == "ConsentGranted":
            consents.append(
                Consent(
                    int(a["consentId"]),
                    str(a["patient"]).lower(),
                    str(a["grantee"]).lower(),
                    int(a["granteeRole"]),
                    int(a["categories"]),
                    int(a["purposes"]),
                    int(a["validFrom"]),
                    int(a["validUntil"]),
                    pos,
                )
            )
        elif ev.name == "ConsentRevoked":
            revocations.append(Revocation(int(a["consentId"]), pos, ts))
        elif ev.name == "ReferralCreated":
            rid = int(a["referralId"])
            referrals[rid] = Referral(
                rid,
                str(a["patient"]).lower(),
                str(a["referrer"]).lower(),
                str(a["receiver"]).lower(),
                tuple(int(i) for i in a["recordIds"]),
                pos,
                expires_at=int(a["expiresAt"]),
                consent_id=int(a["consentId"]),
            )
        elif ev.name == "ReferralStatusChanged":
            rid = int(a["referralId"])
            ref = referrals.get(rid)
            to = ReferralStatus(int(a["to"]))
            if ref is not None and ref.closed is None and to not in OPEN_REFERRAL:
                referrals[rid] = replace(ref, closed=pos, closed_status=to)
            elif ref is not None and ref.accepted is None and to is ReferralStatus.ACCEPTED:
                referrals[rid] = replace(ref, accepted=pos)
        elif ev.name == "AccessLogged":
            row: Row = {
                "access_id": int(a["accessId"]),
                "record_id": int(a["recordId"]),
                "patient": str(a["patient"]).lower(),
                "reader": str(a["reader"]).lower(),
                "logger": str(a["logger"]).lower(),
                "purpose": int(a["purpose"]),
                "basis": int(a["basis"]),
                "basis_id": int(a["basisId"]),
                "reason_hash": _hex(a["reasonHash"]),
                "staff": _hex(a["staff"]),
                "justified": False,
                "justification_hash": None,
                "block_number": ev.block_number,
                "tx_hash": ev.tx_hash,
                "timestamp": ts,
            }
            rows[int(a["accessId"])] = row
            reader_roles[int(a["accessId"])] = roles.get(row["reader"], 0)
            raw_accesses.append((ev, row))
        elif ev.name == "BreakGlassJustified":
            aid = int(a["accessId"])
            justifications.append(Justification(aid, pos, ts))
            if aid in rows:
                rows[aid].update(justified=True, justification_hash=_hex(a["justificationHash"]))
    accesses = tuple(
        Access(
            r["access_id"],
            r["record_id"],
            r["patient"],
            r["reader"],
            r["purpose"],
            r["basis"],
            r["basis_id"],
            (ev.block_number, ev.log_index),
            r["timestamp"],
            records[r["record_id"]]["category"] if r["record_id"] in records else None,
            records[r["record_id"]]["custodian"] if r["record_id"] in records else None,
            reader_roles[r["access_id"]],
        )
        for ev, r in raw_accesses
    )
    history = History(
        tuple(consents),
        tuple(revocations),
        tuple(referrals.values()),
        accesses,
        tuple(justifications),
    )
    return AuditData(history, list(rows.values()), list(records.values()), 0, 0)


def read_chain(alliance: Alliance) -> AuditData:
    """Everything the audit needs, from the chain alone (no index)."""
    w3 = alliance.client.w3
    head_block = w3.eth.get_block("latest")
    events = alliance.audit_trail()
    timestamps = {}
    for n in sorted({e.block_number for e in events}):
        timestamps[n] = int(w3.eth.get_block(n)["timestamp"])
    data = from_events(events, timestamps)
    data.head = int(head_block["number"])
    data.head_timestamp = int(head_block["timestamp"])
    return data


# The index keeps no log index and no time for revocations or justifications, so chain order
# within a block is unknown there: a revocation sorts after every access of its block (no false
# "after revocation" in the same block; the contract refuses those anyway), and a
# justification counts as made when it was indexed at the latest, i.e. it is judged in time.
LAST_IN_BLOCK = 1 << 30


def _moved_to(changes: list[Row], wanted: Callable[[ReferralStatus], bool]) -> Row | None:
    """The first status change into a status ``wanted`` accepts."""
    for c in changes:
        if wanted(ReferralStatus(int(c["to_status"]))):
            return c
    return None


def _pos(change: Row | None) -> Pos | None:
    return None if change is None else (int(change["block_number"]), int(change["log_index"]))


def _referral_from_index(r: Row, changes: list[Row]) -> Referral:
    closed = _moved_to(changes, lambda s: s not in OPEN_REFERRAL)
    return Referral(
        int(r["referral_id"]),
        r["patient"],
        r["referrer"],
        r["receiver"],
        tuple(r["record_ids"]),
        (int(r["block_number"]), 0),
        _pos(closed),
        _pos(_moved_to(changes, lambda s: s is ReferralStatus.ACCEPTED)),
        int(r["expires_at"]),
        int(r["consent_id"]),
        ReferralStatus(int(closed["to_status"])) if closed else ReferralStatus.CANCELLED,
    )


def read_index(url: str, limit: int = 10_000_000) -> AuditData:
    """The same records from the API's index database (SQLite or PostgreSQL URL). The index
    keeps no roles, so consents granted to a role are not judged on the reader's role here
    (``read_chain`` does, and the console passes ``roles_of``)."""
    from sharing_api.index.db import IndexDB

    db = IndexDB(url)
    try:
        return read_index_db(db, limit)
    finally:
        db.close()


def read_index_db(
    db: IndexDB, limit: int = 10_000_000, roles_of: Callable[[str], int] | None = None
) -> AuditData:
    """``read_index`` over an open index (the API's own, for the regulator console).
    ``roles_of``: a reader's role mask (now: the index keeps no role history)."""
    records = db.records(limit=limit)
    consent_rows = db.consents(limit=limit)
    referral_rows = db.referrals(limit=limit)
    rows = db.accesses(limit=limit)
    head = (db.next_block() or 1) - 1
    category = {int(r["record_id"]): int(r["category"]) for r in records}
    custodian = {int(r["record_id"]): str(r["custodian"]) for r in records}
    consents = tuple(
        Consent(
            int(c["consent_id"]),
            c["patient"],
            c["grantee"],
            int(c["grantee_role"]),
            int(c["categories"]),
            int(c["purposes"]),
            int(c["valid_from"]),
            int(c["valid_until"]),
            (int(c["block_number"]), 0),
        )
        for c in consent_rows
    )
    revocations = tuple(
        Revocation(int(c["consent_id"]), (int(c["revoked_block"]), LAST_IN_BLOCK), 0)
        for c in consent_rows
        if c["revoked"] and c["revoked_block"] is not None
    )
    # A referral still Created has moved nowhere: spare its history query.
    referrals = tuple(
        _referral_from_index(
            r,
            []
            if int(r["status"]) == ReferralStatus.CREATED
            else db.referral_history(int(r["referral_id"])),
        )
        for r in referral_rows
    )
    roles: dict[str, int | None] = {}
    for r in rows:
        if r["reader"] not in roles:
            roles[r["reader"]] = None if roles_of is None else int(roles_of(r["reader"]))
    accesses = tuple(
        Access(
            int(r["access_id"]),
            int(r["record_id"]),
            r["patient"],
            r["reader"],
            int(r["purpose"]),
            int(r["basis"]),
            int(r["basis_id"]),
            (int(r["block_number"]), 1),
            int(r["timestamp"]),
            category.get(int(r["record_id"])),
            custodian.get(int(r["record_id"])),
            roles[r["reader"]],
        )
        for r in rows
    )
    justifications = tuple(
        Justification(a.access_id, a.pos, a.timestamp)
        for a, r in zip(accesses, rows, strict=True)
        if r["justified"]
    )
    history = History(consents, revocations, referrals, accesses, justifications)
    last_ts = max((a.timestamp for a in accesses), default=0)
    return AuditData(history, rows, records, head, last_ts)
