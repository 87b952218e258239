"""Abuse benchmark: hostile load must not slow honest work (issue #13).

One ledger node (``alliance node start``, default limits, 250 ms block time) on 127.0.0.1.
The honest work runs twice in the same run: alone (the peer), then while every load of
``hostile_loads`` runs from another loopback address (127.0.0.2, see tests/support/abuse.py).

Cases that exist now (the node half):
* ``blocks/alone``       max_gap_ms: longest gap between blocks while honest transactions wait
* ``blocks/max_gap_ms``  max_gap_ms: the same under abuse (target <= 1,000 ms; ``peer`` = alone)
* ``blocks/*``           blocks, txs (honest transactions acknowledged), load_avg_1m
* ``hostile/<load>``     requests: what each hostile load sent during the abuse phase
Hostile loads: eth_call loops (gas-burning calls at the node's default cap), huge batches
(10,000 calls, then full 1,000-call batches), a stalled subscriber (newHeads and logs, never
reads), nonce floods (batches of transactions with nonces far ahead).

The API half (``fetch/alone``, ``fetch/under_abuse``, ``fetch/ratio`` >= 0.7) plugs in at
``under_abuse(loads, work)``: start the API against ``node.url``, run the ``api`` suite's
fetch workload as ``work`` once with ``loads=[]`` and once with ``hostile_loads(...)`` plus
the API-side loads (anonymous consent spam), and emit the three cases from ``api_half``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from coincurve import PrivateKey

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchlib import Reporter, progress  # noqa: E402

from tests.support.abuse import (  # noqa: E402
    KECCAK_BURNER,
    LOG_EMITTER,
    BlockGaps,
    CallFlood,
    GapReport,
    HugeBatches,
    Load,
    NonceFlood,
    StalledSubscriber,
    deploy,
)
from tests.support.ledger import DEV_CHAIN_ID, DEV_KEYS, NodeProcess, running_node  # noqa: E402

T = TypeVar("T")
TARGET_MAX_GAP_MS = 1_000
LOGS_PER_TX = 20  # honest transactions log, so the stalled subscriber has plenty to refuse


def hostile_loads(node: NodeProcess, burner: str) -> list[Load]:
    """Every hostile load against the node, fresh (each may run once)."""
    flooder = PrivateKey(bytes.fromhex(node.member_keys[3][2:]))
    return [
        CallFlood(node.url, burner, threads=3, batch=4),
        HugeBatches(node.url, burner),
        StalledSubscriber(node.url, subscriptions=32),
        NonceFlood(node.url, flooder, DEV_CHAIN_ID),
    ]


def under_abuse(loads: Sequence[Load], work: Callable[[], T]) -> T:
    """Run ``work`` while every load in ``loads`` runs (none: the peer measurement)."""
    with contextlib.ExitStack() as stack:
        for load in loads:
            stack.enter_context(load)
        if loads:
            time.sleep(1.0)  # let the loads reach the node before measuring
        return work()


def block_gaps(node: NodeProcess, emitter: str, seconds: float) -> Callable[[], GapReport]:
    """Honest transactions for ``seconds``; the block gaps they saw."""
    key = PrivateKey(bytes.fromhex(node.member_keys[0][2:]))
    data = LOGS_PER_TX.to_bytes(32, "big")

    def work() -> GapReport:
        with BlockGaps(node.url, key, DEV_CHAIN_ID, to=emitter, data=data) as gaps:
            gaps.stop.wait(seconds)
        return gaps.report()

    return work


def node_half(reporter: Reporter, node: NodeProcess, seconds: float) -> None:
    owner = PrivateKey(bytes.fromhex(node.member_keys[1][2:]))
    burner = deploy(node.url, owner, KECCAK_BURNER, DEV_CHAIN_ID)
    emitter = deploy(node.url, owner, LOG_EMITTER, DEV_CHAIN_ID)
    progress(f"abuse: honest transactions alone for {seconds:.0f} s")
    alone = under_abuse([], block_gaps(node, emitter, seconds))
    _emit_blocks(reporter, "blocks/alone", alone)
    loads = hostile_loads(node, burner)
    progress(f"abuse: the same under {', '.join(load.name for load in loads)}")
    abused = under_abuse(loads, block_gaps(node, emitter, seconds))
    _emit_blocks(
        reporter,
        "blocks/max_gap_ms",
        abused,
        peer=alone.max_gap_ms,
        target=TARGET_MAX_GAP_MS,
        ok=abused.max_gap_ms <= TARGET_MAX_GAP_MS,
    )
    for load in loads:
        sent = getattr(load, "sent", None)
        if sent is not None:
            reporter.emit(f"hostile/{load.name}", "requests", sent, "requests")


def _emit_blocks(reporter: Reporter, case: str, r: GapReport, **extra: object) -> None:
    reporter.emit(case, "max_gap_ms", r.max_gap_ms, "ms", **extra)
    reporter.emit(case, "blocks", r.blocks, "blocks")
    reporter.emit(case, "txs", r.acknowledged, "txs", included=r.included)
    reporter.emit(case, "load_avg_1m", round(os.getloadavg()[0], 2), "load")


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    seconds = 5.0 if args.quick else 20.0
    with running_node(DEV_KEYS[:4], block_time_ms=None, blockTimeMs=250) as node:
        node_half(reporter, node, seconds)
