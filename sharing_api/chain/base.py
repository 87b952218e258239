"""Shared plumbing of the per-contract wrappers."""

from __future__ import annotations

from typing import Any

from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import BlockIdentifier

from sharing_api.chain.client import ChainClient, Sent, sent_of
from sharing_api.chain.events import ChainEvent, events_in_receipt, read_events


class ContractWrapper:
    """One deployed contract seen through one signer."""

    NAME = ""

    def __init__(self, client: ChainClient, address: str, from_block: int = 0) -> None:
        self.client = client
        self.address = address
        self.from_block = from_block
        self.contract: Contract = client.contract(self.NAME, address)

    @property
    def fn(self) -> Any:
        return self.contract.functions

    def _call(self, fn: ContractFunction) -> Any:
        return self.client.call(fn)

    def _send(self, fn: ContractFunction) -> Sent:
        return sent_of(self.client.send(fn))

    def _send_for_event(self, fn: ContractFunction, event: str) -> tuple[ChainEvent, Sent]:
        receipt = self.client.send(fn)
        found = events_in_receipt(self.NAME, self.contract, event, receipt)
        if len(found) != 1:
            raise ValueError(f"expected one {event} event, the transaction emitted {len(found)}")
        return found[0], sent_of(receipt)

    def events(
        self,
        event: str,
        *,
        from_block: BlockIdentifier | None = None,
        to_block: BlockIdentifier = "latest",
        **filters: Any,
    ) -> list[ChainEvent]:
        """This contract's ``event`` logs, oldest first; keyword filters match indexed args."""
        start = self.from_block if from_block is None else from_block
        return read_events(
            self.NAME, self.contract, event, from_block=start, to_block=to_block, filters=filters
        )
