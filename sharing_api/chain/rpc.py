"""The chain's JSON-RPC transport for the API side: ``ledger_node.jsonrpc.JsonRpc`` (raw,
keep-alive, no web3 machinery: the fetch path and the access batcher call it directly) and
its errors. ``sharing_api`` depends on ``ledger_node``, never the reverse, so it lives there."""

from ledger_node.jsonrpc import JsonRpc, RpcError

__all__ = ["JsonRpc", "RpcError"]
