"""Consultations in the index: the indexer's handlers for ConsultationRegistry's six events
and the queries the API serves from them (tables in ``schema.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from sharing_api.chain.events import ChainEvent
from sharing_api.chain.scopes import ConsultationStatus
from sharing_api.index.db import Patients, Row, patient_is
from sharing_api.index.schema import consultation_steps, consultations

# The status each step's event moves a consultation to, and the step's name.
STEP_STATUS = {
    "ConsultationAccepted": ConsultationStatus.ACCEPTED,
    "ConsultationDeclined": ConsultationStatus.DECLINED,
    "ConsultationReported": ConsultationStatus.REPORTED,
    "ConsultationClosed": ConsultationStatus.CLOSED,
    "ConsultationCancelled": ConsultationStatus.CANCELLED,
}
ZERO = "0x" + "00" * 32


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def handlers(
    timestamp: Callable[[int], int], upsert: Callable[[Connection, Any, str, dict[str, Any]], None]
) -> dict[str, Callable[[Connection, ChainEvent], None]]:
    """The indexer's handlers, by event name (``timestamp`` and ``upsert`` are its own)."""

    def step(conn: Connection, ev: ChainEvent, name: str, by: str, note: str) -> None:
        seen = conn.execute(
            select(consultation_steps.c.id).where(
                consultation_steps.c.block_number == ev.block_number,
                consultation_steps.c.log_index == ev.log_index,
            )
        ).first()
        if seen is None:  # replaying a range writes nothing twice
            conn.execute(
                insert(consultation_steps).values(
                    consultation_id=int(ev.args["consultationId"]),
                    step=name,
                    by=by.lower(),
                    note_hash=note,
                    block_number=ev.block_number,
                    log_index=ev.log_index,
                    timestamp=timestamp(ev.block_number),
                )
            )

    def requested(conn: Connection, ev: ChainEvent) -> None:
        a = ev.args
        upsert(
            conn,
            consultations,
            "consultation_id",
            {
                "consultation_id": int(a["consultationId"]),
                "patient": str(a["patient"]).lower(),
                "requester": str(a["requester"]).lower(),
                "consultant": str(a["consultant"]).lower(),
                "record_ids": json.dumps([int(i) for i in a["recordIds"]]),
                "consent_id": int(a["consentId"]),
                "status": int(ConsultationStatus.REQUESTED),
                "question_hash": _hex(a["questionHash"]),
                "expires_at": int(a["expiresAt"]),
                "report_record_id": 0,
                "block_number": ev.block_number,
                "tx_hash": ev.tx_hash,
                "timestamp": timestamp(ev.block_number),
            },
        )
        step(conn, ev, "requested", str(a["requester"]), _hex(a["questionHash"]))

    def moved(conn: Connection, ev: ChainEvent) -> None:
        a = ev.args
        values: dict[str, Any] = {"status": int(STEP_STATUS[ev.name])}
        if "reportRecordId" in a:
            values["report_record_id"] = int(a["reportRecordId"])
        cid = int(a["consultationId"])
        conn.execute(
            update(consultations).where(consultations.c.consultation_id == cid).values(**values)
        )
        by = str(a.get("consultant") or a.get("requester"))
        note = _hex(a["noteHash"]) if "noteHash" in a else ZERO
        step(conn, ev, ev.name.removeprefix("Consultation").lower(), by, note)

    return {"ConsultationRequested": requested, **{name: moved for name in STEP_STATUS}}


def _consultation(row: Row) -> Row:
    out = dict(row)
    out["record_ids"] = [int(i) for i in json.loads(row["record_ids"])]
    return out


class ConsultationQueries:
    """Reads of the consultation tables (the index DB's engine)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _rows(self, query: Any) -> list[Row]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def get(self, consultation_id: int) -> Row | None:
        c = consultations.c
        found = self._rows(select(consultations).where(c.consultation_id == consultation_id))
        return _consultation(found[0]) if found else None

    def listing(
        self,
        *,
        patient: Patients = None,
        party: str | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Row]:
        """Oldest first; ``party``: only those a member requested or was asked for."""
        c = consultations.c
        query = select(consultations)
        if patient is not None and patient != "":
            query = query.where(patient_is(c.patient, patient))
        if party:
            p = party.lower()
            query = query.where((c.requester == p) | (c.consultant == p))
        if after is not None:
            query = query.where(c.consultation_id > after)
        query = query.order_by(c.consultation_id).limit(limit)
        return [_consultation(r) for r in self._rows(query)]

    def steps_of(self, consultation_ids: list[int]) -> dict[int, list[Row]]:
        """The steps of each of these consultations, oldest first: one query for them all."""
        if not consultation_ids:
            return {}
        s = consultation_steps.c
        query = select(consultation_steps).where(s.consultation_id.in_(consultation_ids))
        found: dict[int, list[Row]] = {}
        for row in self._rows(query.order_by(s.id)):
            found.setdefault(int(row["consultation_id"]), []).append(row)
        return found

    def steps(self, consultation_id: int) -> list[Row]:
        s = consultation_steps.c
        return self._rows(
            select(consultation_steps).where(s.consultation_id == consultation_id).order_by(s.id)
        )
