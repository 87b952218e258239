"""RecordRegistry (register, supersede) and AccessLog (log, break-glass, justify)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from sharing_api.chain.base import ContractWrapper
from sharing_api.chain.client import Sent, sent_of
from sharing_api.chain.events import events_in_receipt
from sharing_api.chain.scopes import Basis, Category, Purpose, Review

ZERO32 = b"\x00" * 32
LOG_ACCESS_BATCH = keccak(
    text="logAccessBatch((uint256,address,uint8,uint8,uint256,bytes32,bytes32)[])"
)[:4]


@dataclass(frozen=True)
class RecordInfo:
    record_id: int
    patient: str
    category: Category
    supersedes: int
    custodian: str
    superseded_by: int
    erased: bool
    content_hash: bytes


@dataclass(frozen=True)
class Registered:
    record_id: int
    sent: Sent


@dataclass(frozen=True)
class Logged:
    access_id: int
    sent: Sent


@dataclass(frozen=True)
class AccessEntry:
    """One access of a ``logAccessBatch``: the arguments ``logAccess`` takes. ``staff`` is
    the reading person's pseudonym (``sharing_api.staff.pseudonym``); zero: the member."""

    record_id: int
    reader: str
    purpose: Purpose
    basis: Basis
    basis_id: int = 0
    reason_hash: bytes = ZERO32
    staff: bytes = ZERO32


@dataclass(frozen=True)
class AccessEvent:
    """One AccessLogged event, as a custodian's gateway checks it before serving a reader."""

    access_id: int
    record_id: int
    patient: str
    reader: str
    logger: str  # equals reader: a member logs only its own accesses
    purpose: Purpose
    basis: Basis
    basis_id: int
    block_number: int
    staff: bytes = ZERO32  # the reader's staff pseudonym; zero: the member itself


@dataclass(frozen=True)
class LoggedBatch:
    access_ids: tuple[int, ...]  # in entry order (consecutive)
    sent: Sent


def _tuples(entries: Sequence[AccessEntry]) -> list[tuple[object, ...]]:
    return [
        (
            e.record_id,
            to_checksum_address(e.reader),
            int(e.purpose),
            int(e.basis),
            e.basis_id,
            e.reason_hash,
            e.staff,
        )
        for e in entries
    ]


def _uint(value: int, bits: int) -> bytes:
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{value} does not fit uint{bits}")
    return value.to_bytes(32, "big")


def _address(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"not an address: {value}")
    return raw.rjust(32, b"\0")


def _bytes32(value: bytes, what: str) -> bytes:
    if len(value) > 32:
        raise ValueError(f"{what} longer than 32 bytes")
    return value.ljust(32, b"\0")


def access_batch_calldata(entries: Sequence[AccessEntry]) -> bytes:
    """``logAccessBatch`` calldata, encoded by hand: one array of static tuples is the
    array's offset, its length, then seven words per entry. eth_abi and web3 spend ~90 us
    per entry here; this, a few. The contract tests compare the two."""
    words = [(32).to_bytes(32, "big"), len(entries).to_bytes(32, "big")]
    for e in entries:
        words += (
            _uint(e.record_id, 256),
            _address(e.reader),
            _uint(int(e.purpose), 8),
            _uint(int(e.basis), 8),
            _uint(e.basis_id, 256),
            _bytes32(e.reason_hash, "reason hash"),
            _bytes32(e.staff, "staff pseudonym"),
        )
    return LOG_ACCESS_BATCH + b"".join(words)


def _check_sha256(content_hash: bytes) -> bytes:
    if len(content_hash) != 32:
        raise ValueError("content_hash must be the 32-byte SHA-256 of the ciphertext")
    return content_hash


def _check_commitment(commitment: bytes) -> bytes:
    if len(commitment) != 32 or commitment == ZERO32:
        raise ValueError("policy_commitment must be the 32-byte commitment of the sealed header")
    return commitment


class RecordRegistry(ContractWrapper):
    NAME = "RecordRegistry"

    def register(
        self,
        patient: str,
        category: Category,
        cid: str,
        content_hash: bytes,
        policy_commitment: bytes,
    ) -> Registered:
        """``policy_commitment``: crypto.policy_commitment of the record's sealed header."""
        fn = self.fn.register(
            to_checksum_address(patient),
            int(category),
            cid,
            _check_sha256(content_hash),
            _check_commitment(policy_commitment),
        )
        event, sent = self._send_for_event(fn, "RecordRegistered")
        return Registered(int(event.args["recordId"]), sent)

    def supersede(
        self, old_record_id: int, cid: str, content_hash: bytes, policy_commitment: bytes
    ) -> Registered:
        fn = self.fn.supersede(
            old_record_id, cid, _check_sha256(content_hash), _check_commitment(policy_commitment)
        )
        event, sent = self._send_for_event(fn, "RecordRegistered")
        return Registered(int(event.args["recordId"]), sent)

    def get(self, record_id: int) -> RecordInfo:
        r = self._call(self.fn.getRecord(record_id))
        return RecordInfo(
            record_id, r[0], Category(r[1]), r[2], r[3], r[4], bool(r[5]), bytes(r[6])
        )

    def erase(self, record_ids: list[int]) -> Sent:
        """Mark records erased (custodian only): no access can be logged for them after."""
        if not record_ids:
            raise ValueError("no records to erase")
        return self._send(self.fn.erase(list(record_ids)))

    def locator(self, record_id: int) -> tuple[str, bytes]:
        """(CID, policy commitment) of a record: kept in its RecordRegistered event, not in
        storage."""
        found = self.events("RecordRegistered", recordId=record_id)
        if not found:
            raise ValueError(f"no record {record_id}")
        return str(found[-1].args["cid"]), bytes(found[-1].args["policyCommitment"])


