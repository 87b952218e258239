"""What a replica checks in another node's block before re-executing it.

The block must extend this node's head, be sealed by a genesis sealer (its coinbase), carry
a timestamp neither before its parent's nor too far ahead of this node's clock (clock.py),
and only transactions a producer may include: decodable, from senders who are members at
the parent state, in nonce order, on this chain, above intrinsic gas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger_node.block import Header, SealError
from ledger_node.txcodec import Tx, TxError, intrinsic_gas

if TYPE_CHECKING:
    from ledger_node.chain import Chain


def check_block(chain: Chain, header: Header, raw_txs: list[bytes]) -> list[Tx]:
    """The block's transactions, decoded; ``SealError`` for the first rule it breaks."""
    n = header.number
    if n != chain.head.number + 1 or header.parent_hash != chain.head.hash:
        raise SealError(f"block {n}: does not extend head {chain.head.number}")
    signer = header.signer()
    if signer not in chain.genesis.sealers or signer != header.coinbase:
        raise SealError(f"block {n}: sealed by 0x{signer.hex()}, not a genesis sealer")
    if header.timestamp < chain.head.timestamp:
        raise SealError(f"block {n}: timestamp goes backwards (before its parent's)")
    ahead = chain.clock.too_far_ahead(header.timestamp)
    if ahead is not None:
        raise SealError(
            f"block {n}: timestamp {header.timestamp} is {ahead:.0f} s ahead of this node's "
            f"clock (at most {chain.clock.max_ahead_s} s allowed)"
        )
    try:
        txs = [chain.txcache.decode(r) for r in raw_txs]
    except TxError as exc:
        raise SealError(f"block {n}: invalid transaction ({exc})") from exc
    nonces: dict[bytes, int] = {}
    for tx in txs:
        want = nonces.get(tx.sender)
        if want is None:
            want = chain.nonce_of(tx.sender)
            if not chain.permissions.admits(chain.engine, tx.sender):
                raise SealError(f"block {n}: sender 0x{tx.sender.hex()} is not a member")
        if tx.nonce != want or tx.chain_id != chain.genesis.chain_id:
            raise SealError(f"block {n}: transaction 0x{tx.hash.hex()} has a bad nonce/chain")
        if tx.gas < intrinsic_gas(tx):
            raise SealError(f"block {n}: transaction below intrinsic gas")
        nonces[tx.sender] = want + 1
    return txs
