"""The SDK's consultation calls (mixed into SharingClient): ask, answer, read, report."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sharing_api.sdk.consultation_report import check_report


class ConsultationCalls:
    """Remote consultations (``/consultations``); ``self`` is a SharingClient."""

    def json(self, method: str, path: str, **kwargs: Any) -> Any:  # SharingClient's
        raise NotImplementedError

    def request_consultation(
        self,
        patient: str,
        consultant: str,
        record_ids: Iterable[int],
        question: str,
        *,
        consent_id: int | None = None,
        expires_at: int | None = None,
    ) -> dict[str, Any]:
        """Ask ``consultant`` about these records of ``patient`` (the patient's pseudonym at
        the records' keeper), on the patient's consent for purpose consultation."""
        body: dict[str, Any] = {
            "patient": patient,
            "consultant": consultant,
            "record_ids": list(record_ids),
            "question": question,
        }
        if consent_id is not None:
            body["consent_id"] = consent_id
        if expires_at is not None:
            body["expires_at"] = expires_at
        out: dict[str, Any] = self.json("POST", "/consultations", json=body)
        return out

    def accept_consultation(self, consultation_id: int) -> dict[str, Any]:
        out: dict[str, Any] = self.json("POST", f"/consultations/{consultation_id}/accept")
        return out

    def decline_consultation(self, consultation_id: int, note: str = "") -> dict[str, Any]:
        return self._consultation_step(consultation_id, "decline", {"note": note})

    def close_consultation(self, consultation_id: int, note: str = "") -> dict[str, Any]:
        return self._consultation_step(consultation_id, "close", {"note": note})

    def cancel_consultation(self, consultation_id: int, note: str = "") -> dict[str, Any]:
        return self._consultation_step(consultation_id, "cancel", {"note": note})

    def _consultation_step(
        self, consultation_id: int, action: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = self.json(
            "POST", f"/consultations/{consultation_id}/{action}", json=body
        )
        return out

    def report_consultation(
        self,
        consultation_id: int,
        report: dict[str, Any] | str | bytes,
        policy: str,
        *,
        category: str = "summary",
        note: str = "",
    ) -> dict[str, Any]:
        """As the consultant: validate the FHIR report, seal it under ``policy`` (name the
        requester's attributes, e.g. ``pjx.role:doctor``), register it as this member's
        record about the consultation's patient, and report the record on chain."""
        from sharing_api.sdk.client import SharingClient

        assert isinstance(self, SharingClient)
        document = check_report(report, consultation_id)  # before anything is sealed
        consultation = self.consultation(consultation_id)
        qualified, params = self.policy_for_sealing(policy)
        plaintext = json.dumps(document, ensure_ascii=False).encode()
        sealed = self.seal(plaintext, qualified, params, self.crypto_suite())
        record = self.upload(consultation["patient"], category, qualified, sealed)
        return self._consultation_step(
            consultation_id, "report", {"record_id": int(record["record_id"]), "note": note}
        )

    def consultations(self, patient: str | None = None) -> list[dict[str, Any]]:
        """The consultations the caller may see (a member: those it is party to)."""
        params = {"patient": patient} if patient else {}
        out: list[dict[str, Any]] = self.json("GET", "/consultations", params=params)
        return out

    def consultation(self, consultation_id: int) -> dict[str, Any]:
        out: dict[str, Any] = self.json("GET", f"/consultations/{consultation_id}")
        return out

    def consultation_texts(self, consultation_id: int) -> dict[str, Any]:
        """The question and notes, each checked against the chain (``matches_chain``)."""
        out: dict[str, Any] = self.json("GET", f"/consultations/{consultation_id}/texts")
        return out

    def consultation_fhir(self, consultation_id: int) -> dict[str, Any]:
        """The consultation as an R4 Bundle of its ServiceRequest and Task."""
        out: dict[str, Any] = self.json("GET", f"/fhir/Task/consultation-{consultation_id}")
        return out
