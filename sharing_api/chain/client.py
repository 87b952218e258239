"""A signer bound to one Ethereum JSON-RPC endpoint: sends contract transactions, decodes reverts.

Endpoint-agnostic on purpose: the same code talks to anvil in tests, to the project's own
ledger node, or to any Ethereum JSON-RPC node. Fees follow what the node reports: EIP-1559
when blocks carry a base fee (tip = eth_gasPrice - base fee), legacy ``gasPrice`` otherwise;
either may be zero on a permissioned node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import Nonce, TxParams, TxReceipt

from sharing_api.chain.artifacts import decode_revert, load_artifact
from sharing_api.chain.errors import (
    ChainUnavailable,
    NonceTooHigh,
    NonceTooLow,
    TransactionRejected,
    rpc_error,
)
from sharing_api.chain.provider import TransportProvider
from sharing_api.chain.rpc import JsonRpc

# Headroom over eth_estimateGas: the state may change between the estimate and the block.
GAS_MARGIN_NUM, GAS_MARGIN_DEN = 6, 5
FEE_CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class Sent:
    """What a mined transaction cost and where it landed."""

    tx_hash: str
    block_number: int
    gas_used: int


def sent_of(receipt: TxReceipt) -> Sent:
    return Sent(
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        block_number=int(receipt["blockNumber"]),
        gas_used=int(receipt["gasUsed"]),
    )


class ChainClient:
    """Sends transactions as one account to one endpoint. Thread-safe nonce allocation."""

    def __init__(
        self,
        url: str,
        private_key: str | bytes | LocalAccount,
        *,
        timeout: float = 30.0,
        w3: Web3 | None = None,
        legacy_fees: bool = False,
        rpc: JsonRpc | None = None,
    ) -> None:
        """``legacy_fees``: always send type-0 transactions priced at eth_gasPrice (for nodes
        that take no EIP-1559 transactions); otherwise the latest block decides. ``rpc``:
        the transport to share (web3 sends through it too)."""
        self.url = url
        self.timeout = timeout
        self.legacy_fees = legacy_fees
        self.rpc = rpc or JsonRpc(url, timeout)
        if w3 is None:
            w3 = Web3(TransportProvider(self.rpc))
            # Sealed blocks (a PoA node, ours) carry more than 32 bytes of extraData, which
            # web3 otherwise refuses; harmless on other nodes.
            w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
            # web3's "validation" middleware asks eth_chainId before every eth_call and
            # eth_estimateGas (doubling the round trips); we set chainId on every transaction
            # ourselves. ENS and gas-price strategies do not apply to a private chain.
            for name in ("validation", "ens_name_to_address", "gas_price_strategy"):
                w3.middleware_onion.remove(name)
        self.w3 = w3
        self.account: LocalAccount = (
            private_key if isinstance(private_key, LocalAccount) else Account.from_key(private_key)
        )
        self._nonces = _NonceSlot.of(url, self.account.address)
        self._fee_cache: tuple[float, dict[str, int]] | None = None
        self._chain_id: int | None = None

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    def as_account(self, private_key: str | bytes | LocalAccount) -> ChainClient:
        """Another signer on the same endpoint (shares the transport and its connections)."""
        return ChainClient(
            self.url,
            private_key,
            timeout=self.timeout,
            w3=self.w3,
            legacy_fees=self.legacy_fees,
            rpc=self.rpc,
        )

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._rpc(lambda: self.w3.eth.chain_id))
        return self._chain_id

    def contract(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=load_artifact(name).abi
        )

    def block_number(self) -> int:
        """The head's number."""
        return int(self._rpc(lambda: self.w3.eth.block_number))

    def block_timestamp(self) -> int:
        """The latest block's timestamp: the clock the contracts judge validity by."""
        return int(self._rpc(lambda: self.w3.eth.get_block("latest"))["timestamp"])

    # ---- calls and transactions ---------------------------------------------------------

    def call(self, fn: ContractFunction) -> Any:
        """eth_call from this account; a revert becomes ContractRevert."""
        try:
            return self._rpc(lambda: fn.call({"from": self.address}))
        except ContractLogicError as exc:
            raise decode_revert(_revert_data(exc)) from None

    def send(self, fn: ContractFunction, *, gas: int | None = None) -> TxReceipt:
        """Sign and send a contract call, wait for it, and return the successful receipt."""
        return self._transact({"to": fn.address, "data": fn._encode_transaction_data()}, gas)

    def deploy(self, name: str, *args: Any) -> tuple[ChecksumAddress, TxReceipt]:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        data = factory.constructor(*args).data_in_transaction
        receipt = self._transact({"data": data}, None)
        address = receipt["contractAddress"]
        if address is None:
            raise ValueError(f"deploying {name} created no contract")
        return Web3.to_checksum_address(address), receipt

    def _transact(self, tx: dict[str, Any], gas: int | None) -> TxReceipt:
        params: TxParams = {"from": self.address, "value": 0, **tx}  # type: ignore[typeddict-item]
        if gas is None:
            try:
                estimate = self._rpc(lambda: self.w3.eth.estimate_gas(params))
            except ContractLogicError as exc:
                raise decode_revert(_revert_data(exc)) from None
            gas = estimate * GAS_MARGIN_NUM // GAS_MARGIN_DEN
        params["gas"] = gas
        params["chainId"] = self.chain_id
        params.update(self.fees())  # type: ignore[typeddict-item]
        tx_hash = self._send_signed(params)
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.timeout, poll_latency=0.02
            )
        except TimeExhausted as exc:
            raise ChainUnavailable(f"transaction {tx_hash.hex()} not mined in time") from exc
        if receipt["status"] != 1:
            raise self._failure(params, receipt)
        return receipt

    @contextmanager
    def reserve_nonces(self, count: int) -> Iterator[int]:
        """Reserve ``count`` consecutive nonces of this account for transactions signed
        elsewhere (e.g. a batcher signing with coincurve); yields the first.

        Send them inside the ``with``: it holds the account's nonce lock (shared with every
        client of this account in the process), so no other transaction of the account can
        take a nonce or reach the node out of order meanwhile. If the block raises, nobody
        knows which nonces the node took: the next reservation asks the node again."""
        if count < 0:
            raise ValueError("count must be >= 0")
        slot = self._nonces
        with slot.lock:
            if slot.next is None:
                slot.next = self._pending_nonce()
            first = slot.next
            try:
                yield first
            except BaseException:
                slot.next = None
                raise
            slot.next = first + count

    def forget_nonce(self) -> None:
        """Ask the node for the next nonce next time (after a send whose fate is unknown)."""
        with self._nonces.lock:
            self._nonces.next = None

    def _pending_nonce(self) -> int:
        return int(self._rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending")))

    def _send_signed(self, params: TxParams) -> Any:
        slot = self._nonces
        for attempt in range(2):
            with slot.lock:
                if slot.next is None:
                    slot.next = self._pending_nonce()
                params["nonce"] = Nonce(slot.next)
                signed = self.account.sign_transaction(params)  # type: ignore[arg-type]
                try:
                    tx_hash = self._rpc(
                        partial(self.w3.eth.send_raw_transaction, signed.raw_transaction)
                    )
                except TransactionRejected as exc:
                    slot.next = None  # unknown whether it was taken: ask the node again
                    self.forget_fees()  # the refusal may be about the price
                    # Another client (or process) used this account's nonce: retry once.
                    if attempt == 0 and isinstance(exc, (NonceTooLow, NonceTooHigh)):
                        continue
                    raise
                except Exception:
                    slot.next = None
                    raise
                slot.next += 1
                return tx_hash
        raise AssertionError("unreachable")

    def _failure(self, params: TxParams, receipt: TxReceipt) -> Exception:
        # Replay the call at the failing block to learn which named error it hit.
        replay = {k: v for k, v in params.items() if k in ("from", "to", "data", "value", "gas")}
        try:
            self.w3.eth.call(replay, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except ContractLogicError as exc:
            return decode_revert(_revert_data(exc))
        except Exception:  # the node may not serve old state: report what we know
            pass
        return ValueError(f"transaction 0x{bytes(receipt['transactionHash']).hex()} reverted")

    def fees(self, max_age_s: float = FEE_CACHE_SECONDS) -> dict[str, int]:
        """The fee fields for a transaction sent now (``gasPrice``, or ``maxFeePerGas`` and
        ``maxPriorityFeePerGas``), from a cache at most ``max_age_s`` old."""
        # Two RPCs per transaction otherwise; a base fee moves at most 12.5% a block and we
        # offer twice it, so a price a second old is still good.
        now = time.monotonic()
        if self._fee_cache is not None and now - self._fee_cache[0] < max_age_s:
            return self._fee_cache[1]
        fees = self._fresh_fees()
        self._fee_cache = (now, fees)
        return fees

    def forget_fees(self) -> None:
        """Ask the node for fees again next time (e.g. after a refusal about the price)."""
        self._fee_cache = None

    def _fresh_fees(self) -> dict[str, int]:
        # eth_gasPrice is the node's suggested total price per gas; on a permissioned node it
        # may be 0, and then we pay nothing (a zero-balance member can still send).
        price = int(self._rpc(lambda: self.w3.eth.gas_price))
        if self.legacy_fees:
            return {"gasPrice": price}
        block = self._rpc(lambda: self.w3.eth.get_block("latest"))
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:
            return {"gasPrice": price}
        tip = max(price - int(base_fee), 0)
        return {"maxFeePerGas": 2 * int(base_fee) + tip, "maxPriorityFeePerGas": tip}

    def _rpc(self, request: Any) -> Any:
        """Run a web3 request; the node's error objects become typed errors (the transport
        already raises ChainUnavailable). Any error that is not a known refusal is still a
        TransactionRejected, as callers of this client have always caught."""
        try:
            return request()
        except Web3RPCError as exc:
            response = exc.rpc_response or {}
            error = rpc_error(response.get("error") or {"message": str(exc)})
            if not isinstance(error, TransactionRejected):
                error = TransactionRejected(error.error)
            raise error from exc


class _NonceSlot:
    """The next nonce of one account on one endpoint, shared by every client in the process
    that signs as that account (so two wrappers for one hospital key never collide)."""

    _slots: ClassVar[dict[tuple[str, str], _NonceSlot]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next: int | None = None

    @classmethod
    def of(cls, url: str, address: str) -> _NonceSlot:
        with cls._guard:
            return cls._slots.setdefault((url, address), cls())


def _revert_data(exc: ContractLogicError) -> str | None:
    data = exc.data
    if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."}
        data = data.get("data")
    return data if isinstance(data, str) else None
