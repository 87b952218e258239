"""ReferralRegistry: two-way referrals with the records handed over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from sharing_api.chain.base import ContractWrapper
from sharing_api.chain.client import Sent
from sharing_api.chain.scopes import Direction, ReferralStatus
from sharing_api.chain.typed_data import Signature, referral_typed_data, sign_typed_data

ZERO32 = b"\x00" * 32


@dataclass(frozen=True)
class ReferralInfo:
    referral_id: int
    patient: str
    status: ReferralStatus
    direction: Direction
    consent_id: int
    referrer: str
    receiver: str


@dataclass(frozen=True)
class Referred:
    referral_id: int
    sent: Sent


class ReferralRegistry(ContractWrapper):
    NAME = "ReferralRegistry"

    def create(
        self,
        patient: str,
        receiver: str,
        direction: Direction,
        record_ids: Sequence[int],
        consent_id: int,
        reason_hash: bytes = ZERO32,
    ) -> Referred:
        """Refer on the strength of the patient's live consent (purpose referral, to receiver)."""
        fn = self.fn.create(
            to_checksum_address(patient),
            to_checksum_address(receiver),
            int(direction),
            list(record_ids),
            consent_id,
            reason_hash,
        )
        event, sent = self._send_for_event(fn, "ReferralCreated")
        return Referred(int(event.args["referralId"]), sent)

    def nonce_of(self, patient: str) -> int:
        """The patient's next ReferralConsent nonce (this registry's own counter)."""
        return int(self._call(self.fn.nonces(to_checksum_address(patient))))

    def sign_referral(
        self,
        patient_key: str | bytes,
        *,
        referrer: str,
        receiver: str,
        direction: Direction,
        record_ids: Sequence[int],
        deadline: int,
        reason_hash: bytes = ZERO32,
        nonce: int | None = None,
    ) -> Signature:
        """The patient's signature over a ReferralConsent (for ``create_with_sig``)."""
        from eth_account import Account

        patient = Account.from_key(patient_key).address
        if nonce is None:
            nonce = int(self._call(self.fn.nonces(patient)))
        typed = referral_typed_data(
            patient=patient,
            referrer=referrer,
            receiver=receiver,
            direction=int(direction),
            record_ids=list(record_ids),
            reason_hash=reason_hash,
            nonce=nonce,
            deadline=deadline,
            chain_id=self.client.chain_id,
            referral_registry=self.address,
        )
        return sign_typed_data(typed, patient_key)

    def create_with_sig(
        self,
        patient: str,
        receiver: str,
        direction: Direction,
        record_ids: Sequence[int],
        deadline: int,
        sig: Signature,
        reason_hash: bytes = ZERO32,
    ) -> Referred:
        fn = self.fn.createWithSig(
            to_checksum_address(patient),
            to_checksum_address(receiver),
            int(direction),
            list(record_ids),
            reason_hash,
            deadline,
            sig.v,
            sig.r,
            sig.s,
        )
        event, sent = self._send_for_event(fn, "ReferralCreated")
        return Referred(int(event.args["referralId"]), sent)

    def accept(self, referral_id: int) -> Sent:
        return self._send(self.fn.accept(referral_id))

    def reject(self, referral_id: int, reason_hash: bytes = ZERO32) -> Sent:
        return self._send(self.fn.reject(referral_id, reason_hash))

    def complete(self, referral_id: int, outcome_hash: bytes = ZERO32) -> Sent:
        return self._send(self.fn.complete(referral_id, outcome_hash))

    def cancel(self, referral_id: int, reason_hash: bytes = ZERO32) -> Sent:
        return self._send(self.fn.cancel(referral_id, reason_hash))

    def get(self, referral_id: int) -> ReferralInfo:
        f = self._call(self.fn.getReferral(referral_id))
        return ReferralInfo(
            referral_id, f[0], ReferralStatus(f[1]), Direction(f[2]), f[3], f[4], f[5]
        )

    def covers_access(self, referral_id: int, patient: str, reader: str, record_id: int) -> bool:
        fn = self.fn.coversAccess(
            referral_id, to_checksum_address(patient), to_checksum_address(reader), record_id
        )
        return bool(self._call(fn))
