"""Our locally computed CIDs equal what a real IPFS node (js-ipfs, Kubo's RPC API) reports."""

from __future__ import annotations

import random

import httpx
import pytest

from sharing_api.storage.unixfs import CHUNK_SIZE, CID, MAX_LINKS, compute_cid
from tests.support.ipfs import IPFSDaemon

pytestmark = pytest.mark.integration

SIZES = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    3 * CHUNK_SIZE + 12_345,
    MAX_LINKS * CHUNK_SIZE,  # exactly one full inner node
    MAX_LINKS * CHUNK_SIZE + 1,  # two levels of inner nodes
]


def node_cid(node: IPFSDaemon, data: bytes, version: int) -> CID:
    response = httpx.post(
        f"{node.api_url}/api/v0/add",
        params={"cid-version": version, "only-hash": "true", "pin": "false", "quieter": "true"},
        files={"file": ("blob", data)},
        timeout=120,
    )
    response.raise_for_status()
    return CID.parse(response.json()["Hash"])


@pytest.mark.parametrize("version", [0, 1])
def test_cids_match_the_ipfs_node(ipfs_node: IPFSDaemon, version: int) -> None:
    rng = random.Random(version)
    for size in SIZES:
        data = rng.randbytes(size)
        ours = compute_cid(data, version)
        assert node_cid(ipfs_node, data, version) == ours, f"size {size}"
        assert str(ours).startswith("Qm" if version == 0 else "b")
