"""The etcd key layout of one network and the block wire format.

/alliance/<net>/producer            {"id", "url", "sealer", "lease"}  (under the producer's lease)
/alliance/<net>/blocks/<height:016> Z(RLP [header, [raw tx, ...]])  (written once, CAS on absence)
/alliance/<net>/pool/<ns:020>-<id>  Z(RLP [raw tx, ...])  (acknowledged txs not yet in a block)
/alliance/<net>/nodes/<id>          {"url", "height", "head", "role", ...}  (under the node's lease)
/alliance/<net>/rejected/<h>/<id>   a sealer's signed vote against block h (votes.py)
/alliance/<net>/faulty/<sealer>     the removed block's header + the votes that removed it
/alliance/<net>/tick/block|pool     a few bytes put in the same etcd transaction as every
                                    block (or removal) and every pool entry: nodes watch
                                    these, not blocks/ and pool/, so a watch never streams
                                    megabytes of transactions that the node reads anyway

Z(x) = 0x01 || zlib(x): relayed transactions are mostly ABI zero padding and repeated
addresses, and deflate at level 1 shrinks a 500-grant entry to under a third (about 2 ms
each way), which is a third of the bytes for etcd to replicate, store and base64 through its
JSON gateway. Decoding is bounded (``MAX_VALUE_BYTES``) and strict (no trailing bytes).
An untagged RLP list (first byte >= 0xc0, the format before compression) is still read.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from ledger_node import rlpfast
from ledger_node.block import Header

ZLIB_TAG = 0x01
# An inflated value never exceeds this: a block is bounded by the block gas limit long before
# (1e9 gas / 21,000 per transaction ~ 47,600 transactions of at most a few hundred bytes).
MAX_VALUE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Keys:
    network: str = "default"

    @property
    def root(self) -> bytes:
        return f"/alliance/{self.network}/".encode()

    def sub(self, name: str) -> bytes:
        return self.root + name.encode()

    @property
    def producer(self) -> bytes:
        return self.sub("producer")

    def block(self, height: int) -> bytes:
        return self.sub(f"blocks/{height:016d}")

    @property
    def blocks(self) -> bytes:
        return self.sub("blocks/")

    @property
    def pool(self) -> bytes:
        return self.sub("pool/")

    def pool_entry(self, stamp: int, node_id: str) -> bytes:
        return self.sub(f"pool/{stamp:020d}-{node_id}")

    @property
    def nodes(self) -> bytes:
        return self.sub("nodes/")

    def node(self, node_id: str) -> bytes:
        return self.sub(f"nodes/{node_id}")

    def rejected(self, height: int, node_id: str = "") -> bytes:
        return self.sub(f"rejected/{height:016d}/{node_id}")

    @property
    def ticks(self) -> bytes:
        return self.sub("tick/")

    @property
    def tick_block(self) -> bytes:
        return self.sub("tick/block")

    @property
    def tick_pool(self) -> bytes:
        return self.sub("tick/pool")

    def faulty(self, sealer: bytes) -> bytes:
        return self.sub(f"faulty/0x{sealer.hex()}")


def height_of(block_key: bytes) -> int:
    return int(block_key.rsplit(b"/", 1)[1])


def pack(payload: bytes) -> bytes:
    return bytes([ZLIB_TAG]) + zlib.compress(payload, 1)


def unpack(value: bytes) -> bytes:
    """The RLP payload of a block or pool value; ValueError for anything malformed."""
    if not value:
        raise ValueError("empty value")
    if value[0] >= 0xC0:
        return value  # untagged RLP list, written before values were compressed
    if value[0] != ZLIB_TAG:
        raise ValueError(f"unknown value format 0x{value[0]:02x}")
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(value[1:], MAX_VALUE_BYTES)
    except zlib.error as exc:
        raise ValueError(f"corrupt compressed value: {exc}") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"value inflates beyond {MAX_VALUE_BYTES} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ValueError("truncated or trailing bytes in compressed value")
    return payload


def encode_block(header: Header, raw_txs: list[bytes]) -> bytes:
    return pack(rlpfast.encode([header.encode(), raw_txs]))


def decode_block(value: bytes) -> tuple[Header, list[bytes]]:
    try:
        items = rlpfast.decode(unpack(value))
        if not isinstance(items, list) or len(items) != 2:
            raise ValueError("not a two-item list")
        head, txs = items
        if not isinstance(head, bytes) or not isinstance(txs, list):
            raise ValueError("bad shape")
        raws = [t for t in txs if isinstance(t, bytes)]
        if len(raws) != len(txs):
            raise ValueError("bad transaction item")
        return Header.decode(head), raws
    except (ValueError, AssertionError, IndexError) as exc:
        raise ValueError(f"malformed block in etcd: {exc}") from exc


def encode_txs(raw_txs: list[bytes]) -> bytes:
    return pack(rlpfast.encode(raw_txs))


def decode_txs(value: bytes) -> list[bytes]:
    try:
        items = rlpfast.decode(unpack(value))
    except (ValueError, AssertionError, IndexError) as exc:
        raise ValueError(f"malformed pool entry: {exc}") from exc
    if not isinstance(items, list):
        raise ValueError("malformed pool entry")
    return [t for t in items if isinstance(t, bytes)]


def to_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True).encode()


def from_json(blob: bytes) -> dict[str, Any]:
    doc = json.loads(blob)
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    return doc
