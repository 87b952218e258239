"""Block headers: hash-chained, committing to transactions, receipts, logs and state, sealed.

The seal is the producer's secp256k1 signature over the header's *seal hash* (the RLP of every
field but the seal). It travels in standard JSON-RPC header fields so that web3.py and ethers
need no PoA middleware: ``mixHash`` = r, ``extraData`` = s (32 bytes), ``nonce`` = v (8 bytes).
The block hash is keccak of the RLP of all fields including the seal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from coincurve import PrivateKey

from ledger_node import rlpfast
from ledger_node.abc import LogEntry
from ledger_node.txcodec import keccak, recover_address

EMPTY_BLOOM = bytes(256)


class SealError(ValueError):
    """A header whose seal, link or commitment does not check out."""


# (exact length or 0, at most) of each RLP field of a header, in order: parent hash, number,
# timestamp, coinbase, state root, transactions root, receipts root, logs bloom, gas limit,
# gas used, seal r, s, v (integers are minimal big-endian: at most 32 bytes, v one).
_FIELD_SIZES = (
    (32, 32),
    (0, 32),
    (0, 32),
    (20, 20),
    (32, 32),
    (32, 32),
    (32, 32),
    (256, 256),
    (0, 32),
    (0, 32),
    (0, 32),
    (0, 32),
    (0, 1),
)


@dataclass(frozen=True)
class Header:
    parent_hash: bytes
    number: int
    timestamp: int
    coinbase: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    gas_limit: int
    gas_used: int
    seal_r: int = 0
    seal_s: int = 0
    seal_v: int = 0

    def unsealed_fields(self) -> list[object]:
        return [
            self.parent_hash,
            self.number,
            self.timestamp,
            self.coinbase,
            self.state_root,
            self.transactions_root,
            self.receipts_root,
            self.logs_bloom,
            self.gas_limit,
            self.gas_used,
        ]

    def seal_hash(self) -> bytes:
        return keccak(rlpfast.encode(self.unsealed_fields()))

    def encode(self) -> bytes:
        blob: bytes = rlpfast.encode(
            [*self.unsealed_fields(), self.seal_r, self.seal_s, self.seal_v]
        )
        return blob

    @cached_property
    def hash(self) -> bytes:
        # Headers are immutable: hash once (receipts and logs ask for it per item).
        return keccak(self.encode())

    @classmethod
    def decode(cls, blob: bytes) -> Header:
        """A header from its RLP, every field checked: a header comes from etcd, a peer or a
        backup, so a malformed one is a clear ``SealError``, never a crash or a default."""
        try:
            f = rlpfast.decode(blob)
        except (ValueError, IndexError) as exc:
            raise SealError(f"malformed header: {exc}") from None
        if not isinstance(f, list) or len(f) != len(_FIELD_SIZES):
            raise SealError(f"malformed header: expected a list of {len(_FIELD_SIZES)} fields")
        for n, (item, (exact, most)) in enumerate(zip(f, _FIELD_SIZES, strict=True)):
            if not isinstance(item, bytes):
                raise SealError(f"malformed header: field {n} is a list")
            if (exact and len(item) != exact) or len(item) > most:
                raise SealError(f"malformed header: field {n} has {len(item)} bytes")
        b: list[bytes] = [x for x in f if isinstance(x, bytes)]
        i = [int.from_bytes(x, "big") for x in b]
        return cls(b[0], i[1], i[2], b[3], b[4], b[5], b[6], b[7], i[8], i[9], i[10], i[11], i[12])

    def sealed(self, key: PrivateKey) -> Header:
        sig = key.sign_recoverable(self.seal_hash(), hasher=None)
        r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        return replace(self, seal_r=r, seal_s=s, seal_v=v + 27)

    def signer(self) -> bytes:
        try:
            return recover_address(self.seal_hash(), self.seal_v - 27, self.seal_r, self.seal_s)
        except ValueError as exc:
            raise SealError(f"block {self.number}: invalid seal") from exc


def address_of(key: PrivateKey) -> bytes:
    return keccak(key.public_key.format(compressed=False)[1:])[12:]


_BLOOM_BITS: dict[bytes, tuple[tuple[int, int], ...]] = {}


def bloom_add(bloom: bytearray, item: bytes) -> None:
    # Contract addresses and event signatures recur in nearly every log: cache their bits.
    bits = _BLOOM_BITS.get(item)
    if bits is None:
        h = keccak(item)
        pairs = []
        for i in (0, 2, 4):
            bit = ((h[i] << 8) | h[i + 1]) & 2047
            pairs.append((255 - bit // 8, 1 << (bit % 8)))
        bits = tuple(pairs)
        if len(_BLOOM_BITS) > 8192:
            _BLOOM_BITS.clear()
        _BLOOM_BITS[item] = bits
    for pos, mask in bits:
        bloom[pos] |= mask


def logs_bloom(logs: list[LogEntry]) -> bytes:
    bloom = bytearray(256)
    for log in logs:
        bloom_add(bloom, log.address)
        for t in log.topics:
            bloom_add(bloom, t)
    return bytes(bloom)


def merge_blooms(blooms: list[bytes]) -> bytes:
    acc = 0
    for b in blooms:
        acc |= int.from_bytes(b, "big")
    return acc.to_bytes(256, "big")


def transactions_root(tx_hashes: list[bytes]) -> bytes:
    return keccak(rlpfast.encode(tx_hashes))


def receipt_item(status: int, gas_used: int, logs: list[LogEntry]) -> list[object]:
    return [status, gas_used, [[lg.address, lg.topics, lg.data] for lg in logs]]


def receipts_root(items: list[list[object]]) -> bytes:
    return keccak(rlpfast.encode(items))


def running_state_root(parent_state_root: bytes, receipts_root_: bytes) -> bytes:
    """Between checkpoints the header commits to the state by chaining receipt roots."""
    return keccak(b"alliance-running" + parent_state_root + receipts_root_)
