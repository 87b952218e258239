"""The replicated network's nodes (network/replica.py) serve the same RPC with the same limits:
a huge batch is one error, eth_call stops at the gas cap, and the producer keeps sealing
blocks while a subscriber stalls and eth_calls flood it."""

from __future__ import annotations

import time

import httpx
import pytest
from coincurve import PrivateKey

from tests.support.abuse import (
    KECCAK_BURNER,
    BlockGaps,
    CallFlood,
    StalledSubscriber,
    deploy,
)
from tests.support.etcd import requires_etcd
from tests.support.ledger import DEV_CHAIN_ID
from tests.support.network import local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(240)]
MAX_GAP_MS = 1_000


def test_replicas_enforce_the_limits_and_keep_producing_under_abuse() -> None:
    with local_network(2, regulator=False, blockTimeMs=250) as net:
        producer = wait_for("a producer", net.producer, 15)
        replica = next(n for n in ("node0", "node1") if n != producer)
        key = PrivateKey(bytes.fromhex(net.member_key(replica)[2:]))
        # A batch over the cap: one error from any node, nothing forwarded.
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1_001)]
        reply = httpx.post(net.url(replica), json=batch, timeout=60).json()
        assert isinstance(reply, dict) and "at most 1000" in reply["error"]["message"]
        # eth_call stops at the gas cap.
        burner = deploy(net.url(replica), key, KECCAK_BURNER, DEV_CHAIN_ID)
        started = time.monotonic()
        call = {"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                "params": [{"to": burner, "gas": hex(10**9)}]}  # fmt: skip
        reply = httpx.post(net.url(replica), json=call, timeout=120).json()
        assert "gas cap" in reply["error"]["message"] and time.monotonic() - started < 5
        # The producer under a stalled subscriber and an eth_call flood.
        url = net.url(producer)
        honest = BlockGaps(
            url, PrivateKey(bytes.fromhex(net.member_key(producer)[2:])), DEV_CHAIN_ID
        )
        with StalledSubscriber(url), CallFlood(url, burner, threads=2), honest as gaps:
            gaps.stop.wait(10)
        report = gaps.report()
        assert report.blocks >= 3 and report.included == report.acknowledged, report
        assert report.max_gap_ms <= MAX_GAP_MS, report
