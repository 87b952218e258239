"""The request a reader's gateway signs to fetch ciphertext from a custodian's gateway.

The reader member signs (EIP-191, its ledger key) a short text naming the custodian, the
record, the access it logged on chain for that read, and an expiry. The custodian recovers
the signer, and then serves only if the chain holds that access for that reader and record
(see ``routes/gateway.py``). Binding the custodian stops a request being replayed at another
gateway; the access id is single use; the expiry bounds how long a captured request lives.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_hex_address, to_checksum_address

TAG = "AllianceLedger gateway fetch v1"
MAX_LIFETIME_S = 120  # a custodian refuses requests that claim to live longer
HEADER_CUSTODIAN = "X-Alliance-Custodian"
HEADER_READER = "X-Alliance-Reader"
HEADER_ACCESS = "X-Alliance-Access"
HEADER_EXPIRES = "X-Alliance-Expires"
HEADER_SIGNATURE = "X-Alliance-Signature"


class FetchAuthError(ValueError):
    """The signed fetch request is malformed, expired or not signed by its reader."""


@dataclass(frozen=True)
class FetchRequest:
    custodian: str  # checksum address
    record_id: int
    access_id: int
    reader: str  # checksum address
    expires: int  # unix seconds

    def text(self) -> str:
        return (
            f"{TAG}\ncustodian: {self.custodian}\nrecord: {self.record_id}\n"
            f"access: {self.access_id}\nreader: {self.reader}\nexpires: {self.expires}"
        )


def sign_fetch(
    private_key: bytes | LocalAccount,
    custodian: str,
    record_id: int,
    access_id: int,
    lifetime_s: int = 60,
) -> dict[str, str]:
    """The headers of a fetch signed by the reader member's key (an account, on the fetch
    path: deriving the address from raw key bytes costs more than the signature)."""
    account = (
        private_key if isinstance(private_key, LocalAccount) else Account.from_key(private_key)
    )
    reader = account.address
    request = FetchRequest(
        to_checksum_address(custodian),
        record_id,
        access_id,
        reader,
        int(time.time()) + lifetime_s,
    )
    signed = account.sign_message(encode_defunct(text=request.text()))
    return {
        HEADER_CUSTODIAN: request.custodian,
        HEADER_READER: reader,
        HEADER_ACCESS: str(access_id),
        HEADER_EXPIRES: str(request.expires),
        HEADER_SIGNATURE: "0x" + bytes(signed.signature).hex(),
    }


def _int(headers: Mapping[str, str], name: str) -> int:
    raw = headers.get(name, "")
    if not raw.isdigit() or len(raw) > 20:
        raise FetchAuthError(f"{name}: expected a decimal number")
    return int(raw)


def verify_fetch(
    headers: Mapping[str, str], record_id: int, now: float | None = None
) -> FetchRequest:
    """The request the headers carry, if well formed, live and signed by its reader. Checked
    before anything else is looked up, so an unsigned request costs the custodian nothing
    but this; the caller then checks the record's custodian is the one signed for."""
    reader = headers.get(HEADER_READER, "")
    if not is_hex_address(reader):
        raise FetchAuthError(f"{HEADER_READER}: expected the reader member's address")
    custodian = headers.get(HEADER_CUSTODIAN, "")
    if not is_hex_address(custodian):
        raise FetchAuthError(f"{HEADER_CUSTODIAN}: expected the custodian member's address")
    access_id = _int(headers, HEADER_ACCESS)
    expires = _int(headers, HEADER_EXPIRES)
    now = time.time() if now is None else now
    if expires <= now:
        raise FetchAuthError("the signed fetch request has expired")
    if expires > now + MAX_LIFETIME_S:
        raise FetchAuthError(f"a signed fetch request may live {MAX_LIFETIME_S} s at most")
    signature = headers.get(HEADER_SIGNATURE, "")
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 65:
        raise FetchAuthError(f"{HEADER_SIGNATURE}: expected a 65-byte signature")
    request = FetchRequest(
        to_checksum_address(custodian), record_id, access_id, to_checksum_address(reader), expires
    )
    try:
        signer = Account.recover_message(encode_defunct(text=request.text()), signature=raw)
    except Exception:
        raise FetchAuthError("the fetch request's signature does not verify") from None
    if signer != request.reader:
        raise FetchAuthError("the fetch request is not signed by the reader it names")
    return request
