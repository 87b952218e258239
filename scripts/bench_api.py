"""API benchmark: 64 KB records served with consent checks and on-chain access logging.

Set-up: the project's ledger node, the alliance contracts, and the API under uvicorn in its own
process (``alliance gateway serve``); a patient consents to the tertiary hospital, a clinic uploads
records, and the hospital's doctor fetches them. Every fetch is checked against the consent
on chain and logged in the AccessLog (mined) before a byte is served.

Cases:
- ``fetch/rps``: closed loop, 64 concurrent clients (``req_per_s``).
- ``fetch/p50``, ``fetch/p99``: open loop at a steady 100 requests/s for 30 s (``ms``),
  latency measured from each request's scheduled start (no coordinated omission).
- ``metadata/rps``: the peer, same closed loop on ``GET /records/{id}`` (index read, no chain
  write); ``fetch/ratio`` is fetch/metadata throughput in the same run.
- ``fetch/cpu-api``, ``fetch/cpu-node``: CPU milliseconds per fetch of the API process and of
  the ledger node during the closed loop; ``machine/load1``: the 1-minute load average
  before and after (the machine is shared: compare runs made in the same window).
The load generator, the API and the ledger node share this machine's cores.

Where a fetch's API CPU went (py-spy, closed loop; tests/api cover each change): before,
4.5-7.3 ms (10-20 s closed loops, same windows as the after figures): the consent eth_call
through httpx (~0.8 ms), the indexer following every AccessLogged through web3 with a
select+insert per access (~1 ms), the batcher (one signed logAccess per access,
eth_blockNumber polled every 5 ms through httpx: ~0.5 ms), FastAPI + JWT (~0.9 ms), the
index lookup (~0.2 ms), storage (~0.2 ms) and 64 threads contending for the GIL. After,
~2.0-2.5 ms: one logAccessBatch per batch window, heads and logs pushed over a WebSocket,
raw JSON-RPC over http.client, bulk index writes, cached immutable record fields, an async
route with one worker-thread hop. Node CPU per fetch fell from ~1.1-1.3 ms to ~0.7-0.9 ms
(one transaction per batch). The largest remaining single cost is the JWT check (~0.35 ms,
PyJWT's HMAC key checks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchlib import Reporter, progress, scheduled_latencies  # noqa: E402

from ledger_node.network.procs import stop_group  # noqa: E402
from sharing_api.sdk import SharingClient  # noqa: E402
from tests.support.api import deploy_test_alliance, free_port  # noqa: E402
from tests.support.ledger import DEV_KEYS, running_node  # noqa: E402

RECORD_BYTES = 64 * 1024
RECORDS = 16
CLIENTS = 64


def start_api(config: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "sharing_api.cli",
        "gateway",
        "serve",
        "--insecure-http",
        "--config",
        str(config),
        "--port",
        str(port),
    ]
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would stall the API
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True, cwd=REPO
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"API exited: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    stop(proc)
    raise TimeoutError("API did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    stop_group(proc)


def _session(url: str, token: str, connections: int) -> aiohttp.ClientSession:
    # aiohttp, not httpx: on this 2-core machine the load generator shares the CPU with the
    # API and the node, and aiohttp spends several times less CPU per request.
    return aiohttp.ClientSession(
        base_url=url,
        connector=aiohttp.TCPConnector(limit=connections),
        headers={"Authorization": f"Bearer {token}"},
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def _get(http: aiohttp.ClientSession, path: str, size: int | None) -> None:
    async with http.get(path) as r:
        body = await r.read()
        if r.status != 200 or (size is not None and len(body) != size):
            raise RuntimeError(f"{r.status}: {body[:200]!r}")


async def closed_loop(
    url: str, token: str, paths: list[str], seconds: float, size: int | None
) -> float:
    ok = 0
    stop_at = time.perf_counter() + seconds
    async with _session(url, token, CLIENTS) as http:

        async def worker(i: int) -> None:
            nonlocal ok
            n = i
            while time.perf_counter() < stop_at:
                await _get(http, paths[n % len(paths)], size)
                n += 1
                ok += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CLIENTS)))
        elapsed = time.perf_counter() - start
    return ok / elapsed


async def open_loop(
    url: str, token: str, paths: list[str], rate: float, seconds: float
) -> list[float]:
    async with _session(url, token, 1024) as http:
        return await scheduled_latencies(
            lambda i: _get(http, paths[i % len(paths)], RECORD_BYTES), rate, seconds
        )


def _cpu(*pids: int) -> _Cpu:
    """CPU seconds used so far by this process (the load generator) and by ``pids``."""
    import resource

    import psutil

    own = resource.getrusage(resource.RUSAGE_SELF)
    used = [own.ru_utime + own.ru_stime]
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        used.append(t.user + t.system)
    return _Cpu(used)


class _Cpu(list[float]):
    def __sub__(self, other: Any) -> list[float]:
        return [round(a - b, 2) for a, b in zip(self, other, strict=True)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    reporter.emit("machine/load1", "load", os.getloadavg()[0], "load", when="start")
    try:
        _run(reporter, args)
    finally:
        reporter.emit("machine/load1", "load", os.getloadavg()[0], "load", when="end")


@dataclass
class FetchRig:
    """A running API with RECORDS sealed records, a doctor allowed to fetch them by consent."""

    url: str
    api: subprocess.Popen[bytes]
    node_pid: int
    alliance: Any
    clients: list[SharingClient]
    doctor: SharingClient
    fetch: list[str]  # /records/{id}/content paths
    meta: list[str]  # /records/{id} paths


@contextlib.contextmanager
def fetch_rig(node_url: str, node_pid: int, tmp: Path) -> Iterator[FetchRig]:
    """Deploy the test alliance on ``node_url``, start its API, prepare the fetch workload."""
    alliance = deploy_test_alliance(tmp / "alliance", node_url, DEV_KEYS[0])
    settings = alliance.settings(index_poll_s=1.0)
    config = tmp / "api.json"
    config.write_text(settings.model_dump_json())
    port = free_port()
    api_log = Path(os.environ.get("BENCH_API_LOG", tmp / "api.log"))
    api = start_api(config, port, api_log)
    try:
        url = f"http://127.0.0.1:{port}"
        progress(f"API at {url}; preparing {RECORDS} records of {RECORD_BYTES} bytes")
        from eth_account import Account

        patient = Account.create()
        h1, clinic, pat = SharingClient(url), SharingClient(url), SharingClient(url)
        h1.login(alliance.keys["h1"])
        clinic.login(alliance.keys["clinic"])
        clinic.attest_patient(patient.address)  # consents need a verified patient
        pat.login(patient.key)
        pat.grant_consent(
            patient.key,
            grantee=alliance.address("h1"),
            categories=["lab"],
            purposes=["treatment"],
        )
        # Sealed containers (the API refuses anything else) of exactly RECORD_BYTES:
        # header and one chunk's framing, measured on an empty record, plus payload.
        params = [clinic.authority_params("c1")]
        overhead = len(clinic.seal(b"", "c1.role:doctor", params))
        sealed = [
            clinic.seal(os.urandom(RECORD_BYTES - overhead), "c1.role:doctor", params)
            for _ in range(RECORDS)
        ]
        if {len(c) for c in sealed} != {RECORD_BYTES}:
            raise RuntimeError(f"sealed sizes {sorted({len(c) for c in sealed})}")
        ids = [
            clinic.upload(patient.address, "lab", "c1.role:doctor", c)["record_id"] for c in sealed
        ]
        doctor = h1.staff_client("dr-bench", "doctor")
        rig = FetchRig(
            url=url,
            api=api,
            node_pid=node_pid,
            alliance=alliance,
            clients=[h1, clinic, pat, doctor],
            doctor=doctor,
            fetch=[f"/records/{i}/content" for i in ids],
            meta=[f"/records/{i}" for i in ids],
        )
        yield rig
        for c in rig.clients:
            c.close()
    finally:
        stop(api)


def _run(reporter: Reporter, args: argparse.Namespace) -> None:
    closed_s = 5.0 if args.quick else 20.0
    open_s = 5.0 if args.quick else 30.0
    with (
        tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_s,
        running_node(member_keys=list(DEV_KEYS[:5]), block_time_ms=20) as node,
    ):
        assert node.proc is not None
        with fetch_rig(node.url, node.proc.pid, Path(tmp_s)) as rig:
            url, api, node_pid, alliance = rig.url, rig.api, rig.node_pid, rig.alliance
            doctor, fetch, meta = rig.doctor, rig.fetch, rig.meta
            progress(f"closed loop, {CLIENTS} clients, {closed_s:.0f} s: metadata (peer)")
            cpu = _cpu(api.pid, node_pid)
            meta_rps = asyncio.run(closed_loop(url, doctor.token, meta, closed_s, None))
            progress(f"  cpu seconds (loadgen, api, node): {_cpu(api.pid, node_pid) - cpu}")
            reporter.emit("metadata/rps", "req_per_s", round(meta_rps, 1), "req/s", clients=CLIENTS)
            progress(f"closed loop, {CLIENTS} clients, {closed_s:.0f} s: fetch")
            cpu = _cpu(api.pid, node_pid)
            started = time.perf_counter()
            rps = asyncio.run(closed_loop(url, doctor.token, fetch, closed_s, RECORD_BYTES))
            fetches = rps * (time.perf_counter() - started)
            used = _cpu(api.pid, node_pid) - cpu
            progress(f"  cpu seconds (loadgen, api, node): {used}")
            for name, seconds in (("api", used[1]), ("node", used[2])):
                reporter.emit(
                    f"fetch/cpu-{name}",
                    "ms_per_req",
                    round(seconds * 1000 / max(fetches, 1), 2),
                    "ms",
                    clients=CLIENTS,
                )
            reporter.emit(
                "fetch/rps",
                "req_per_s",
                round(rps, 1),
                "req/s",
                clients=CLIENTS,
                bytes=RECORD_BYTES,
                target=300,
            )
            reporter.emit(
                "fetch/ratio", "ratio", round(rps / meta_rps, 3), "x", peer="metadata/rps"
            )
            progress(f"open loop, 100 req/s for {open_s:.0f} s: fetch")
            lat = asyncio.run(open_loop(url, doctor.token, fetch, 100.0, open_s))
            reporter.emit(
                "fetch/p50", "ms", round(statistics.median(lat), 1), "ms", n=len(lat), rate=100
            )
            reporter.emit(
                "fetch/p99",
                "ms",
                round(percentile(lat, 0.99), 1),
                "ms",
                n=len(lat),
                rate=100,
                target=150,
            )
            regulator = SharingClient(url)
            regulator.login(alliance.keys["regulator"])
            summary = regulator.json("GET", "/audit/summary")
            progress(f"accesses logged on chain: {summary['accesses']}")
            reporter.emit("fetch/logged", "accesses", summary["accesses"], "count")
            regulator.close()
