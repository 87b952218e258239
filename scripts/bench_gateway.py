"""Gateway benchmark (issue #12): 64 KiB records read across gateways vs on one gateway.

Set-up: the project's ledger node and alliance contracts; two gateways as separate processes
over TLS (``sharing_api/gateway/local.py``), as in ``tests/gateway``: h1 alone, and a cloud
gateway hosting the clinic and h3. The clinic seals and uploads real 64 KiB records on the
cloud gateway; the patient consents to h1 and to h3.

- ``fetch/cross``: h1's doctor asks h1's gateway, which checks the consent, logs the access
  on chain (mined), and fetches the ciphertext from the cloud gateway over pinned TLS with a
  signed request; the cloud gateway checks the signature, membership, the logged access and
  single use before serving.
- ``fetch/same``: the fair peer, the same path minus the hop: h3's doctor asks the cloud
  gateway, which holds the record; same consent check, same on-chain logging, then the
  record leaves from its own store.

Cases: ``fetch/cross`` and ``fetch/same`` (closed loop, 32 clients, ``req_per_s``, run in
alternating rounds so a change of load hits both), ``fetch/ratio`` (cross over same),
``fetch/cross_p99`` and ``fetch/cross_p50`` (open loop at 50 req/s, latency from each
request's scheduled start), ``fetch/same_p50``/``p99`` likewise, CPU ms per fetch of each
gateway, the node and the load generator, and ``machine/load1`` at start and end.
Clients are SDK-like: httpx with the gateway's certificate (``LocalGateway.verify``); httpx
spends ~4 ms of the load generator's CPU per 64 KiB fetch over TLS, on the same 2 cores.

Where a cross fetch's CPU went (py-spy on both gateways; CPU ms per fetch, full runs at load
3-5, 4 Dec 2026): before, reader's gateway 5.5, custodian's 10.2, node 2.5; ratio 0.53,
p99 305 ms. The custodian looked the access up through web3 (eth_getLogs decoded by web3's
formatters, block number and accessCount through web3: ~6 ms); both gateways' indexers had
fallen back to web3's get_logs for every AccessLogged (the JsonRpc-backed provider has no
endpoint_uri); and concurrent first fetches to a peer raced, one closing the pinned client
another was using (500s). After: 4.6 / 2.8 / 2.4; ratio 0.80, p99 104 ms. What is left per
cross fetch (shares of py-spy --gil samples): at the reader's, httpx to the peer (~0.7 ms),
reading and hash-checking the body (~0.45 ms), signing the request (~0.3 ms); at the
custodian's, the EIP-191 recovery (~0.3 ms), two JSON-RPC round trips (block number, logs:
~0.3 ms) and the single-use INSERT (~0.2 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_api import _cpu, percentile  # noqa: E402
from benchlib import Reporter, progress, scheduled_latencies  # noqa: E402

from sharing_api.gateway.local import (  # noqa: E402
    LocalGateway,
    MemberKeys,
    prepare_gateway,
    running_gateway,
)
from sharing_api.sdk import SharingClient  # noqa: E402
from tests.support.api import CLINIC, H1, deploy_test_alliance  # noqa: E402
from tests.support.ledger import DEV_KEYS, running_node  # noqa: E402

RECORD_BYTES = 64 * 1024
RECORDS = 16
CLIENTS = 32
OPEN_RATE = 50.0
POLICY = "h1.role:doctor or c1.role:doctor"
PASSPHRASE = "gateway operator passphrase (bench only)"


@dataclass
class Case:
    name: str
    gateway: LocalGateway
    token: str
    paths: list[str]


def _client(case: Case, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=case.gateway.url,
        verify=case.gateway.verify,
        headers={"Authorization": f"Bearer {case.token}"},
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=60,
    )


async def _get(http: httpx.AsyncClient, path: str) -> None:
    r = await http.get(path)
    if r.status_code != 200 or len(r.content) != RECORD_BYTES:
        raise RuntimeError(f"{path}: {r.status_code}: {r.content[:200]!r}")


async def closed_loop(case: Case, seconds: float, max_requests: int) -> tuple[int, float]:
    """(requests done, seconds taken) with CLIENTS clients, each one request at a time."""
    ok = 0
    stop_at = time.perf_counter() + seconds
    async with _client(case, CLIENTS) as http:

        async def worker(i: int) -> None:
            nonlocal ok
            n = i
            while time.perf_counter() < stop_at and ok < max_requests:
                await _get(http, case.paths[n % len(case.paths)])
                n += 1
                ok += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CLIENTS)))
        return ok, time.perf_counter() - start


async def open_loop(case: Case, rate: float, seconds: float) -> list[float]:
    """Latencies (ms) from each request's scheduled start: no coordinated omission."""
    async with _client(case, 256) as http:
        return await scheduled_latencies(
            lambda i: _get(http, case.paths[i % len(case.paths)]), rate, seconds
        )


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    reporter.emit("machine/load1", "load", os.getloadavg()[0], "load", when="start")
    try:
        _run(reporter, args)
    finally:
        reporter.emit("machine/load1", "load", os.getloadavg()[0], "load", when="end")


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _prepare(root: Path, chain_url: str) -> tuple[Any, LocalGateway, LocalGateway]:
    alliance = deploy_test_alliance(root / "alliance", chain_url, DEV_KEYS[0])
    common: dict[str, Any] = {
        "chain_url": chain_url,
        "deployment_file": alliance.root / "deployment.json",
        "passphrase": PASSPHRASE,
    }
    h1 = prepare_gateway(
        root / "h1", [MemberKeys("h1", alliance.keys["h1"], alliance.authorities[H1])], **common
    )
    cloud = prepare_gateway(
        root / "cloud",
        [
            MemberKeys("clinic", alliance.keys["clinic"], alliance.authorities[CLINIC]),
            MemberKeys("h3", alliance.keys["h3"]),
        ],
        **common,
    )
    return alliance, h1, cloud


