"""`audit verify`: the chain by re-execution (``ledger_node.verify``) and stored blobs against
the SHA-256 each record registered on chain, and each blob's sealed header against the
policy commitment registered with it (the chain holds no policy text)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crypto.errors import CryptoError
from crypto.header import RecordHeader
from crypto.policy_commitment import check_policy_commitment
from crypto.records import read_container_header
from sharing_api.storage import IntegrityError, InvalidCIDError, NotFoundError
from sharing_api.storage.chunks import chunk_reader


class BlobReader(Protocol):
    """What the check needs of a ``Storage`` (any backend): the verifying reader."""

    def get(self, cid: str, expected_sha256: str | None = None) -> Iterator[bytes]: ...


@dataclass
class ChainResult:
    blocks: int
    transactions: int
    checkpoints: int
    head_hash: str


@dataclass
class BlobResult:
    total: int  # records on chain
    checked: int
    ok: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    erased: int = 0  # records erased at the patient's request: their blobs are gone by design


def verify_chain(data_dir: Path) -> ChainResult:
    """Re-execute the node's chain from genesis; ``SealError`` (a ValueError) at the first
    broken seal, hash link or state commitment."""
    from ledger_node.datadir import DB_FILE
    from ledger_node.store import Store
    from ledger_node.verify import verify_store

    path = Path(data_dir) / DB_FILE
    if not path.exists():
        raise FileNotFoundError(f"no chain in {data_dir}")
    store = Store(path)
    try:
        report = verify_store(store)
    finally:
        store.close()
    return ChainResult(
        report.blocks, report.transactions, report.checkpoints, "0x" + report.head_hash.hex()
    )


def verify_blobs(
    storage: BlobReader, records: Sequence[dict[str, Any]], sample: int | None = None, seed: int = 0
) -> BlobResult:
    """Read each record's blob through the store's verifying reader with the on-chain SHA-256
    as the expected digest (all records, or a seeded random sample). A missing or altered
    blob is a failure, not an exception: the auditor wants the whole list. A store that is
    down raises (``BackendUnavailableError``, an OSError): that says nothing about the blobs."""
    live = [r for r in records if not r.get("erased")]
    chosen = live
    if sample is not None and sample < len(chosen):
        chosen = random.Random(seed).sample(chosen, sample)
    result = BlobResult(
        total=len(records), checked=len(chosen), ok=0, erased=len(records) - len(live)
    )
    for rec in sorted(chosen, key=lambda r: int(r["record_id"])):
        expected = str(rec["content_hash"]).removeprefix("0x")
        try:
            chunks = storage.get(str(rec["cid"]), expected_sha256=expected)
            commitment = rec.get("policy_commitment")
            if commitment:
                header = _header_while_reading(chunks)
                check_policy_commitment(header, bytes.fromhex(str(commitment)[2:]))
            else:  # a record read from an index of before commitments: the bytes only
                for _ in chunks:
                    pass
        except (NotFoundError, IntegrityError, InvalidCIDError, CryptoError) as exc:
            result.failures.append(
                {"record_id": int(rec["record_id"]), "cid": rec["cid"], "error": str(exc)}
            )
        else:
            result.ok += 1
    return result


def _header_while_reading(chunks: Iterable[bytes]) -> RecordHeader:
    """The container's header, parsed from the first chunks; every chunk is read (the store
    checks the SHA-256 only at the end)."""
    src = chunk_reader(chunks)
    header = read_container_header(src)
    while src.read(1 << 20):
        pass
    return header
