"""Chain.apply_block: a replica re-executes another node's blocks and refuses any mismatch."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from coincurve import PrivateKey
from eth_account import Account

from ledger_node.block import Header, SealError
from ledger_node.chain import Chain
from ledger_node.clock import Clock
from ledger_node.network.layout import decode_block, encode_block
from ledger_node.verify import verify_store
from tests.ledger_node.helpers import SEALER_KEY, bump_data, deploy_probe, make_chain, sign
from tests.support.ledger import DEV_KEYS

K0, K1 = DEV_KEYS[0], DEV_KEYS[1]


def addr(key: str) -> bytes:
    return bytes.fromhex(Account.from_key(key).address[2:])


def produce(chain: Chain, probe: bytes, ts: int, n: int = 4) -> tuple[Header, list[bytes]]:
    for i in range(n):
        key = K0 if i % 2 == 0 else K1
        data = bump_data(i + 1)
        chain.submit(sign(key, chain.next_nonce(addr(key)), "0x" + probe.hex(), data))
    header = chain.produce_block(now=ts)
    assert header is not None
    rows = chain.store.block_txs(header.number)
    # through the wire format, as replicas receive it from etcd
    return decode_block(encode_block(header, [r.raw for r in rows]))


def copy_block(src: Chain, dst: Chain, number: int) -> None:
    header = src.header_at(number)
    assert header is not None
    dst.apply_block(header, [r.raw for r in src.store.block_txs(number)])


def test_replica_reproduces_every_block_across_checkpoints(tmp_path: Path) -> None:
    a = make_chain(tmp_path / "a", interval=3)
    b = make_chain(tmp_path / "b", interval=3)
    probe = deploy_probe(a, K0)
    copy_block(a, b, 1)
    for i in range(7):
        header, raws = produce(a, probe, 1_700_000_100 + i)
        b.apply_block(header, raws)
    assert b.head.hash == a.head.hash and b.head.number == 8
    assert b.engine.storage_at(probe, 1) == a.engine.storage_at(probe, 1) > 0
    assert verify_store(b.store).checkpoints == 2
    b.close()
    again = make_chain(tmp_path / "b", interval=3)  # the applied chain restarts like any other
    assert again.head.hash == a.head.hash


def test_replica_refuses_mismatching_blocks_and_stays_unchanged(tmp_path: Path) -> None:
    a = make_chain(tmp_path / "a", interval=2)
    b = make_chain(tmp_path / "b", interval=2)
    probe = deploy_probe(a, K0)
    copy_block(a, b, 1)
    header, raws = produce(a, probe, 1_700_000_200)  # block 2: a checkpoint
    head = b.head

    forged = replace(header, state_root=bytes(32)).sealed(SEALER_KEY)
    with pytest.raises(SealError, match="state root"):
        b.apply_block(forged, raws)
    rich = replace(header, receipts_root=bytes(32)).sealed(SEALER_KEY)
    with pytest.raises(SealError, match="receipts root"):
        b.apply_block(rich, raws)
    with pytest.raises(SealError, match="transactions root"):
        b.apply_block(header, raws[:-1])
    with pytest.raises(SealError, match="not a genesis sealer"):
        b.apply_block(header.sealed(PrivateKey(bytes.fromhex("77" * 32))), raws)
    with pytest.raises(SealError, match="does not extend"):
        b.apply_block(replace(header, parent_hash=bytes(32)).sealed(SEALER_KEY), raws)
    with pytest.raises(SealError, match="nonce"):
        b.apply_block(header, [*raws, raws[0]])  # a replayed transaction
    outsider = sign("0x" + "66" * 32, 0, "0x" + probe.hex(), bump_data(1))
    with pytest.raises(SealError, match="not a member"):
        b.apply_block(header, [outsider, *raws])
    with pytest.raises(SealError, match="invalid transaction"):
        b.apply_block(header, [b"\x02\xc0"])

    assert b.head == head and b.store.head_number() == 1
    b.apply_block(header, raws)  # the genuine block still applies after all those refusals
    assert b.head.hash == a.head.hash
    header3, raws3 = produce(a, probe, 1_700_000_201)
    b.apply_block(header3, raws3)
    assert b.head.hash == a.head.hash


def test_senders_are_recovered_once_per_node_and_still_checked(tmp_path: Path) -> None:
    """A transaction a replica checked when it was sent to it is not recovered again when it
    arrives in a block (same bytes); any other bytes are decoded and checked in full."""
    a = make_chain(tmp_path / "a")
    b = make_chain(tmp_path / "b")
    probe = deploy_probe(a, K0)
    copy_block(a, b, 1)
    header, raws = produce(a, probe, 1_700_000_300)
    for raw in raws[:2]:  # as ReplicaNode.forward_transaction does for what it acknowledges
        b.txcache.remember(b.txcache.decode(raw))
    assert len(b.txcache) == 2 and b.txcache.hits == 0
    # a tampered copy of a remembered transaction (one byte of its signature) is not a hit
    bad = raws[0][:-1] + bytes([raws[0][-1] ^ 1])
    with pytest.raises(SealError):
        b.apply_block(header, [bad, *raws[1:]])
    assert b.txcache.hits == 1  # raws[1] was taken from the cache (and is gone from it now)
    b.txcache.remember(b.txcache.decode(raws[1]))
    hits = b.txcache.hits
    b.apply_block(header, raws)
    assert b.head.hash == a.head.hash
    # raws[0] stayed cached (the block carried other bytes), raws[1] was remembered again
    assert b.txcache.hits == hits + 2 and len(b.txcache) == 0


def test_tx_cache_is_bounded_and_keyed_by_the_exact_bytes(tmp_path: Path) -> None:
    from ledger_node.txcodec import TxCache, decode_raw

    cache = TxCache(limit=3)
    raws = [sign(K0, n, "0x" + "11" * 20, b"") for n in range(5)]
    for raw in raws:
        cache.remember(decode_raw(raw))
    assert len(cache) == 3  # the two oldest were dropped
    assert cache.decode(raws[0]) == decode_raw(raws[0]) and cache.hits == 0
    assert cache.decode(raws[4]).nonce == 4 and cache.hits == 1


def test_in_memory_pool_keeps_the_store_pool_empty(tmp_path: Path) -> None:
    """A replicated producer's pool lives in memory (etcd holds the durable copy)."""
    a = make_chain(tmp_path / "a")
    a.keep_pool_in_memory()
    probe = deploy_probe(a, K0)
    header, _ = produce(a, probe, 1_700_000_400)
    assert a.store.pool_all() == [] and not a.pool
    assert len(a.store.block_txs(header.number)) == 4
    a.submit(sign(K0, a.next_nonce(addr(K0)), "0x" + probe.hex(), bump_data(9)))
    assert a.store.pool_all() == [] and len(a.pool) == 1


