"""Re-check a chain from genesis: every hash link, seal, root and state commitment."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ledger_node.abc import BlockContext, EngineFactory
from ledger_node.block import (
    Header,
    SealError,
    logs_bloom,
    receipt_item,
    receipts_root,
    running_state_root,
    transactions_root,
)
from ledger_node.chain import message_of
from ledger_node.datadir import genesis_header
from ledger_node.engine_revm import RevmEngine
from ledger_node.genesis import Genesis
from ledger_node.store import Store
from ledger_node.txcodec import Tx, decode_raw


@dataclass
class Report:
    blocks: int
    transactions: int
    checkpoints: int
    head_hash: bytes


def verify_store(store: Store) -> Report:
    """Re-execute every block; raise ``SealError`` at the first mismatch."""
    raw = store.get_meta("genesis")
    if raw is None:
        raise SealError("no genesis in the data directory")

    def blocks() -> Iterator[tuple[Header, list[Tx]]]:
        for n in range(1, store.head_number() + 1):
            rows = store.block_txs(n)
            txs = [decode_raw(r.raw) for r in rows]
            for r, tx in zip(rows, txs, strict=True):
                if tx.sender != r.sender or tx.hash != r.hash:
                    raise SealError(
                        f"block {n}: stored sender or hash does not match the signature"
                    )
            yield Header.decode(store.header(n) or b""), txs

    return replay(Genesis.from_json(raw), Header.decode(store.header(0) or b""), blocks())


def replay(
    g: Genesis,
    block0: Header,
    blocks: Iterable[tuple[Header, list[Tx]]],
    engine_factory: EngineFactory = RevmEngine,
) -> Report:
    """Re-execute blocks 1.. (each header with its decoded, signature-checked transactions)
    from genesis ``g`` and check every hash link, seal, root and state commitment against
    the headers; ``SealError`` at the first mismatch. The source may be a node's store or
    any JSON-RPC endpoint of the node (``sharing_api.audit.rpc_verify``)."""
    state = g.initial_state()
    parent = block0
    if parent != genesis_header(g, state):
        raise SealError("block 0 does not match the genesis file")
    engine = engine_factory(g.chain_id, g.block_gas_limit, state)
    txs_total = checkpoints = since = 0
    n = 0
    for hd, txs in blocks:
        n += 1
        if hd.number != n or hd.parent_hash != parent.hash:
            raise SealError(f"block {n}: broken hash link")
        signer = hd.signer()
        if signer not in g.sealers or signer != hd.coinbase:
            raise SealError(f"block {n}: sealed by 0x{signer.hex()}, not a sealer")
        engine.begin_block(BlockContext(n, hd.timestamp, hd.coinbase, g.block_gas_limit))
        outs = [engine.execute(message_of(tx, g.free_gas)) for tx in txs]
        items = [receipt_item(int(o.success), o.gas_used, o.logs) for o in outs]
        rroot = receipts_root(items)
        if (
            rroot != hd.receipts_root
            or transactions_root([t.hash for t in txs]) != hd.transactions_root
        ):
            raise SealError(f"block {n}: transactions or receipts differ on re-execution")
        if logs_bloom([lg for o in outs for lg in o.logs]) != hd.logs_bloom:
            raise SealError(f"block {n}: logs bloom differs")
        if sum(o.gas_used for o in outs) != hd.gas_used:
            raise SealError(f"block {n}: gas used differs")
        since += len(txs)
        if g.is_checkpoint(n, since):
            since = 0
            state.apply(engine.touched())
            engine.mark_checkpoint()
            want = state.commitment()
            checkpoints += 1
        else:
            want = running_state_root(parent.state_root, rroot)
        if want != hd.state_root:
            raise SealError(f"block {n}: state commitment differs")
        txs_total += len(txs)
        parent = hd
    return Report(n + 1, txs_total, checkpoints, parent.hash)
