"""Reading contract events (the audit trail) into plain typed records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hexbytes import HexBytes
from web3._utils.events import EventLogErrorFlags
from web3.contract import Contract
from web3.types import BlockIdentifier, EventData, TxReceipt

from sharing_api.chain.logs import block_number, logs_in_range


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log: ``args`` maps the Solidity parameter names to Python values
    (addresses checksummed, bytes32 as bytes)."""

    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int


def _convert(value: Any) -> Any:
    if isinstance(value, HexBytes):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_convert(v) for v in value]
    return value


def to_event(contract_name: str, data: EventData) -> ChainEvent:
    return ChainEvent(
        contract=contract_name,
        name=data["event"],
        args={k: _convert(v) for k, v in data["args"].items()},
        block_number=int(data["blockNumber"]),
        tx_hash="0x" + bytes(data["transactionHash"]).hex(),
        log_index=int(data["logIndex"]),
    )


def read_events(
    contract_name: str,
    contract: Contract,
    event: str,
    *,
    from_block: BlockIdentifier = 0,
    to_block: BlockIdentifier = "latest",
    filters: dict[str, Any] | None = None,
) -> list[ChainEvent]:
    """Logs of one event, oldest first; ``filters`` match indexed parameters. Read in as
    many queries as the node's eth_getLogs limits need (``chain.logs``)."""
    latest = lambda: int(contract.w3.eth.block_number)  # noqa: E731
    first, last = block_number(from_block, latest), block_number(to_block, latest)

    def get(lo: int, hi: int) -> list[EventData]:
        return list(
            contract.events[event].get_logs(
                argument_filters=filters or None, from_block=lo, to_block=hi
            )
        )

    return [to_event(contract_name, log) for log in logs_in_range(get, first, last)]


def events_in_receipt(
    contract_name: str, contract: Contract, event: str, receipt: TxReceipt
) -> list[ChainEvent]:
    logs = contract.events[event]().process_receipt(receipt, errors=EventLogErrorFlags.Discard)
    return [to_event(contract_name, log) for log in logs]
