"""Abuse benchmark: hostile load must not slow honest work (issue #13).

One ledger node (``alliance node start``, default limits, 250 ms block time) on 127.0.0.1.
The honest work runs twice in the same run: alone (the peer), then while every load of
``hostile_loads`` runs from another loopback address (127.0.0.2, see tests/support/abuse.py).

The node half:
* ``blocks/alone``       max_gap_ms: longest gap between blocks while honest transactions wait
* ``blocks/max_gap_ms``  max_gap_ms: the same under abuse (target <= 1,000 ms; ``peer`` = alone)
* ``blocks/*``           blocks, txs (honest transactions acknowledged), load_avg_1m
* ``hostile/<load>``     requests: what each hostile load sent during the abuse phase
Hostile loads: eth_call loops (gas-burning calls at the node's default cap), huge batches
(10,000 calls, then full 1,000-call batches), a stalled subscriber (newHeads and logs, never
reads), nonce floods (batches of transactions with nonces far ahead).

The API half: the ``api`` suite's fetch workload (64 clients, closed loop, 64 KiB sealed
records, each fetch checked against consent and logged on chain) on its own node (20 ms
blocks, default limits) and API:
* ``fetch/alone``        req_per_s: the peer
* ``fetch/under_abuse``  req_per_s: while every node load above runs against the API's node and
  nonce spam and anonymous consent spam run against the API (``tests/support/api_abuse.py``)
* ``fetch/ratio``        under abuse over alone (target >= 0.7)
* ``hostile/consent_spam`` relayed: consents relayed for unattested addresses (must be 0)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from coincurve import PrivateKey

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_api import RECORD_BYTES, closed_loop, fetch_rig  # noqa: E402
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
from tests.support.api_abuse import ConsentSpam, NonceSpam  # noqa: E402
from tests.support.ledger import DEV_CHAIN_ID, DEV_KEYS, NodeProcess, running_node  # noqa: E402

T = TypeVar("T")
TARGET_MAX_GAP_MS = 1_000
TARGET_FETCH_RATIO = 0.7
LOGS_PER_TX = 20  # honest transactions log, so the stalled subscriber has plenty to refuse


def hostile_loads(node: NodeProcess, burner: str) -> list[Load]:
    """Every hostile load against the node, fresh (each may run once)."""
    flooder = PrivateKey(bytes.fromhex(node.member_keys[3][2:]))
    loads: list[Load] = [
        CallFlood(node.url, burner, threads=3, batch=4),
        HugeBatches(node.url, burner),
        StalledSubscriber(node.url, subscriptions=32),
        NonceFlood(node.url, flooder, DEV_CHAIN_ID),
    ]
    return with_own_sources(loads)


def with_own_sources(loads: list[Load], first: int = 2) -> list[Load]:
    """Each load from its own loopback address (127.0.0.2, .3, ...): the node rations and
    shares time per client address, so one address for all would measure one client."""
    for n, load in enumerate(loads, start=first):
        load.source = f"127.0.0.{n}"  # type: ignore[attr-defined]
    return loads


def under_abuse(loads: Sequence[Load], work: Callable[[], T]) -> T:
    """Run ``work`` while every load in ``loads`` runs (none: the peer measurement).

    The loads run in a child process: in this one their threads would take the GIL from
    the honest load generator, and the benchmark would measure itself."""
    if not loads:
        return work()
    ctx = multiprocessing.get_context("fork")
    stop, counts = ctx.Event(), ctx.SimpleQueue()
    child = ctx.Process(target=_run_loads, args=(loads, stop, counts), daemon=True)
    child.start()
    try:
        time.sleep(1.0)  # let the loads reach their targets before measuring
        return work()
    finally:
        stop.set()
        child.join(30)
        if child.is_alive():
            child.kill()
        elif not counts.empty():
            for load, tally in zip(loads, counts.get(), strict=True):
                for name, value in tally.items():
                    setattr(load, name, value)


COUNTS = ("sent", "refused", "relayed")


def _run_loads(loads: Sequence[Load], stop: Any, counts: Any) -> None:
    with contextlib.ExitStack() as stack:
        for load in loads:
            stack.enter_context(load)
        stop.wait()
    counts.put([{n: getattr(load, n) for n in COUNTS if hasattr(load, n)} for load in loads])


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
    _emit_sent(reporter, loads)


def _emit_blocks(reporter: Reporter, case: str, r: GapReport, **extra: object) -> None:
    reporter.emit(case, "max_gap_ms", r.max_gap_ms, "ms", **extra)
    reporter.emit(case, "blocks", r.blocks, "blocks")
    reporter.emit(case, "txs", r.acknowledged, "txs", included=r.included)
    reporter.emit(case, "load_avg_1m", round(os.getloadavg()[0], 2), "load")


def api_half(reporter: Reporter, seconds: float) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-abuse-") as tmp,
        running_node(list(DEV_KEYS[:5]), block_time_ms=20) as node,
    ):
        assert node.proc is not None
        with fetch_rig(node.url, node.proc.pid, Path(tmp)) as rig:
            owner = PrivateKey(bytes.fromhex(node.member_keys[1][2:]))
            burner = deploy(node.url, owner, KECCAK_BURNER, DEV_CHAIN_ID)

            def work() -> float:
                token = rig.doctor.token
                return asyncio.run(closed_loop(rig.url, token, rig.fetch, seconds, RECORD_BYTES))

            progress(f"abuse: fetch alone for {seconds:.0f} s")
            alone = under_abuse([], work)
            reporter.emit("fetch/alone", "req_per_s", round(alone, 1), "req/s")
            spam = ConsentSpam(rig.url, grantee=rig.alliance.address("h1"))
            node_loads = hostile_loads(node, burner)
            api_loads = with_own_sources([NonceSpam(rig.url), spam], first=2 + len(node_loads))
            loads = [*node_loads, *api_loads]
            progress(f"abuse: fetch under {', '.join(load.name for load in loads)}")
            abused = under_abuse(loads, work)
            reporter.emit("fetch/under_abuse", "req_per_s", round(abused, 1), "req/s")
            ratio = round(abused / alone, 3)
            reporter.emit(
                "fetch/ratio",
                "ratio",
                ratio,
                "x",
                peer="fetch/alone",
                target=TARGET_FETCH_RATIO,
                ok=ratio >= TARGET_FETCH_RATIO,
            )
            _emit_sent(reporter, loads)
            reporter.emit("hostile/consent_spam", "relayed", spam.relayed, "consents")


def _emit_sent(reporter: Reporter, loads: Sequence[Load]) -> None:
    for load in loads:
        sent = getattr(load, "sent", None)
        if sent is not None:
            reporter.emit(f"hostile/{load.name}", "requests", sent, "requests")


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    seconds = 5.0 if args.quick else 20.0
    with running_node(DEV_KEYS[:4], block_time_ms=None, blockTimeMs=250) as node:
        node_half(reporter, node, seconds)
    api_half(reporter, seconds)
