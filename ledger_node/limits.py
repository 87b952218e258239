"""The JSON-RPC limits a node enforces on its clients (a node setting, not a consensus rule).

Each limit comes from, in order: the node's start flag, the genesis file's ``rpcLimits``
object (the alliance's defaults, copied into every node at ``init``), the default here.
See ledger_node/README.md ("Limits") for why each default is what it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

# Ethereum mainnet's block gas limit for years (a call that fits a mainnet block fits here),
# and bounded in time: a keccak loop, the slowest gas measured here (~10 ms per million gas),
# runs ~0.3 s at 30M, so one call stays well inside the 1 s block-gap bound. geth's 50M
# would allow ~0.5 s, ~1 s on a loaded 2-core machine.
DEFAULT_CALL_GAS_CAP = 30_000_000


@dataclass(frozen=True)
class RpcLimits:
    call_gas_cap: int = DEFAULT_CALL_GAS_CAP  # eth_call / eth_estimateGas (lowered to it)
    max_batch: int = 1_000  # calls per JSON-RPC batch (geth's BatchRequestLimit)
    max_logs_range: int = 100_000  # blocks per eth_getLogs query
    max_logs: int = 10_000  # logs per eth_getLogs answer
    max_connections_per_client: int = 64  # requests in flight + open WebSockets, per address
    max_subscriptions_per_client: int = 100  # eth_subscribe, per address, all sockets
    max_body_bytes: int = 5 * 1024 * 1024  # HTTP body / WebSocket message (geth's 5 MiB)
    ws_queue: int = 1_024  # messages queued for one WebSocket before it is dropped
    long_call_percent: int = 10  # of the node's time, one client's long (>15 ms) calls at most

    @classmethod
    def resolve(
        cls,
        genesis: Mapping[str, Any],
        flags: Mapping[str, int | None],
        block_gas_limit: int,
    ) -> RpcLimits:
        """Flags over the genesis ``rpcLimits`` over the defaults; the call cap never above
        the block gas limit (a call may not do what no transaction could)."""
        names = [f.name for f in fields(cls)]
        known = {n: n for n in names} | {_camel(n): n for n in names}
        values: dict[str, int] = {}
        for key, value in genesis.items():
            name = known.get(key)
            if name is None:
                raise ValueError(f"genesis: rpcLimits.{key} is not a known limit")
            values[name] = _positive(value, f"rpcLimits.{key}")
        for key, value in flags.items():
            if value is not None:
                values[key] = _positive(value, key)
        limits = replace(cls(), **values)
        if limits.long_call_percent > 100:
            raise ValueError("long_call_percent must be at most 100")
        if limits.call_gas_cap > block_gas_limit:
            limits = replace(limits, call_gas_cap=block_gas_limit)
        return limits


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _positive(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer")
    return value
