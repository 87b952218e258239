"""Follows the alliance contracts' events into the index database.

One cursor row (``next_block``) is updated in the same database transaction as the rows a
block range produced, so a crash or restart resumes exactly where the last commit stopped;
every write is an upsert keyed by the on-chain id, so replaying a range is harmless.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from eth_abi.abi import decode
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from web3 import Web3

from sharing_api.chain.artifacts import load_artifact
from sharing_api.chain.events import ChainEvent
from sharing_api.chain.genesis import Deployment
from sharing_api.chain.logs import logs_in_range
from sharing_api.chain.rpc import JsonRpc
from sharing_api.chain.scopes import Basis, Review
from sharing_api.index import consultations, schema
from sharing_api.index.db import IndexDB
from sharing_api.index.schema import (
    accesses,
    consents,
    gateways,
    records,
    referral_changes,
    referrals,
)

log = logging.getLogger(__name__)
CURSOR = "alliance"
INDEXED = (
    "AllianceRegistry",
    "ConsentRegistry",
    "RecordRegistry",
    "ReferralRegistry",
    "ConsultationRegistry",
    "AccessLog",
)
# Of AllianceRegistry only the directory is indexed (governance has its own audit trail).
_ONLY = {"AllianceRegistry": {"GatewaySet", "GatewayCleared"}}
_STATIC = re.compile(r"^(u?int\d*|address|bool|bytes\d+)$")
IN_CHUNK = 500  # ids per IN (...) query: far below SQLite's and PostgreSQL's limits


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _addr(value: str) -> str:
    return value.lower()


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _word(kind: str, word: bytes) -> Any:
    """One static ABI value from its 32-byte word."""
    if kind == "address":
        return "0x" + word[12:].hex()
    if kind == "bool":
        return word != bytes(32)
    if kind.startswith("uint"):
        return int.from_bytes(word, "big")
    if kind.startswith("int"):
        return int.from_bytes(word, "big", signed=True)
    return word[: int(kind[5:])]  # bytesN


class _EventDecoder:
    """Decodes one event's logs without web3 (whose process_log costs several times more;
    the indexer decodes every access of the alliance). Static fields are sliced from their
    32-byte words; events with dynamic fields go through eth_abi. Addresses come out in
    lower case, as the index stores them."""

    def __init__(self, contract: str, abi: dict[str, Any]) -> None:
        self.contract = contract
        self.name = str(abi["name"])
        self.indexed = [(i["name"], i["type"]) for i in abi["inputs"] if i["indexed"]]
        self.plain = [(i["name"], i["type"]) for i in abi["inputs"] if not i["indexed"]]
        self.static = all(_STATIC.match(kind) for _, kind in self.plain)

    def decode(self, log: Any) -> ChainEvent:
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(self.indexed, log["topics"][1:], strict=True):
            word = bytes(HexBytes(topic))
            args[name] = _word(kind, word) if _STATIC.match(kind) else word
        data = bytes(HexBytes(log["data"]))
        if self.static:
            for i, (name, kind) in enumerate(self.plain):
                args[name] = _word(kind, data[32 * i : 32 * i + 32])
        else:
            values = decode([k for _, k in self.plain], data)
            for (name, kind), value in zip(self.plain, values, strict=True):
                if kind == "address":
                    value = value.lower()
                elif kind.endswith("[]"):
                    value = list(value)
                args[name] = value
        return ChainEvent(
            contract=self.contract,
            name=self.name,
            args=args,
            block_number=_int(log["blockNumber"]),
            tx_hash="0x" + bytes(HexBytes(log["transactionHash"])).hex(),
            log_index=_int(log["logIndex"]),
        )


class Indexer:
    def __init__(
        self, db: IndexDB, w3: Web3, deployment: Deployment, *, batch_blocks: int = 2_000
    ) -> None:
        self.db = db
        self.w3 = w3
        self.deployment = deployment
        self.batch_blocks = batch_blocks
        self._lock = threading.Lock()
        self._timestamps: dict[int, int] = {}
        # old record id -> its successor, as seen by this process: the fetch path reads it
        # without a query (supersession is final on chain, so an entry never goes stale).
        self.superseded: dict[int, int] = {}
        self.erased: set[int] = set()  # likewise: erasure is final
        self._decoders: dict[bytes, _EventDecoder] = {}
        for name in INDEXED:
            wanted = _ONLY.get(name)  # None: every event of the contract
            for item in load_artifact(name).abi:
                if item.get("type") == "event" and (wanted is None or item["name"] in wanted):
                    topic = bytes(event_abi_to_log_topic(item))  # type: ignore[arg-type]
                    self._decoders[topic] = _EventDecoder(name, item)
        self._handlers: dict[str, Callable[[Connection, ChainEvent], None]] = {
            "RecordRegistered": self._record,
            "RecordSuperseded": self._superseded,
            "RecordErased": self._erased,
            "ConsentGranted": self._consent,
            "ConsentRevoked": self._revoked,
            "ReferralCreated": self._referral,
            "ReferralStatusChanged": self._referral_status,
            "AccessLogged": self._access,
            "BreakGlassJustified": self._justified,
            "BreakGlassClosed": self._closed,
            "GatewaySet": self._gateway,
            "GatewayCleared": self._gateway,
            **consultations.handlers(self._timestamp, self._upsert),
        }
        # Raw JSON-RPC where the endpoint is HTTP: web3's log formatters cost more CPU than
        # everything else the indexer does per access. web3 on the project's transport
        # (TransportProvider) has no endpoint_uri: use its transport.
        transport = getattr(w3.provider, "transport", None)
        url = getattr(w3.provider, "endpoint_uri", None)
        self._rpc: JsonRpc | None = None
        if isinstance(transport, JsonRpc):
            self._rpc = transport
        elif str(url).startswith(("http://", "https://")):
            self._rpc = JsonRpc(str(url))
        self._pending_accesses: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- following the chain -------------------------------------------------------------

    def sync(self) -> int:
        """Index every block up to the chain head; returns the next block to index.

        Serialized: concurrent callers (the poller and a route that just wrote) wait, then
        find nothing left to do.
        """
        with self._lock:
            head = (
                _int(self._rpc.call("eth_blockNumber", []))
                if self._rpc
                else self.w3.eth.block_number
            )
            start = self.db.next_block(CURSOR)
            if start is None:
                start = self.deployment.block_number
            while start <= head:
                end = min(start + self.batch_blocks - 1, head)
                self._index_range(start, end)
                start = end + 1
            return start

    def _get_logs(self, start: int, end: int) -> list[Any]:
        """Every log of the alliance contracts in [start, end], in as many queries as the
        node's eth_getLogs limits need (a busy range holds more accesses than one answer)."""
        addresses = [Web3.to_checksum_address(self.deployment.addresses[n]) for n in INDEXED]

        def get(lo: int, hi: int) -> list[Any]:
            if self._rpc is None:
                return list(
                    self.w3.eth.get_logs({"address": addresses, "fromBlock": lo, "toBlock": hi})
                )
            flt = {"address": addresses, "fromBlock": hex(lo), "toBlock": hex(hi)}
            return list(self._rpc.call("eth_getLogs", [flt]) or [])

        return logs_in_range(get, start, end)

    def _index_range(self, start: int, end: int) -> None:
        self._pending_accesses = []  # nothing left over from a range that failed
        events = []
        for entry in self._get_logs(start, end):
            topics = entry["topics"]
            if not topics:
                continue
            decoder = self._decoders.get(bytes(HexBytes(topics[0])))
            if decoder is None:
                continue
            event = decoder.decode(entry)
            stamp = entry.get("blockTimestamp")  # geth, anvil and our node put it in logs
            if stamp is not None:
                self._remember_timestamp(event.block_number, _int(stamp))
            events.append(event)
        events.sort(key=lambda e: (e.block_number, e.log_index))
        with self.db.engine.begin() as conn:
            for ev in events:
                handler = self._handlers.get(ev.name)
                if handler is None:
                    continue
                if ev.name != "AccessLogged":
                    self._flush_accesses(conn)  # keep chain order across event kinds
                handler(conn, ev)
            self._flush_accesses(conn)
            self._set_cursor(conn, end + 1)

    def _set_cursor(self, conn: Connection, next_block: int) -> None:
        c = schema.cursor
        found = conn.execute(select(c.c.next_block).where(c.c.name == CURSOR)).first()
        if found is None:
            conn.execute(insert(c).values(name=CURSOR, next_block=next_block))
        else:
            conn.execute(update(c).where(c.c.name == CURSOR).values(next_block=next_block))

    def _timestamp(self, block_number: int) -> int:
        ts = self._timestamps.get(block_number)
        if ts is None:
            ts = int(self.w3.eth.get_block(block_number)["timestamp"])
            self._remember_timestamp(block_number, ts)
        return ts

    def _remember_timestamp(self, block_number: int, ts: int) -> None:
        if len(self._timestamps) > 10_000:
            self._timestamps.clear()
        self._timestamps[block_number] = ts

    # ---- background polling --------------------------------------------------------------

    def start(self, poll_s: float) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.sync()
                except Exception as exc:  # keep following; the next poll retries
                    log.warning("indexer: %s", exc)
                self._stop.wait(poll_s)

        self._thread = threading.Thread(target=loop, name="chain-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    # ---- event handlers (upserts) --------------------------------------------------------

    @staticmethod
    def _upsert(conn: Connection, table: Any, key: str, values: dict[str, Any]) -> None:
        col = table.c[key]
        if conn.execute(select(col).where(col == values[key])).first() is None:
            conn.execute(insert(table).values(**values))
        else:
            conn.execute(update(table).where(col == values[key]).values(**values))

    def _record(self, conn: Connection, ev: ChainEvent) -> None:
        a = ev.args
        self._upsert(
            conn,
            records,
            "record_id",
            {
                "record_id": int(a["recordId"]),
                "patient": _addr(a["patient"]),
                "custodian": _addr(a["custodian"]),
                "category": int(a["category"]),
                "content_hash": _hex(a["contentHash"]),
                "cid": str(a["cid"]),
                "policy_commitment": _hex(a["policyCommitment"]),
                "supersedes": int(a["supersedes"]),
                "superseded_by": 0,
                "block_number": ev.block_number,
                "timestamp": self._timestamp(ev.block_number),
                "tx_hash": ev.tx_hash,
            },
        )

    def _superseded(self, conn: Connection, ev: ChainEvent) -> None:
        conn.execute(
            update(records)
            .where(records.c.record_id == int(ev.args["oldRecordId"]))
            .values(superseded_by=int(ev.args["newRecordId"]))
        )
        self.superseded[int(ev.args["oldRecordId"])] = int(ev.args["newRecordId"])

    def _erased(self, conn: Connection, ev: ChainEvent) -> None:
        # The policy text and labels this gateway kept go too: only the coarse category stays.
        conn.execute(
            update(records)
            .where(records.c.record_id == int(ev.args["recordId"]))
            .values(erased=True, policy=None, confidentiality=None, sensitivity=None)
        )
        self.erased.add(int(ev.args["recordId"]))

    def _consent(self, conn: Connection, ev: ChainEvent) -> None:
        a = ev.args
        self._upsert(
            conn,
            consents,
            "consent_id",
            {
                "consent_id": int(a["consentId"]),
                "patient": _addr(a["patient"]),
                "grantee": _addr(a["grantee"]),
                "grantee_role": int(a["granteeRole"]),
                "categories": int(a["categories"]),
                "purposes": int(a["purposes"]),
                "valid_from": int(a["validFrom"]),
                "valid_until": int(a["validUntil"]),
                "document_hash": _hex(a["documentHash"]),
                "relayer": _addr(a["relayer"]),
                "revoked": False,
                "block_number": ev.block_number,
                "tx_hash": ev.tx_hash,
                "timestamp": self._timestamp(ev.block_number),
            },
        )

    def _revoked(self, conn: Connection, ev: ChainEvent) -> None:
        conn.execute(
            update(consents)
            .where(consents.c.consent_id == int(ev.args["consentId"]))
            .values(
                revoked=True,
                revoked_block=ev.block_number,
                revoked_at=self._timestamp(ev.block_number),
            )
        )

    def _referral(self, conn: Connection, ev: ChainEvent) -> None:
        a = ev.args
        self._upsert(
            conn,
            referrals,
            "referral_id",
            {
                "referral_id": int(a["referralId"]),
                "patient": _addr(a["patient"]),
                "referrer": _addr(a["referrer"]),
                "receiver": _addr(a["receiver"]),
                "direction": int(a["direction"]),
                "record_ids": json.dumps([int(i) for i in a["recordIds"]]),
                "consent_id": int(a["consentId"]),
                "status": 1,
                "reason_hash": _hex(a["reasonHash"]),
                "expires_at": int(a["expiresAt"]),
                "block_number": ev.block_number,
                "tx_hash": ev.tx_hash,
                "timestamp": self._timestamp(ev.block_number),
            },
        )

    def _referral_status(self, conn: Connection, ev: ChainEvent) -> None:
        a = ev.args
        rid = int(a["referralId"])
        conn.execute(
            update(referrals).where(referrals.c.referral_id == rid).values(status=int(a["to"]))
        )
        seen = conn.execute(
            select(referral_changes.c.id).where(
                referral_changes.c.block_number == ev.block_number,
                referral_changes.c.log_index == ev.log_index,
            )
        ).first()
        if seen is None:
            conn.execute(
                insert(referral_changes).values(
                    referral_id=rid,
                    from_status=int(a["from"]),
                    to_status=int(a["to"]),
                    by=_addr(a["by"]),
                    note_hash=_hex(a["noteHash"]),
                    block_number=ev.block_number,
                    log_index=ev.log_index,
                    timestamp=self._timestamp(ev.block_number),
                )
            )

    def _access(self, conn: Connection, ev: ChainEvent) -> None:
        # Accesses are most of the chain's events: collected, then written in bulk.
        a = ev.args
        self._pending_accesses.append(
            {
                "access_id": int(a["accessId"]),
                "record_id": int(a["recordId"]),
                "patient": _addr(a["patient"]),
                "reader": _addr(a["reader"]),
                "logger": _addr(a["logger"]),
                "purpose": int(a["purpose"]),
                "basis": int(a["basis"]),
                "basis_id": int(a["basisId"]),
                "reason_hash": _hex(a["reasonHash"]),
                "staff": _hex(a["staff"]),
                "justified": False,
                "review": int(Review.OPEN if int(a["basis"]) == Basis.BREAK_GLASS else Review.NONE),
                "block_number": ev.block_number,
                "tx_hash": ev.tx_hash,
                "timestamp": self._timestamp(ev.block_number),
            }
        )

    def _flush_accesses(self, conn: Connection) -> None:
        rows, self._pending_accesses = self._pending_accesses, []
        for i in range(0, len(rows), IN_CHUNK):
            chunk = rows[i : i + IN_CHUNK]
            col = accesses.c.access_id
            known = set(
                conn.execute(select(col).where(col.in_([r["access_id"] for r in chunk]))).scalars()
            )
            new = [r for r in chunk if r["access_id"] not in known]
            if new:
                conn.execute(insert(accesses), new)  # one executemany
            for row in chunk:
                if row["access_id"] in known:  # a replayed range
                    conn.execute(update(accesses).where(col == row["access_id"]).values(**row))

    def _justified(self, conn: Connection, ev: ChainEvent) -> None:
        conn.execute(
            update(accesses)
            .where(accesses.c.access_id == int(ev.args["accessId"]))
            .values(
                justified=True,
                justification_hash=_hex(ev.args["justificationHash"]),
                review=int(Review.JUSTIFIED),
                reviewer=_hex(ev.args["reviewer"]),
            )
        )

    def _closed(self, conn: Connection, ev: ChainEvent) -> None:
        closed = Review.ACCEPTED if ev.args["accepted"] else Review.FLAGGED
        conn.execute(
            update(accesses)
            .where(accesses.c.access_id == int(ev.args["accessId"]))
            .values(review=int(closed))
        )

    def _gateway(self, conn: Connection, ev: ChainEvent) -> None:
        # One row per change, keyed by its place in the chain: a replayed range adds nothing.
        seen = conn.execute(
            select(gateways.c.id).where(
                gateways.c.block_number == ev.block_number,
                gateways.c.log_index == ev.log_index,
            )
        ).first()
        if seen is not None:
            return
        cleared = ev.name == "GatewayCleared"
        conn.execute(
            insert(gateways).values(
                member=_addr(ev.args["member"]),
                url=None if cleared else str(ev.args["url"]),
                fingerprint=None if cleared else _hex(ev.args["tlsFingerprint"]),
                block_number=ev.block_number,
                log_index=ev.log_index,
                tx_hash=ev.tx_hash,
            )
        )
