"""The SDK's referral calls (mixed into SharingClient): hand records over to another member on
the patient's consent, answer, withdraw (the patient), read the texts checked against the
chain."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account import Account

from crypto import text_commitment
from sharing_api.chain.typed_data import sign_typed_data, withdraw_typed_data

ZERO_HEX = "0x" + "00" * 32
# A referral's status change (as the API names it) whose note is free text of that kind.
NOTE_KINDS = {"rejected": "reject", "completed": "complete", "cancelled": "cancel"}


@dataclass(frozen=True)
class CheckedText:
    """A referral's free text as :meth:`SharingClient.referral_texts` checked it."""

    kind: str  # reason | reject | complete | cancel
    text: str
    commitment: str  # the chain's
    matches_chain: bool
    held_by: str  # the member whose gateway keeps it


class ReferralCalls:
    """Referrals (``/referrals``); ``self`` is a SharingClient."""

    def json(self, method: str, path: str, **kwargs: Any) -> Any:  # SharingClient's
        raise NotImplementedError

    def create_referral(
        self,
        patient: str,
        receiver: str,
        record_ids: Iterable[int],
        consent_id: int,
        *,
        direction: str = "up",
        reason: str = "",
        expires_at: int | None = None,
    ) -> dict[str, Any]:
        """Hand records over to ``receiver`` under the patient's consent (purpose referral),
        until ``expires_at`` (default: the API's, 30 days or the consent's end if sooner)."""
        body: dict[str, Any] = {
            "patient": patient,
            "receiver": receiver,
            "direction": direction,
            "record_ids": list(record_ids),
            "consent_id": consent_id,
            "reason": reason,
        }
        if expires_at is not None:
            body["expires_at"] = expires_at
        out: dict[str, Any] = self.json("POST", "/referrals", json=body)
        return out

    def accept_referral(self, referral_id: int) -> dict[str, Any]:
        """As the receiver."""
        out: dict[str, Any] = self.json("POST", f"/referrals/{referral_id}/accept")
        return out

    def reject_referral(self, referral_id: int, note: str = "") -> dict[str, Any]:
        """As the receiver."""
        return self._referral_step(referral_id, "reject", note)

    def complete_referral(self, referral_id: int, note: str = "") -> dict[str, Any]:
        """As the receiver, once the patient's care there is done."""
        return self._referral_step(referral_id, "complete", note)

    def cancel_referral(self, referral_id: int, note: str = "") -> dict[str, Any]:
        """As the referrer, before the receiver answered."""
        return self._referral_step(referral_id, "cancel", note)

    def _referral_step(self, referral_id: int, action: str, note: str) -> dict[str, Any]:
        out: dict[str, Any] = self.json(
            "POST", f"/referrals/{referral_id}/{action}", json={"note": note}
        )
        return out

    def withdraw_referral(
        self, patient_key: str | bytes, referral_id: int, deadline_s: int = 600
    ) -> dict[str, Any]:
        """As the patient: sign a Withdraw locally and have a member relay it (the referral
        ends at once; the patient pays nothing)."""
        patient = Account.from_key(patient_key).address  # the primary or a pseudonym
        signing = self.json("GET", "/patients/me/signing", params={"patient": patient})
        nonce = int(signing["referral_nonce"])
        deadline = int(datetime.now(UTC).timestamp()) + deadline_s
        typed = withdraw_typed_data(
            patient,
            referral_id,
            nonce,
            deadline,
            int(signing["chain_id"]),
            signing["referral_registry"],
        )
        sig = sign_typed_data(typed, patient_key)
        body = {
            "nonce": nonce,
            "deadline": deadline,
            "signature": {"v": sig.v, "r": "0x" + sig.r.hex(), "s": "0x" + sig.s.hex()},
        }
        out: dict[str, Any] = self.json("POST", f"/referrals/{referral_id}/withdraw", json=body)
        return out

    def referrals(self) -> list[dict[str, Any]]:
        """Referrals this caller is a party to (a patient: their own)."""
        out: list[dict[str, Any]] = self.json("GET", "/referrals")
        return out

    def referral(self, referral_id: int) -> dict[str, Any]:
        out: dict[str, Any] = self.json("GET", f"/referrals/{referral_id}")
        return out

    def referral_texts(self, referral_id: int) -> list[CheckedText]:
        """The referral's reason and notes (fetched by this gateway from the other party's
        where kept there), each checked here against the chain's commitment as this
        gateway's index shows it: ``matches_chain`` False is a text that is not the one the
        chain commits to (altered, or a wrong salt); never take it as the referral's."""
        got = self.json("GET", f"/referrals/{referral_id}/texts")  # (catches the index up)
        ref = self.referral(referral_id)
        chain = {"reason": str(ref["reason_hash"]).lower()}
        for change in self.referral_history(referral_id):
            if change["to_status"] in NOTE_KINDS:
                chain[NOTE_KINDS[change["to_status"]]] = str(change["note_hash"]).lower()
        out = []
        for t in got["texts"]:
            kind, text = str(t["kind"]), str(t["text"])
            salt = bytes.fromhex(str(t["salt"]).removeprefix("0x"))
            commitment = chain.get(kind, ZERO_HEX)
            ok = commitment != ZERO_HEX and text_commitment.matches(
                bytes.fromhex(commitment[2:]), salt, kind, text
            )
            out.append(CheckedText(kind, text, commitment, ok, str(t["held_by"])))
        return out

    def referral_history(self, referral_id: int) -> list[dict[str, Any]]:
        """Every status change, oldest first: who moved it, when."""
        out: list[dict[str, Any]] = self.json("GET", f"/referrals/{referral_id}/history")
        return out
