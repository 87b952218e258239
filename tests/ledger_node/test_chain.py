"""The chain in-process: execution, admission, checkpoints, restart determinism, verify."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from eth_account import Account

from ledger_node.block import SealError
from ledger_node.chain import AdmissionError, Chain
from ledger_node.permission import NotAMember
from ledger_node.store import Store
from ledger_node.verify import verify_store
from tests.support.ledger import DEV_KEYS

from .helpers import bump_data, deploy_probe, make_chain, make_data, sign

K0, K1 = DEV_KEYS[0], DEV_KEYS[1]
A0 = bytes.fromhex(Account.from_key(K0).address[2:])


def _workload(chain: Chain, probe: bytes, blocks: int, start_ts: int) -> list[bytes]:
    """Mixed txs over several blocks: successes, both revert kinds, CREATE2 children."""
    hashes = []
    to = "0x" + probe.hex()
    for b in range(blocks):
        for i, n in enumerate([1, 2000, 13, 5, 7]):
            key = K0 if i % 2 == 0 else K1
            sender = bytes.fromhex(Account.from_key(key).address[2:])
            data = bump_data(n) if i != 4 else make_data(chain.head.number)
            kind = (chain.head.number + i) % 3
            hashes.append(chain.submit(sign(key, chain.next_nonce(sender), to, data, kind=kind)))
        chain.produce_block(now=start_ts + b)
    return hashes


def test_receipts_reverts_and_logs(tmp_path: Path) -> None:
    chain = make_chain(tmp_path, interval=100)
    probe = deploy_probe(chain, K0)
    hashes = _workload(chain, probe, 1, 1_700_000_010)
    rows = [chain.store.tx(h) for h in hashes]
    assert [r.status for r in rows if r] == [1, 0, 0, 1, 1]
    too_big, unlucky = rows[1], rows[2]
    assert too_big is not None and too_big.output[:4].hex() != "08c379a0"
    assert unlucky is not None and unlucky.output[:4].hex() == "08c379a0"
    assert b"unlucky" in unlucky.output
    logs = chain.store.query_logs(0, 10, [probe], [], 100)
    assert len(logs) == 2 and logs[0].topics[1] == bytes(12) + A0
    assert chain.engine.storage_at(probe, 1) == 6  # total: 1 + 5, transient reset per tx


def test_admission_refuses_bad_transactions(tmp_path: Path) -> None:
    chain = make_chain(tmp_path)
    outsider = "0x" + "77" * 32
    good = sign(K0, 0, "0x" + "11" * 20, b"")
    with pytest.raises(NotAMember):
        chain.submit(sign(outsider, 0, "0x" + "11" * 20, b""))
    with pytest.raises(AdmissionError, match="chain id"):
        chain.submit(sign(K0, 0, "0x" + "11" * 20, b"", chain_id=1))
    with pytest.raises(AdmissionError, match="nonce too high"):
        chain.submit(sign(K0, 5, "0x" + "11" * 20, b""))
    with pytest.raises(AdmissionError, match="intrinsic gas"):
        chain.submit(sign(K0, 0, "0x" + "11" * 20, b"", gas=20_000))
    with pytest.raises(ValueError):  # another signer is recovered: not a member
        chain.submit(good[:-3] + b"\x00\x00\x00")
    with pytest.raises(AdmissionError):
        chain.submit(b"\x02\xc0")
    assert not chain.pool
    chain.submit(good)
    with pytest.raises(AdmissionError, match="already known"):
        chain.submit(good)
    with pytest.raises(AdmissionError, match="nonce too low"):
        chain.submit(sign(K0, 0, "0x" + "22" * 20, b""))
    assert len(chain.pool) == 1
    chain.produce_block(now=1_700_000_003)
    with pytest.raises(AdmissionError, match="nonce too low"):
        chain.submit(good)  # replaying a mined transaction


def test_restart_gives_identical_blocks(tmp_path: Path) -> None:
    """Run A straight through; run B with restarts (mid-interval and at a checkpoint)."""
    a = make_chain(tmp_path / "a", interval=3, checkpointMaxTxs=7)
    probe_a = deploy_probe(a, K0)
    _workload(a, probe_a, 8, 1_700_000_100)

    b = make_chain(tmp_path / "b", interval=3, checkpointMaxTxs=7)
    probe_b = deploy_probe(b, K0)
    assert probe_a == probe_b
    _workload(b, probe_b, 1, 1_700_000_100)
    b.close()
    b = make_chain(
        tmp_path / "b", interval=3, checkpointMaxTxs=7
    )  # restart at height 2 (checkpoint at 3)
    _workload(b, probe_b, 1, 1_700_000_101)
    b.close()
    b = make_chain(
        tmp_path / "b", interval=3, checkpointMaxTxs=7
    )  # restart right at checkpoint height 3
    _workload(b, probe_b, 6, 1_700_000_102)

    assert a.head.number == b.head.number == 9
    for n in range(10):
        ha, hb = a.header_at(n), b.header_at(n)
        assert ha is not None and hb is not None
        assert ha.hash == hb.hash, f"block {n} differs after restart"
    assert a.engine.storage_at(probe_a, 1) == b.engine.storage_at(probe_b, 1) > 0
    report = verify_store(b.store)
    # every 3 blocks, or after 7 txs: blocks 3, 5, 6, 8 and 9
    assert report.blocks == 10 and report.checkpoints == 5


def test_gas_does_not_depend_on_what_ran_before(tmp_path: Path) -> None:
    """Each transaction starts cold (EIP-2929): the same call from two senders costs the
    same gas whether it is the first to touch the contract since a checkpoint, the second
    in a block, or in a later block. An engine that kept accounts and slots warm until
    the next checkpoint charged the later ones 2,000-5,000 less, which told an observer
    who came first (a rare flake in the unlinkability test)."""
    chain = make_chain(tmp_path, interval=4)
    probe = "0x" + deploy_probe(chain, K0).hex()
    gas: list[int] = []
    for b in range(6):  # blocks 2..7, a checkpoint at 4
        hashes = [
            chain.submit(sign(key, chain.next_nonce(addr), probe, bump_data(3)))
            for key, addr in ((K0, A0), (K1, bytes.fromhex(Account.from_key(K1).address[2:])))
        ]
        chain.produce_block(now=1_700_000_050 + b)
        for h in hashes:
            row = chain.store.tx(h)
            assert row is not None and row.status == 1
            gas.append(row.gas_used)
    # A sender's first bump writes zero slots (20,000 more each); every later one is equal.
    assert gas[0] > gas[1] > gas[2]
    assert set(gas[2:]) == {gas[2]}, gas


def test_pool_survives_restart(tmp_path: Path) -> None:
    chain = make_chain(tmp_path)
    h = chain.submit(sign(K0, 0, "0x" + "11" * 20, b""))
    chain.flush()
    chain.close()
    again = make_chain(tmp_path)
    assert [p.tx.hash for p in again.pool] == [h]
    again.produce_block(now=1_700_000_005)
    assert again.store.tx(h) is not None and again.nonce_of(A0) == 1


def test_verify_detects_tampering(tmp_path: Path) -> None:
    chain = make_chain(tmp_path, interval=2)
    probe = deploy_probe(chain, K0)
    _workload(chain, probe, 3, 1_700_000_020)
    chain.close()
    db = sqlite3.connect(tmp_path / "chain.sqlite3")
    db.execute("UPDATE txs SET status = 1 - status WHERE block = 2 AND idx = 1")
    db.commit()
    db.close()
    store = Store(tmp_path / "chain.sqlite3")
    try:
        verify_store(store)  # receipts are recomputed, so a flipped status row alone passes
        db = sqlite3.connect(tmp_path / "chain.sqlite3")
        raw = db.execute("SELECT raw FROM txs WHERE block = 3 AND idx = 0").fetchone()[0]
        other = sign(K1, 0, "0x" + probe.hex(), bump_data(999))
        db.execute("UPDATE txs SET raw = ? WHERE raw = ?", (other, raw))
        db.commit()
        db.close()
        with pytest.raises(SealError):
            verify_store(store)
    finally:
        store.close()


def test_registry_takes_over_permissioning(tmp_path: Path) -> None:
    """Genesis members until code exists at allianceRegistry; then isMember() alone decides."""
    from eth_abi.abi import encode
    from eth_utils.abi import function_signature_to_4byte_selector

    from ledger_node.txcodec import create_address

    from .helpers import MINI_REGISTRY

    k2 = DEV_KEYS[2]  # not a genesis member
    a1 = Account.from_key(K1).address
    a2 = Account.from_key(k2).address
    registry = create_address(A0, 0)
    chain = make_chain(tmp_path, allianceRegistry="0x" + registry.hex())
    with pytest.raises(NotAMember):
        chain.submit(sign(k2, 0, "0x" + "11" * 20, b""))
    # Founders: K0 only (K1 is a genesis member but not in the registry).
    init = bytes.fromhex(MINI_REGISTRY["bytecode"][2:]) + encode(["address[]"], [[A0]])
    chain.submit(sign(K0, 0, None, init))
    chain.produce_block(now=1_700_000_001)
    assert chain.engine.account(registry).code
    with pytest.raises(NotAMember):
        chain.submit(sign(K1, 0, "0x" + "11" * 20, b""))
    add = function_signature_to_4byte_selector("setMember(address,bool)") + encode(
        ["address", "bool"], [a2, True]
    )
    h = chain.submit(sign(K0, 1, "0x" + registry.hex(), add))
    chain.produce_block(now=1_700_000_002)
    row = chain.store.tx(h)
    assert row is not None and row.status == 1
    chain.submit(sign(k2, 0, "0x" + "11" * 20, b""))  # admitted now
    assert a1 != a2


def test_get_logs_uses_an_index_never_a_scan(tmp_path: Path) -> None:
    chain = make_chain(tmp_path, interval=100)
    probe = deploy_probe(chain, K0)
    _workload(chain, probe, 3, 1_700_000_030)
    store = chain.store
    topic = bytes(12) + A0
    cases = [
        ([probe], [None, [topic]], "INDEX logs_t1"),
        ([probe], [], "INDEX logs_address"),
        ([], [], "INTEGER PRIMARY KEY"),
    ]
    for addrs, topics, expect in cases:
        rows = store.query_logs(1, chain.head.number, addrs, topics, 100)
        assert rows and all(r.address == probe for r in rows)
        sql, args = store.last_logs_query
        plan = " ".join(str(r[3]) for r in store.db.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert expect in plan and "SCAN" not in plan, plan


def test_get_logs_null_topic_positions_match_anything(tmp_path: Path) -> None:
    """``[sig, null, n]`` (an open middle position, as web3 sends for an event filtered on
    its first and third indexed fields) matches any value there and filters the others."""
    from eth_utils.crypto import keccak

    from ledger_node.rpc import parse_log_filter

    chain = make_chain(tmp_path, interval=100)
    probe = deploy_probe(chain, K0)
    _workload(chain, probe, 2, 1_700_000_040)  # per block: Bumped(A0, 1), Bumped(K1's, 5)
    a1 = bytes.fromhex(Account.from_key(K1).address[2:])
    sig = "0x" + keccak(text="Bumped(address,uint256,bytes)").hex()

    def n(value: int) -> str:
        return "0x" + value.to_bytes(32, "big").hex()

    def query(topics: list[object]) -> list[tuple[bytes, int]]:
        addrs, parsed = parse_log_filter({"address": "0x" + probe.hex(), "topics": topics})
        rows = chain.store.query_logs(1, chain.head.number, addrs, parsed, 100)
        return [(r.topics[1][12:], int.from_bytes(r.topics[2], "big")) for r in rows]

    assert query([sig, None, n(5)]) == [(a1, 5), (a1, 5)]
    assert query([sig, None, [n(1), n(5)]]) == [(A0, 1), (a1, 5)] * 2
    assert query([None, "0x" + bytes(12).hex() + a1.hex(), None]) == [(a1, 5), (a1, 5)]
    assert query([sig, None, n(7)]) == []
    assert query([sig, None, None, n(5)]) == []  # Bumped has no fourth topic


def _tipped(key: str, nonce: int, tip: int) -> bytes:
    tx = {"nonce": nonce, "gas": 21_000, "to": "0x" + "11" * 20, "value": 0, "data": b""}
    tx.update(chainId=7171, type=2, maxFeePerGas=tip, maxPriorityFeePerGas=tip)
    raw: bytes = Account.sign_transaction(tx, key).raw_transaction
    return raw


def test_free_gas_charges_nothing_and_can_be_turned_off(tmp_path: Path) -> None:
    """Default: a tip is accepted from a member with no balance and nothing is charged.
    With "freeGas": false the price is charged, so the same transaction needs a balance."""
    free = make_chain(tmp_path / "free")
    h = free.submit(_tipped(K0, 0, 10**9))
    header = free.produce_block(now=1_700_000_001)
    assert header is not None and (row := free.store.tx(h)) is not None and row.status == 1
    assert free.engine.account(A0).balance == 0
    assert free.engine.account(header.coinbase).balance == 0

    rich = {"0x" + A0.hex(): {"balance": hex(10**18)}}
    paid = make_chain(tmp_path / "paid", freeGas=False, alloc=rich)
    with pytest.raises(AdmissionError, match="insufficient funds") as refused:
        paid.submit(_tipped(K1, 0, 1))  # K1 holds nothing: cast's 1-wei default tip fails
    assert refused.value.reason.value == "insufficient-funds"
    paid.submit(_tipped(K0, 0, 10**9))
    header = paid.produce_block(now=1_700_000_001)
    assert header is not None
    assert paid.engine.account(A0).balance == 10**18 - 21_000 * 10**9
    assert paid.engine.account(header.coinbase).balance == 21_000 * 10**9

    with pytest.raises(ValueError, match="freeGas must be true or false"):
        make_chain(tmp_path / "bad", freeGas="yes")
