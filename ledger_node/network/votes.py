"""Signed rejection votes and faulty marks: anyone may write to etcd, only sealers' keys count.

A vote says "sealer S's block B at height h is invalid" and is signed with the voting
sealer's key over (network, chain id, h, B, S, reason); its voter is the address the
signature recovers to, never a name written beside it. A quorum is a majority of the genesis
sealers other than S, counted as distinct valid signatures on the same (h, B, S). A faulty
mark carries its own evidence: the refused block's header (sealed by S, hash B) and a quorum
of those votes, so every node and ``status`` can check it; a mark that does not verify is
ignored (and reported as forged).

Wire format (JSON in etcd): a vote ``{"height", "block", "sealer", "reason", "sig"}`` (hex,
``sig`` 65 bytes r || s || recovery id); a mark ``{"height", "header", "votes": [vote...],
"by"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from coincurve import PrivateKey

from ledger_node import rlpfast
from ledger_node.block import Header
from ledger_node.txcodec import TxError, keccak, recover_address

DOMAIN = b"alliance-rejection-vote-v1"


@dataclass(frozen=True)
class Vote:
    height: int
    block: bytes  # the refused block's hash (keccak of the etcd value if it does not decode)
    sealer: bytes  # the refused block's sealer (empty if it does not decode)
    reason: str
    voter: bytes  # recovered from the signature


@dataclass(frozen=True)
class Ballot:
    """What every vote is checked against: this network, this chain, these sealers."""

    network: str
    chain_id: int
    sealers: tuple[bytes, ...]

    def digest(self, height: int, block: bytes, sealer: bytes, reason: str) -> bytes:
        fields = [self.network.encode(), self.chain_id, height, block, sealer, reason.encode()]
        return keccak(DOMAIN + rlpfast.encode(fields))

    def sign(self, key: PrivateKey, height: int, block: bytes, sealer: bytes, reason: str) -> bytes:
        sig = key.sign_recoverable(self.digest(height, block, sealer, reason), hasher=None)
        doc = {
            "height": height,
            "block": "0x" + block.hex(),
            "sealer": "0x" + sealer.hex(),
            "reason": reason,
            "sig": "0x" + sig.hex(),
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def parse(self, raw: bytes | dict[str, Any]) -> Vote | None:
        """The vote with its voter recovered, or None if it is malformed or its signature is
        not a genesis sealer's."""
        try:
            doc = json.loads(raw) if isinstance(raw, bytes) else raw
            height, reason = doc["height"], doc["reason"]
            if not isinstance(height, int) or not isinstance(reason, str):
                return None
            block, sealer, sig = (_hex(doc[k]) for k in ("block", "sealer", "sig"))
            if len(sig) != 65 or len(block) != 32 or len(sealer) not in (0, 20):
                return None
            r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
            voter = recover_address(self.digest(height, block, sealer, reason), sig[64], r, s)
        except (ValueError, TypeError, KeyError, TxError):
            return None
        if voter not in self.sealers:
            return None
        return Vote(height, block, sealer, reason, voter)

    def voters(self, votes: Iterable[Vote], height: int, block: bytes, sealer: bytes) -> set[bytes]:
        """Distinct sealers other than ``sealer`` who signed a vote against this block."""
        return {
            v.voter
            for v in votes
            if (v.height, v.block, v.sealer) == (height, block, sealer) and v.voter != sealer
        }

    def quorum(self, sealer: bytes) -> int:
        others = [a for a in self.sealers if a != sealer]
        return len(others) // 2 + 1 if others else 0

    def mark(self, header: Header, votes: list[bytes], by: str) -> bytes:
        doc = {
            "height": header.number,
            "header": "0x" + header.encode().hex(),
            "votes": [json.loads(v) for v in votes],
            "by": by,
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def mark_holds(self, raw: bytes, sealer: bytes) -> bool:
        """Whether a faulty mark for ``sealer`` proves it: a header that sealer sealed and a
        quorum of the other sealers' signed votes against exactly that block."""
        try:
            doc = json.loads(raw)
            header = Header.decode(_hex(doc["header"]))
            if header.signer() != sealer or header.coinbase != sealer:
                return False
            parsed = [self.parse(v) for v in doc["votes"]]
        except (ValueError, TypeError, KeyError, AssertionError, IndexError):
            return False  # Header.decode asserts its shape (as layout.decode_block catches)
        found = self.voters((v for v in parsed if v), header.number, header.hash, sealer)
        return bool(found) and len(found) >= self.quorum(sealer)


def _hex(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError("hex string expected")
    return bytes.fromhex(value[2:])
