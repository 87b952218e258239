"""Index rows planted straight into an index database (no chain): referrals with their status
changes, accesses and records spread over a time range, for the supervision figures' SQL
cross-checks and the ``dashboard/100k`` benchmark. Deterministic for a seed."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert

from sharing_api.chain import Basis, Direction, ReferralStatus
from sharing_api.index.db import IndexDB
from sharing_api.index.schema import (
    accesses,
    consultation_steps,
    consultations,
    records,
    referral_changes,
    referrals,
)

ZERO32 = "0x" + "00" * 32
BATCH = 5000


def member_addresses(n: int) -> list[str]:
    return [f"0x{i + 1:040x}" for i in range(n)]


def _insert(db: IndexDB, table: Any, rows: list[dict[str, Any]]) -> None:
    with db.engine.begin() as conn:
        for i in range(0, len(rows), BATCH):
            conn.execute(insert(table), rows[i : i + BATCH])


def plant(
    db: IndexDB,
    *,
    members: Sequence[str],
    accesses_n: int,
    referrals_n: int,
    records_n: int,
    start: int,
    end: int,
    consultations_n: int = 0,
    seed: int = 7,
) -> None:
    """Rows with Unix times in [start, end): about two thirds of the referrals accepted
    (some twice: only the first acceptance counts), some rejected; reads on every basis,
    break-glass ones justified or not."""
    rnd = random.Random(seed)

    def at() -> int:
        return rnd.randrange(start, end)

    patients = [f"0x{0xAA00 + i:040x}" for i in range(50)]
    recs = []
    for i in range(1, records_n + 1):
        recs.append(
            {
                "record_id": i, "patient": rnd.choice(patients), "custodian": rnd.choice(members),
                "category": rnd.randrange(6), "content_hash": ZERO32, "cid": f"cid{i}",
                "policy_commitment": ZERO32, "supersedes": 0, "superseded_by": 0,
                "timestamp": at(), "erased": False, "block_number": i, "tx_hash": ZERO32,
            }
        )  # fmt: skip
    _insert(db, records, recs)
    refs, changes = [], []
    for i in range(1, referrals_n + 1):
        a, b = rnd.sample(list(members), 2)
        created = at()
        refs.append(
            {
                "referral_id": i, "patient": rnd.choice(patients), "referrer": a,
                "receiver": b, "direction": int(rnd.choice(list(Direction))),
                "record_ids": json.dumps([1]), "consent_id": 0,
                "status": int(ReferralStatus.CREATED), "reason_hash": ZERO32,
                "expires_at": created + 86_400 * 30, "block_number": i, "tx_hash": ZERO32,
                "timestamp": created,
            }
        )  # fmt: skip
        fate = rnd.random()
        if fate < 0.66:
            accepted = created + rnd.randrange(0, 96 * 3600)
            changes.append(_change(i, ReferralStatus.ACCEPTED, accepted))
            if fate < 0.05:  # a second acceptance row later: the first one counts
                changes.append(_change(i, ReferralStatus.ACCEPTED, accepted + 3600))
        elif fate < 0.8:
            changes.append(_change(i, ReferralStatus.REJECTED, created + 60))
    _insert(db, referrals, refs)
    _insert(db, referral_changes, changes)
    rows = []
    for i in range(1, accesses_n + 1):
        basis = rnd.choice(list(Basis))
        rows.append(
            {
                "access_id": i, "record_id": rnd.randrange(1, records_n + 1),
                "patient": rnd.choice(patients), "reader": rnd.choice(members),
                "logger": members[0], "purpose": 0, "basis": int(basis), "basis_id": 0,
                "reason_hash": ZERO32, "staff": ZERO32,
                "justified": basis == Basis.BREAK_GLASS and rnd.random() < 0.5,
                "review": 0, "block_number": i, "tx_hash": ZERO32, "timestamp": at(),
            }
        )  # fmt: skip
    _insert(db, accesses, rows)
    plant_consultations(db, rnd, members, patients, consultations_n, at)


def plant_consultations(
    db: IndexDB,
    rnd: random.Random,
    members: Sequence[str],
    patients: Sequence[str],
    n: int,
    at: Any,
) -> None:
    """Consultations requested at random times: about half reported (some report steps
    twice: the first counts), some declined or cancelled."""
    rows, steps = [], []
    for i in range(1, n + 1):
        requester, consultant = rnd.sample(list(members), 2)
        asked = at()
        rows.append(
            {
                "consultation_id": i, "patient": rnd.choice(patients), "requester": requester,
                "consultant": consultant, "record_ids": "[1]", "consent_id": 0, "status": 0,
                "question_hash": ZERO32, "expires_at": asked + 86_400 * 7,
                "report_record_id": 0, "block_number": i, "tx_hash": ZERO32, "timestamp": asked,
            }
        )  # fmt: skip
        steps.append(consultation_step(i, "requested", requester, asked))
        fate = rnd.random()
        if fate < 0.5:
            reported = asked + rnd.randrange(600, 72 * 3600)
            steps.append(consultation_step(i, "accepted", consultant, asked + 300))
            steps.append(consultation_step(i, "reported", consultant, reported))
            if fate < 0.03:
                steps.append(consultation_step(i, "reported", consultant, reported + 60))
        elif fate < 0.7:
            steps.append(consultation_step(i, "declined", consultant, asked + 60))
    _insert(db, consultations, rows)
    _insert(db, consultation_steps, steps)


def consultation_step(consultation_id: int, step: str, by: str, ts: int) -> dict[str, Any]:
    return {
        "consultation_id": consultation_id,
        "step": step,
        "by": by,
        "note_hash": ZERO32,
        "block_number": 0,
        "log_index": 0,
        "timestamp": ts,
    }


def _change(referral_id: int, to: ReferralStatus, ts: int) -> dict[str, Any]:
    return {
        "referral_id": referral_id,
        "from_status": int(ReferralStatus.CREATED),
        "to_status": int(to),
        "by": "0x" + "00" * 20,
        "note_hash": ZERO32,
        "block_number": 0,
        "log_index": 0,
        "timestamp": ts,
    }
