"""A member removed in block N has a transaction admitted before: it must not reach N+1.

Both transactions go to the etcd pool in one batch, while the sender is still a member, so
the producer admits both; blocks hold one transaction each (``maxBlockTxs`` 1), so the
removal is block N and the removed member's transaction would be N+1. Replicas check
membership at the parent state: had the producer included it, they would refuse N+1 and
mark the honest producer faulty. The producer checks membership again against the state
it builds on and drops the transaction instead.
"""

from __future__ import annotations

from functools import partial

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.abi import function_signature_to_4byte_selector

from ledger_node.txcodec import create_address
from tests.ledger_node.helpers import MINI_REGISTRY, sign
from tests.support.etcd import requires_etcd
from tests.support.ledger import DEV_KEYS
from tests.support.network import local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(180)]
K0, K1 = DEV_KEYS[0], DEV_KEYS[1]
A0, A1 = (Account.from_key(k).address for k in (K0, K1))
REGISTRY = "0x" + create_address(bytes.fromhex(A0[2:]), 0).hex()
SINK = "0x" + "55" * 20
NODES = ["node0", "node1", "node2", "regulator"]


def test_a_member_removed_in_one_block_gets_nothing_into_the_next() -> None:
    genesis = {"members": [A0, A1], "allianceRegistry": REGISTRY, "maxBlockTxs": 1}
    with local_network(3, genesis_doc=genesis, blockTimeMs=50) as net:
        producer = wait_for("a producer", net.producer, 15)
        replica = next(n for n in ("node0", "node1", "node2") if n != producer)
        init = bytes.fromhex(MINI_REGISTRY["bytecode"][2:]) + encode(["address[]"], [[A0, A1]])
        deployed = net.send(replica, sign(K0, 0, None, init))
        receipt = wait_for("the registry", partial(net.receipt, replica, deployed), 20)
        assert receipt["status"] == "0x1" and receipt["contractAddress"] == REGISTRY

        remove = function_signature_to_4byte_selector("setMember(address,bool)") + encode(
            ["address", "bool"], [A1, False]
        )
        removal, late = net.send_batch(
            replica, [sign(K0, 1, REGISTRY, remove), sign(K1, 0, SINK, b"", gas=21_000)]
        )
        for n in NODES:
            got = wait_for(f"the removal on {n}", partial(net.receipt, n, removal), 20)
            assert got["status"] == "0x1"
        after = net.send(replica, sign(K0, 2, SINK, b"", gas=21_000))
        for n in NODES:
            wait_for(f"a later block on {n}", partial(net.receipt, n, after), 20)
            assert net.receipt(n, late) is None  # dropped, never included
            assert net.metric(n, "alliance_blocks_refused_total") == 0
        assert net.status()["faulty"] == []
        assert net.producer() == producer
        assert "no longer members" in net.log(producer)
        assert len({net.head(n) for n in NODES}) == 1
        # the removed member is now refused at the door
        with pytest.raises(RuntimeError, match="not an alliance member"):
            net.send(replica, sign(K1, 0, SINK, b"", gas=21_000))
