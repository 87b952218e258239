"""A consultation's free text kept off chain by the gateway that wrote it: the question (the
requester's) and the step notes, each with its salt (``committed_texts``)."""

from __future__ import annotations

from sqlalchemy import Engine

from sharing_api.index.committed_texts import CommittedTextStore, StoredText, text_table

consultation_texts = text_table("consultation_texts", "consultation_id")

__all__ = ["ConsultationTextStore", "StoredText", "consultation_texts"]


class ConsultationTextStore(CommittedTextStore):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, consultation_texts)