def test_replica_refuses_blocks_from_the_future_and_from_before_their_parent(
    tmp_path: Path,
) -> None:
    a = make_chain(tmp_path / "a")
    b = make_chain(tmp_path / "b")
    probe = deploy_probe(a, K0)
    copy_block(a, b, 1)
    header, raws = produce(a, probe, 1_700_000_100)
    b.apply_block(header, raws)
    same, raws = produce(a, probe, 1_700_000_100)  # equal to its parent's: allowed
    b.apply_block(same, raws)
    header, raws = produce(a, probe, 1_700_000_200)
    early = replace(header, timestamp=1_700_000_099).sealed(SEALER_KEY)
    with pytest.raises(SealError, match="before its parent"):
        b.apply_block(early, raws)
    b.apply_block(header, raws)

    now = int(time.time())
    future, raws = produce(a, probe, now + 3600)  # a sealer whose clock is an hour ahead
    with pytest.raises(SealError, match=r"3\d{3} s ahead of this node's clock \(at most 15 s"):
        b.apply_block(future, raws)
    assert b.head.number == 4 and b.head.hash == header.hash
    near, raws_near = produce(a, probe, now + 5)  # within the tolerance
    assert near.timestamp == now + 3600  # the producer never goes back below its parent
    # a node whose own clock is (wrongly) as far ahead takes both; the tolerance is a setting
    b.clock = Clock(offset_s=3600)
    b.apply_block(future, raws)
    b.apply_block(near, raws_near)
    assert b.head.hash == a.head.hash
    strict = make_chain(tmp_path / "strict")
    strict.clock = Clock(max_ahead_s=1)
    copy_block(a, strict, 1)
    for n in (2, 3, 4):
        copy_block(a, strict, n)
    with pytest.raises(SealError, match="at most 1 s"):
        copy_block(a, strict, 5)


def test_producer_drops_a_sender_removed_since_admission(tmp_path: Path) -> None:
    """Admission is a first filter: the block after a member's removal carries none of its
    transactions, so replicas (membership at the parent state) accept every block."""
    from eth_abi.abi import encode
    from eth_utils.abi import function_signature_to_4byte_selector

    from ledger_node.txcodec import create_address
    from tests.ledger_node.helpers import MINI_REGISTRY

    registry = "0x" + create_address(addr(K0), 0).hex()
    a = make_chain(tmp_path / "a", allianceRegistry=registry, maxBlockTxs=1)
    b = make_chain(tmp_path / "b", allianceRegistry=registry, maxBlockTxs=1)
    init = bytes.fromhex(MINI_REGISTRY["bytecode"][2:])
    a.submit(sign(K0, 0, None, init + encode(["address[]"], [[addr(K0), addr(K1)]])))
    a.produce_block(now=1_700_000_001)
    copy_block(a, b, 1)
    remove = function_signature_to_4byte_selector("setMember(address,bool)")
    a.submit(sign(K0, 1, registry, remove + encode(["address", "bool"], [addr(K1), False])))
    late = a.submit(sign(K1, 0, "0x" + "11" * 20, b""))  # admitted: K1 is still a member
    a.produce_block(now=1_700_000_002)  # the removal
    copy_block(a, b, 2)
    assert a.produce_block(now=1_700_000_003) is None  # nothing left to include
    assert not a.pool and a.next_nonce(addr(K1)) == 0 and a.store.tx(late) is None
    a.submit(sign(K0, 2, "0x" + "11" * 20, b""))
    a.produce_block(now=1_700_000_004)
    copy_block(a, b, 3)
    assert b.head.hash == a.head.hash
