"""ConsultationRegistry: remote consultations on named records, each with an expiry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from sharing_api.chain.base import ContractWrapper
from sharing_api.chain.client import Sent
from sharing_api.chain.scopes import ConsultationStatus

ZERO32 = b"\x00" * 32
# ConsultationRegistry.MAX_DURATION: the longest a consultation may last from its request.
MAX_CONSULTATION_DURATION_S = 30 * 24 * 3600
# One event per step, in lifecycle order (the audit trail and the indexer read these).
CONSULTATION_EVENTS = (
    "ConsultationRequested",
    "ConsultationAccepted",
    "ConsultationDeclined",
    "ConsultationReported",
    "ConsultationClosed",
    "ConsultationCancelled",
)


@dataclass(frozen=True)
class ConsultationInfo:
    consultation_id: int
    patient: str
    status: ConsultationStatus
    consent_id: int
    requester: str
    expires_at: int
    consultant: str
    report_record_id: int


@dataclass(frozen=True)
class Requested:
    consultation_id: int
    sent: Sent


class ConsultationRegistry(ContractWrapper):
    NAME = "ConsultationRegistry"

    def request(
        self,
        patient: str,
        consultant: str,
        record_ids: Sequence[int],
        consent_id: int,
        question_hash: bytes,
        expires_at: int,
    ) -> Requested:
        """Ask ``consultant`` about ``record_ids`` on the patient's consent (purpose
        consultation, to the consultant), until ``expires_at``."""
        fn = self.fn.request(
            to_checksum_address(patient),
            to_checksum_address(consultant),
            list(record_ids),
            consent_id,
            question_hash,
            expires_at,
        )
        event, sent = self._send_for_event(fn, "ConsultationRequested")
        return Requested(int(event.args["consultationId"]), sent)

    def accept(self, consultation_id: int) -> Sent:
        return self._send(self.fn.accept(consultation_id))

    def decline(self, consultation_id: int, note_hash: bytes = ZERO32) -> Sent:
        return self._send(self.fn.decline(consultation_id, note_hash))

    def report(
        self, consultation_id: int, report_record_id: int, note_hash: bytes = ZERO32
    ) -> Sent:
        return self._send(self.fn.report(consultation_id, report_record_id, note_hash))

    def close(self, consultation_id: int, note_hash: bytes = ZERO32) -> Sent:
        return self._send(self.fn.close(consultation_id, note_hash))

    def cancel(self, consultation_id: int, note_hash: bytes = ZERO32) -> Sent:
        return self._send(self.fn.cancel(consultation_id, note_hash))

    def get(self, consultation_id: int) -> ConsultationInfo:
        c = self._call(self.fn.getConsultation(consultation_id))
        return ConsultationInfo(
            consultation_id, c[0], ConsultationStatus(c[1]), c[2], c[3], c[4], c[5], c[6]
        )

    def is_named(self, consultation_id: int, record_id: int) -> bool:
        return bool(self._call(self.fn.isNamed(consultation_id, record_id)))

    def covers_access(
        self, consultation_id: int, patient: str, reader: str, record_id: int
    ) -> bool:
        fn = self.fn.coversAccess(
            consultation_id, to_checksum_address(patient), to_checksum_address(reader), record_id
        )
        return bool(self._call(fn))
