"""`audit verify`: the chain by re-execution (``ledger_node.verify``) and stored blobs against
the SHA-256 each record registered on chain."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sharing_api.storage import IntegrityError, InvalidCIDError, NotFoundError


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


def verify_chain(data_dir: Path) -> ChainResult:
    """Re-execute the node's chain from genesis; ``SealError`` (a ValueError) at the first
    broken seal, hash link or state commitment."""
    from ledger_node.chain import DB_FILE
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
    chosen = list(records)
    if sample is not None and sample < len(chosen):
        chosen = random.Random(seed).sample(chosen, sample)
    result = BlobResult(total=len(records), checked=len(chosen), ok=0)
    for rec in sorted(chosen, key=lambda r: int(r["record_id"])):
        expected = str(rec["content_hash"]).removeprefix("0x")
        try:
            for _ in storage.get(str(rec["cid"]), expected_sha256=expected):
                pass
        except (NotFoundError, IntegrityError, InvalidCIDError) as exc:
            result.failures.append(
                {"record_id": int(rec["record_id"]), "cid": rec["cid"], "error": str(exc)}
            )
        else:
            result.ok += 1
    return result
