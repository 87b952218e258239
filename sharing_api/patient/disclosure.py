"""A patient's disclosure to the regulator that several pseudonyms are one person.

Nothing on chain links a patient's pseudonyms; only the patient (or a custodian answering
the regulator) can. The disclosure is a statement naming the regulator, the chain and the
addresses, signed by *each* address (EIP-191), so it proves control of every one and
cannot be replayed to another regulator or alliance. It is a file the patient hands over;
it goes on no chain and into no index.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

KIND = "alliance-pseudonym-disclosure"
VERSION = 1
MAX_ADDRESSES = 64


class DisclosureError(ValueError):
    """A disclosure that is malformed, for someone else, or not signed by every address."""


def disclosure_text(addresses: Sequence[str], regulator: str, chain_id: int, issued_at: int) -> str:
    """The exact text every address signs (addresses checksummed, sorted)."""
    when = datetime.fromtimestamp(issued_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = sorted(to_checksum_address(a) for a in addresses)
    return "\n".join(
        [
            "AllianceLedger pseudonym disclosure",
            "The addresses below are one patient's, disclosed to the regulator for audit.",
            f"Regulator: {to_checksum_address(regulator)}",
            f"Chain ID: {chain_id}",
            f"Issued At: {when}",
            *listed,
        ]
    )


def make_disclosure(
    accounts: Sequence[LocalAccount], regulator: str, chain_id: int, issued_at: int
) -> dict[str, Any]:
    """The JSON document: the statement's fields and every address's signature of it."""
    if len(accounts) < 2:
        raise DisclosureError("a disclosure links two or more pseudonyms")
    addresses = sorted(str(a.address) for a in accounts)
    text = encode_defunct(text=disclosure_text(addresses, regulator, chain_id, issued_at))
    return {
        "kind": KIND,
        "version": VERSION,
        "regulator": to_checksum_address(regulator),
        "chain_id": chain_id,
        "issued_at": issued_at,
        "addresses": addresses,
        "signatures": {
            str(a.address): "0x" + bytes(a.sign_message(text).signature).hex() for a in accounts
        },
    }


def verify_disclosure(doc: Any, *, regulator: str, chain_id: int) -> list[str]:
    """The disclosed addresses (lowercase) if ``doc`` is a disclosure to ``regulator`` on
    ``chain_id`` signed by every address it names; DisclosureError naming the fault."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND or doc.get("version") != VERSION:
        raise DisclosureError(f"not a version-{VERSION} pseudonym disclosure")
    addresses, signatures = doc.get("addresses"), doc.get("signatures")
    if not isinstance(addresses, list) or not isinstance(signatures, dict):
        raise DisclosureError("disclosure: addresses and signatures are required")
    if not 2 <= len(addresses) <= MAX_ADDRESSES:
        raise DisclosureError(f"disclosure: 2 to {MAX_ADDRESSES} addresses")
    if not all(isinstance(a, str) and is_address(a) for a in addresses):
        raise DisclosureError("disclosure: an address is malformed")
    if len({a.lower() for a in addresses}) != len(addresses):
        raise DisclosureError("disclosure: an address is listed twice")
    if str(doc.get("regulator", "")).lower() != regulator.lower():
        raise DisclosureError(
            f"disclosure is for regulator {doc.get('regulator')}, not {regulator}"
        )
    if doc.get("chain_id") != chain_id:
        raise DisclosureError(f"disclosure is for chain {doc.get('chain_id')}, not {chain_id}")
    issued_at = doc.get("issued_at")
    if not isinstance(issued_at, int):
        raise DisclosureError("disclosure: issued_at must be a Unix time")
    text = encode_defunct(text=disclosure_text(addresses, regulator, chain_id, issued_at))
    by_address = {str(k).lower(): v for k, v in signatures.items()}
    for address in addresses:
        try:
            signer = Account.recover_message(text, signature=by_address.get(address.lower(), ""))
        except Exception:  # a missing or malformed signature
            signer = ""
        if signer.lower() != address.lower():
            raise DisclosureError(f"disclosure: {address} did not sign it")
    return sorted(a.lower() for a in addresses)
