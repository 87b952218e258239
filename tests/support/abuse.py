"""Hostile JSON-RPC load against a node on 127.0.0.1, and the block gaps it causes.

Used by ``tests/security`` (one threat per test) and ``scripts/bench_abuse.py``. Every load is
a context manager running in daemon threads (a node that hangs cannot hang the caller), is
bounded by its own ``with`` block, and talks to loopback only. Hostile loads connect from
``HOSTILE_SOURCE`` (127.0.0.2, still loopback), so the node sees them as another client
address than the honest work from 127.0.0.1, as it would a remote attacker.

* ``CallFlood``: threads sending batches of ``eth_call`` that burn all the gas they get;
* ``HugeBatches``: 10,000-call batches, then full batches of cheap calls;
* ``StalledSubscriber``: a WebSocket that subscribes to newHeads and never reads;
* ``NonceFlood``: batches of transactions with nonces far ahead (refused at admission);
* ``BlockGaps``: honest transactions plus a newHeads listener; ``max_gap_ms`` is the longest
  time between blocks while an acknowledged transaction was waiting for one.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import httpx
import rlp
from coincurve import PrivateKey
from websockets.sync.client import connect

from ledger_node.txcodec import create_address, keccak

# Runtime code (hand-assembled; each is short enough to read):
# JUMPDEST PUSH1 32 PUSH1 0 KECCAK256 POP PUSH1 0 JUMP: the slowest gas measured here.
KECCAK_BURNER = bytes.fromhex("5b602060002050600056")
# PUSH1 0 CALLDATALOAD, then n times LOG1(topic 0x2a) (n = the first calldata word).
LOG_EMITTER = bytes.fromhex("6000355b8015601757602a60006000a1600190036003565b00")
LOG_TOPIC = "0x" + "00" * 31 + "2a"
HOSTILE_SOURCE = "127.0.0.2"


class Load(Protocol):
    """A hostile (or honest) load: runs between ``__enter__`` and ``__exit__``."""

    name: str

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def rpc(url: str, method: str, params: list[Any], timeout: float = 30.0) -> Any:
    reply = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=timeout
    ).json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def address_of(key: PrivateKey) -> str:
    return "0x" + keccak(key.public_key.format(compressed=False)[1:])[12:].hex()


def sign_tx(
    key: PrivateKey, chain_id: int, nonce: int, to: bytes | None, data: bytes, gas: int
) -> str:
    """An EIP-1559 transaction (zero fees), signed with coincurve: fast enough for floods."""
    fields = [chain_id, nonce, 0, 0, gas, to or b"", 0, data, []]
    payload = b"\x02" + rlp.encode(fields)
    sig = key.sign_recoverable(keccak(payload), hasher=None)
    r, s, y = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    signed: bytes = rlp.encode([*fields, y, r, s])
    return "0x02" + signed.hex()


def deploy(url: str, key: PrivateKey, runtime: bytes, chain_id: int) -> str:
    """Deploy ``runtime`` (init code = copy it out and return it); its address once mined."""
    n = len(runtime)
    init = bytes([0x60, n, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, n, 0x60, 0x00, 0xF3]) + runtime
    sender = address_of(key)
    nonce = int(rpc(url, "eth_getTransactionCount", [sender, "pending"]), 16)
    tx_hash = rpc(
        url, "eth_sendRawTransaction", [sign_tx(key, chain_id, nonce, None, init, 500_000)]
    )
    wait_receipt(url, tx_hash)
    return "0x" + create_address(bytes.fromhex(sender[2:]), nonce).hex()


def wait_receipt(url: str, tx_hash: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            assert receipt["status"] == "0x1", receipt
            return dict(receipt)
        time.sleep(0.02)
    raise TimeoutError(f"no receipt for {tx_hash} after {timeout} s")


class ThreadLoad:
    """Daemon threads running ``self._loop`` until the ``with`` block ends."""

    name = "load"
    threads = 1
    source = HOSTILE_SOURCE

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.sent = 0
        self._threads: list[threading.Thread] = []

    def _loop(self, client: httpx.Client) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        transport = httpx.HTTPTransport(local_address=self.source)
        with httpx.Client(timeout=120, transport=transport) as client:
            while not self.stop.is_set():
                try:
                    self._loop(client)
                except httpx.HTTPError:
                    time.sleep(0.05)  # refused or dropped: a hostile client just tries again

    def __enter__(self) -> ThreadLoad:
        for _ in range(self.threads):
            t = threading.Thread(target=self._run, daemon=True, name=self.name)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(2)  # a request stuck in a hung node stays behind in its daemon thread


class CallFlood(ThreadLoad):
    """``threads`` clients, each sending batches of ``batch`` gas-burning eth_calls (no gas
    given: the node's default applies) back to back."""

    name = "eth_call_loops"

    def __init__(self, url: str, burner: str, threads: int = 3, batch: int = 4) -> None:
        super().__init__()
        self.url, self.threads = url, threads
        self.body = [
            {"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [{"to": burner}]}
            for i in range(batch)
        ]

    def _loop(self, client: httpx.Client) -> None:
        client.post(self.url, json=self.body)
        self.sent += len(self.body)


class HugeBatches(ThreadLoad):
    """A 10,000-call batch of gas-burning eth_calls, then a full batch of cheap reads."""

    name = "huge_batches"

    def __init__(self, url: str, burner: str, allowed: int = 1_000) -> None:
        super().__init__()
        self.url = url
        call = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"to": burner}]}
        self.huge = [dict(call, id=i) for i in range(10_000)]
        self.full = [
            {"jsonrpc": "2.0", "id": i, "method": "eth_getBalance", "params": [burner, "latest"]}
            for i in range(allowed)
        ]

    def _loop(self, client: httpx.Client) -> None:
        client.post(self.url, json=self.huge)
        client.post(self.url, json=self.full)
        self.sent += len(self.huge) + len(self.full)


