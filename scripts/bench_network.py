"""Network benchmark: 3 etcd-ordered nodes against a single node, in the same run.

Workload as ``bench_ledger``: patients' EIP-712 consent grants relayed by members with
``ConsentRegistry.grantBySig`` in raw JSON-RPC batches of 500. Six relayers (members) sign
them; the clock stops when every receipt is visible on a node that did not produce the
blocks: that is, ordered by etcd, re-executed and verified.

Two ways of offering the load, each to both systems:

* members' clients (the main cases): three client streams send at the same time, each
  its own two relayers' transactions in nonce order, as each member's staff would send to
  their own member's node. On the network each stream goes to a different node (each
  forwards to the producer through etcd); the single node receives all three streams.
* one client (``serial/``): a single client sends every batch in turn, round robin over
  the three nodes. Every batch then waits for its etcd write before the next one leaves,
  so this measures the forwarding hop's latency more than the network's capacity.

Both systems run side by side and are timed alternately, round after round (3 rounds of
5,000 grants; --quick: 1 of 1,000); tx/s are medians, a ratio is the median of each round's
ratio. Cases: grants/3nodes, grants/1node (tx_per_s), grants/ratio (target >= 0.6), the
same under grants/serial/; commit/p50, commit/p99 (ms, target p99 <= 1000): one grant at a
time, from sending it to one replica until its receipt is visible on another replica;
commit/1node/p50|p99 is the same on the single node (send -> receipt on the same node).
The network runs as ``alliance network up`` makes it: etcd over TLS on client and peer
ports, client certificates required, etcd authentication on with one role per node. So
every network figure is a TLS figure; grants/ratio_tls is grants/ratio under issue #17's
name (target >= 0.5), from the same rounds. To tell TLS's cost from the machine's noise, a
second 3-node network on plain HTTP without auth takes the members' clients load in the same
rounds, next to the TLS one (which of the two goes first alternates by round):
grants/plain/3nodes, grants/plain/ratio (over the single node) and grants/tls_over_plain
(each round's TLS tx/s over its plain tx/s, median).
Then backup/100k, restore/100k and join/100k (``node_recovery.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from coincurve import PrivateKey

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_ledger import NODE_CHAIN_ID, Deployment, Rpc, address_of, send_all, start_node  # noqa: E402
from benchlib import Reporter, progress  # noqa: E402
from node_recovery import run_recovery  # noqa: E402

from ledger_node.network.status import network_status  # noqa: E402
from ledger_node.network.supervisor import LocalNetwork  # noqa: E402
from ledger_node.txcodec import create_address, keccak  # noqa: E402


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


RELAYERS = 6  # members relaying grants: two per client stream
STREAMS = 3
BATCH = 500


def send_round_robin(rpcs: list[Rpc], watch: Rpc, raws: list[bytes]) -> float:
    """One client: batches in turn, round robin over ``rpcs``; tx/s until every receipt
    is on ``watch``."""
    start = time.perf_counter()
    hashes: list[str] = []
    for n, i in enumerate(range(0, len(raws), BATCH)):
        rpc = rpcs[n % len(rpcs)]
        hashes += rpc.batch(
            "eth_sendRawTransaction", [["0x" + r.hex()] for r in raws[i : i + BATCH]]
        )
    return _all_receipts(watch, hashes, hashes[-RELAYERS:], start)


def send_streams(urls: list[str], watch: Rpc, raws: list[bytes]) -> float:
    """``STREAMS`` clients at once, stream k to ``urls[k]``: each sends the transactions of
    its own relayers (``relay_txs`` signs them round robin over the relayers), in order."""
    streams = [
        [r for i, r in enumerate(raws) if (i % RELAYERS) % STREAMS == k] for k in range(STREAMS)
    ]
    clients = [Rpc(url) for url in urls]

    def send(k: int) -> list[str]:
        hashes: list[str] = []
        for i in range(0, len(streams[k]), BATCH):
            hashes += clients[k].batch(
                "eth_sendRawTransaction", [["0x" + r.hex()] for r in streams[k][i : i + BATCH]]
            )
        return hashes

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(STREAMS) as pool:
            parts = list(pool.map(send, range(STREAMS)))
    finally:
        for c in clients:
            c.client.close()
    # each stream's last RELAYERS // STREAMS hashes: the last transaction of each relayer
    lasts = [h for part in parts for h in part[-(RELAYERS // STREAMS) :]]
    return _all_receipts(watch, [h for part in parts for h in part], lasts, start)


def _all_receipts(watch: Rpc, hashes: list[str], lasts: list[str], start: float) -> float:
    # Like bench_ledger.send_all: poll each relayer's last transaction first (light), then
    # fetch every receipt.
    watch.wait_receipts(lasts)
    receipts = watch.wait_receipts(hashes)
    elapsed = time.perf_counter() - start
    if any(r["status"] != "0x1" for r in receipts):
        raise RuntimeError("some grants failed")
    return len(hashes) / elapsed


def _replicas(net: LocalNetwork, rpcs: list[Rpc]) -> list[Rpc]:
    """The nodes that do not produce (receipts there mean: ordered, re-executed, verified)."""
    producer = network_status(net)["producer"]
    return [r for spec, r in zip(net.nodes, rpcs, strict=True) if spec.id != producer]


def commit_latencies(send: Rpc, watch: Rpc, raws: list[bytes]) -> list[float]:
    out = []
    for raw in raws:
        t = time.perf_counter()
        tx_hash = send.call("eth_sendRawTransaction", "0x" + raw.hex())
        while watch.call("eth_getTransactionReceipt", tx_hash) is None:
            time.sleep(0.002)
        out.append((time.perf_counter() - t) * 1000)
    return out


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    n = 1000 if args.quick else 5000
    rounds = 1 if args.quick else 3
    probes = 30 if args.quick else 200
    members = [PrivateKey(keccak(f"bench-member-{i}".encode())) for i in range(RELAYERS)]
    total = 2 * rounds * n + probes
    patients = [PrivateKey(keccak(f"bench-patient-{i}".encode())) for i in range(total)]
    deadline = int(time.time()) + 10**7
    genesis = {
        "chainId": NODE_CHAIN_ID,
        "members": ["0x" + address_of(k).hex() for k in members],
        "allianceRegistry": "0x" + create_address(address_of(members[0]), 0).hex(),
        "blockTimeMs": 250,
        "maxBlockTxs": 5000,
    }
    with tempfile.TemporaryDirectory(prefix="bench-network-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "single").mkdir()
        progress("starting a single node and a 3-node network (3 etcd members, TLS + auth)")
        single = start_node(tmp / "single", members)
        net = LocalNetwork.create(tmp / "net", 3, regulator=False, etcd_size=3, genesis=genesis)
        plain = LocalNetwork.create(tmp / "plain", 3, False, 3, genesis, tls=False)
        try:
            net.up()
            plain.up()
            rpc1 = Rpc(single.url)
            rpcs = [Rpc(spec.url) for spec in net.nodes]
            dep1 = Deployment(rpc1, NODE_CHAIN_ID, members)
            dep3 = Deployment(rpcs[0], NODE_CHAIN_ID, members)
            replicas = _replicas(net, rpcs)
            rpcs_plain = [Rpc(spec.url) for spec in plain.nodes]
            dep_plain = Deployment(rpcs_plain[0], NODE_CHAIN_ID, members)
            watch_plain = _replicas(plain, rpcs_plain)[-1]
            # The machine is shared and noisy: alternate the systems round by round and
            # compare medians (and each round's ratio) measured close together in time.
            tps: dict[str, list[float]] = {
                k: [] for k in ("1", "3", "plain3", "serial1", "serial3")
            }
            for r in range(rounds):
                batch = patients[r * n : (r + 1) * n]
                progress(f"round {r + 1}/{rounds}: signing {n} grants for each system, twice")
                raws1 = dep1.relay_txs(dep1.signed_grants(batch, deadline))
                raws3 = dep3.relay_txs(dep3.signed_grants(batch, deadline))
                raws_plain = dep_plain.relay_txs(dep_plain.signed_grants(batch, deadline))
                tps["1"].append(send_streams([single.url] * STREAMS, rpc1, raws1))
                runs = [
                    ("3", [s.url for s in net.nodes], replicas[-1], raws3),
                    ("plain3", [s.url for s in plain.nodes], watch_plain, raws_plain),
                ]
                for key, urls, watch, raws in runs if r % 2 == 0 else runs[::-1]:
                    tps[key].append(send_streams(urls, watch, raws))
                serial = patients[(rounds + r) * n : (rounds + r + 1) * n]
                raws1 = dep1.relay_txs(dep1.signed_grants(serial, deadline))
                raws3 = dep3.relay_txs(dep3.signed_grants(serial, deadline))
                tps["serial1"].append(send_all(rpc1, raws1, RELAYERS))
                tps["serial3"].append(send_round_robin(rpcs, replicas[-1], raws3))
                progress(
                    f"  members' clients: 1 node {tps['1'][-1]:.0f} tx/s, 3 nodes "
                    f"{tps['3'][-1]:.0f} tx/s (plain {tps['plain3'][-1]:.0f}); one client: "
                    f"1 node {tps['serial1'][-1]:.0f} tx/s, 3 nodes {tps['serial3'][-1]:.0f} tx/s"
                )
            progress(f"commit latency: {probes} grants one at a time")
            probe_set = patients[2 * rounds * n :]
            lat1 = commit_latencies(
                rpc1, rpc1, dep1.relay_txs(dep1.signed_grants(probe_set, deadline))
            )
            lat3 = commit_latencies(
                replicas[0], replicas[-1], dep3.relay_txs(dep3.signed_grants(probe_set, deadline))
            )
        finally:
            net.down()
            plain.down()
            single.stop()
        base = {"n": n, "rounds": rounds, "relayers": RELAYERS}
        for prefix, one, three, clients in (
            ("grants", "1", "3", STREAMS),
            ("grants/serial", "serial1", "serial3", 1),
        ):
            extra = {**base, "clients": clients}
            ratios = [a / b for a, b in zip(tps[three], tps[one], strict=True)]
            med1, med3 = statistics.median(tps[one]), statistics.median(tps[three])
            reporter.emit(f"{prefix}/3nodes", "tx_per_s", round(med3, 1), "tx/s", **extra)
            reporter.emit(f"{prefix}/1node", "tx_per_s", round(med1, 1), "tx/s", **extra)
            reporter.emit(
                f"{prefix}/ratio",
                "ratio",
                round(statistics.median(ratios), 2),
                "x",
                peer="1node",
                **extra,
            )
            if prefix == "grants":  # the same rounds: the network runs TLS and etcd auth
                reporter.emit(
                    "grants/ratio_tls",
                    "ratio",
                    round(statistics.median(ratios), 2),
                    "x",
                    peer="1node",
                    tls=net.tls,
                    auth=net.auth_on,
                    **extra,
                )
        extra = {**base, "clients": STREAMS, "tls": False, "auth": False}
        plain_ratios = [a / b for a, b in zip(tps["plain3"], tps["1"], strict=True)]
        tls_cost = [a / b for a, b in zip(tps["3"], tps["plain3"], strict=True)]
        med_plain = round(statistics.median(tps["plain3"]), 1)
        reporter.emit("grants/plain/3nodes", "tx_per_s", med_plain, "tx/s", **extra)
        ratio_plain = round(statistics.median(plain_ratios), 2)
        reporter.emit("grants/plain/ratio", "ratio", ratio_plain, "x", peer="1node", **extra)
        reporter.emit(
            "grants/tls_over_plain",
            "ratio",
            round(statistics.median(tls_cost), 2),
            "x",
            peer="plain/3nodes",
            **{**base, "clients": STREAMS},
        )
        reporter.emit("commit/p50", "ms", round(statistics.median(lat3), 1), "ms", n=len(lat3))
        reporter.emit("commit/p99", "ms", round(percentile(lat3, 0.99), 1), "ms", n=len(lat3))
        reporter.emit(
            "commit/1node/p50", "ms", round(statistics.median(lat1), 1), "ms", n=len(lat1)
        )
        reporter.emit("commit/1node/p99", "ms", round(percentile(lat1, 0.99), 1), "ms", n=len(lat1))
    run_recovery(reporter, args)  # backup/100k, restore/100k, join/100k: a single node's chain
