"""Sign-In with Ethereum (EIP-4361): build, parse strictly, and verify messages.

Written here because the PyPI ``siwe`` package pins web3 below 8. Only the EIP-191
personal-sign path of externally owned accounts is supported (members and patients sign with
their own keys; contract wallets and EIP-1271 are out of scope).

Message layout (EIP-4361)::

    ${domain} wants you to sign in with your Ethereum account:
    ${address}

    ${statement}

    URI: ${uri}
    Version: 1
    Chain ID: ${chain-id}
    Nonce: ${nonce}
    Issued At: ${issued-at}
    [Expiration Time: ${expiration-time}]
    [Not Before: ${not-before}]
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_checksum_address, to_checksum_address

_HEADER = " wants you to sign in with your Ethereum account:"
_NONCE = re.compile(r"[A-Za-z0-9]{8,64}")
_DOMAIN = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?")
MAX_MESSAGE_CHARS = 4096


class SiweError(ValueError):
    """A sign-in message that is malformed, mis-addressed, expired, or badly signed."""


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str  # EIP-55 checksummed
    statement: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    version: str = "1"

    def to_text(self) -> str:
        lines = [f"{self.domain}{_HEADER}", self.address, ""]
        if self.statement:
            lines += [self.statement, ""]
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {_fmt(self.issued_at)}",
        ]
        if self.expiration_time:
            lines.append(f"Expiration Time: {_fmt(self.expiration_time)}")
        if self.not_before:
            lines.append(f"Not Before: {_fmt(self.not_before)}")
        return "\n".join(lines)


def new_nonce() -> str:
    return secrets.token_hex(12)


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SiweError(f"sign-in message: {field} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise SiweError(f"sign-in message: {field} has no time zone")
    return moment


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message strictly; raise SiweError naming what is wrong."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise SiweError("sign-in message too long")
    lines = text.split("\n")
    if len(lines) < 8 or not lines[0].endswith(_HEADER):
        raise SiweError("not an EIP-4361 sign-in message")
    domain = lines[0][: -len(_HEADER)]
    if not _DOMAIN.fullmatch(domain):
        raise SiweError(f"sign-in message: invalid domain {domain!r}")
    address = lines[1]
    if not is_checksum_address(address):
        raise SiweError("sign-in message: address is not an EIP-55 checksummed address")
    if lines[2] != "":
        raise SiweError("sign-in message: expected a blank line after the address")
    index, statement = 3, ""
    if not lines[3].startswith("URI: "):
        statement = lines[3]
        if len(lines) < 5 or lines[4] != "":
            raise SiweError("sign-in message: expected a blank line after the statement")
        index = 5
    fields: dict[str, str] = {}
    order = ["URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time", "Not Before"]
    position = 0
    for line in lines[index:]:
        name, sep, value = line.partition(": ")
        if not sep or name not in order[position:]:
            raise SiweError(f"sign-in message: unexpected line {line[:40]!r}")
        position = order.index(name) + 1
        fields[name] = value
    for required in order[:5]:
        if required not in fields:
            raise SiweError(f"sign-in message: missing {required}")
    if fields["Version"] != "1":
        raise SiweError("sign-in message: unsupported version")
    if not fields["Chain ID"].isdigit():
        raise SiweError("sign-in message: Chain ID is not a number")
    if not _NONCE.fullmatch(fields["Nonce"]):
        raise SiweError("sign-in message: nonce must be 8-64 letters or digits")
    return SiweMessage(
        domain=domain,
        address=address,
        statement=statement,
        uri=fields["URI"],
        chain_id=int(fields["Chain ID"]),
        nonce=fields["Nonce"],
        issued_at=_time(fields["Issued At"], "Issued At"),
        expiration_time=_time(fields["Expiration Time"], "Expiration Time")
        if "Expiration Time" in fields
        else None,
        not_before=_time(fields["Not Before"], "Not Before") if "Not Before" in fields else None,
    )


def sign_message(message: SiweMessage, private_key: bytes | str) -> str:
    """Sign as a wallet would (EIP-191 personal_sign); returns 0x-hex."""
    signed = Account.sign_message(encode_defunct(text=message.to_text()), private_key)
    return "0x" + bytes(signed.signature).hex()


def origin(uri: str) -> str:
    """scheme://host[:port] of a URI, lower-cased, default ports dropped."""
    parts = urlsplit(uri.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


MAX_AGE_S = 600  # a sign-in message must be used within this long of its Issued At ...
MAX_LIFETIME_S = 3600  # ... and may not claim to live longer than this
CLOCK_SKEW_S = 60


def verify_message(
    text: str,
    signature: str,
    *,
    domain: str,
    nonce: str,
    chain_id: int,
    uri_origins: Collection[str] = (),
    now: datetime | None = None,
) -> SiweMessage:
    """Check the message is for us (domain, chain, and a URI at one of ``uri_origins``:
    the gateway's own, so a page elsewhere cannot relay a signature it obtained), fresh
    (Issued At recent, Expiration Time required and near), and signed by its address."""
    message = parse_message(text)
    now = now or datetime.now(UTC)
    if message.domain != domain:
        raise SiweError(f"sign-in message is for {message.domain!r}, not {domain!r}")
    if message.chain_id != chain_id:
        raise SiweError(f"sign-in message is for chain {message.chain_id}, not {chain_id}")
    allowed = {origin(u) for u in uri_origins}
    if origin(message.uri) not in allowed:
        raise SiweError(
            f"sign-in message URI {message.uri!r} is not this gateway "
            f"({', '.join(sorted(allowed)) or 'none configured'})"
        )
    if not secrets.compare_digest(message.nonce, nonce):
        raise SiweError("sign-in message nonce is unknown or already used")
    if message.expiration_time is None:
        raise SiweError("sign-in message must carry an Expiration Time")
    if now >= message.expiration_time:
        raise SiweError("sign-in message has expired")
    if message.issued_at > now + timedelta(seconds=CLOCK_SKEW_S):
        raise SiweError("sign-in message is issued in the future (check the clock)")
    if now - message.issued_at > timedelta(seconds=MAX_AGE_S):
        raise SiweError(f"sign-in message was issued over {MAX_AGE_S} s ago: sign a new one")
    if message.expiration_time - message.issued_at > timedelta(seconds=MAX_LIFETIME_S):
        raise SiweError(f"sign-in message may live {MAX_LIFETIME_S} s at most")
    if message.not_before and now < message.not_before:
        raise SiweError("sign-in message is not valid yet")
    try:
        signer = Account.recover_message(encode_defunct(text=text), signature=signature)
    except Exception as exc:  # eth-account raises several types for malformed signatures
        raise SiweError(f"sign-in signature is malformed: {exc}") from None
    if to_checksum_address(signer) != message.address:
        raise SiweError("sign-in signature does not match the message's address")
    return message
