"""Cross-check the node's engine (revm via pyrevm) against py-evm, an independent EVM.

The same signed transactions must give the same success, return/revert data, logs, gas and
final storage. Every transaction starts cold on both (EIP-2929), so gas matches for each one,
not only the first: an engine that kept accounts or slots warm from an earlier transaction
charges less for a later one touching the same contract.
"""

from __future__ import annotations

from typing import Any

from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks.cancun import CancunVM
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_node.abc import BlockContext, Outcome
from ledger_node.chain import message_of
from ledger_node.engine_revm import RevmEngine
from ledger_node.txcodec import create_address, decode_raw, keccak
from tests.support.ledger import DEV_CHAIN_ID, DEV_KEYS

from .helpers import PROBE, bump_data, make_data, sign

KEYS = DEV_KEYS[:2]
ADDRS = [bytes.fromhex(Account.from_key(k).address[2:]) for k in KEYS]
TS = 1_700_000_000


def pyevm_chain() -> Any:
    klass = MiningChain.configure(
        __name__="CrossCheck", vm_configuration=((0, CancunVM),), chain_id=DEV_CHAIN_ID
    )
    params: Any = {
        "difficulty": 0,
        "gas_limit": 1_000_000_000,
        "timestamp": TS,
        "base_fee_per_gas": 0,
    }
    state: Any = {a: {"balance": 0, "nonce": 0, "code": b"", "storage": {}} for a in ADDRS}
    return klass.from_genesis(AtomicDB(), params, state)


ops = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.sampled_from(["bump", "big", "unlucky", "make", "note"]),
        st.integers(0, 2),
        st.integers(0, 999),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=12, deadline=None)
@given(ops=ops)
def test_same_transactions_same_effects(ops: list[tuple[int, str, int, int]]) -> None:
    raws = [sign(KEYS[0], 0, None, bytes.fromhex(PROBE["bytecode"][2:]), gas=3_000_000)]
    nonces = [1, 0]
    probe = create_address(ADDRS[0], 0)
    to = "0x" + probe.hex()
    salts = set()
    for who, op, kind, n in ops:
        if op == "make":
            if n in salts:
                continue  # a CREATE2 collision burns all gas on both; skip to keep it short
            salts.add(n)
            data = make_data(n)
        else:
            arg = {"bump": n, "big": 1000 + n + 1, "unlucky": 13, "note": n}[op]
            data = bump_data(arg, b"x" * (n % 70) if op == "note" else b"hi")
        raws.append(sign(KEYS[who], nonces[who], to, data, gas=1_000_000, kind=kind))
        nonces[who] += 1

    engine = RevmEngine(DEV_CHAIN_ID, 1_000_000_000)
    engine.begin_block(BlockContext(1, TS + 1, bytes(20), 1_000_000_000))
    chain = pyevm_chain()
    ours: list[Outcome] = []
    block_gas = 0
    for i, raw in enumerate(raws):
        tx = decode_raw(raw)
        out = engine.execute(message_of(tx, free_gas=True))  # the txs are priced 0 anyway
        ours.append(out)
        ptx = chain.get_vm().get_transaction_builder().decode(raw)
        _, receipt, comp = chain.apply_transaction(ptx)
        assert out.success == comp.is_success, (i, out.error)
        if tx.to is not None:
            assert out.output == bytes(comp.output), i
        their_logs = [
            (bytes(lg.address), [t.to_bytes(32, "big") for t in lg.topics], lg.data)
            for lg in receipt.logs
        ]
        assert [(lg.address, lg.topics, lg.data) for lg in out.logs] == their_logs, i
        # py-evm's receipts count the block's gas so far; each tx starts cold on both.
        assert out.gas_used == receipt.gas_used - block_gas, i
        block_gas = receipt.gas_used
    state = chain.get_vm().state
    slots = [1] + [int.from_bytes(keccak(bytes(12) + a + bytes(32)), "big") for a in ADDRS]
    for slot in slots:
        assert engine.storage_at(probe, slot) == state.get_storage(probe, slot), slot
    for a in ADDRS:
        assert engine.account(a).nonce == state.get_nonce(a)
    assert engine.account(probe).code == state.get_code(probe)
    # Every slot the engine's journal says it wrote (incl. CREATE2 children) matches py-evm.
    touched = engine.touched()
    bumped = any(o.success and o.logs for o in ours[1:])
    assert len(touched.storage) >= int(bumped) + len(salts)
    for addr, slots_ in touched.storage.items():
        for slot, value in slots_.items():
            assert state.get_storage(addr, slot) == value, (addr.hex(), slot)