def _run(reporter: Reporter, args: argparse.Namespace) -> None:
    closed_s = 4.0 if args.quick else 16.0  # per case, in two alternating rounds
    max_closed = 400 if args.quick else 2_000  # requests per case at most
    open_s = 5.0 if args.quick else 20.0
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp_s:
        tmp = Path(tmp_s)
        with running_node(member_keys=list(DEV_KEYS[:5]), block_time_ms=20) as node:
            alliance, h1_gw, cloud_gw = _prepare(tmp, node.url)
            with running_gateway(h1_gw), running_gateway(cloud_gw):
                assert node.proc and h1_gw.proc and cloud_gw.proc
                pids = {"h1": h1_gw.proc.pid, "cloud": cloud_gw.proc.pid, "node": node.proc.pid}
                progress(f"gateways: h1 {h1_gw.url}, cloud {cloud_gw.url}; node {node.url}")
                try:
                    cases = _records_and_consents(alliance, h1_gw, cloud_gw)
                    _measure(reporter, cases, pids, closed_s, max_closed, open_s)
                except Exception:
                    for gw in (h1_gw, cloud_gw):  # the logs go with the temporary directory
                        progress(f"--- {gw.name} gateway log (tail)\n{_tail(gw.log)}")
                    raise


def _records_and_consents(
    alliance: Any, h1_gw: LocalGateway, cloud_gw: LocalGateway
) -> dict[str, Case]:
    def member(gw: LocalGateway, key: str) -> SharingClient:
        client = SharingClient(gw.url, verify=gw.verify)
        client.login(key)
        return client

    patient = Account.create()
    member(h1_gw, alliance.keys["h1"]).attest_patient(patient.address)  # a verified patient
    wallet = member(h1_gw, patient.key)
    for grantee in ("h1", "h3"):
        wallet.grant_consent(
            patient.key,
            grantee=alliance.address(grantee),
            categories=["lab"],
            purposes=["treatment"],
        )
    clinic = member(cloud_gw, alliance.keys["clinic"])
    params = [clinic.authority_params(a) for a in ("c1", "h1")]
    # Sealed containers of exactly RECORD_BYTES: the framing, measured on an empty record.
    overhead = len(SharingClient.seal(b"", POLICY, params))
    sealed = [
        SharingClient.seal(os.urandom(RECORD_BYTES - overhead), POLICY, params)
        for _ in range(RECORDS)
    ]
    if {len(c) for c in sealed} != {RECORD_BYTES}:
        raise RuntimeError(f"sealed sizes {sorted({len(c) for c in sealed})}")
    ids = [clinic.upload(patient.address, "lab", POLICY, c)["record_id"] for c in sealed]
    paths = [f"/records/{i}/content" for i in ids]
    progress(f"{RECORDS} sealed records of {RECORD_BYTES} bytes held by the cloud gateway")
    h1_doctor = member(h1_gw, alliance.keys["h1"]).staff_client("dr-chen", "doctor")
    h3_doctor = member(cloud_gw, alliance.keys["h3"]).staff_client("dr-wu", "doctor")
    # The records arrive at h1's index through its poller: wait until it knows them all.
    deadline = time.monotonic() + 30
    while len(h1_doctor.json("GET", "/records")) < RECORDS:
        if time.monotonic() > deadline:
            raise TimeoutError("h1's gateway did not index the records")
        time.sleep(0.2)
    return {
        "cross": Case("cross", h1_gw, h1_doctor.token, paths),
        "same": Case("same", cloud_gw, h3_doctor.token, paths),
    }


