"""Batched AccessLog writes: the accesses waiting at a moment ride in ONE ``logAccessBatch``
transaction, and each request is released only once the receipt holding its own
AccessLogged event is in (status 1: the ledger accepted it into a block).

Before a request reaches the batcher the route has checked its basis with eth_call, so a
batch is expected to succeed; the contract checks every entry again and reverts the whole
batch if one fails (e.g. a consent revoked in between). Then each entry of that batch is
sent again alone, so only the refused access fails (409) and the others are still logged.

Two threads per hosted member: a sender that signs (coincurve, ``txsign``) and sends a batch
as soon as accesses wait (after a short window that lets concurrent requests join), without
waiting for earlier batches to be mined; and a watcher that asks for the receipts of the
batches in flight at each new block (``newHeads`` pushed over a WebSocket where the node
offers one, else polling every few milliseconds). Nonces come from the member's
``ChainClient`` (``reserve_nonces``), which the member's other transactions (uploads,
referrals) share.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from coincurve import PrivateKey
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from web3 import Web3

from sharing_api.chain.artifacts import load_artifact
from sharing_api.chain.client import ChainClient
from sharing_api.chain.errors import (
    ChainUnavailable,
    NonceTooHigh,
    NonceTooLow,
    RpcError,
    TransactionRejected,
)
from sharing_api.chain.heads import HeadWaiter
from sharing_api.chain.records import ZERO32, AccessEntry, access_batch_calldata
from sharing_api.chain.rpc import JsonRpc
from sharing_api.chain.scopes import Basis, Purpose
from sharing_api.chain.txsign import sign_transaction

log = logging.getLogger(__name__)
# Gas limit of a batch: a consent-based entry costs ~14-19k gas in a batch and a cold
# break-glass one under 100k (tests/contracts/test_access_batch.py); unused gas is not
# charged, and a permissioned node charges nothing. 128 entries stay under a 30M block.
BATCH_GAS = 60_000
ENTRY_GAS = 100_000
MAX_BATCH = 128
FRESH_FEES_S = 1.0  # the watcher refreshes the member's fee cache this often ...
STALE_FEES_S = 30.0  # ... and the sender signs with a cached price up to this old


class AccessNotLogged(ValueError):
    """The AccessLog transaction reverted: the access was not recorded, so nothing is served."""


def _access_logged_topic() -> str:
    for item in load_artifact("AccessLog").abi:
        if item.get("type") == "event" and item["name"] == "AccessLogged":
            return "0x" + bytes(event_abi_to_log_topic(item)).hex()  # type: ignore[arg-type]
    raise RuntimeError("AccessLog ABI has no AccessLogged event")


@dataclass
class _Job:
    entry: AccessEntry
    future: Future[int] = field(default_factory=Future)
    solo: bool = False  # send alone (after its batch reverted)


@dataclass
class _InFlight:
    jobs: list[_Job]
    deadline: float


class AccessBatcher:
    """Logs accesses as one hosted member; ``log`` blocks until the access is mined."""

    def __init__(
        self,
        client: ChainClient,
        access_log: str,
        *,
        poll_s: float = 0.004,
        window_s: float = 0.002,
        rpc: JsonRpc | None = None,
    ) -> None:
        self.client = client
        self.address = Web3.to_checksum_address(access_log)
        self.topic = _access_logged_topic()
        self.poll_s = poll_s
        self.window_s = window_s
        self.rpc = rpc or JsonRpc(client.url, client.timeout)
        self.batches_sent = 0  # transactions (for tests and metrics)
        self._key = PrivateKey(bytes(client.account.key))
        self._queue: list[_Job] = []
        self._in_flight: dict[str, _InFlight] = {}
        self._cv = threading.Condition()
        self._stop = False
        self._threads = [
            threading.Thread(target=self._send_loop, name="access-sender", daemon=True),
            threading.Thread(target=self._watch_loop, name="access-watcher", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def log(
        self,
        record_id: int,
        reader: str,
        purpose: Purpose,
        basis: Basis,
        basis_id: int,
        reason_hash: bytes,
        timeout: float = 60.0,
        staff: bytes = ZERO32,
    ) -> int:
        """Queue one access and block until it is mined; returns the access id."""
        pending = self.submit(record_id, reader, purpose, basis, basis_id, reason_hash, staff)
        return pending.result(timeout)

    def submit(
        self,
        record_id: int,
        reader: str,
        purpose: Purpose,
        basis: Basis,
        basis_id: int,
        reason_hash: bytes,
        staff: bytes = ZERO32,
    ) -> Future[int]:
        """Queue one access; the future is the access id once mined (``asyncio.wrap_future``
        lets a coroutine wait without holding a thread). ``staff``: the reader's pseudonym."""
        entry = AccessEntry(record_id, reader, purpose, basis, basis_id, reason_hash, staff)
        job = _Job(entry)
        self._enqueue([job])
        return job.future

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        for thread in self._threads:
            thread.join(10)
        self.rpc.close()

    def _enqueue(self, jobs: list[_Job]) -> None:
        with self._cv:
            self._queue.extend(jobs)
            self._cv.notify_all()

    # ---- the sender ----------------------------------------------------------------------

    def _take(self) -> list[_Job] | None:
        with self._cv:
            while not self._queue and not self._stop:
                self._cv.wait()
            if not self._queue:
                return None
        if self.window_s:
            time.sleep(self.window_s)  # let requests arriving together share the transaction
        with self._cv:
            first = self._queue.pop(0)
            jobs = [first]
            if not first.solo:
                while self._queue and len(jobs) < MAX_BATCH and not self._queue[0].solo:
                    jobs.append(self._queue.pop(0))
        # A request cancelled meanwhile (its client went away) is not logged; the others can
        # no longer be cancelled, so settling them below cannot fail.
        return [j for j in jobs if j.future.running() or j.future.set_running_or_notify_cancel()]

    def _send_loop(self) -> None:
        while (jobs := self._take()) is not None:
            if not jobs:
                continue
            try:
                self._send(jobs)
            except Exception as exc:  # every waiting request learns why
                if not isinstance(exc, (AccessNotLogged, ChainUnavailable)):
                    log.exception("access batch not sent")
                for job in jobs:
                    job.future.set_exception(exc)

    def _send(self, jobs: list[_Job]) -> None:
        client = self.client
        tx: dict[str, Any] = {
            "to": self.address,
            "data": access_batch_calldata([j.entry for j in jobs]),
            "value": 0,
            "gas": BATCH_GAS + ENTRY_GAS * len(jobs),
            "chainId": client.chain_id,
            # The watcher keeps the fees fresh: no fee RPC on the way of a waiting batch.
            **client.fees(max_age_s=STALE_FEES_S),
        }
        for attempt in range(2):
            try:
                with client.reserve_nonces(1) as nonce:
                    raw = sign_transaction({**tx, "nonce": nonce}, self._key)
                    # Watched before it is sent: its block may be announced before the send
                    # returns.
                    tx_hash = "0x" + keccak(raw).hex()
                    self._watch(tx_hash, jobs)
                    try:
                        self.rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
                    except BaseException:
                        self._unwatch(tx_hash)
                        raise
                self.batches_sent += 1
                return
            except RpcError as exc:
                # Another process signing as this member took the nonce: ask the node, retry.
                if attempt == 0 and isinstance(exc, (NonceTooLow, NonceTooHigh)):
                    continue
                client.forget_fees()  # the refusal may be about the price
                raise AccessNotLogged(f"access not logged: the node refused it: {exc}") from None
        raise AssertionError("unreachable")

    # ---- the watcher ---------------------------------------------------------------------

    def _watch(self, tx_hash: str, jobs: list[_Job]) -> None:
        with self._cv:
            self._in_flight[tx_hash] = _InFlight(jobs, time.monotonic() + self.client.timeout)
            self._cv.notify_all()

    def _unwatch(self, tx_hash: str) -> None:
        with self._cv:
            self._in_flight.pop(tx_hash, None)

    def _watch_loop(self) -> None:
        # The AccessLogged logs of each new block are pushed with its head: a batch whose
        # logs all arrived is settled without asking for its receipt.
        logs = {"address": self.address, "topics": [self.topic]}
        heads = HeadWaiter(self.client.url, logs=logs, fallback_s=self.poll_s)
        try:
            self._watch_receipts(heads)
        finally:
            heads.close()

    def _watch_receipts(self, heads: HeadWaiter) -> None:
        while True:
            with self._cv:
                while not self._in_flight and not self._stop:
                    self._cv.wait()
                if not self._in_flight:
                    return
            pushed: dict[str, list[dict[str, Any]]] = {}
            for entry in heads.wait():  # receipts only appear with a block
                pushed.setdefault(str(entry.get("transactionHash", "")).lower(), []).append(entry)
            with self._cv:
                hashes = list(self._in_flight)
            asking = []
            for tx_hash in hashes:
                found = pushed.get(tx_hash)
                with self._cv:
                    flight = self._in_flight.get(tx_hash)
                    if flight is None or found is None or len(found) != len(flight.jobs):
                        asking.append(tx_hash)
                        continue
                    del self._in_flight[tx_hash]
                found.sort(key=lambda e: int(e["logIndex"], 16))
                self._settle(flight.jobs, {"status": "0x1", "logs": found})
            if asking:
                self._ask_receipts(asking)
            with contextlib.suppress(ChainUnavailable, TransactionRejected):
                self.client.fees(max_age_s=FRESH_FEES_S)  # refreshed off the sender's path

    def _ask_receipts(self, hashes: list[str]) -> None:
        try:
            replies = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        except (ChainUnavailable, TransactionRejected) as exc:
            log.warning("access receipts: %s", exc)
            replies = [None for _ in hashes]
        now = time.monotonic()
        for tx_hash, reply in zip(hashes, replies, strict=True):
            receipt = None if isinstance(reply, RpcError) else reply
            with self._cv:
                flight = self._in_flight.get(tx_hash)
                if flight is None or (not receipt and now < flight.deadline):
                    continue
                del self._in_flight[tx_hash]
            if receipt:
                self._settle(flight.jobs, receipt)
            else:
                error = ChainUnavailable(f"access-log transaction {tx_hash} not mined in time")
                for job in flight.jobs:
                    job.future.set_exception(error)

    def _settle(self, jobs: list[_Job], receipt: dict[str, Any]) -> None:
        if int(receipt["status"], 16) != 1:
            if len(jobs) == 1:
                jobs[0].future.set_exception(AccessNotLogged("the AccessLog transaction reverted"))
            elif self._stop:  # closing: no sender left to try them alone
                for job in jobs:
                    job.future.set_exception(AccessNotLogged("the AccessLog batch reverted"))
            else:  # one entry was refused: send each alone so only that one fails
                self._enqueue([_Job(j.entry, j.future, solo=True) for j in jobs])
            return
        ids = [
            int(entry["data"][2:66], 16)
            for entry in receipt["logs"]
            if entry["topics"]
            and entry["topics"][0].lower() == self.topic
            and entry["address"].lower() == self.address.lower()
        ]
        if len(ids) != len(jobs):
            error = AccessNotLogged(f"{len(jobs)} accesses sent, {len(ids)} logged")
            for job in jobs:
                job.future.set_exception(error)
            return
        for job, access_id in zip(jobs, ids, strict=True):
            job.future.set_result(access_id)
