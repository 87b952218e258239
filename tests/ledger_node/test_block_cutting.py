"""When the producer cuts a block: at once once ``cut_txs`` transactions wait, otherwise when
the block time has passed since the last block (an ordering service's batch size and
timeout)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from eth_account import Account

from ledger_node.server import DEFAULT_CUT_TXS, Node
from tests.support.ledger import DEV_KEYS

from .helpers import make_chain, sign

K0 = DEV_KEYS[0]
A0 = bytes.fromhex(Account.from_key(K0).address[2:])


def _submit(node: Node, count: int) -> None:
    for _ in range(count):
        node.chain.submit(sign(K0, node.chain.next_nonce(A0), "0x" + "11" * 20, b"", gas=21_000))


def test_block_wait_is_zero_once_cut_txs_wait(tmp_path: Path) -> None:
    chain = make_chain(tmp_path, blockTimeMs=60_000, maxBlockTxs=100)
    node = Node(chain, cut_txs=3)
    node._last_block = time.monotonic()  # a block was just made: the block time runs
    _submit(node, 2)
    assert 59 < node.block_wait() <= 60
    _submit(node, 1)
    assert node.block_wait() == 0.0
    # An idle node's first transaction does not wait a whole block time either.
    node._last_block = time.monotonic() - 61
    assert node.block_wait() == 0.0


def test_cut_txs_defaults_and_is_bounded_by_max_block_txs(tmp_path: Path) -> None:
    chain = make_chain(tmp_path, maxBlockTxs=50)
    assert Node(chain).cut_txs == min(DEFAULT_CUT_TXS, 50) == 50
    assert Node(chain, cut_txs=7).cut_txs == 7
    with pytest.raises(ValueError, match="cut_txs"):
        Node(chain, cut_txs=0)


def test_the_producer_loop_cuts_a_full_batch_without_waiting(tmp_path: Path) -> None:
    chain = make_chain(tmp_path, blockTimeMs=60_000, maxBlockTxs=100)

    async def scenario() -> tuple[int, int]:
        node = Node(chain, cut_txs=4)
        node._last_block = time.monotonic()
        producer = asyncio.create_task(node.produce_forever())
        try:
            _submit(node, 4)
            node._wake.set()
            for _ in range(200):  # well under the 60 s block time
                await asyncio.sleep(0.01)
                if chain.head.number:
                    break
            return chain.head.number, chain.tx_count
        finally:
            producer.cancel()

    assert asyncio.run(scenario()) == (1, 4)