def _measure(
    reporter: Reporter,
    cases: dict[str, Case],
    pids: dict[str, int],
    closed_s: float,
    max_closed: int,
    open_s: float,
) -> None:
    order = list(pids)
    for case in cases.values():  # warm the pools, caches and the peer's pinned client
        asyncio.run(closed_loop(case, 1.0, 2 * CLIENTS))
    done = {name: 0 for name in cases}
    took = {name: 0.0 for name in cases}
    cpu = {name: [0.0] * (len(order) + 1) for name in cases}
    for round_ in range(2):
        for name, case in cases.items():
            progress(f"closed loop, {CLIENTS} clients, {closed_s / 2:.0f} s: {name} ({round_})")
            before = _cpu(*pids.values())
            n, seconds = asyncio.run(closed_loop(case, closed_s / 2, max_closed // 2))
            used = _cpu(*pids.values()) - before
            done[name] += n
            took[name] += seconds
            cpu[name] = [a + b for a, b in zip(cpu[name], used, strict=True)]
            progress(f"  {n / seconds:.1f} req/s; cpu s (loadgen, {', '.join(order)}): {used}")
    rps = {name: done[name] / took[name] for name in cases}
    for name in cases:
        reporter.emit(
            f"fetch/{name}",
            "req_per_s",
            round(rps[name], 1),
            "req/s",
            clients=CLIENTS,
            bytes=RECORD_BYTES,
            n=done[name],
        )
        for who, seconds in zip(["loadgen", *order], cpu[name], strict=True):
            if name == "same" and who == "h1":
                continue  # h1's gateway takes no part in a read on the cloud gateway
            reporter.emit(
                f"fetch/{name}_cpu-{who}",
                "ms_per_req",
                round(seconds * 1000 / max(done[name], 1), 2),
                "ms",
            )
    reporter.emit(
        "fetch/ratio",
        "ratio",
        round(rps["cross"] / rps["same"], 3),
        "x",
        peer="fetch/same",
        target=0.5,
    )
    for name, case in cases.items():
        progress(f"open loop, {OPEN_RATE:.0f} req/s for {open_s:.0f} s: {name}")
        lat = asyncio.run(open_loop(case, OPEN_RATE, open_s))
        reporter.emit(
            f"fetch/{name}_p50",
            "ms",
            round(statistics.median(lat), 1),
            "ms",
            n=len(lat),
            rate=OPEN_RATE,
        )
        extra: dict[str, Any] = {"target": 250} if name == "cross" else {}
        reporter.emit(
            f"fetch/{name}_p99",
            "ms",
            round(percentile(lat, 0.99), 1),
            "ms",
            n=len(lat),
            rate=OPEN_RATE,
            **extra,
        )
