"""Reading logs over any range from a node that caps eth_getLogs (our node answers at most
``maxLogsRange`` blocks and ``maxLogs`` logs per query; Infura, geth and Besu cap similarly):
ask for the whole range, and wherever the node answers "too many" (-32005), ask again for
the first half until the answer fits. A single block is always answered in full by our node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
LIMIT_CODE = -32005


def is_limit_error(exc: BaseException) -> bool:
    """The node refused the range as too large (our transport's RpcError or web3's)."""
    code = getattr(exc, "code", None)
    if code is None:  # web3's Web3RPCError carries the JSON-RPC error in rpc_response
        response = getattr(exc, "rpc_response", None) or {}
        code = (response.get("error") or {}).get("code")
    return code == LIMIT_CODE


def logs_in_range(get: Callable[[int, int], list[T]], first: int, last: int) -> list[T]:
    """``get(lo, hi)`` over [first, last] in as few queries as the node allows, in order."""
    out: list[T] = []
    start = first
    while start <= last:
        end = last
        while True:
            try:
                out.extend(get(start, end))
                break
            except Exception as exc:
                if not is_limit_error(exc) or end == start:
                    raise
                end = start + (end - start) // 2
        start = end + 1
    return out


def block_number(value: Any, latest: Callable[[], int]) -> int:
    """A block identifier as a number ("latest" and friends: the head now)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    return latest()
