"""Ethereum JSON-RPC methods over the chain. Field names and hex encodings follow anvil's."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from ledger_node.abc import Message
from ledger_node.block import Header
from ledger_node.chain import AdmissionError, Chain, price_paid
from ledger_node.limits import RpcLimits
from ledger_node.permission import NotAMember
from ledger_node.refusal import REJECTED, Refusal
from ledger_node.store import LogRow, TxRow
from ledger_node.txcodec import Tx, decode_raw, intrinsic_gas_of, keccak

CLIENT_VERSION = "alliance-ledger/0.1.0/pyrevm-0.3.7"
EMPTY_UNCLES = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
EMPTY_TRIE = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
MAX_ESTIMATE_MARGIN = 1.0


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def to_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def invalid(msg: str) -> RpcError:
    return RpcError(-32602, msg)


def refused(reason: Refusal, message: str) -> RpcError:
    """An admission refusal: anvil's code and words, plus the reason clients branch on."""
    code = -32602 if reason is Refusal.INVALID else REJECTED
    return RpcError(code, message, {"reason": reason.value})


def q(n: int) -> str:
    return hex(n)


def h(b: bytes) -> str:
    return "0x" + b.hex()


def p_bytes(v: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(v, str) or not v.startswith("0x"):
        raise invalid(f"{what}: expected 0x-prefixed hex string")
    s = v[2:]
    if len(s) % 2:
        s = "0" + s
    try:
        b = bytes.fromhex(s)
    except ValueError:
        raise invalid(f"{what}: invalid hex") from None
    if size is not None and len(b) != size:
        raise invalid(f"{what}: expected {size} bytes")
    return b


def p_quantity(v: Any, what: str) -> int:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    if not isinstance(v, str) or not v.startswith("0x") or len(v) > 66 or len(v) < 3:
        raise invalid(f"{what}: expected hex quantity")
    try:
        return int(v, 16)
    except ValueError:
        raise invalid(f"{what}: invalid hex quantity") from None


def p_addr(v: Any, what: str = "address") -> bytes:
    return p_bytes(v, what, 20)


class Methods:
    def __init__(self, chain: Chain, limits: RpcLimits | None = None) -> None:
        self.chain = chain
        self.limits = limits or RpcLimits.resolve({}, {}, chain.genesis.block_gas_limit)
        self.table: dict[str, Callable[..., Any]] = {
            name.replace("__", "_"): getattr(self, name)
            for name in dir(self)
            if name.startswith(("eth_", "net_", "web3_"))
        }

    # -- block tags ----------------------------------------------------------------------
    def _number(self, tag: Any) -> int:
        head = self.chain.head.number
        if tag in (None, "latest", "pending", "safe", "finalized"):
            return head
        if tag == "earliest":
            return 0
        if isinstance(tag, dict):
            if "blockHash" in tag:
                n = self.chain.store.block_number_of(p_bytes(tag["blockHash"], "blockHash", 32))
                if n is None:
                    raise RpcError(-32001, "block not found")
                return n
            tag = tag.get("blockNumber")
        return p_quantity(tag, "block number")

    def _state_tag(self, tag: Any) -> None:
        n = self._number(tag)
        if n > self.chain.head.number:
            raise RpcError(-32001, "block not found")
        if n != self.chain.head.number:
            raise RpcError(-32000, "historical state is not kept: query the latest block")

    # -- plain -------------------------------------------------------------------------
    def eth_chainId(self) -> str:
        return q(self.chain.genesis.chain_id)

    def net_version(self) -> str:
        return str(self.chain.genesis.chain_id)

    def web3_clientVersion(self) -> str:
        return CLIENT_VERSION

    def eth_blockNumber(self) -> str:
        return q(self.chain.head.number)

    def eth_gasPrice(self) -> str:
        return "0x0"

    def eth_maxPriorityFeePerGas(self) -> str:
        return "0x0"

    def eth_syncing(self) -> bool:
        return False

    def eth_accounts(self) -> list[str]:
        return []

    def net_listening(self) -> bool:
        return True

    def eth_feeHistory(self, count: Any, newest: Any, percentiles: Any = None) -> dict[str, Any]:
        n = min(p_quantity(count, "blockCount"), 1024)
        last = min(self._number(newest), self.chain.head.number)
        first = max(0, last - n + 1)
        ratios = []
        for i in range(first, last + 1):
            hd = self.chain.header_at(i)
            ratios.append(hd.gas_used / hd.gas_limit if hd else 0.0)
        count_ = last - first + 1
        out: dict[str, Any] = {
            "baseFeePerGas": ["0x0"] * (count_ + 1),
            "gasUsedRatio": ratios,
            "baseFeePerBlobGas": ["0x0"] * (count_ + 1),
            "blobGasUsedRatio": [0.0] * count_,
            "oldestBlock": q(first),
        }
        if isinstance(percentiles, list) and percentiles:
            out["reward"] = [["0x0"] * len(percentiles) for _ in range(count_)]
        return out

    # -- state reads --------------------------------------------------------------------
    def eth_getBalance(self, addr: Any, tag: Any = "latest") -> str:
        a = p_addr(addr)
        self._state_tag(tag)
        return q(self.chain.engine.account(a).balance)

    def eth_getTransactionCount(self, addr: Any, tag: Any = "latest") -> str:
        a = p_addr(addr)
        if tag == "pending":
            return q(self.chain.next_nonce(a))
        self._state_tag(tag)
        return q(self.chain.nonce_of(a))

    def eth_getCode(self, addr: Any, tag: Any = "latest") -> str:
        a = p_addr(addr)
        self._state_tag(tag)
        return h(self.chain.engine.account(a).code)

    def eth_getStorageAt(self, addr: Any, slot: Any, tag: Any = "latest") -> str:
        a = p_addr(addr)
        s = p_quantity(slot, "slot")
        self._state_tag(tag)
        return h(self.chain.engine.storage_at(a, s).to_bytes(32, "big"))

    def _message(self, call: Any) -> Message:
        if not isinstance(call, dict):
            raise invalid("call object expected")
        sender = p_addr(call["from"], "from") if call.get("from") else bytes(20)
        to = p_addr(call["to"], "to") if call.get("to") else None
        data_v = call.get("input", call.get("data", "0x"))
        data = p_bytes(data_v, "input") if data_v is not None else b""
        value = p_quantity(call.get("value", "0x0"), "value")
        cap = self.limits.call_gas_cap
        # Above the cap the gas is lowered to it, as geth and Besu do (clients often send a
        # transaction's own large gas limit with eth_call).
        gas = min(p_quantity(call["gas"], "gas"), cap) if call.get("gas") else cap
        price = p_quantity(call.get("gasPrice", "0x0"), "gasPrice")
        if self.chain.genesis.free_gas:
            price = 0  # as in a block: nothing is charged, so no balance is needed for it
        return Message(sender, to, data, value, gas, price, 0, intrinsic_gas_of(data, to is None))

    def _raise_failure(self, out: Any, msg: Message) -> None:
        if out.error == "revert":
            reason = _revert_reason(out.output)
            raise RpcError(3, f"execution reverted{': ' + reason if reason else ''}", h(out.output))
        if "OutOfGas" in str(out.error) and msg.gas == self.limits.call_gas_cap:
            raise RpcError(
                -32000,
                f"out of gas: gas required exceeds allowance ({msg.gas}, this node's "
                "eth_call/eth_estimateGas gas cap)",
            )
        raise RpcError(-32000, f"execution failed: {out.error}")

    def eth_call(self, call: Any, tag: Any = "latest", *_: Any) -> str:
        msg = self._message(call)
        self._state_tag(tag)
        out = self.chain.engine.call(msg)
        if not out.success:
            self._raise_failure(out, msg)
        return h(out.output)

    def eth_estimateGas(
        self, call: Any, tag: Any = "latest", *_: Any
    ) -> Generator[None, None, str]:
        """A generator: the node's call queue runs other work between its probes."""
        msg = self._message(call)
        self._state_tag(tag)
        return self._estimate(msg)

    def _estimate(self, msg: Message) -> Generator[None, None, str]:
        out = yield from self.chain.engine.estimate_gas_steps(msg)
        if not out.success:
            self._raise_failure(out, msg)
        # Another transaction may change the state (a slot from zero to non-zero) before
        # this one lands. Gas is free here: pad so such a tx cannot run out.
        padded = int(out.gas_used * (1 + MAX_ESTIMATE_MARGIN)) + 50_000
        return q(min(padded, self.chain.genesis.block_gas_limit))

    # -- transactions ---------------------------------------------------------------------
    def eth_sendRawTransaction(self, raw: Any) -> str:
        data = p_bytes(raw, "transaction")
        try:
            return h(self.chain.submit(data))
        except (AdmissionError, NotAMember) as exc:
            raise refused(exc.reason, str(exc)) from None

    def _tx_json(self, tx: Tx, row: TxRow | None, header: Header | None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": q(tx.type)}
        if tx.chain_id is not None:
            out["chainId"] = q(tx.chain_id)
        out["nonce"] = q(tx.nonce)
        if tx.type == 2:
            out["gasPrice"] = q(tx.effective_gas_price(0))
            out["maxFeePerGas"] = q(tx.gas_price)
            out["maxPriorityFeePerGas"] = q(tx.max_priority_fee)
        else:
            out["gasPrice"] = q(tx.gas_price)
        out.update(
            {
                "gas": q(tx.gas),
                "to": h(tx.to) if tx.to else None,
                "value": q(tx.value),
                "input": h(tx.data),
            }
        )
        if tx.type:
            out["accessList"] = [
                {"address": h(a), "storageKeys": [h(k) for k in ks]} for a, ks in tx.access_list
            ]
        out.update({"r": q(tx.r), "s": q(tx.s), "v": q(tx.v)})
        if tx.type:
            out["yParity"] = q(tx.v)
        out["hash"] = h(tx.hash)
        out["blockHash"] = h(header.hash) if header else None
        out["blockNumber"] = q(header.number) if header else None
        out["transactionIndex"] = q(row.idx) if row else None
        out["from"] = h(tx.sender)
        if header:
            out["blockTimestamp"] = q(header.timestamp)
        return out

    def eth_getTransactionByHash(self, tx_hash: Any) -> dict[str, Any] | None:
        th = p_bytes(tx_hash, "hash", 32)
        row = self.chain.store.tx(th)
        if row is None:
            for p in self.chain.pool:
                if p.tx.hash == th:
                    return self._tx_json(p.tx, None, None)
            return None
        return self._tx_json(
            decode_raw(row.raw, row.sender, row.hash), row, self.chain.header_at(row.block)
        )

    def _logs_json(
        self, rows: list[LogRow], headers: dict[int, Header], hashes: dict[tuple[int, int], bytes]
    ) -> list[dict[str, Any]]:
        out = []
        firsts: dict[int, int] = {}
        for r in rows:
            hd = headers.get(r.block) or self.chain.header_at(r.block)
            if hd is None:
                continue
            headers[r.block] = hd
            txh = hashes.get((r.block, r.tx_idx))
            if txh is None:
                txh = hashes[(r.block, r.tx_idx)] = self.chain.store.tx_hash_at(r.block, r.tx_idx)
            first = firsts.get(r.block)
            if first is None:
                first = firsts[r.block] = self.chain.store.block_first_log(r.block)
            out.append(
                {
                    "address": h(r.address),
                    "topics": [h(t) for t in r.topics],
                    "data": h(r.data),
                    "blockHash": h(hd.hash),
                    "blockNumber": q(r.block),
                    "blockTimestamp": q(hd.timestamp),
                    "transactionHash": h(txh),
                    "transactionIndex": q(r.tx_idx),
                    "logIndex": q(r.id - first),
                    "removed": False,
                }
            )
        return out

    def _receipt_json(self, row: TxRow, tx: Tx, header: Header) -> dict[str, Any]:
        logs = self.chain.store.logs_range(row.first_log, row.log_count)
        logs_json = self._logs_json(logs, {header.number: header}, {(row.block, row.idx): row.hash})
        bloom = row.bloom
        return {
            "type": q(tx.type),
            "status": q(row.status),
            "cumulativeGasUsed": q(row.cumulative_gas),
            "logs": logs_json,
            "logsBloom": h(bloom),
            "transactionHash": h(row.hash),
            "transactionIndex": q(row.idx),
            "blockHash": h(header.hash),
            "blockNumber": q(row.block),
            "gasUsed": q(row.gas_used),
            "effectiveGasPrice": q(price_paid(tx, self.chain.genesis.free_gas)),
            "blobGasPrice": "0x1",
            "from": h(row.sender),
            "to": h(tx.to) if tx.to else None,
            "contractAddress": h(row.contract) if row.contract else None,
            "blockTimestamp": header.timestamp,  # anvil answers a JSON number here
        }

    def eth_getTransactionReceipt(self, tx_hash: Any) -> dict[str, Any] | None:
        th = p_bytes(tx_hash, "hash", 32)
        if th in self.chain.known:
            return None  # still pooled: skip the database (clients poll these a lot)
        row = self.chain.store.tx(th)
        if row is None:
            return None
        header = self.chain.header_at(row.block)
        assert header is not None
        return self._receipt_json(row, decode_raw(row.raw, row.sender, row.hash), header)

    # -- blocks ------------------------------------------------------------------------
    def block_json(self, header: Header, full: bool) -> dict[str, Any]:
        return self._block_json(header, full)

    def logs_json(self, rows: list[LogRow]) -> list[dict[str, Any]]:
        return self._logs_json(rows, {}, {})

    def _block_json(self, header: Header, full: bool) -> dict[str, Any]:
        rows = self.chain.store.block_txs(header.number)
        if full:
            txs: list[Any] = [
                self._tx_json(decode_raw(r.raw, r.sender, r.hash), r, header) for r in rows
            ]
        else:
            txs = [h(r.hash) for r in rows]
        return {
            "hash": h(header.hash),
            "parentHash": h(header.parent_hash),
            "sha3Uncles": EMPTY_UNCLES,
            "miner": h(header.coinbase),
            "stateRoot": h(header.state_root),
            "transactionsRoot": h(header.transactions_root),
            "receiptsRoot": h(header.receipts_root),
            "logsBloom": h(header.logs_bloom),
            "difficulty": "0x0",
            "number": q(header.number),
            "gasLimit": q(header.gas_limit),
            "gasUsed": q(header.gas_used),
            "timestamp": q(header.timestamp),
            "extraData": h(header.seal_s.to_bytes(32, "big")) if header.seal_v else "0x",
            "mixHash": h(header.seal_r.to_bytes(32, "big")),
            "nonce": h(header.seal_v.to_bytes(8, "big")),
            "baseFeePerGas": "0x0",
            "withdrawalsRoot": EMPTY_TRIE,
            "blobGasUsed": "0x0",
            "excessBlobGas": "0x0",
            "parentBeaconBlockRoot": h(bytes(32)),
            "requestsHash": h(keccak(b"")),
            "totalDifficulty": "0x0",
            "size": q(len(header.encode()) + sum(len(r.raw) for r in rows)),
            "uncles": [],
            "transactions": txs,
            "withdrawals": [],
        }

    def eth_getBlockByNumber(self, tag: Any, full: Any = False) -> dict[str, Any] | None:
        header = self.chain.header_at(self._number(tag))
        return None if header is None else self._block_json(header, bool(full))

    def eth_getBlockByHash(self, block_hash: Any, full: Any = False) -> dict[str, Any] | None:
        n = self.chain.store.block_number_of(p_bytes(block_hash, "hash", 32))
        header = None if n is None else self.chain.header_at(n)
        return None if header is None else self._block_json(header, bool(full))

    def eth_getBlockTransactionCountByNumber(self, tag: Any) -> str | None:
        n = self._number(tag)
        return None if self.chain.header_at(n) is None else q(len(self.chain.store.block_txs(n)))

    # -- logs --------------------------------------------------------------------------
    def eth_getLogs(self, flt: Any) -> list[dict[str, Any]]:
        if not isinstance(flt, dict):
            raise invalid("filter object expected")
        head = self.chain.head.number
        if flt.get("blockHash"):
            n = self.chain.store.block_number_of(p_bytes(flt["blockHash"], "blockHash", 32))
            if n is None:
                raise RpcError(-32001, "block not found")
            lo = hi = n
        else:
            lo = self._number(flt.get("fromBlock", "latest"))
            hi = min(self._number(flt.get("toBlock", "latest")), head)
        addrs, topics = parse_log_filter(flt)
        if lo > hi:
            return []
        span, most = self.limits.max_logs_range, self.limits.max_logs
        if hi - lo + 1 > span:
            raise RpcError(
                -32005,
                f"block range too large: {hi - lo + 1} blocks ({q(lo)}..{q(hi)}), this node "
                f"answers at most {span} per query: narrow the range, e.g. [{q(lo)}, "
                f"{q(lo + span - 1)}]",
                {"limit": span},
            )
        rows = self.chain.store.query_logs(lo, hi, addrs, topics, most)
        if len(rows) > most and lo == hi:
            # One block is always answered whole (its gas limit bounds it): a client that
            # narrows to a single block must be able to read it.
            rows = self.chain.store.query_logs(lo, hi, addrs, topics, ONE_BLOCK_LOGS)
        elif len(rows) > most:
            # Like Infura: name a range that fits (the blocks before the one that overflowed).
            fits = max(lo, rows[-1].block - 1)
            raise RpcError(
                -32005,
                f"query returned more than {most} results: narrow the range, e.g. "
                f"[{q(lo)}, {q(fits)}]",
                {"limit": most, "from": q(lo), "to": q(fits)},
            )
        return self._logs_json(rows, {}, {})


# A block's logs are bounded by its gas limit (a log costs at least 375 gas): far below this.
ONE_BLOCK_LOGS = 10_000_000


# Alternatives in one filter (addresses plus every topic position's list). Each becomes an
# SQL parameter; past SQLite's 32,766 the query failed as an internal error. Real clients
# name a handful; a bound far below both keeps a 5 MiB filter from costing a huge IN list.
MAX_FILTER_ALTERNATIVES = 1_000


def parse_log_filter(flt: dict[str, Any]) -> tuple[list[bytes], list[list[bytes] | None]]:
    """Addresses and topic positions (None = any, a list = any of) of a log filter."""
    addr_v = flt.get("address")
    listed = addr_v if isinstance(addr_v, list) else [addr_v]
    tv_count = flt.get("topics")
    alternatives = (0 if addr_v is None else len(listed)) + sum(
        len(t) if isinstance(t, list) else 1
        for t in (tv_count if isinstance(tv_count, list) else [])
    )
    if alternatives > MAX_FILTER_ALTERNATIVES:
        raise invalid(
            f"log filter: at most {MAX_FILTER_ALTERNATIVES} addresses and topics in all "
            f"(got {alternatives})"
        )
    addrs = [] if addr_v is None else [p_addr(a) for a in listed]
    topics: list[list[bytes] | None] = []
    tv = flt.get("topics") or []
    if not isinstance(tv, list) or len(tv) > 4:
        raise invalid("topics: at most four positions")
    for t in tv:
        if t is None:
            topics.append(None)
        elif isinstance(t, list):
            topics.append([p_bytes(x, "topic", 32) for x in t] or None)
        else:
            topics.append([p_bytes(t, "topic", 32)])
    return addrs, topics


def _revert_reason(data: bytes) -> str:
    """Error(string) reasons as text, like geth/anvil; custom errors by selector."""
    if data[:4] == bytes.fromhex("08c379a0") and len(data) >= 68:
        try:
            length = int.from_bytes(data[36:68], "big")
            return data[68 : 68 + length].decode("utf-8", "replace")
        except (ValueError, OverflowError):
            return ""
    if data:
        return f"custom error {h(data[:4])}"
    return ""
