"""The producer election survives a lost reply: a node whose winning campaign it never heard
of must not keep the producer key (alive under its own lease) while producing nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from ledger_node.network.etcd import Etcd, EtcdUnavailable
from ledger_node.network.layout import Keys
from ledger_node.network.procs import EtcdCluster
from ledger_node.network.replica import ReplicaNode
from tests.ledger_node.helpers import make_chain
from tests.support.etcd import etcd_cluster, requires_etcd

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(120)]


class LosesFirstTxnReply(Etcd):
    """The first transaction is applied, then its reply is lost (as on a client timeout)."""

    lost = False

    async def txn(self, *args: Any, **kwargs: Any) -> bool:
        ok = await super().txn(*args, **kwargs)
        if not self.lost:
            self.lost = True
            raise EtcdUnavailable("reply lost")
        return ok


def test_a_campaign_whose_reply_was_lost_does_not_block_the_election(tmp_path: Path) -> None:
    chain = make_chain(tmp_path / "chain")
    keys = Keys("lost-reply")

    async def scenario(cluster: EtcdCluster) -> None:
        etcd = LosesFirstTxnReply(cluster.endpoints, access=cluster.client)
        node = ReplicaNode(chain, etcd, keys, "n0")
        try:
            node.keeper.lease = await etcd.grant(30)  # what the keeper thread would hold
            node.keeper.last_alive = time.monotonic()
            with pytest.raises(EtcdUnavailable):
                await node._campaign()  # won in etcd, but the node never heard it
            assert (await etcd.get(keys.producer)) is not None
            assert not node.producing
            for _ in range(3):  # as the replica loop does while not producing, a round each
                if not node.producing:
                    await node._campaign()
            # Before: the key stayed, alive under the node's lease, and nobody produced.
            assert node.producing
            current = await etcd.get(keys.producer)
            assert current is not None and current.value == node._token
        finally:
            await etcd.close()

    with etcd_cluster(1) as cluster:
        asyncio.run(scenario(cluster))
    chain.close()
