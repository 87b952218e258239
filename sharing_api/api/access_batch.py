"""Batched AccessLog writes: many readers' accesses ride in one JSON-RPC batch of signed
transactions, and their receipts are awaited together.

A fetch still waits for its own receipt (status 1, so the access is in a block the ledger
committed) before a byte of ciphertext is served; batching only shares the round trips.
Before a request reaches the batcher the route has checked the basis with eth_call, so the
fixed gas limit is for transactions expected to succeed; a revert still fails that request.

Nonces: the batcher signs as a hosted member whose ``ChainClient`` may also send other
transactions (uploads, referrals); it allocates nonces from that client's shared nonce slot
(lock and counter) so the two never collide.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import httpx
from coincurve import PrivateKey
from eth_abi.abi import encode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from web3 import Web3

from sharing_api.api.txsign import sign_transaction
from sharing_api.chain.artifacts import load_artifact
from sharing_api.chain.client import ChainClient
from sharing_api.chain.errors import ChainUnavailable
from sharing_api.chain.scopes import Basis, Purpose

log = logging.getLogger(__name__)
ACCESS_GAS = 400_000  # logAccess uses ~60-120k; the node charges nothing on a zero-price chain
MAX_BATCH = 256
LOG_ACCESS = keccak(text="logAccess(uint256,address,uint8,uint8,uint256,bytes32)")[:4]


class AccessNotLogged(ValueError):
    """The AccessLog transaction reverted: the access was not recorded, so nothing is served."""


def _access_logged_topic() -> str:
    for item in load_artifact("AccessLog").abi:
        if item.get("type") == "event" and item["name"] == "AccessLogged":
            return "0x" + bytes(event_abi_to_log_topic(item)).hex()  # type: ignore[arg-type]
    raise RuntimeError("AccessLog ABI has no AccessLogged event")


@dataclass
class _Job:
    data: str
    future: Future[int]


class AccessBatcher:
    """One sender thread per hosted member account."""

    def __init__(self, client: ChainClient, access_log: str, *, poll_s: float = 0.005) -> None:
        self.client = client
        self.address = Web3.to_checksum_address(access_log)
        self.topic = _access_logged_topic()
        self.poll_s = poll_s
        self.http = httpx.Client(timeout=client.timeout)
        self._jobs: list[_Job] = []
        self._fee_cache: tuple[float, dict[str, int]] | None = None
        self._key = PrivateKey(bytes(client.account.key))
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="access-batcher", daemon=True)
        self._thread.start()

    def log(
        self,
        record_id: int,
        reader: str,
        purpose: Purpose,
        basis: Basis,
        basis_id: int,
        reason_hash: bytes,
        timeout: float = 30.0,
    ) -> int:
        """Queue one logAccess and block until it is mined; returns the access id."""
        args = encode(
            ["uint256", "address", "uint8", "uint8", "uint256", "bytes32"],
            [record_id, reader, int(purpose), int(basis), basis_id, reason_hash],
        )
        job = _Job("0x" + (LOG_ACCESS + args).hex(), Future())
        with self._cv:
            self._jobs.append(job)
            self._cv.notify()
        return job.future.result(timeout)

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(10)
        self.http.close()

    # ---- the sender thread -------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._jobs and not self._stop:
                    self._cv.wait()
                if self._stop and not self._jobs:
                    return
                jobs, self._jobs = self._jobs[:MAX_BATCH], self._jobs[MAX_BATCH:]
            try:
                self._run(jobs)
            except Exception as exc:  # every waiting request learns why
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _fees(self) -> dict[str, int]:
        # Fee terms change rarely on a permissioned chain: ask at most once a second.
        now = time.monotonic()
        if self._fee_cache is None or now - self._fee_cache[0] > 1.0:
            self._fee_cache = (now, self.client._fees())
        return self._fee_cache[1]

    def _rpc(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        try:
            reply = self.http.post(self.client.url, json=body).json()
        except httpx.HTTPError as exc:
            raise ChainUnavailable(f"chain endpoint {self.client.url}: {exc}") from exc
        if not isinstance(reply, list):
            raise ChainUnavailable(f"chain endpoint refused a batch: {reply}")
        return sorted(reply, key=lambda r: int(r.get("id", 0)))

    def _run(self, jobs: list[_Job]) -> None:
        client = self.client
        fees = self._fees()
        chain_id = client.chain_id
        slot = client._nonces  # the member's nonce counter, shared with its other transactions
        with slot.lock:
            if slot.next is None:
                slot.next = int(client.w3.eth.get_transaction_count(client.address, "pending"))
            raws = []
            for offset, job in enumerate(jobs):
                tx: dict[str, Any] = {
                    "to": self.address,
                    "data": job.data,
                    "value": 0,
                    "gas": ACCESS_GAS,
                    "chainId": chain_id,
                    "nonce": slot.next + offset,
                    **fees,
                }
                raws.append("0x" + sign_transaction(tx, self._key).hex())
            calls = [("eth_blockNumber", []), *(("eth_sendRawTransaction", [r]) for r in raws)]
            head_reply, *replies = self._rpc(calls)
            if any("error" in r for r in replies):
                slot.next = None  # some may have been taken: ask the node next time
            else:
                slot.next += len(jobs)
        waiting: dict[str, _Job] = {}
        for job, reply in zip(jobs, replies, strict=True):
            if "error" in reply:
                job.future.set_exception(AccessNotLogged(f"access not logged: {reply['error']}"))
            else:
                waiting[str(reply["result"])] = job
        deadline = time.monotonic() + client.timeout
        seen = int(head_reply.get("result", "0x0"), 16)
        while waiting:
            if time.monotonic() > deadline:
                raise ChainUnavailable(f"{len(waiting)} access-log transactions not mined in time")
            time.sleep(self.poll_s)
            # Receipts only appear with a new block: ask for them only when the head moved.
            head = int(self._rpc([("eth_blockNumber", [])])[0].get("result", "0x0"), 16)
            if head <= seen:
                continue
            seen = head
            hashes = list(waiting)
            for tx_hash, reply in zip(
                hashes,
                self._rpc([("eth_getTransactionReceipt", [h]) for h in hashes]),
                strict=True,
            ):
                receipt = reply.get("result")
                if receipt:
                    self._settle(waiting.pop(tx_hash), receipt)

    def _settle(self, job: _Job, receipt: dict[str, Any]) -> None:
        if int(receipt["status"], 16) != 1:
            job.future.set_exception(AccessNotLogged("the AccessLog transaction reverted"))
            return
        for entry in receipt["logs"]:
            if entry["topics"] and entry["topics"][0].lower() == self.topic:
                job.future.set_result(int(entry["data"][2:66], 16))
                return
        job.future.set_exception(AccessNotLogged("no AccessLogged event in the receipt"))
