"""Fixtures of the security tests: the API tests' real alliance (node, contracts, API and a
signed-in cast), and bare ``alliance node start`` processes on 127.0.0.1 with small limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from coincurve import PrivateKey

from tests.api.conftest import alliance, api, cast, unchanged
from tests.support.ledger import DEV_KEYS, NodeProcess, running_node

__all__ = ["alliance", "api", "cast", "default_node", "limited_node", "member", "unchanged"]

# Small enough to reach in a test; the defaults are in ledger_node/limits.py. Set through the
# genesis file, which an older node ignores: there these tests meet an unlimited node.
SMALL_LIMITS = {
    "maxLogsRange": 5,
    "maxLogs": 50,
    "maxConnectionsPerClient": 6,
    "maxSubscriptionsPerClient": 4,
}


def member(node: NodeProcess, i: int) -> PrivateKey:
    return PrivateKey(bytes.fromhex(node.member_keys[i][2:]))


@pytest.fixture(scope="module")
def limited_node() -> Iterator[NodeProcess]:
    # Five members: the test alliance (tests/support/api.py) has its regulator send too.
    with running_node(DEV_KEYS[:5], rpcLimits=SMALL_LIMITS) as node:
        yield node


@pytest.fixture(scope="module")
def default_node() -> Iterator[NodeProcess]:
    """Default limits and the default 250 ms block time (what an alliance runs)."""
    with running_node(DEV_KEYS[:4], block_time_ms=None, blockTimeMs=250) as node:
        yield node
