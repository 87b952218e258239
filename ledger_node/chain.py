"""The chain: admission into the pool, block production, checkpoints, restart and verification.

Protocol rules that make every node (and every restart) compute identical receipts and gas:
* every transaction starts cold (EIP-2929), so its gas depends only on the state before it;
* the full state is committed at every checkpoint (``Genesis.is_checkpoint``);
* between checkpoints, blocks are executed in order on the same engine.
Restart = load the latest checkpoint state + replay the blocks after it (senders stored).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from coincurve import PrivateKey

from ledger_node.abc import BlockContext, EngineFactory, Message, Outcome
from ledger_node.block import (
    EMPTY_BLOOM,
    Header,
    SealError,
    address_of,
    logs_bloom,
    merge_blooms,
    receipt_item,
    receipts_root,
    running_state_root,
    transactions_root,
)
from ledger_node.blockcheck import check_block
from ledger_node.clock import Clock
from ledger_node.datadir import DB_FILE
from ledger_node.engine_revm import RevmEngine
from ledger_node.genesis import Genesis
from ledger_node.permission import NotAMember, Permissions
from ledger_node.refusal import Refusal
from ledger_node.state import StateDelta
from ledger_node.store import LogRow, Store, TxRow
from ledger_node.txcodec import Tx, TxCache, TxError, decode_raw, intrinsic_gas


class AdmissionError(ValueError):
    """A transaction refused at admission (bad nonce, wrong chain, ...); ``reason`` says
    which, for callers that branch on it (the message is for people and anvil parity)."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Pending:
    seq: int
    tx: Tx


@dataclass
class Proposal:
    """An executed block not yet stored (``pool_upto``: last pool entry it consumes)."""

    header: Header
    txs: list[Tx]
    txrows: list[TxRow]
    logrows: list[LogRow]
    changed: StateDelta | None
    pool_upto: int | None = None


_HEADER_FIELDS = (
    "parent hash",
    "number",
    "timestamp",
    "coinbase",
    "state root",
    "transactions root",
    "receipts root",
    "logs bloom",
    "gas limit",
    "gas used",
)


@dataclass
class Executed:
    tx: Tx
    outcome: Outcome


def price_paid(tx: Tx, free_gas: bool) -> int:
    """The gas price charged (base fee 0): none at all under free gas."""
    return 0 if free_gas else tx.effective_gas_price(0)


def message_of(tx: Tx, free_gas: bool) -> Message:
    return Message(
        tx.sender,
        tx.to,
        tx.data,
        tx.value,
        tx.gas,
        price_paid(tx, free_gas),
        tx.nonce,
        intrinsic_gas(tx),
    )