class NonceFlood(ThreadLoad):
    """Batches of a member's transactions with nonces far ahead: refused, each after its
    signature is recovered and its sender checked."""

    name = "nonce_floods"

    def __init__(self, url: str, key: PrivateKey, chain_id: int, batch: int = 500) -> None:
        super().__init__()
        self.url = url
        me = bytes.fromhex(address_of(key)[2:])
        self.body = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_sendRawTransaction",
                "params": [sign_tx(key, chain_id, 1_000_000 + i, me, b"", 21_000)],
            }
            for i in range(batch)
        ]

    def _loop(self, client: httpx.Client) -> None:
        client.post(self.url, json=self.body)
        self.sent += len(self.body)


class StalledSubscriber:
    """Connects over WebSocket with a tiny receive buffer, subscribes ``subscriptions``
    times (newHeads and every log, alternately) and never reads again."""

    name = "stalled_subscriber"
    source = HOSTILE_SOURCE

    def __init__(self, url: str, subscriptions: int = 32) -> None:
        self.url, self.subscriptions = url, subscriptions
        self.sock: socket.socket | None = None
        self.accepted = 0

    def __enter__(self) -> StalledSubscriber:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.bind((self.source, 0))
        sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                raise ConnectionError("the node closed the WebSocket handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"WebSocket refused: {status!r}")
        for i in range(self.subscriptions):
            kind = ["newHeads"] if i % 2 else ["logs", {}]
            msg = {"jsonrpc": "2.0", "id": i, "method": "eth_subscribe", "params": kind}
            sock.sendall(_client_frame(json.dumps(msg).encode()))
        self.sock = sock
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sock is not None:
            self.sock.close()


def _client_frame(payload: bytes) -> bytes:
    """One masked text frame, as a client must send (RFC 6455)."""
    n = len(payload)
    head = bytes([0x81]) + (
        bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    )
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@dataclass
class GapReport:
    max_gap_ms: float
    blocks: int
    acknowledged: int
    included: int
    gaps_ms: list[float] = field(default_factory=list)


class BlockGaps:
    """Honest work: a member sends ``per_send`` transactions every ``interval`` s (plain
    transfers, or calls of ``to`` with ``data``); a newHeads subscriber notes when each block
    arrives. ``report()`` (after the ``with`` block) gives the longest time between blocks
    while an acknowledged transaction waited."""

    name = "block_gaps"

    def __init__(
        self,
        url: str,
        key: PrivateKey,
        chain_id: int,
        per_send: int = 5,
        interval: float = 0.05,
        to: str | None = None,
        data: bytes = b"",
    ) -> None:
        self.url, self.key, self.chain_id = url, key, chain_id
        self.to = bytes.fromhex((to or address_of(key))[2:])
        self.data, self.gas = data, 21_000 if to is None else 3_000_000
        self.per_send, self.interval = per_send, interval
        self.stop = threading.Event()
        self.acks: dict[str, float] = {}
        self.arrivals: dict[int, float] = {}
        self.ended = 0.0
        self._threads: list[threading.Thread] = []
        self._listening = threading.Event()

    def _listen(self) -> None:
        with connect(self.url.replace("http", "ws", 1), open_timeout=10) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                "params": ["newHeads"]}))  # fmt: skip
            json.loads(ws.recv(10))
            self._listening.set()
            while not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    note = json.loads(ws.recv(0.2))
                    number = int(note["params"]["result"]["number"], 16)
                    self.arrivals.setdefault(number, time.monotonic())

    def _send(self) -> None:
        me = self.key
        nonce = int(rpc(self.url, "eth_getTransactionCount", [address_of(me), "pending"]), 16)
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                body = [
                    {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                     "params": [sign_tx(me, self.chain_id, nonce + i, self.to, self.data,
                                        self.gas)]}
                    for i in range(self.per_send)
                ]  # fmt: skip
                try:
                    replies = client.post(self.url, json=body).json()
                except httpx.HTTPError:
                    self.stop.wait(self.interval)  # an honest client backs off, not hammers
                    continue
                now = time.monotonic()
                for r in replies if isinstance(replies, list) else []:
                    if "result" in r:
                        self.acks[r["result"]] = now
                        nonce += 1
                self.stop.wait(self.interval)

    def __enter__(self) -> BlockGaps:
        listener = threading.Thread(target=self._listen, daemon=True, name="newHeads")
        listener.start()
        if not self._listening.wait(15):
            raise TimeoutError("could not subscribe to newHeads")
        sender = threading.Thread(target=self._send, daemon=True, name="honest txs")
        sender.start()
        self._threads = [listener, sender]
        return self

    def __exit__(self, *exc: object) -> None:
        self.ended = time.monotonic()
        self.stop.set()
        for t in self._threads:
            t.join(5)

    def report(self) -> GapReport:
        """Which block took each transaction (receipts, read once the load has stopped),
        then for every block: how long since the previous one, counting only time in which
        an acknowledged transaction was waiting."""
        included: dict[str, int] = {}
        hashes = list(self.acks)
        for i in range(0, len(hashes), 500):
            body = [
                {"jsonrpc": "2.0", "id": j, "method": "eth_getTransactionReceipt", "params": [h]}
                for j, h in enumerate(hashes[i : i + 500])
            ]
            for h, r in zip(
                hashes[i : i + 500], httpx.post(self.url, json=body, timeout=60).json(), strict=True
            ):
                if r.get("result"):
                    included[h] = int(r["result"]["blockNumber"], 16)
        arrivals = sorted(self.arrivals.items())
        gaps: list[float] = []
        previous = min(self.acks.values(), default=self.ended)
        for number, at in arrivals:
            # Acknowledged before this block arrived, and still waiting for it (or later).
            waiting = [
                t for h, t in self.acks.items() if t < at and included.get(h, number) >= number
            ]
            if waiting:
                gaps.append((at - max(previous, min(waiting))) * 1000)
            previous = at
        # Waiting when the run ended: not included, or in a block no subscriber saw by then.
        stuck = [t for h, t in self.acks.items() if included.get(h) not in self.arrivals]
        if stuck:
            gaps.append((self.ended - max(previous, min(stuck))) * 1000)
        return GapReport(
            round(max(gaps, default=0.0), 1), len(arrivals), len(self.acks), len(included), gaps
        )
