"""The etcd value format of blocks and pool entries: compressed, bounded, strict."""

from __future__ import annotations

import zlib

import pytest

from ledger_node import rlpfast
from ledger_node.block import Header
from ledger_node.network import layout
from ledger_node.network.layout import (
    decode_block,
    decode_txs,
    encode_block,
    encode_txs,
    pack,
    unpack,
)

# A relayed grant is mostly ABI zero padding: this is its shape, not a real signature.
TX = b"\x02" + bytes(40) + b"\xaa" * 20 + bytes(300) + b"\x5c" * 65


def header() -> Header:
    return Header(
        b"\x11" * 32, 7, 1_700_000_000, b"\x22" * 20, b"\x33" * 32, b"\x44" * 32,
        b"\x55" * 32, bytes(256), 10**9, 21_000,
    )  # fmt: skip


def test_round_trips_and_compresses() -> None:
    txs = [TX + bytes([i]) for i in range(200)]
    value = encode_txs(txs)
    assert value[0] == layout.ZLIB_TAG
    assert len(value) < len(rlpfast.encode(txs)) / 3
    assert decode_txs(value) == txs
    h, raws = decode_block(encode_block(header(), txs))
    assert (h, raws) == (header(), txs)


def test_reads_the_uncompressed_format_written_before() -> None:
    txs = [TX, TX + b"\x01"]
    assert decode_txs(rlpfast.encode(txs)) == txs
    assert decode_block(rlpfast.encode([header().encode(), txs])) == (header(), txs)


@pytest.mark.parametrize(
    "value, message",
    [
        (b"", "empty"),
        (b"\x07" + zlib.compress(rlpfast.encode([TX])), "unknown value format"),
        (b"\x01not zlib at all", "corrupt"),
        (pack(rlpfast.encode([TX]))[:-3], "truncated"),
        (pack(rlpfast.encode([TX])) + b"extra", "trailing"),
        (pack(b"\x80"), "malformed pool entry"),  # inflates to an RLP string, not a list
    ],
)
def test_malformed_pool_values_are_value_errors(value: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_txs(value)


def test_a_block_with_a_bad_payload_is_refused_as_malformed() -> None:
    with pytest.raises(ValueError, match="malformed block in etcd"):
        decode_block(pack(rlpfast.encode([header().encode()])))
    with pytest.raises(ValueError, match="malformed block in etcd: corrupt"):
        decode_block(b"\x01\x78\x9c garbage")


def test_inflation_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "MAX_VALUE_BYTES", 1024)
    bomb = pack(bytes(1025))  # a few bytes that inflate past the bound
    assert len(bomb) < 64
    with pytest.raises(ValueError, match="beyond 1024 bytes"):
        unpack(bomb)
    assert unpack(pack(bytes(1024))) == bytes(1024)
