"""What lets one gateway ask another about a patient's referral proposals: two signatures.

Referral proposals are rows in the proposing member's gateway only, so the patient's own
("home") gateway asks the others for them. A member must not be able to read a patient's
proposals at a peer just by asking, so each request carries two authorisations:

1. **The patient's statement** (EIP-191 ``personal_sign``, made by the wallet in the browser):
   "list my referral proposals", naming the patient, the *relay* (the member whose gateway
   forwards it: the audience), the chain id and an expiry at most ``MAX_STATEMENT_S`` (10 min)
   ahead. A decline is a statement of its own naming the proposal (referrer + id, since ids
   are per gateway) and the hash of the note. An accept needs no new statement: it is the
   patient's EIP-712 ReferralConsent, checked by the origin gateway exactly as for a local one
   (its nonce makes it single use on chain).
   A patient with pairwise pseudonyms makes the same list statement once per pseudonym,
   each signed by that pseudonym's key (``check_inbox_statements`` checks a request's set,
   each exactly as one alone); a decline is signed by the address the proposal names.
2. **The relay's request signature** (EIP-191, the relay member's ledger key, as in
   ``fetch_auth.py``): the peer member it is addressed to (``to``), the method and path, the
   SHA-256 of the exact body, and an expiry at most ``MAX_RELAY_S`` ahead.

Replay, and what was chosen: the list statement is a bearer grant to *one* relay for a few
minutes; the wallet reuses it for refreshes within its life (one signature, not one per
click). Every peer receives it, but a peer cannot use it elsewhere: it would also need the
relay's signature over a request addressed to another gateway, and only the relay holds that
key. A captured relay request only works at the gateway it names, for its body, for two
minutes, and only repeats a read (or an answer that is single use anyway: a proposal leaves
"pending" once). The chain id keeps a statement from one alliance out of another. There is no
nonce store: what a replay could yield within these bounds is what the patient allowed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_hex_address, to_checksum_address

INBOX_TAG = "AllianceLedger referral inbox v1"
DECLINE_TAG = "AllianceLedger referral decline v1"
RELAY_TAG = "AllianceLedger gateway relay v1"
MAX_STATEMENT_S = 600  # a patient statement lives 10 minutes at most
MAX_RELAY_S = 120
HEADER_RELAY = "X-Alliance-Relay"
HEADER_TO = "X-Alliance-To"
HEADER_EXPIRES = "X-Alliance-Expires"
HEADER_SIGNATURE = "X-Alliance-Signature"


class InboxAuthError(ValueError):
    """A statement or relay request that is malformed, expired, or signed by someone else."""


def inbox_text(patient: str, relay: str, chain_id: int, expires: int) -> str:
    """What the wallet signs to let ``relay``'s gateway list the patient's proposals."""
    return (
        f"{INBOX_TAG}\nList my referral proposals at every gateway of the alliance.\n"
        f"patient: {to_checksum_address(patient)}\nrelay: {to_checksum_address(relay)}\n"
        f"chain: {chain_id}\nexpires: {expires}"
    )


def note_hash(note: str) -> str:
    return hashlib.sha256(note.encode()).hexdigest()


def decline_text(
    patient: str, referrer: str, proposal_id: int, note: str, chain_id: int, expires: int
) -> str:
    """What the wallet signs to decline proposal ``proposal_id`` made by ``referrer``."""
    return (
        f"{DECLINE_TAG}\nI decline this referral proposal.\n"
        f"patient: {to_checksum_address(patient)}\nreferrer: {to_checksum_address(referrer)}\n"
        f"proposal: {proposal_id}\nnote: {note_hash(note)}\nchain: {chain_id}\nexpires: {expires}"
    )


def sign_text(private_key: str | bytes, text: str) -> str:
    signed = Account.sign_message(encode_defunct(text=text), private_key)
    return "0x" + bytes(signed.signature).hex()


def _signer(text: str, signature: str) -> str:
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 65:
        raise InboxAuthError("expected a 65-byte signature")
    try:
        return str(Account.recover_message(encode_defunct(text=text), signature=raw))
    except Exception:  # malformed r/s/v: eth_keys raises several kinds
        raise InboxAuthError("the signature does not verify") from None


def _live(expires: int, limit: int, what: str, now: float | None) -> None:
    now = time.time() if now is None else now
    if expires <= now:
        raise InboxAuthError(f"the {what} has expired")
    if expires > now + limit:
        raise InboxAuthError(f"a {what} may live {limit} s at most")


def check_inbox_statement(
    patient: str,
    relay: str,
    chain_id: int,
    expires: int,
    signature: str,
    now: float | None = None,
) -> None:
    """The patient signed "list my proposals" for this relay and chain, and it is live."""
    _live(expires, MAX_STATEMENT_S, "patient's inbox statement", now)
    text = inbox_text(patient, relay, chain_id, expires)
    if _signer(text, signature) != to_checksum_address(patient):
        raise InboxAuthError("the inbox statement is not signed by the patient it names")


def check_inbox_statements(
    statements: Sequence[tuple[str, int, str]],
    relay: str,
    chain_id: int,
    now: float | None = None,
) -> tuple[str, ...]:
    """Several patients' inbox statements, ``(patient, expires, signature)`` each (a patient's
    primary and pseudonyms, sent in one request): every one checked as one alone would be.
    The patients, lowercase, in order; raises naming the first that is repeated or fails."""
    seen: list[str] = []
    for patient, expires, signature in statements:
        if patient.lower() in seen:
            raise InboxAuthError(f"{patient}: listed twice")
        try:
            check_inbox_statement(patient, relay, chain_id, expires, signature, now)
        except InboxAuthError as exc:
            raise InboxAuthError(f"{patient}: {exc}") from None
        seen.append(patient.lower())
    return tuple(seen)


def check_decline_statement(
    patient: str,
    referrer: str,
    proposal_id: int,
    note: str,
    chain_id: int,
    expires: int,
    signature: str,
    now: float | None = None,
) -> None:
    """The patient signed the decline of exactly this proposal with this note, and it is live."""
    _live(expires, MAX_STATEMENT_S, "patient's decline", now)
    text = decline_text(patient, referrer, proposal_id, note, chain_id, expires)
    if _signer(text, signature) != to_checksum_address(patient):
        raise InboxAuthError("the decline is not signed by the patient it names")


# ---- the relay member's request signature ----------------------------------------------------


@dataclass(frozen=True)
class RelayRequest:
    relay: str  # checksum address of the forwarding member
    to: str  # checksum address of a member hosted by the gateway asked
    method: str
    path: str
    body_sha256: str
    expires: int

    def text(self) -> str:
        return (
            f"{RELAY_TAG}\nto: {self.to}\nrequest: {self.method} {self.path}\n"
            f"body: {self.body_sha256}\nrelay: {self.relay}\nexpires: {self.expires}"
        )


def sign_relay(
    private_key: bytes, to: str, method: str, path: str, body: bytes, lifetime_s: int = 60
) -> dict[str, str]:
    """The headers of a request from the relay member's gateway to ``to``'s gateway."""
    request = RelayRequest(
        Account.from_key(private_key).address,
        to_checksum_address(to),
        method.upper(),
        path,
        hashlib.sha256(body).hexdigest(),
        int(time.time()) + lifetime_s,
    )
    return {
        HEADER_RELAY: request.relay,
        HEADER_TO: request.to,
        HEADER_EXPIRES: str(request.expires),
        HEADER_SIGNATURE: sign_text(private_key, request.text()),
    }


def verify_relay(
    headers: Mapping[str, str], method: str, path: str, body: bytes, now: float | None = None
) -> RelayRequest:
    """The relay request the headers carry, if well formed, live and signed by its relay."""
    relay, to = headers.get(HEADER_RELAY, ""), headers.get(HEADER_TO, "")
    if not is_hex_address(relay):
        raise InboxAuthError(f"{HEADER_RELAY}: expected the relaying member's address")
    if not is_hex_address(to):
        raise InboxAuthError(f"{HEADER_TO}: expected the address of a member hosted here")
    raw_expires = headers.get(HEADER_EXPIRES, "")
    if not raw_expires.isdigit() or len(raw_expires) > 20:
        raise InboxAuthError(f"{HEADER_EXPIRES}: expected a decimal number")
    request = RelayRequest(
        to_checksum_address(relay),
        to_checksum_address(to),
        method.upper(),
        path,
        hashlib.sha256(body).hexdigest(),
        int(raw_expires),
    )
    _live(request.expires, MAX_RELAY_S, "relay request", now)
    if _signer(request.text(), headers.get(HEADER_SIGNATURE, "")) != request.relay:
        raise InboxAuthError("the relay request is not signed by the member it names")
    return request
