"""The last step of `alliance demo --network N`: the replicated network agrees.

Every member's node and the regulator's read-only follower re-executed and verified every
block; they must hold the same head with no alarm, and the follower must refuse writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eth_account import Account

from sharing_api.chain.errors import ReadOnlyNode, RpcError
from sharing_api.chain.rpc import JsonRpc

if TYPE_CHECKING:
    from ledger_node.network.supervisor import LocalNetwork


def _rpc(url: str, method: str, *params: Any) -> Any:
    with JsonRpc(url, timeout=10) as rpc:
        return rpc.call(method, list(params))


def settled_status(net: LocalNetwork, timeout: float = 30.0) -> dict[str, Any]:
    """``network status`` once every node has caught up with etcd's newest block."""
    from ledger_node.network.status import network_status

    deadline = time.monotonic() + timeout
    while True:
        st = network_status(net)
        nodes = st.get("nodes", [])
        if (nodes and all(n.get("lag") == 0 for n in nodes)) or time.monotonic() > deadline:
            return st
        time.sleep(0.2)


def check_network(
    net: LocalNetwork,
    member_key: str,
    expect: Callable[[str, bool], None],
    echo: Callable[[str], None],
) -> None:
    from ledger_node.network.status import format_status

    st = settled_status(net)
    for line in format_status(st).splitlines():
        echo(f"    {line}")
    height = st.get("height", 0)
    heads = {
        n.id: _rpc(n.url, "eth_getBlockByNumber", hex(height), False)["hash"] for n in net.nodes
    }
    expect(
        f"all {len(heads)} nodes (members and the regulator's follower) re-executed every "
        f"block and hold the same head {height} {next(iter(heads.values()))[:18]}...",
        st.get("producer") is not None and len(set(heads.values())) == 1,
    )
    expect(
        "no node raised an alarm and no sealer is marked faulty",
        not st.get("faulty") and not any(n["alarms"] for n in st["nodes"]),
    )
    regulator = next(n for n in net.nodes if n.follower)
    account = Account.from_key(member_key)
    nonce = int(_rpc(regulator.url, "eth_getTransactionCount", account.address, "latest"), 16)
    chain_id = int(_rpc(regulator.url, "eth_chainId"), 16)
    tx = {"to": account.address, "value": 0, "gas": 21000, "gasPrice": 0}
    raw = account.sign_transaction({**tx, "nonce": nonce, "chainId": chain_id}).raw_transaction
    try:
        _rpc(regulator.url, "eth_sendRawTransaction", "0x" + raw.hex())
        refusal: RpcError | None = None
    except RpcError as exc:
        refusal = exc
    expect(
        f"the regulator's follower serves reads and refuses writes ({refusal})",
        isinstance(refusal, ReadOnlyNode),
    )
