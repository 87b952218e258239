"""The referral proposals side of :class:`~sharing_api.sdk.client.SharingClient`: a member
proposes, the patient answers, locally or through the alliance-wide inbox (proposals held
by any member's gateway), with the primary or the pseudonym a proposal names.

Split from ``client.py`` by job; the mixin uses only the client's ``json``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eth_account import Account

from crypto import text_commitment
from sharing_api.chain.typed_data import referral_typed_data, sign_typed_data
from sharing_api.gateway.inbox_auth import decline_text, inbox_text, sign_text


class ProposalsMixin:
    if TYPE_CHECKING:

        def json(self, method: str, path: str, **kwargs: Any) -> Any: ...

    # ---- referral proposals (a member proposes; the patient answers) ------------------------

    def propose_referral(
        self,
        patient: str,
        receiver: str,
        *,
        record_ids: Iterable[int] = (),
        categories: Iterable[str] = (),
        direction: str = "up",
        reason: str = "",
        expires_in_s: int = 7 * 86_400,
    ) -> dict[str, Any]:
        """Offer the patient a referral to ``receiver`` (member or staff); pending until the
        patient accepts (signing in their wallet) or declines."""
        body = {
            "patient": patient,
            "receiver": receiver,
            "direction": direction,
            "record_ids": list(record_ids),
            "categories": list(categories),
            "reason": reason,
            "expires_in_s": expires_in_s,
        }
        out: dict[str, Any] = self.json("POST", "/referral-proposals", json=body)
        return out

    def referral_proposals(self) -> list[dict[str, Any]]:
        """A member's own proposals, or a patient's inbox, newest first."""
        me = self.json("GET", "/auth/me")
        path = (
            "/patients/me/referral-proposals" if me["kind"] == "patient" else "/referral-proposals"
        )
        out: list[dict[str, Any]] = self.json("GET", path)
        return out

    def accept_referral_proposal(
        self,
        patient_key: str | bytes,
        proposal_id: int,
        deadline_s: int = 600,
        lasts_s: int = 30 * 86_400,
    ) -> dict[str, Any]:
        """As the patient: sign the ReferralConsent locally and accept (what the wallet does).
        The referral ends ``lasts_s`` from now (at most 90 days): the patient signs that."""
        p = self.json("GET", f"/referral-proposals/{proposal_id}")
        body = self._referral_consent(patient_key, p, deadline_s, lasts_s)
        out: dict[str, Any] = self.json(
            "POST", f"/referral-proposals/{proposal_id}/accept", json=body
        )
        return out

    def _referral_consent(
        self,
        patient_key: str | bytes,
        p: dict[str, Any],
        deadline_s: int,
        lasts_s: int = 30 * 86_400,
    ) -> dict[str, Any]:
        """The accept body: the patient's ReferralConsent over proposal ``p``'s terms, for a
        referral that ends ``lasts_s`` from now. The nonce is that of the address the
        proposal names (a pseudonym's own)."""
        signing = self.json("GET", "/patients/me/signing", params={"patient": p["patient"]})
        now = int(datetime.now(UTC).timestamp())
        deadline = now + deadline_s
        # The commitment is computed here from the reason shown and the proposal's salt:
        # the patient never signs a hash it could not recompute.
        reason = text_commitment.commit_new(
            "reason", p["reason"], bytes.fromhex(str(p["reason_salt"]).removeprefix("0x"))
        )
        typed = referral_typed_data(
            patient=p["patient"],
            referrer=p["referrer"],
            receiver=p["receiver"],
            direction=0 if p["direction"] == "up" else 1,
            record_ids=p["record_ids"],
            reason_hash=reason.commitment,
            expires_at=now + lasts_s,
            nonce=int(signing["referral_nonce"]),
            deadline=deadline,
            chain_id=int(signing["chain_id"]),
            referral_registry=signing["referral_registry"],
        )
        sig = sign_typed_data(typed, patient_key)
        return {
            "deadline": deadline,
            "expires_at": now + lasts_s,
            "signature": {"v": sig.v, "r": "0x" + sig.r.hex(), "s": "0x" + sig.s.hex()},
        }

    # ---- the alliance-wide inbox (proposals held by any member's gateway) --------------------

    def referral_inbox(
        self,
        patient_key: str | bytes,
        lifetime_s: int = 300,
        pseudonym_keys: Mapping[str, str | bytes] | None = None,
    ) -> dict[str, Any]:
        """As the patient: sign an inbox statement for this gateway and list my proposals at
        every gateway: ``{"proposals": [...], "unreachable": [...], "relay": ...}``.
        ``pseudonym_keys``: custodian (member address) -> the key of the pseudonym its records
        are under, proven at sign-in; each signs its own statement, which goes to that
        custodian's gateway only, so proposals naming any of them are listed too (each
        carries the ``patient`` it names)."""
        signing = self.json("GET", "/patients/me/signing")
        relay, chain_id = signing["inbox_relay"], int(signing["chain_id"])
        expires = int(datetime.now(UTC).timestamp()) + lifetime_s

        def statement(key: str | bytes) -> dict[str, Any]:
            patient = Account.from_key(key).address
            text = inbox_text(patient, relay, chain_id, expires)
            return {"patient": patient, "expires": expires, "signature": sign_text(key, text)}

        primary = statement(patient_key)
        body: dict[str, Any] = {"expires": expires, "signature": primary["signature"]}
        pseudonyms = [
            {**statement(key), "custodian": custodian}
            for custodian, key in (pseudonym_keys or {}).items()
        ]
        if pseudonyms:
            body["pseudonyms"] = pseudonyms
        out: dict[str, Any] = self.json("POST", "/patients/me/referral-inbox", json=body)
        return out

    def accept_inbox_proposal(
        self,
        patient_key: str | bytes,
        proposal: dict[str, Any],
        deadline_s: int = 600,
        lasts_s: int = 30 * 86_400,
    ) -> dict[str, Any]:
        """Accept a proposal from :meth:`referral_inbox`, wherever it is held, with the key of
        the address it names (the primary or a pseudonym)."""
        body = self._referral_consent(patient_key, proposal, deadline_s, lasts_s)
        body["patient"] = Account.from_key(patient_key).address
        path = f"/patients/me/referral-inbox/{proposal['referrer']}/{proposal['proposal_id']}"
        out: dict[str, Any] = self.json("POST", path + "/accept", json=body)
        return out

    def decline_inbox_proposal(
        self, patient_key: str | bytes, proposal: dict[str, Any], note: str = ""
    ) -> dict[str, Any]:
        """Decline a proposal from :meth:`referral_inbox` with a decline signed by the key of
        the address it names."""
        signing = self.json("GET", "/patients/me/signing")
        patient = Account.from_key(patient_key).address
        expires = int(datetime.now(UTC).timestamp()) + 300
        referrer, pid = proposal["referrer"], int(proposal["proposal_id"])
        text = decline_text(patient, referrer, pid, note, int(signing["chain_id"]), expires)
        body = {
            "note": note,
            "expires": expires,
            "signature": sign_text(patient_key, text),
            "patient": patient,
        }
        path = f"/patients/me/referral-inbox/{referrer}/{pid}/decline"
        out: dict[str, Any] = self.json("POST", path, json=body)
        return out

    def decline_referral_proposal(self, proposal_id: int, note: str = "") -> dict[str, Any]:
        out: dict[str, Any] = self.json(
            "POST", f"/referral-proposals/{proposal_id}/decline", json={"note": note}
        )
        return out
