"""Sign in once, prove every pseudonym: each of a patient's pairwise pseudonyms signs the
same EIP-4361 message text as the primary (EIP-191 personal_sign).

The message is already checked (domain, gateway URI, chain, fresh, single-use nonce) and
signed by the primary, so a pseudonym's signature over the very same text binds it to this
one sign-in: it cannot be replayed into another session or at another gateway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_address

MAX_PSEUDONYMS = 64  # a patient of every member of a large alliance; bounds the token too


class PseudonymProofError(ValueError):
    """A pseudonym list that is malformed (``status`` 400) or badly signed (401)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PseudonymProof:
    address: str
    signature: str  # 0x + 130 hex digits


def verify_pseudonyms(text: str, primary: str, proofs: Sequence[PseudonymProof]) -> tuple[str, ...]:
    """The proven pseudonyms, lowercase, in the order given; raises PseudonymProofError
    naming the first address that is repeated, is the primary, or did not sign ``text``."""
    if len(proofs) > MAX_PSEUDONYMS:
        raise PseudonymProofError(f"at most {MAX_PSEUDONYMS} pseudonyms per sign-in")
    seen: set[str] = set()
    signable = encode_defunct(text=text)  # hashed once for every proof
    for proof in proofs:
        address = proof.address.lower()
        if not is_address(address):
            raise PseudonymProofError(f"pseudonym {proof.address!r} is not an address")
        if address == primary.lower():
            raise PseudonymProofError(f"pseudonym {proof.address} is the signing-in address itself")
        if address in seen:
            raise PseudonymProofError(f"pseudonym {proof.address} is listed twice")
        seen.add(address)
        try:
            signer = Account.recover_message(signable, signature=proof.signature)
        except Exception:  # eth-account raises several types for malformed signatures
            signer = ""
        if signer.lower() != address:
            raise PseudonymProofError(
                f"pseudonym {proof.address}: the signature is not its signature of this "
                "sign-in message",
                401,
            )
    return tuple(p.address.lower() for p in proofs)
