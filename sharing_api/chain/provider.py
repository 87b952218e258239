"""web3.py's I/O seam (``BaseProvider.make_request``) on the one JSON-RPC transport, so web3
sends through ``JsonRpc`` like every other chain call: same connections, same typed
``ChainUnavailable`` when the node is unreachable. web3 encodes (its JSON encoder knows
HexBytes and friends) and reads the error objects itself (reverts -> ContractLogicError)."""

from __future__ import annotations

from typing import Any, cast

from web3._utils.batching import sort_batch_response_by_response_ids
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from ledger_node.jsonrpc import JsonRpc


class TransportProvider(JSONBaseProvider):
    def __init__(self, transport: JsonRpc) -> None:
        super().__init__()
        self.transport = transport

    def __str__(self) -> str:
        return f"JSON-RPC transport to {self.transport.url}"

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        reply = self.transport.exchange(self.encode_rpc_request(method, params))
        return cast(RPCResponse, reply)

    def make_batch_request(
        self, requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        reply = self.transport.exchange(self.encode_batch_rpc_request(requests))
        if not isinstance(reply, list):
            return cast(RPCResponse, reply)  # one error object for the whole batch
        return sort_batch_response_by_response_ids(cast(list[RPCResponse], reply))
