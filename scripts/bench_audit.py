"""Audit verification throughput: re-executing a chain from a node's data directory
(``alliance audit verify --data-dir``) against re-executing the same chain fetched over
JSON-RPC (``--rpc --genesis``), and the console's RPC link-and-seal check, on the project's
ledger node carrying N signed transactions (plain transfers between members, sent 50 at a
time so that blocks hold a few dozen each, as an alliance's blocks do).

Also ``dashboard/100k``: the supervision dashboard's monthly figures (twelve months, every
member) over an index of 100,000 accesses, 10,000 referrals, 10,000 consultations and
20,000 records planted straight into a SQLite index DB (no chain).

    python scripts/bench.py audit [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from coincurve import PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_ledger import NODE_CHAIN_ID, Rpc, address_of, send_all, sign_tx, start_node
from benchlib import Reporter, median_ms, progress

from ledger_node.datadir import DB_FILE
from ledger_node.store import Store
from ledger_node.txcodec import keccak
from sharing_api.audit import supervision
from sharing_api.audit.rpc_verify import http_request, verify_links_rpc, verify_rpc
from sharing_api.audit.verify import verify_chain
from sharing_api.index.db import IndexDB
from tests.support.index_rows import member_addresses, plant

PER_BLOCK = 50


def timed(fn: object, repeat: int) -> tuple[float, object]:
    samples, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), out


def dashboard(reporter: Reporter, quick: bool) -> None:
    """The supervision figures for a year over 100k accesses and 10k referrals."""
    accesses_n, referrals_n = (10_000, 1_000) if quick else (100_000, 10_000)
    months = supervision.Months.between("2026-01", "2026-12")
    members = member_addresses(10)
    shape: list[int | None] = [3, 2, 2, 1, 1, 1, 1, 1, 1, None]  # tertiary .. regulator
    tiers = dict(zip(members, shape, strict=True))
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        db = IndexDB(f"sqlite:///{Path(tmp) / 'index.sqlite3'}")
        try:
            progress(f"planting {accesses_n} accesses, {referrals_n} referrals and consultations")
            plant(
                db,
                members=members,
                accesses_n=accesses_n,
                referrals_n=referrals_n,
                records_n=accesses_n // 5,
                consultations_n=referrals_n,
                start=months.starts[0],
                end=months.starts[-1],
            )
            progress("timing the dashboard's monthly figures")
            ms = median_ms(lambda: supervision.figures(db, months, tiers), 3 if quick else 7)
        finally:
            db.close()
    case = "dashboard/10k" if quick else "dashboard/100k"
    reporter.emit(case, "monthly figures (12 months, sqlite)", ms, "ms", target_ms=500)


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    dashboard(reporter, args.quick)
    n = 500 if args.quick else 5000
    repeat = 1 if args.quick else 3
    members = [PrivateKey(keccak(f"bench-audit-{i}".encode())) for i in range(4)]
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp_s:
        tmp = Path(tmp_s)
        node = start_node(tmp, members)
        try:
            rpc = Rpc(node.url)
            to = address_of(members[1])
            raws = [
                sign_tx(members[i % 4], NODE_CHAIN_ID, i // 4, to, b"", 21_000) for i in range(n)
            ]
            progress(f"sending {n} transfers, {PER_BLOCK} at a time (about one block each)")
            for i in range(0, n, PER_BLOCK):
                send_all(rpc, raws[i : i + PER_BLOCK], relayers=4)
            store = Store(tmp / "node" / DB_FILE)
            try:
                genesis = tmp / "genesis.json"
                genesis.write_bytes(store.get_meta("genesis") or b"")
            finally:
                store.close()
            request = http_request(node.url)
            progress("verifying from the data directory")
            disk_s, disk = timed(lambda: verify_chain(tmp / "node"), repeat)
            progress("verifying over JSON-RPC")
            rpc_s, remote = timed(lambda: verify_rpc(request, genesis), repeat)
            progress("checking links and seals over JSON-RPC")
            links_s, links = timed(lambda: verify_links_rpc(request), repeat)
        finally:
            node.stop()
    blocks, txs = disk.blocks, disk.transactions  # type: ignore[attr-defined]
    assert remote.transactions >= txs  # type: ignore[attr-defined]
    case = f"{txs}tx-{blocks}blocks"
    reporter.emit(case, "data-dir re-execution", round(txs / disk_s), "tx/s")
    reporter.emit(case, "rpc re-execution", round(txs / rpc_s), "tx/s")
    reporter.emit(case, "rpc/data-dir time", round(rpc_s / disk_s, 2), "ratio")
    reporter.emit(case, "rpc links+seals", round((links.last + 1) / links_s), "blocks/s")  # type: ignore[attr-defined]