class AccessLog(ContractWrapper):
    NAME = "AccessLog"

    def log_access(
        self,
        record_id: int,
        reader: str,
        purpose: Purpose,
        basis: Basis,
        basis_id: int = 0,
        reason_hash: bytes = ZERO32,
        staff: bytes = ZERO32,
    ) -> Logged:
        fn = self.fn.logAccess(
            record_id,
            to_checksum_address(reader),
            int(purpose),
            int(basis),
            basis_id,
            reason_hash,
            staff,
        )
        event, sent = self._send_for_event(fn, "AccessLogged")
        return Logged(int(event.args["accessId"]), sent)

    def log_access_batch(self, entries: Sequence[AccessEntry]) -> LoggedBatch:
        """Log several accesses in one transaction (same checks and events as log_access
        for each; any entry refused reverts them all)."""
        receipt = self.client.send(self.fn.logAccessBatch(_tuples(entries)))
        found = events_in_receipt(self.NAME, self.contract, "AccessLogged", receipt)
        if len(found) != len(entries):
            raise ValueError(f"{len(entries)} accesses sent, {len(found)} AccessLogged events")
        return LoggedBatch(tuple(int(e.args["accessId"]) for e in found), sent_of(receipt))

    def access_events(
        self,
        record_id: int,
        reader: str,
        from_block: int,
        to_block: int | Literal["latest"] = "latest",
    ) -> list[AccessEvent]:
        """The accesses ``reader`` logged to ``record_id`` in blocks ``from_block`` ..
        ``to_block`` (inclusive), oldest first. The node filters by the indexed topics
        (recordId, reader; patient left open), so nothing else crosses the wire; the rows
        are checked again here, as access control must not trust a node to filter."""
        if from_block < 0 or (to_block != "latest" and to_block < from_block):
            raise ValueError(f"bad block window {from_block}..{to_block}")
        want = reader.lower()
        # anvil refuses a window past its head where our node answers []: answer [] on both.
        head = self.client.block_number()
        if from_block > head:
            return []
        found = self.events(
            "AccessLogged",
            from_block=from_block,
            to_block=to_block if to_block == "latest" else min(to_block, head),
            recordId=record_id,
            reader=to_checksum_address(reader),
        )
        return [
            AccessEvent(
                access_id=int(e.args["accessId"]),
                record_id=int(e.args["recordId"]),
                patient=str(e.args["patient"]),
                reader=str(e.args["reader"]),
                logger=str(e.args["logger"]),
                purpose=Purpose(e.args["purpose"]),
                basis=Basis(e.args["basis"]),
                basis_id=int(e.args["basisId"]),
                block_number=e.block_number,
                staff=bytes(e.args["staff"]),
            )
            for e in found
            if int(e.args["recordId"]) == record_id and str(e.args["reader"]).lower() == want
        ]

    def log_break_glass(
        self, record_id: int, reader: str, reason_hash: bytes, staff: bytes = ZERO32
    ) -> Logged:
        return self.log_access(
            record_id, reader, Purpose.EMERGENCY, Basis.BREAK_GLASS, 0, reason_hash, staff
        )

    def justify(self, access_id: int, justification_hash: bytes, reviewer: bytes) -> Sent:
        """Record the justification's commitment and the reviewing person's pseudonym."""
        return self._send(self.fn.justify(access_id, justification_hash, reviewer))

    def close_break_glass(self, access_id: int, accepted: bool) -> Sent:
        """The regulator closes a review: accepted (justified ones only) or flagged."""
        return self._send(self.fn.closeBreakGlass(access_id, accepted))

    def set_audit_key(self, public_key: bytes) -> Sent:
        """The regulator publishes the X25519 key break-glass reasons are sealed to."""
        return self._send(self.fn.setAuditKey(public_key))

    def audit_key(self) -> tuple[str, bytes]:
        """(regulator, X25519 public key); the zero address and 32 zero bytes if unset."""
        owner, key = self._call(self.fn.auditKey())
        return str(owner), bytes(key)

    def break_glass_review(self, access_id: int) -> tuple[Review, bytes]:
        """(review state, reviewer pseudonym) of a break-glass access; the pseudonym (32 zero
        bytes until justified) is kept in the BreakGlassJustified event, not in storage."""
        entry = self._call(self.fn.getBreakGlass(access_id))
        found = self.events("BreakGlassJustified", accessId=access_id)
        return Review(int(entry[3])), bytes(found[-1].args["reviewer"]) if found else bytes(32)

    def access_count(self) -> int:
        """How many accesses have been logged (ids run from 1 to this)."""
        return int(self._call(self.fn.accessCount()))

    def break_glass_entry(self, access_id: int) -> tuple[str, str, bool]:
        """(reader, logger, justified) of a break-glass access."""
        reader, logger, justified, _review = self._call(self.fn.getBreakGlass(access_id))
        return reader, logger, bool(justified)

    def unjustified_break_glass(self) -> list[int]:
        """Access ids of break-glass reads still waiting for a justification (review queue)."""
        opened = [
            int(e.args["accessId"])
            for e in self.events("AccessLogged")
            if e.args["basis"] == Basis.BREAK_GLASS
        ]
        closed = {int(e.args["accessId"]) for e in self.events("BreakGlassJustified")}
        return [a for a in opened if a not in closed]
