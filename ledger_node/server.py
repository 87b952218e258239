"""HTTP JSON-RPC server (aiohttp), the block producer loop and the Prometheus endpoint.

Everything runs on one asyncio thread, so the chain needs no locks. Calls never run in the
request handlers: they go through the node's ``CallQueue`` (calls.py), whose one worker runs
them a unit at a time and hands the loop back between slices, so the producer waits for at
most one call. Admitted transactions are committed to SQLite before the HTTP response
carrying their hashes is sent (``Chain.flush``). ``limits.py`` holds the per-client limits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Generator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ledger_node.backup import SNAPSHOT_ROUTE, SnapshotRoute
from ledger_node.calls import CallQueue, Steps
from ledger_node.chain import Chain
from ledger_node.clients import PerClient, client_of
from ledger_node.limits import RpcLimits
from ledger_node.rpc import Methods, RpcError
from ledger_node.subscriptions import Subscriptions

# A block is cut as soon as this many transactions wait (or when the block time has passed
# since the last one), like an ordering service's batch size and batch timeout: under load
# blocks stay small, so replicas re-execute one while the next is built (see network README).
DEFAULT_CUT_TXS = 500
log = logging.getLogger("ledger_node")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.head = Gauge("alliance_head_height", "Number of the latest block", registry=r)
        self.txs = Counter("alliance_transactions", "Transactions included in blocks", registry=r)
        self.tps = Gauge(
            "alliance_tx_per_second", "Transactions per second over the last 10 s", registry=r
        )
        self.pool = Gauge(
            "alliance_pending_pool_size", "Admitted transactions not yet in a block", registry=r
        )
        self.block_time = Histogram(
            "alliance_block_production_seconds",
            "Time to execute, seal and store a block",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
        )
        self.requests = Counter("alliance_rpc_requests", "JSON-RPC calls served", registry=r)
        self._recent: list[tuple[float, int]] = []

    def block(self, height: int, ntx: int, seconds: float) -> None:
        now = time.monotonic()
        self.head.set(height)
        self.txs.inc(ntx)
        self.block_time.observe(seconds)
        self._recent = [(t, n) for t, n in self._recent if now - t < 10] + [(now, ntx)]
        self.tps.set(sum(n for _, n in self._recent) / 10.0)


def _error(id_: Any, code: int, message: str, data: str | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": RpcError(code, message, data).to_json()}


def too_big(doc: Any, limits: RpcLimits) -> dict[str, Any] | None:
    """The one error for an empty or oversized batch (then nothing in it runs), else None."""
    if not isinstance(doc, list):
        return None
    if not doc:
        return _error(None, -32600, "Invalid request: empty batch")
    if len(doc) > limits.max_batch:
        return _error(
            None,
            -32600,
            f"Invalid request: batch of {len(doc)} calls, this node takes at most "
            f"{limits.max_batch} per batch",
        )
    return None


class Node:
    def __init__(
        self,
        chain: Chain,
        block_time_ms: int | None = None,
        cut_txs: int | None = None,
        limits: RpcLimits | None = None,
    ) -> None:
        self.chain = chain
        self.limits = limits or RpcLimits.resolve(
            chain.genesis.rpc_limits, {}, chain.genesis.block_gas_limit
        )
        self.methods = Methods(chain, self.limits)
        self.calls = CallQueue(self.dispatch_steps, self.limits.long_call_percent)
        self.clients = PerClient(self.limits.max_connections_per_client)
        self.metrics = Metrics()
        self.block_time = (
            block_time_ms if block_time_ms is not None else chain.genesis.block_time_ms
        ) / 1000
        if cut_txs is not None and cut_txs < 1:
            raise ValueError("cut_txs must be >= 1")
        self.cut_txs = min(cut_txs or DEFAULT_CUT_TXS, chain.genesis.max_block_txs)
        self._wake = asyncio.Event()
        self._flush_failures = 0
        self._last_block = 0.0
        self._producer: asyncio.Task[None] | None = None
        self._counted = chain.tx_count
        self.subscriptions = Subscriptions(self)
        self.metrics.head.set(chain.head.number)

    # -- JSON-RPC ----------------------------------------------------------------------
    def dispatch_steps(self, req: Any) -> Steps:
        """Answer one call; a method that returns a generator (eth_estimateGas) pauses
        between its executions, so the call queue can run other work in between."""
        if not isinstance(req, dict):
            return _error(None, -32600, "Invalid request")
        id_ = req.get("id")
        if isinstance(id_, (dict, list)):
            id_ = None
        method, params = req.get("method"), req.get("params", [])
        if not isinstance(method, str) or req.get("jsonrpc", "2.0") != "2.0":
            return _error(id_, -32600, "Invalid request")
        if params is None:
            params = []
        if not isinstance(params, list):
            return _error(id_, -32602, "params must be an array")
        fn = self.methods.table.get(method)
        if fn is None:
            return _error(id_, -32601, "Method not found")
        self.metrics.requests.inc()
        try:
            result = fn(*params)
            if isinstance(result, Generator):
                result = yield from result
            if self.chain.pool:
                self._wake.set()  # a batch of transactions need not finish to fill a block
            return {"jsonrpc": "2.0", "id": id_, "result": result}
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": id_, "error": exc.to_json()}
        except TypeError as exc:
            return _error(id_, -32602, f"invalid params: {exc}")
        except (ValueError, KeyError) as exc:
            return _error(id_, -32602, f"invalid params: {exc}")
        except Exception:
            log.exception("internal error in %s", method)
            return _error(id_, -32603, "Internal error")

    def parse(self, body: bytes, client: str) -> tuple[Any, dict[str, Any] | None]:
        """(request document, None), or (None, the parse error to answer), the parsing
        charged to ``client``: a 5 MiB batch takes tens of ms, the client's time, not ours."""
        cpu = time.thread_time()
        try:
            return json.loads(body), None
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, _error(None, -32700, "Parse error")
        finally:
            self.calls.charge(client, time.thread_time() - cpu)

    def encode(self, out: Any, client: str) -> web.Response:
        """The JSON answer, its encoding charged to ``client``."""
        cpu = time.thread_time()
        text = json.dumps(out)
        self.calls.charge(client, time.thread_time() - cpu)
        return web.Response(text=text, content_type="application/json")

    async def handle(self, request: web.Request) -> web.Response:
        client = client_of(request)
        doc, error = self.parse(await request.read(), client)
        if error is not None:
            return web.json_response(error)
        return self.encode(await self.respond(doc, client), client)

    async def respond(self, doc: Any, client: str) -> Any:
        """Answer a parsed request or batch (HTTP and WebSocket share this)."""
        refused = too_big(doc, self.limits)
        if refused is not None:
            return refused
        failures = self._flush_failures
        outs = await self.calls.run(doc if isinstance(doc, list) else [doc], client)
        out: Any = outs if isinstance(doc, list) else outs[0]
        try:
            self.chain.flush()  # durable before the hashes leave this process
        except Exception:
            log.exception("could not commit admitted transactions")
            self._flush_failures += 1
            raise
        # Jobs interleave in the call queue: a commit that failed while this one ran may
        # have rolled back its transactions too, so it must not acknowledge them either.
        if self._flush_failures != failures:
            raise RuntimeError("a commit of admitted transactions failed meanwhile")
        if self.chain.pool:
            self._wake.set()
        self.metrics.pool.set(len(self.chain.pool))
        return out

    async def handle_metrics(self, request: web.Request) -> web.Response:
        self.metrics.pool.set(len(self.chain.pool))
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": "text/plain; version=0.0.4"},
        )

    # -- block production ------------------------------------------------------------------
    def block_wait(self) -> float:
        """Seconds before the next block is due: none once ``cut_txs`` transactions wait,
        else the rest of the block time since the last block."""
        if len(self.chain.pool) >= self.cut_txs:
            return 0.0
        return max(0.0, self._last_block + self.block_time - time.monotonic())

    async def produce_forever(self) -> None:
        while True:
            await self._wake.wait()
            wait = self.block_wait()
            if wait > 0:
                await asyncio.sleep(wait)
            started = time.perf_counter()
            try:
                header = self.chain.produce_block()
            except Exception:
                log.exception("block production failed")
                await asyncio.sleep(1)
                continue
            self._last_block = time.monotonic()
            if header is not None:
                ntx, self._counted = self.chain.tx_count - self._counted, self.chain.tx_count
                self.metrics.block(header.number, ntx, time.perf_counter() - started)
                try:
                    self.subscriptions.publish(header)  # queues only: never waits on a socket
                except Exception:
                    log.exception("could not notify subscribers")
            if not self.chain.pool:
                self._wake.clear()
            self.metrics.pool.set(len(self.chain.pool))
            await asyncio.sleep(0)

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.limits.max_body_bytes, middlewares=[self.clients.middleware]
        )
        app.router.add_post("/", self.handle)
        app.router.add_get("/", self.subscriptions.handle)
        app.router.add_get("/metrics", self.handle_metrics)
        # A joining node's copy of the chain (`alliance network join`), checked on arrival.
        app.router.add_get(SNAPSHOT_ROUTE, SnapshotRoute(self.chain.store.path.parent).handle)

        async def start_producer(_: web.Application) -> None:
            self._producer = asyncio.create_task(self.produce_forever())
            if self.chain.pool:
                self._wake.set()

        async def stop_producer(_: web.Application) -> None:
            if self._producer is not None:
                self._producer.cancel()
            self.calls.stop()
            self.chain.close()

        app.on_startup.append(start_producer)
        app.on_cleanup.append(stop_producer)
        return app


async def serve(node: Node, host: str, port: int, ready: Any = None) -> None:
    runner = web.AppRunner(node.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    if ready is not None:
        ready(bound)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
