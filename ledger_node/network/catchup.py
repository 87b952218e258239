"""Catching up from a peer node's JSON-RPC when etcd no longer holds the next blocks.

The producer prunes blocks every live node has applied (prune.py). A node that was down
meanwhile finds etcd's lowest block above its head + 1; it then asks peer nodes (their URLs
from their status records in etcd, the most advanced first) for the missing blocks with
``alliance_getRawBlock`` (the block in etcd's wire format: header and raw transactions) and
applies each with ``Chain.apply_block``: seal, parent link, timestamps, every transaction,
re-execution and the state commitment, exactly as a block from etcd. A peer whose block
does not verify is refused (ALARM in the log, ``alliance_peer_blocks_refused``) and the next
peer is tried; no vote is cast (the block is not in etcd, so there is nothing to remove).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import httpx

from ledger_node.block import SealError
from ledger_node.chain import Chain
from ledger_node.network.etcd import Etcd, prefix_end
from ledger_node.network.layout import Keys, decode_block, encode_block, from_json
from ledger_node.network.metrics import NetworkMetrics
from ledger_node.rpc import p_quantity

log = logging.getLogger("ledger_node.network")
GET_RAW_BLOCK = "alliance_getRawBlock"
BATCH = 32  # blocks per request, and per round of the replica's loop


def raw_block(chain: Chain, number: Any) -> str | None:
    """``alliance_getRawBlock``: block ``number`` as etcd holds it, or null beyond the head."""
    n = p_quantity(number, "block number")
    header = chain.header_at(n)
    if header is None:
        return None
    raws = [r.raw for r in chain.store.block_txs(n)]
    return "0x" + encode_block(header, raws).hex()


class PeerSync:
    def __init__(
        self, chain: Chain, etcd: Etcd, keys: Keys, node_id: str, net: NetworkMetrics
    ) -> None:
        self.chain, self.etcd, self.keys, self.node_id, self.net = chain, etcd, keys, node_id, net
        self.client = httpx.AsyncClient(timeout=10)
        self.alarms: list[str] = []

    async def close(self) -> None:
        await self.client.aclose()

    async def peers(self) -> list[tuple[str, str]]:
        """(id, url) of the other nodes with a live status record, the highest first."""
        kvs, _ = await self.etcd.range(self.keys.nodes, prefix_end(self.keys.nodes))
        found: list[tuple[int, str, str]] = []
        for kv in kvs:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                doc = from_json(kv.value)
                if doc["id"] != self.node_id and str(doc["url"]).startswith("http"):
                    found.append((int(doc["height"]), str(doc["id"]), str(doc["url"])))
        found.sort(reverse=True)
        return [(i, u) for _, i, u in found]

    async def fetch(self, url: str, first: int, count: int) -> list[str | None]:
        body = [
            {
                "jsonrpc": "2.0",
                "id": k,
                "method": "alliance_getRawBlock",
                "params": [hex(first + k)],
            }
            for k in range(count)
        ]
        reply = await self.client.post(url, json=body)
        reply.raise_for_status()
        doc = reply.json()
        if not isinstance(doc, list):
            raise ValueError("not a batch reply")
        by_id = {r.get("id"): r.get("result") for r in doc if isinstance(r, dict)}
        return [by_id.get(k) for k in range(count)]

    async def catch_up(self, below: int) -> bool:
        """Apply up to ``BATCH`` blocks from head + 1 (short of ``below``) from a peer."""
        chain = self.chain
        for peer, url in await self.peers():
            first = chain.head.number + 1
            count = min(BATCH, below - first)
            if count <= 0:
                return False
            try:
                blobs = await self.fetch(url, first, count)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("%s: peer %s: %s", self.node_id, peer, exc)
                continue
            applied = 0
            for blob in blobs:
                if not isinstance(blob, str):
                    break  # this peer does not have it
                height = chain.head.number + 1
                try:
                    header, raws = decode_block(bytes.fromhex(blob.removeprefix("0x")))
                    if header.number != height:
                        raise SealError(f"block {height}: the peer sent block {header.number}")
                    chain.apply_block(header, raws)
                except (SealError, ValueError) as exc:
                    alarm = f"refusing block {height} from peer {peer}: {exc}"
                    log.error("%s: ALARM: %s", self.node_id, alarm)
                    self.alarms.append(alarm)
                    self.net.peer_refused.inc()
                    break
                applied += 1
                self.net.peer_applied.inc()
            if applied:
                log.info(
                    "%s: applied blocks %d..%d from peer %s (pruned from etcd)",
                    self.node_id, first, first + applied - 1, peer,
                )  # fmt: skip
                return True
        return False
