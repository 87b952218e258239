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


@dataclass
class LinkResult:
    """Blocks ``first..last`` of a node seen over JSON-RPC: each block's fields hash to its
    hash, each names its parent, each is sealed by its coinbase."""

    first: int
    last: int
    head_hash: str
    sealers: list[str]


def _header_of(block: dict[str, Any]) -> Any:
    """Rebuild the ledger node's header from its JSON-RPC block (our node puts the seal's
    r, s, v in mixHash, extraData and nonce)."""
    from ledger_node.block import Header

    def num(key: str) -> int:
        value = block.get(key) or "0x0"
        return int(value, 16) if value != "0x" else 0

    def raw(key: str) -> bytes:
        return bytes.fromhex(str(block[key]).removeprefix("0x"))

    return Header(
        raw("parentHash"),
        num("number"),
        num("timestamp"),
        raw("miner"),
        raw("stateRoot"),
        raw("transactionsRoot"),
        raw("receiptsRoot"),
        raw("logsBloom"),
        num("gasLimit"),
        num("gasUsed"),
        num("mixHash"),
        num("extraData"),
        num("nonce"),
    )


def verify_links_rpc(
    request: Any, first: int = 0, parent_hash: str | None = None, last: int | None = None
) -> LinkResult:
    """Check hash links and seals of blocks ``first..last`` (default: to the head) of the
    project's ledger node over JSON-RPC; ``request(method, params)`` returns the result.
    ``parent_hash`` is block ``first - 1``'s hash when resuming. Raises ``SealError`` (a
    ValueError) at the first mismatch. It does not re-execute: the state commitments are
    checked by ``verify_chain`` on a node's data directory."""
    from ledger_node.block import SealError

    head = int(request("eth_blockNumber", []), 16) if last is None else last
    sealers: set[str] = set()
    prev = parent_hash
    for n in range(first, head + 1):
        block = request("eth_getBlockByNumber", [hex(n), False])
        if block is None:
            raise SealError(f"block {n} is missing")
        header = _header_of(block)
        if "0x" + header.hash.hex() != str(block["hash"]).lower():
            raise SealError(f"block {n}: its fields do not hash to its hash")
        if prev is not None and "0x" + header.parent_hash.hex() != prev:
            raise SealError(f"block {n}: broken hash link")
        if n > 0:
            signer = header.signer()
            if signer != header.coinbase:
                raise SealError(f"block {n}: sealed by 0x{signer.hex()}, not its coinbase")
            sealers.add("0x" + signer.hex())
        prev = "0x" + header.hash.hex()
    return LinkResult(first, head, prev or "", sorted(sealers))