class Chain:
    def __init__(
        self,
        data_dir: Path,
        sealer_key: PrivateKey | None = None,
        synchronous: str = "FULL",
        clock: Clock | None = None,
        engine_factory: EngineFactory = RevmEngine,
    ) -> None:
        path = data_dir / DB_FILE
        if not path.exists():
            raise FileNotFoundError(f"no chain in {data_dir}: run `alliance node init` first")
        self.store = Store(path, synchronous)
        raw = self.store.get_meta("genesis")
        if raw is None:
            raise ValueError(f"{path}: no genesis")
        self.genesis = Genesis.from_json(raw)
        self.key = sealer_key
        self.new_engine = engine_factory
        self.clock = clock or Clock.from_env()
        self.sealer = address_of(sealer_key) if sealer_key else None
        if self.sealer is not None and self.sealer not in self.genesis.sealers:
            raise ValueError("the node key is not one of the genesis sealers")
        self.permissions = Permissions(self.genesis.members, self.genesis.registry)
        self.pool: deque[Pending] = deque()
        self.known: set[bytes] = set()
        self.pending_nonce: dict[bytes, int] = {}
        self.tx_count = 0
        self._headers: dict[int, Header] = {}
        self.txs_since_checkpoint = 0
        self.txcache = TxCache()
        # A replicated node's acknowledged transactions are durable in etcd's pool, so its
        # local pool lives in memory only (seq numbers from this counter).
        self.pool_in_store = True
        self._mem_seq = 0
        self._restore()

    # -- start-up --------------------------------------------------------------------------
    def _restore(self) -> None:
        ckpt = int(self.store.get_meta("checkpoint") or b"0")
        digest = self.store.get_meta("state_digest")
        self.state = self.store.load_state(
            None if digest is None else int.from_bytes(digest, "big")
        )
        self.engine = self.new_engine(
            self.genesis.chain_id, self.genesis.block_gas_limit, self.state
        )
        self.head = Header.decode(self.store.header(ckpt) or b"")
        if ckpt and self.head.state_root != self.state.commitment():
            raise SealError(f"checkpoint {ckpt}: stored state does not match its commitment")
        head_number = self.store.head_number()
        by_block: dict[int, list[TxRow]] = {}
        for row in self.store.txs_from(ckpt + 1):
            by_block.setdefault(row.block, []).append(row)
        for n in range(ckpt + 1, head_number + 1):
            header = Header.decode(self.store.header(n) or b"")
            txs = [decode_raw(r.raw, r.sender, r.hash) for r in by_block.get(n, [])]
            self.txs_since_checkpoint += len(txs)
            executed = self._execute(header.number, header.timestamp, header.coinbase, txs)
            rroot = receipts_root(self._receipt_items(executed))
            if rroot != header.receipts_root:
                raise SealError(f"block {n}: replay gives different receipts")
            self.head = header
        self._reads_at(self.head)
        for seq, raw_tx in self.store.pool_all():
            try:
                tx = decode_raw(raw_tx)
                self._check(tx)
            except ValueError:
                continue  # cannot happen unless the pool was tampered with; drop it
            self._enqueue(seq, tx)

    def _reads_at(self, header: Header) -> None:
        """A fresh engine has block number and timestamp 0: until the next block, eth_call and
        eth_estimateGas would judge time-dependent rules (consent windows) at 1970. Give it
        the head block's context."""
        self.engine.begin_block(
            BlockContext(
                header.number, header.timestamp, header.coinbase, self.genesis.block_gas_limit
            )
        )

    def close(self) -> None:
        self.store.close()

    # -- admission ---------------------------------------------------------------------------
    def nonce_of(self, sender: bytes) -> int:
        return self.engine.account(sender).nonce

    def next_nonce(self, sender: bytes) -> int:
        n = self.pending_nonce.get(sender)
        return self.nonce_of(sender) if n is None else n

    def _check(self, tx: Tx) -> None:
        if self.key is None:
            raise AdmissionError(
                Refusal.READ_ONLY, "this node has no sealer key: it serves reads only"
            )
        if tx.chain_id != self.genesis.chain_id:
            raise AdmissionError(
                Refusal.WRONG_CHAIN,
                f"wrong chain id {tx.chain_id} (this chain is {self.genesis.chain_id})",
            )
        if tx.hash in self.known:  # a mined duplicate fails the nonce check
            raise AdmissionError(Refusal.ALREADY_KNOWN, "already known")
        if not self.permissions.admits(self.engine, tx.sender):
            raise NotAMember(f"sender 0x{tx.sender.hex()} is not an alliance member")
        want = self.next_nonce(tx.sender)
        if tx.nonce < want:
            raise AdmissionError(
                Refusal.NONCE_TOO_LOW, f"nonce too low: next nonce {want}, tx nonce {tx.nonce}"
            )
        if tx.nonce > want:
            raise AdmissionError(
                Refusal.NONCE_TOO_HIGH,
                f"nonce too high: next nonce {want}, tx nonce {tx.nonce} (gap)",
            )
        if tx.gas < intrinsic_gas(tx):
            raise AdmissionError(Refusal.GAS_LIMIT, "intrinsic gas too low")
        if tx.gas > self.genesis.block_gas_limit:
            raise AdmissionError(Refusal.GAS_LIMIT, "exceeds block gas limit")
        cost = tx.value if self.genesis.free_gas else tx.gas * tx.gas_price + tx.value
        if cost and self.engine.account(tx.sender).balance < cost:
            raise AdmissionError(
                Refusal.INSUFFICIENT_FUNDS, "insufficient funds for gas * price + value"
            )

    def _enqueue(self, seq: int, tx: Tx) -> None:
        self.pool.append(Pending(seq, tx))
        self.known.add(tx.hash)
        self.pending_nonce[tx.sender] = tx.nonce + 1

    def submit(self, raw: bytes) -> bytes:
        """Admit a signed transaction; durable once ``flush()`` returns."""
        try:
            tx = self.txcache.decode(raw)
        except TxError as exc:
            raise AdmissionError(Refusal.INVALID, str(exc)) from exc
        self._check(tx)
        if self.pool_in_store:
            self.store.begin()
            seq = self.store.pool_add(tx.hash, raw)
        else:
            self._mem_seq += 1
            seq = self._mem_seq
        self._enqueue(seq, tx)
        return tx.hash

    def drop_non_members(self) -> list[Tx]:
        """Drop pooled transactions whose sender is no longer a member at the head state.

        Admission judged membership when a transaction arrived, at an older head or from the
        per-block cache: a sender removed since then (say in the block just committed) would
        make the next block invalid for every replica, which checks membership at the parent
        state, and the honest producer would be marked faulty. So the producer checks again
        against the state it builds on. Returns what it dropped.
        """
        if not self.pool:
            return []
        admits = self.permissions.admits
        gone = {p.tx.sender for p in self.pool if not admits(self.engine, p.tx.sender)}
        if not gone:
            return []
        dropped = [p.tx for p in self.pool if p.tx.sender in gone]
        self.pool = deque(p for p in self.pool if p.tx.sender not in gone)
        for tx in dropped:
            self.known.discard(tx.hash)
            self.pending_nonce.pop(tx.sender, None)
        return dropped

    def flush(self) -> None:
        """Commit admitted transactions before their hashes go back to the senders; on
        failure roll them back (none of them may be acknowledged) and raise."""
        try:
            self.store.commit()
        except BaseException:
            self.store.rollback()
            raise

    def keep_pool_in_memory(self) -> None:
        """A replicated node's acknowledged transactions are durable in etcd's pool: its
        own pool need not be (and a stale stored one must not come back on restart)."""
        self.pool_in_store = False

    def drop_pool(self) -> None:
        """Forget every pooled transaction, in memory and in the store, and any block
        proposed but not committed (a replicated node's role changed)."""
        self.reload()
        if self.pool:
            self.store.begin()
            self.store.pool_remove_upto(self.pool[-1].seq)
            self.store.commit()
            self.reload()

    # -- execution ---------------------------------------------------------------------------
    def _execute(
        self, number: int, timestamp: int, coinbase: bytes, txs: list[Tx]
    ) -> list[Executed]:
        self.engine.begin_block(
            BlockContext(number, timestamp, coinbase, self.genesis.block_gas_limit)
        )
        free = self.genesis.free_gas
        return [Executed(tx, self.engine.execute(message_of(tx, free))) for tx in txs]

    @staticmethod
    def _receipt_items(executed: list[Executed]) -> list[list[object]]:
        return [
            receipt_item(int(e.outcome.success), e.outcome.gas_used, e.outcome.logs)
            for e in executed
        ]

    def produce_block(self, now: float | None = None) -> Header | None:
        proposal = self.propose_block(now)
        if proposal is None:
            return None
        self.commit_block(proposal)
        return proposal.header

    def propose_block(self, now: float | None = None) -> Proposal | None:
        """Execute and seal the next block from the pool without storing it.

        The engine has moved on afterwards: follow with ``commit_block`` or, if the block is
        abandoned (replication refused it), ``reload``.
        """
        if self.key is None or self.sealer is None:
            raise ValueError("this node has no sealer key: it cannot produce blocks")
        self.drop_non_members()
        if not self.pool:
            return None
        self.flush()
        take: list[Pending] = []
        gas = 0
        for nxt in self.pool:
            if len(take) >= self.genesis.max_block_txs or (
                take and gas + nxt.tx.gas > self.genesis.block_gas_limit
            ):
                break
            gas += nxt.tx.gas
            take.append(nxt)
        number = self.head.number + 1
        # Never before the parent (the parent may come from a clock slightly ahead of ours).
        timestamp = max(int(now if now is not None else self.clock.now()), self.head.timestamp)
        proposal = self._build(number, timestamp, self.sealer, [p.tx for p in take])
        proposal.header = proposal.header.sealed(self.key)
        proposal.pool_upto = take[-1].seq
        return proposal

    def _build(self, number: int, timestamp: int, coinbase: bytes, txs: list[Tx]) -> Proposal:
        executed = self._execute(number, timestamp, coinbase, txs)
        header, txrows, logrows = self._assemble(number, timestamp, coinbase, executed)
        changed = None
        if self.genesis.is_checkpoint(number, self.txs_since_checkpoint + len(txs)):
            changed = self.state.apply(self.engine.touched())
            header = _with_state(header, self.state.commitment())
        return Proposal(header, txs, txrows, logrows, changed)

    def commit_block(self, p: Proposal) -> None:
        """Store a block built by ``propose_block`` or checked by ``apply_block``."""
        header = p.header
        self.store.begin()
        try:
            self.store.put_block(
                header.number,
                header.hash,
                header.encode(),
                p.logrows[0].id if p.logrows else self.store.next_log_id(),
            )
            self.store.put_txs(p.txrows)
            self.store.put_logs(p.logrows)
            if p.pool_upto is not None and self.pool_in_store:
                self.store.pool_remove_upto(p.pool_upto)
            if p.changed is not None:
                self.store.save_state(p.changed)
                self.store.set_meta("checkpoint", str(header.number).encode())
                self.store.set_meta("state_digest", self.state.digest.to_bytes(32, "big"))
            self.store.commit()
        except BaseException:
            self.store.rollback()
            raise
        if p.pool_upto is not None:
            while self.pool and self.pool[0].seq <= p.pool_upto:
                self.known.discard(self.pool.popleft().tx.hash)
        self.txs_since_checkpoint += len(p.txs)
        if p.changed is not None:
            self.engine.mark_checkpoint()
            self.txs_since_checkpoint = 0
            self._reads_at(header)
        self.permissions.new_block()
        self.head = header
        self.tx_count += len(p.txs)

    def apply_block(self, header: Header, raw_txs: list[bytes]) -> None:
        """Check a block sealed by another node by re-executing it, then store it.

        Raises ``SealError`` (and reloads, so this node is unchanged) if it breaks a rule of
        ``blockcheck.check_block`` (head, seal, time, transactions) or if any root, the gas
        or the state commitment differs from this node's own result.
        The node's pool must be empty (replicas forward transactions instead of pooling).
        """
        n = header.number
        txs = check_block(self, header, raw_txs)
        try:
            mine = self._build(n, header.timestamp, header.coinbase, txs)
        except BaseException:
            self.reload()
            raise
        if mine.header.unsealed_fields() != header.unsealed_fields():
            self.reload()
            diff = [
                name
                for name, a, b in zip(
                    _HEADER_FIELDS,
                    mine.header.unsealed_fields(),
                    header.unsealed_fields(),
                    strict=True,
                )
                if a != b
            ]
            raise SealError(f"block {n}: re-execution differs in {', '.join(diff)}")
        mine.header = header
        self.commit_block(mine)

    def reload(self) -> None:
        """Forget everything in memory and rebuild it from the store (checkpoint + replay)."""
        self.store.rollback()
        self.pool.clear()
        self.known.clear()
        self.pending_nonce.clear()
        self._headers.clear()
        self.permissions.new_block()
        self.txs_since_checkpoint = 0
        self._restore()

    def _assemble(
        self, number: int, timestamp: int, coinbase: bytes, executed: list[Executed]
    ) -> tuple[Header, list[TxRow], list[LogRow]]:
        next_log = self.store.next_log_id()
        txrows: list[TxRow] = []
        logrows: list[LogRow] = []
        blooms: list[bytes] = []
        cumulative = 0
        for i, e in enumerate(executed):
            o = e.outcome
            cumulative += o.gas_used
            first = next_log + len(logrows)
            for lg in o.logs:
                logrows.append(
                    LogRow(next_log + len(logrows), number, i, lg.address, lg.topics, lg.data)
                )
            bloom = logs_bloom(o.logs) if o.logs else EMPTY_BLOOM
            blooms.append(bloom)
            txrows.append(
                TxRow(
                    e.tx.hash,
                    number,
                    i,
                    e.tx.sender,
                    e.tx.raw,
                    int(o.success),
                    o.gas_used,
                    cumulative,
                    o.contract_address,
                    first,
                    len(o.logs),
                    o.output if not o.success else b"",
                    bloom,
                )
            )
        rroot = receipts_root(self._receipt_items(executed))
        header = Header(
            self.head.hash,
            number,
            timestamp,
            coinbase,
            running_state_root(self.head.state_root, rroot),
            transactions_root([e.tx.hash for e in executed]),
            rroot,
            merge_blooms(blooms),
            self.genesis.block_gas_limit,
            cumulative,
        )
        return header, txrows, logrows

    # -- reads -----------------------------------------------------------------------------
    def header_at(self, number: int) -> Header | None:
        if number == self.head.number:
            return self.head
        if not 0 <= number < self.head.number:
            return None  # also keeps a 2^64 from reaching SQLite (OverflowError)
        hit = self._headers.get(number)
        if hit is not None:
            return hit
        blob = self.store.header(number)
        if blob is None:
            return None
        if len(self._headers) > 1024:
            self._headers.clear()
        header = self._headers[number] = Header.decode(blob)
        return header


def _with_state(h: Header, root: bytes) -> Header:
    return replace(h, state_root=root)
