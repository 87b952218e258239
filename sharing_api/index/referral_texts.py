"""Referral free text kept off chain by the gateway that wrote it: the reason and the reject,
complete and cancel notes, each with its salt (``committed_texts``)."""

from __future__ import annotations

from sqlalchemy import Engine

from sharing_api.index.committed_texts import CommittedTextStore, StoredText, text_table

referral_texts = text_table("referral_texts", "referral_id")

__all__ = ["ReferralTextStore", "StoredText", "referral_texts"]


class ReferralTextStore(CommittedTextStore):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, referral_texts)
