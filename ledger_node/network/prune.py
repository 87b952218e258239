"""The producer keeps etcd small: old blocks leave it, and etcd is compacted and defragmented.

Every node's status record (``nodes/<id>``, under its lease) reports the height it applied.
Every ``every_s`` seconds the producer deletes ``blocks/<h>`` (and the votes about them) for
``h <= min(live heights) - keep``. A node that is down has no status record, so it does not
hold etcd back: when it comes back it reads the blocks etcd no longer holds from a peer node
(catchup.py), verifying each one as it verifies blocks from etcd. Pool entries already leave
etcd in the transaction of the block that consumed them, or the next ones (replica.py).

Deleting keys frees nothing by itself: etcd keeps old revisions until compacted, and a
compacted member keeps its file size until defragmented. So every ``compact_every_s`` the
producer compacts at the revision of its last deletion, and every ``defrag_every_s``
defragments each member in turn (a member stalls while it defragments: hence rarely, and
one member at a time so the others keep a Raft majority).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

from ledger_node.network.etcd import Etcd, b64, prefix_end
from ledger_node.network.layout import Keys, from_json

log = logging.getLogger("ledger_node.network")


@dataclass(frozen=True)
class PruneSettings:
    keep: int = 1000  # blocks kept below the slowest live node (0: never prune)
    every_s: float = 10.0
    compact_every_s: float = 300.0
    defrag_every_s: float = 3600.0  # 0: never

    def __post_init__(self) -> None:
        if self.keep < 0 or self.every_s <= 0 or self.compact_every_s <= 0:
            raise ValueError("prune settings: keep >= 0, intervals > 0")
        if self.defrag_every_s < 0:
            raise ValueError("prune settings: defrag interval >= 0")


class Pruner:
    def __init__(self, etcd: Etcd, keys: Keys, settings: PruneSettings, node_id: str) -> None:
        self.etcd, self.keys, self.settings, self.node_id = etcd, keys, settings, node_id
        now = time.monotonic()
        self._last = self._compacted_at = self._defragged_at = now
        self.pruned = 0  # blocks up to here were deleted by this node
        self._revision = 0  # etcd revision of the last deletion, not yet compacted
        self.maintenance_denied = False  # etcd roles on: compaction and defrag are root's

    async def run_if_due(self, head: int) -> None:
        s = self.settings
        now = time.monotonic()
        if not s.keep or now - self._last < s.every_s:
            return
        self._last = now
        upto = min(await self.live_heights(), default=head)
        upto = min(upto, head) - s.keep
        if upto > self.pruned:
            self._revision = await self._delete(upto)
            self.pruned = upto
            log.info("%s: pruned etcd blocks up to %d", self.node_id, upto)
        if self.maintenance_denied:
            return
        if self._revision and now - self._compacted_at >= s.compact_every_s:
            self._compacted_at = now
            try:
                await self.etcd.call("/v3/kv/compaction", {"revision": str(self._revision)})
            except Exception as exc:
                if not _denied(exc):
                    raise
                self._give_up_maintenance()
                return
            log.info("%s: compacted etcd at revision %d", self.node_id, self._revision)
            self._revision = 0
        if s.defrag_every_s and now - self._defragged_at >= s.defrag_every_s:
            self._defragged_at = now
            await self.defragment()

    def _give_up_maintenance(self) -> None:
        """With etcd roles on, compaction and defragmentation are the root role's: etcd's
        own auto-compaction (procs.py) and an operator's ``alliance network defrag`` do them."""
        self.maintenance_denied = True
        log.info(
            "%s: this node's etcd role may not compact or defragment: left to etcd's "
            "auto-compaction and `alliance network defrag`",
            self.node_id,
        )

    async def live_heights(self) -> list[int]:
        kvs, _ = await self.etcd.range(self.keys.nodes, prefix_end(self.keys.nodes))
        heights = []
        for kv in kvs:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                heights.append(int(from_json(kv.value)["height"]))
        return heights

    async def _delete(self, upto: int) -> int:
        """Delete blocks and votes at heights <= ``upto``; the etcd revision afterwards."""
        revision = 0
        for start, end in (
            (self.keys.blocks, self.keys.block(upto + 1)),
            (self.keys.sub("rejected/"), self.keys.rejected(upto + 1)),
        ):
            doc = await self.etcd.call(
                "/v3/kv/deleterange", {"key": b64(start), "range_end": b64(end)}
            )
            revision = int(doc["header"]["revision"])
        return revision

    async def defragment(self) -> None:
        for endpoint in self.etcd.endpoints:  # one member at a time: the rest keep a majority
            try:
                await defragment_member(self.etcd, endpoint)
            except Exception as exc:  # an unreachable member is defragmented next time
                if _denied(exc):
                    self._give_up_maintenance()
                    return
                log.warning("%s: defragmenting %s failed: %s", self.node_id, endpoint, exc)
            else:
                log.info("%s: defragmented etcd member %s", self.node_id, endpoint)


async def defragment_member(etcd: Etcd, endpoint: str) -> None:
    """Defragment one member (it stalls meanwhile); raises on failure."""
    headers = await etcd.headers(endpoint)
    reply = await etcd.client.post(
        endpoint + "/v3/maintenance/defragment", json={}, headers=headers, timeout=60
    )
    if reply.status_code >= 400:
        raise OSError(f"{endpoint}: HTTP {reply.status_code}: {reply.text[:200]}")


def _denied(exc: Exception) -> bool:
    return "permission denied" in str(exc).lower() or "unauthorized" in str(exc).lower()
