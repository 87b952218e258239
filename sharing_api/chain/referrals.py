"""ReferralRegistry: two-way referrals with the records handed over, each with an expiry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from sharing_api.chain.base import ContractWrapper
from sharing_api.chain.client import Sent
from sharing_api.chain.scopes import Direction, ReferralStatus
from sharing_api.chain.typed_data import (
    Signature,
    referral_typed_data,
    sign_typed_data,
    withdraw_typed_data,
)

ZERO32 = b"\x00" * 32
# ReferralRegistry.MAX_DURATION: the longest a referral may last from its creation.
MAX_REFERRAL_DURATION_S = 90 * 24 * 3600


@dataclass(frozen=True)
class ReferralInfo:
    referral_id: int
    patient: str
    status: ReferralStatus
    direction: Direction
    consent_id: int
    referrer: str
    receiver: str
    expires_at: int

    def grants_access(self, now: int) -> bool:
        """Accepted and not expired (the consent behind it is the contract's to check)."""
        return self.status is ReferralStatus.ACCEPTED and now < self.expires_at


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
        expires_at: int,
        reason_hash: bytes = ZERO32,
    ) -> Referred:
        """Refer on the strength of the patient's live consent (purpose referral, to receiver),
        until ``expires_at`` (at most MAX_REFERRAL_DURATION_S away, not after the consent)."""
        fn = self.fn.create(
            to_checksum_address(patient),
            to_checksum_address(receiver),
            int(direction),
            list(record_ids),
            consent_id,
            reason_hash,
            expires_at,
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
        expires_at: int,
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
            expires_at=expires_at,
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
        expires_at: int,
        deadline: int,
        sig: Signature,
        reason_hash: bytes = ZERO32,
    ) -> Referred:
        """Relay the referral the patient signed (``sign_referral``, same ``expires_at``)."""
        fn = self.fn.createWithSig(
            to_checksum_address(patient),
            to_checksum_address(receiver),
            int(direction),
            list(record_ids),
            reason_hash,
            expires_at,
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

    def sign_withdraw(
        self, referral_id: int, patient_key: str | bytes, *, deadline: int, nonce: int | None = None
    ) -> tuple[int, Signature]:
        """Returns (nonce, signature) of the patient's Withdraw of ``referral_id``."""
        from eth_account import Account

        patient = Account.from_key(patient_key).address
        nonce = self.nonce_of(patient) if nonce is None else nonce
        typed = withdraw_typed_data(
            patient, referral_id, nonce, deadline, self.client.chain_id, self.address
        )
        return nonce, sign_typed_data(typed, patient_key)

    def withdraw_by_sig(self, referral_id: int, nonce: int, deadline: int, sig: Signature) -> Sent:
        """Relay the patient's signed Withdraw (any member may; the patient pays nothing)."""
        return self._send(self.fn.withdrawBySig(referral_id, nonce, deadline, sig.v, sig.r, sig.s))

    def withdraw(self, referral_id: int) -> Sent:
        """Withdrawal by the patient's own transaction (this client's account is the patient)."""
        return self._send(self.fn.withdraw(referral_id))

    def get(self, referral_id: int) -> ReferralInfo:
        f = self._call(self.fn.getReferral(referral_id))
        return ReferralInfo(
            referral_id, f[0], ReferralStatus(f[1]), Direction(f[2]), f[3], f[4], f[5], f[6]
        )

    def covers_access(self, referral_id: int, patient: str, reader: str, record_id: int) -> bool:
        fn = self.fn.coversAccess(
            referral_id, to_checksum_address(patient), to_checksum_address(reader), record_id
        )
        return bool(self._call(fn))
