"""`audit verify --rpc`: the project's ledger node seen over JSON-RPC alone. Rebuild each
block header from ``eth_getBlockByNumber`` (our node carries the seal's r, s, v in mixHash,
extraData and nonce) and each signed transaction from its JSON fields, check that they hash
to the hashes the node states, then hand them to the node's own ``ledger_node.verify.replay``:
every hash link, seal, root and state commitment by re-execution, from the genesis file.
Without the genesis file, ``verify_links_rpc`` checks hash links and seals only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sharing_api.audit.verify import ChainResult

Request = Callable[[str, list[Any]], Any]  # JSON-RPC method, params -> result


@dataclass
class LinkResult:
    """Blocks ``first..last`` of a node seen over JSON-RPC: each block's fields hash to its
    hash, each names its parent, each is sealed by its coinbase."""

    first: int
    last: int
    head_hash: str
    sealers: list[str]


def header_of(block: dict[str, Any]) -> Any:
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
    request: Request, first: int = 0, parent_hash: str | None = None, last: int | None = None
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
        header = header_of(block)
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


def _q(value: Any) -> int:
    return int(str(value), 16) if value not in (None, "0x") else 0


def _b(value: Any) -> bytes:
    return bytes.fromhex(str(value or "0x").removeprefix("0x"))


def raw_tx(t: dict[str, Any]) -> bytes:
    """The signed transaction's bytes rebuilt from its JSON-RPC fields (legacy with EIP-155,
    EIP-2930 or EIP-1559)."""
    from ledger_node import rlpfast

    kind = _q(t.get("type"))
    to = _b(t.get("to")) if t.get("to") else b""
    access = [
        [_b(a["address"]), [_b(k) for k in a.get("storageKeys", [])]]
        for a in t.get("accessList") or []
    ]
    sig = [_q(t.get("yParity", t["v"])) if kind else _q(t["v"]), _q(t["r"]), _q(t["s"])]
    common = [_q(t["gas"]), to, _q(t["value"]), _b(t["input"])]
    if kind == 0:
        return bytes(rlpfast.encode([_q(t["nonce"]), _q(t["gasPrice"]), *common, *sig]))
    if kind == 1:
        fields = [_q(t["chainId"]), _q(t["nonce"]), _q(t["gasPrice"]), *common, access, *sig]
    elif kind == 2:
        fees = [_q(t["maxPriorityFeePerGas"]), _q(t["maxFeePerGas"])]
        fields = [_q(t["chainId"]), _q(t["nonce"]), *fees, *common, access, *sig]
    else:
        raise ValueError(f"transaction {t.get('hash')}: unsupported type {kind}")
    return bytes([kind]) + bytes(rlpfast.encode(fields))


def verify_rpc(request: Request, genesis_file: Path, last: int | None = None) -> ChainResult:
    """Re-execute blocks 1..``last`` (default: the head) fetched over JSON-RPC from genesis;
    ``SealError`` (a ValueError) at the first mismatch."""
    from ledger_node.block import SealError
    from ledger_node.genesis import Genesis
    from ledger_node.txcodec import Tx, decode_raw
    from ledger_node.verify import replay

    genesis = Genesis.from_json(Path(genesis_file).read_bytes())
    head = _q(request("eth_blockNumber", [])) if last is None else last

    def block(n: int, full: bool) -> dict[str, Any]:
        found = request("eth_getBlockByNumber", [hex(n), full])
        if found is None:
            raise SealError(f"block {n} is missing")
        header = header_of(found)
        if "0x" + header.hash.hex() != str(found["hash"]).lower():
            raise SealError(f"block {n}: its fields do not hash to its hash")
        return dict(found, header=header)

    def blocks() -> Iterator[tuple[Any, list[Tx]]]:
        for n in range(1, head + 1):
            b = block(n, True)
            txs = []
            for t in b["transactions"]:
                tx = decode_raw(raw_tx(t))
                if "0x" + tx.hash.hex() != str(t["hash"]).lower():
                    raise SealError(f"block {n}: transaction {t['hash']} does not hash as stated")
                if "0x" + tx.sender.hex() != str(t["from"]).lower():
                    raise SealError(f"block {n}: transaction {t['hash']} has another signer")
                txs.append(tx)
            yield b["header"], txs

    report = replay(genesis, block(0, False)["header"], blocks())
    txs = report.transactions
    return ChainResult(report.blocks, txs, report.checkpoints, "0x" + report.head_hash.hex())


def http_request(url: str, timeout: float = 30.0) -> Request:
    """A plain JSON-RPC caller (no web3 middleware rewriting block fields) on the transport;
    a node that cannot be reached or answers an error raises an OSError
    (``ChainUnavailable``) or ValueError (``RpcError``)."""
    from ledger_node.jsonrpc import JsonRpc

    return JsonRpc(url, timeout).call
