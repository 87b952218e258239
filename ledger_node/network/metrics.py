"""Prometheus metrics a replicated node adds to the single node's (see the network README)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ledger_node.server import Node


class NetworkMetrics:
    def __init__(self, node: Node) -> None:
        r = node.metrics.registry
        self.producer = Gauge("alliance_is_producer", "1 while this node produces", registry=r)
        self.refused = Counter(
            "alliance_blocks_refused", "Blocks refused on re-execution (ALARM)", registry=r
        )
        self.removed = Counter(
            "alliance_blocks_removed", "Refused blocks removed from etcd by quorum", registry=r
        )
        self.takeovers = Counter(
            "alliance_takeovers", "Times this node became producer", registry=r
        )
        self.etcd_height = Gauge(
            "alliance_etcd_height", "Height of the last block seen in etcd", registry=r
        )
        self.applied = Counter("alliance_blocks_applied", "Blocks applied from etcd", registry=r)
        self.commit = Histogram(
            "alliance_block_commit_seconds",
            "Producer: seal to etcd commit acknowledged",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2),
        )
        self.apply = Histogram(
            "alliance_block_apply_seconds",
            "Re-execute, verify and store a block from etcd",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
        )
        self.forwarded = Counter(
            "alliance_transactions_forwarded", "Transactions written to the etcd pool", registry=r
        )
        self.peer_applied = Counter(
            "alliance_peer_blocks_applied",
            "Blocks fetched from a peer (pruned from etcd), verified and applied",
            registry=r,
        )
        self.peer_refused = Counter(
            "alliance_peer_blocks_refused", "Blocks from a peer refused (ALARM)", registry=r
        )
        self.pruned = Gauge(
            "alliance_etcd_pruned_height", "Producer: blocks up to here left etcd", registry=r
        )
