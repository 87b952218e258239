"""The network suite's recovery cases: ``backup/100k`` and ``restore/100k`` (seconds).

A single node's chain of 100,000 consent grants (``--quick``: 5,000), built as
``bench_ledger`` builds its big chain. ``backup/100k``: ``alliance node backup`` while the
node keeps producing (another batch of grants is sent meanwhile); the snapshot's head is
checked against what the node served. ``restore/100k``: ``alliance node restore`` into an
empty directory, which checks the archive and re-executes the whole chain from genesis
before it moves anything in place; ``restart/100k`` is the same node's restart, for scale.
``join/100k``: ``alliance network join --from <the node>`` (a one-member etcd for it to
follow), from process start to the new node serving the same head: the snapshot is served at
``GET /snapshot``, checked against the genesis (seal chain, the checkpoint state against its
header's commitment, the history against the headers) and the blocks after the checkpoint
re-executed. Medians of 3 (``--quick``: 1).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from bench_ledger import NODE_CHAIN_ID, Deployment, Rpc, send_all, start_node
from benchlib import Reporter, progress
from coincurve import PrivateKey

from ledger_node.backup import backup, restore
from ledger_node.datadir import DB_FILE
from ledger_node.network.procs import EtcdCluster, free_port, stop_group
from ledger_node.store import Store
from ledger_node.txcodec import keccak


def run_recovery(reporter: Reporter, args: argparse.Namespace) -> None:
    big = 5_000 if args.quick else 100_000
    repeat = 1 if args.quick else 3
    members = [PrivateKey(keccak(f"bench-member-{i}".encode())) for i in range(4)]
    patients = [PrivateKey(keccak(f"recovery-patient-{i}".encode())) for i in range(big)]
    during = [PrivateKey(keccak(f"recovery-late-{i}".encode())) for i in range(5_000 * repeat)]
    deadline = int(time.time()) + 10**7
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp_s:
        tmp = Path(tmp_s)
        node = start_node(tmp, members)
        try:
            rpc = Rpc(node.url)
            dep = Deployment(rpc, NODE_CHAIN_ID, members)
            progress(f"building a {big}-grant chain for the recovery cases")
            for i in range(0, big, 10_000):
                chunk = patients[i : i + 10_000]
                send_all(rpc, dep.relay_txs(dep.signed_grants(chunk, deadline)), len(members))
                progress(f"  {i + len(chunk)} grants")
            late = [
                dep.relay_txs(dep.signed_grants(during[i : i + 5_000], deadline))
                for i in range(0, len(during), 5_000)
            ]
            backups, archive = [], tmp / "backup.tar.gz"
            for k in range(repeat):
                sender = threading.Thread(target=send_all, args=(rpc, late[k], len(members)))
                sender.start()  # the node keeps producing while the snapshot is taken
                time.sleep(0.5)
                start = time.perf_counter()
                manifest = backup(node.data_dir, archive)
                backups.append(time.perf_counter() - start)
                served = rpc.call("eth_getBlockByNumber", hex(manifest.head_number), False)
                assert served["hash"] == manifest.head_hash, "the snapshot is not the chain"
                sender.join()
            mb = round(manifest.db_bytes / 2**20, 1)
            reporter.emit(
                "backup/100k", "s", round(statistics.median(backups), 2), "s", n=big, mb=mb
            )
            restores = []
            for k in range(repeat):
                start = time.perf_counter()
                done = restore(archive, tmp / f"restored-{k}")
                restores.append(time.perf_counter() - start)
            reporter.emit(
                "restore/100k",
                "s",
                round(statistics.median(restores), 2),
                "s",
                n=big,
                transactions=done.transactions,
            )
            store = Store(node.data_dir / DB_FILE)
            genesis = tmp / "genesis.json"
            genesis.write_bytes(store.get_meta("genesis") or b"")
            store.close()
            etcd = EtcdCluster(tmp / "etcd", 1)
            etcd.start()
            try:
                joins = [
                    time_join(node.url, genesis, tmp / f"joined{k}", etcd.endpoints)
                    for k in range(repeat)
                ]
            finally:
                etcd.stop()
            reporter.emit("join/100k", "s", round(statistics.median(joins), 2), "s", n=big)
        finally:
            node.stop()


def time_join(peer: str, genesis: Path, data_dir: Path, endpoints: list[str]) -> float:
    """Seconds from starting `alliance network join` to the new node serving ``peer``'s head."""
    head = Rpc(peer).call("eth_getBlockByNumber", "latest", False)["hash"]
    port = free_port()
    cmd = [
        sys.executable, "-m", "sharing_api.cli", "network", "join", "--from", peer,
        "--genesis", str(genesis), "--data-dir", str(data_dir), "--id", data_dir.name,
        "--network", "bench-join", "--etcd", ",".join(endpoints), "--rpc", f"127.0.0.1:{port}",
    ]  # fmt: skip
    log = data_dir.parent / f"{data_dir.name}.log"
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_getBlockByNumber",
        "params": ["latest", False],
    }
    try:
        with httpx.Client(timeout=5) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"join exited: {log.read_text()[-1500:]}")
                try:
                    reply = client.post(f"http://127.0.0.1:{port}", json=body).json()
                    if reply.get("result", {}).get("hash") == head:
                        seconds = time.perf_counter() - start
                        progress(f"  joined in {seconds:.1f} s: {log.read_text().strip()[:300]}")
                        return seconds
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
    finally:
        stop_group(proc)
