"""Proof of possession of a GID: the request a person signs to get attribute keys.

RW15 binds keys of several authorities together through a global identifier (GID), and the
scheme cannot check who owns one: an authority that issued to any GID asked for would let a
person collect attributes under someone else's GID. So a staff member's GID is the address
of their own secp256k1 key, and every issuance request is an EIP-191 ``personal_sign``
statement made with that key, naming the authority, the attributes, the GID, the key's expiry
day, the chain, a single-use nonce from the issuing gateway (``POST /auth/nonce``) and a
deadline at most ``MAX_DEADLINE_S`` ahead. The authority also checks that it verified the
person behind the GID (a member: the staff id bound to it; the regulator: its licence and
title registry); this module checks only the statement and the signature.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date

from eth_account import Account
from eth_account.messages import encode_defunct

from crypto.expiry import date_of, epoch_of
from crypto.rw15 import authority_of, normalize_gid

TAG = "AllianceLedger attribute key request v1"
MAX_DEADLINE_S = 600
MAX_ATTRIBUTES = 32
_FIELDS = ("authority", "gid", "attributes", "expires", "chain", "nonce", "deadline")
_NONCE = re.compile(r"[A-Za-z0-9]{8,64}")


class KeyRequestError(ValueError):
    """A key request that is malformed, expired, or not signed by its GID's key. ``status``:
    400 for a request that is wrong in itself, 403 for one its GID's key did not sign."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class KeyRequest:
    authority: str
    gid: str  # lowercase address
    attributes: tuple[str, ...]  # qualified by ``authority``, sorted, distinct
    expiry_epoch: int
    chain_id: int
    nonce: str
    deadline: int  # unix seconds

    def to_text(self) -> str:
        return "\n".join(
            [
                TAG,
                f"authority: {self.authority}",
                f"gid: {self.gid}",
                f"attributes: {', '.join(self.attributes)}",
                f"expires: {date_of(self.expiry_epoch).isoformat()}",
                f"chain: {self.chain_id}",
                f"nonce: {self.nonce}",
                f"deadline: {self.deadline}",
            ]
        )


def build_request(
    authority: str,
    gid: str,
    attributes: list[str] | tuple[str, ...],
    expiry_epoch: int,
    chain_id: int,
    nonce: str,
    deadline: int,
) -> KeyRequest:
    """A checked request (attributes qualified by ``authority``: ``title:x`` -> ``reg.title:x``)."""
    qualified = sorted({a if "." in a.split(":", 1)[0] else f"{authority}.{a}" for a in attributes})
    request = KeyRequest(
        authority, normalize_gid(gid), tuple(qualified), expiry_epoch, chain_id, nonce, deadline
    )
    _check(request)
    return request


def _check(request: KeyRequest) -> None:
    if not request.attributes or len(request.attributes) > MAX_ATTRIBUTES:
        raise KeyRequestError(f"a key request names 1-{MAX_ATTRIBUTES} attributes")
    for attribute in request.attributes:
        if authority_of(attribute) != request.authority:
            raise KeyRequestError(
                f"attribute {attribute!r} is not issued by authority {request.authority!r}"
            )
    if not _NONCE.fullmatch(request.nonce):
        raise KeyRequestError("the request's nonce is malformed")


def sign_request(request: KeyRequest, private_key: str | bytes) -> str:
    signed = Account.sign_message(encode_defunct(text=request.to_text()), private_key)
    return "0x" + bytes(signed.signature).hex()


def parse_request(text: str) -> KeyRequest:
    """The request a text states; only the exact canonical text parses."""
    lines = text.split("\n")
    if len(lines) != len(_FIELDS) + 1 or lines[0] != TAG:
        raise KeyRequestError("not an attribute key request")
    values: dict[str, str] = {}
    for name, line in zip(_FIELDS, lines[1:], strict=True):
        prefix = f"{name}: "
        if not line.startswith(prefix):
            raise KeyRequestError(f"key request: expected the {name!r} line")
        values[name] = line[len(prefix) :]
    try:
        request = KeyRequest(
            authority=values["authority"],
            gid=normalize_gid(values["gid"]),
            attributes=tuple(a for a in values["attributes"].split(", ") if a),
            expiry_epoch=epoch_of(date.fromisoformat(values["expires"])),
            chain_id=int(values["chain"]),
            nonce=values["nonce"],
            deadline=int(values["deadline"]),
        )
        _check(request)
    except KeyRequestError:
        raise
    except ValueError as exc:
        raise KeyRequestError(f"key request: {exc}") from None
    if request.to_text() != text or list(request.attributes) != sorted(set(request.attributes)):
        raise KeyRequestError("key request is not in canonical form")
    return request


def verify_request(
    text: str, signature: str, chain_id: int, now: float | None = None
) -> KeyRequest:
    """The request, if ``signature`` is its GID's and it is live on this chain."""
    request = parse_request(text)
    now = time.time() if now is None else now
    if request.chain_id != chain_id:
        raise KeyRequestError(f"the request is for chain {request.chain_id}, not {chain_id}")
    if request.deadline <= now:
        raise KeyRequestError("the key request has expired")
    if request.deadline > now + MAX_DEADLINE_S:
        raise KeyRequestError(f"a key request's deadline is at most {MAX_DEADLINE_S} s ahead")
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        signer = str(Account.recover_message(encode_defunct(text=text), signature=raw))
    except Exception:  # malformed r/s/v: eth_keys raises several kinds
        raise KeyRequestError("the request's signature does not verify", 403) from None
    if signer.lower() != request.gid:
        raise KeyRequestError("the request is not signed by the key of the GID it names", 403)
    return request
