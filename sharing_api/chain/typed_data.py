"""EIP-712 messages a patient signs: consent grants and revocations, referral consents and
referral withdrawals.

Pure functions (no I/O): the wallet builds the same structures, signs them with the patient's
key, and hands the signature to any member, which relays it on chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

GRANT_FIELDS = [
    {"name": "patient", "type": "address"},
    {"name": "grantee", "type": "address"},
    {"name": "granteeRole", "type": "uint8"},
    {"name": "categories", "type": "uint16"},
    {"name": "purposes", "type": "uint8"},
    {"name": "validFrom", "type": "uint40"},
    {"name": "validUntil", "type": "uint40"},
    {"name": "documentHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
REVOKE_FIELDS = [
    {"name": "patient", "type": "address"},
    {"name": "consentId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
REFERRAL_FIELDS = [
    {"name": "patient", "type": "address"},
    {"name": "referrer", "type": "address"},
    {"name": "receiver", "type": "address"},
    {"name": "direction", "type": "uint8"},
    {"name": "recordIds", "type": "uint256[]"},
    {"name": "reasonHash", "type": "bytes32"},
    {"name": "expiresAt", "type": "uint256"},  # the referral ends then: the patient agrees to it
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
WITHDRAW_FIELDS = [
    {"name": "patient", "type": "address"},
    {"name": "referralId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = b"\x00" * 32


@dataclass(frozen=True)
class Signature:
    v: int
    r: bytes
    s: bytes


@dataclass(frozen=True)
class GrantTerms:
    """A consent grant as signed. ``grantee`` is a member address, or ZERO_ADDRESS with
    ``grantee_role`` set to one role bit (any member holding that role)."""

    patient: str
    grantee: str
    grantee_role: int
    categories: int  # bit mask of Category
    purposes: int  # bit mask of Purpose
    valid_from: int
    valid_until: int
    document_hash: bytes
    nonce: int
    deadline: int

    def as_message(self) -> dict[str, Any]:
        return {
            "patient": to_checksum_address(self.patient),
            "grantee": to_checksum_address(self.grantee),
            "granteeRole": self.grantee_role,
            "categories": self.categories,
            "purposes": self.purposes,
            "validFrom": self.valid_from,
            "validUntil": self.valid_until,
            "documentHash": self.document_hash,
            "nonce": self.nonce,
            "deadline": self.deadline,
        }

    def as_tuple(self) -> tuple[Any, ...]:
        """The Grant struct as the contract's ABI takes it."""
        return tuple(self.as_message().values())


def domain(name: str, chain_id: int, contract: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(contract),
    }


def grant_typed_data(terms: GrantTerms, chain_id: int, consent_registry: str) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Grant": GRANT_FIELDS},
        "primaryType": "Grant",
        "domain": domain("AllianceConsent", chain_id, consent_registry),
        "message": terms.as_message(),
    }


def revoke_typed_data(
    patient: str, consent_id: int, nonce: int, deadline: int, chain_id: int, consent_registry: str
) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Revoke": REVOKE_FIELDS},
        "primaryType": "Revoke",
        "domain": domain("AllianceConsent", chain_id, consent_registry),
        "message": {
            "patient": to_checksum_address(patient),
            "consentId": consent_id,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def referral_typed_data(
    *,
    patient: str,
    referrer: str,
    receiver: str,
    direction: int,
    record_ids: list[int],
    reason_hash: bytes,
    expires_at: int,
    nonce: int,
    deadline: int,
    chain_id: int,
    referral_registry: str,
) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "ReferralConsent": REFERRAL_FIELDS},
        "primaryType": "ReferralConsent",
        "domain": domain("AllianceReferral", chain_id, referral_registry),
        "message": {
            "patient": to_checksum_address(patient),
            "referrer": to_checksum_address(referrer),
            "receiver": to_checksum_address(receiver),
            "direction": direction,
            "recordIds": list(record_ids),
            "reasonHash": reason_hash,
            "expiresAt": expires_at,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def withdraw_typed_data(
    patient: str, referral_id: int, nonce: int, deadline: int, chain_id: int, referral_registry: str
) -> dict[str, Any]:
    """The patient ends a referral (ReferralRegistry.withdrawBySig); nonce shared with
    ReferralConsent."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Withdraw": WITHDRAW_FIELDS},
        "primaryType": "Withdraw",
        "domain": domain("AllianceReferral", chain_id, referral_registry),
        "message": {
            "patient": to_checksum_address(patient),
            "referralId": referral_id,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def sign_typed_data(typed_data: dict[str, Any], private_key: str | bytes) -> Signature:
    signed = Account.sign_message(encode_typed_data(full_message=typed_data), private_key)
    return Signature(v=signed.v, r=signed.r.to_bytes(32, "big"), s=signed.s.to_bytes(32, "big"))
