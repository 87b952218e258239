"""Forged votes and faulty marks, written with etcd write access, change nothing.

node2 runs with its clock an hour behind, so it alone refuses the honest producer's next
block (stamped "an hour in its future") and puts its signed vote. The test then writes, as
anyone who can write to etcd could: the third sealer's vote in the old unsigned format (a
voter name and the block's revision: with node2's vote, a quorum before votes were signed),
a vote naming that sealer but signed by another key, and a well-formed vote by a key that is
no sealer. The block stays, nobody is marked faulty. Then forged faulty marks for every
sealer (no evidence, or a real header with too few valid votes): `status` reports them as
ignored and, when the producer stops, an honest sealer still takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from functools import partial

import pytest
from coincurve import PrivateKey
from eth_account import Account

from ledger_node.clock import CLOCK_OFFSET_ENV
from ledger_node.network.etcd import KV, Etcd, prefix_end
from ledger_node.network.layout import Keys, decode_block
from ledger_node.network.votes import Ballot
from tests.ledger_node.helpers import sign
from tests.support.etcd import requires_etcd
from tests.support.network import TestNetwork, local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(180)]
SINK = "0x" + "66" * 20
SEALERS = ["node0", "node1", "node2"]


def sealer_of(net: TestNetwork, node: str) -> str:
    address: str = Account.from_key(net.member_key(node)).address
    return address.lower()


def producer_but(net: TestNetwork, node: str) -> str | None:
    current = net.producer()
    return None if current == node else current


def etcd_get(net: TestNetwork, key: bytes) -> KV | None:
    async def go() -> KV | None:
        async with _etcd(net) as etcd:
            return await etcd.get(key)

    return asyncio.run(go())


def etcd_put(net: TestNetwork, key: bytes, value: bytes) -> None:
    async def go() -> None:
        async with _etcd(net) as etcd:
            await etcd.put(key, value)

    asyncio.run(go())


def etcd_values(net: TestNetwork, prefix: bytes) -> list[bytes]:
    async def go() -> list[bytes]:
        async with _etcd(net) as etcd:
            kvs, _ = await etcd.range(prefix, prefix_end(prefix))
            return [kv.value for kv in kvs]

    return asyncio.run(go())


@contextlib.asynccontextmanager
async def _etcd(net: TestNetwork) -> AsyncIterator[Etcd]:
    # A sealer's own etcd credentials: its role may write the shared vote and mark ranges
    # (roles.py), so it can put forged votes under other sealers' names, like an intruder.
    etcd = Etcd(net.net.etcd_endpoints, access=net.net.access("node1"))
    try:
        yield etcd
    finally:
        await etcd.close()


def test_forged_votes_and_marks_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with local_network(3, blockTimeMs=50) as net:
        keys = Keys(net.net.name)
        genesis = json.loads((net.net.root / "genesis.json").read_text())
        ballot = Ballot(net.net.name, genesis["chainId"], ())
        wait_for("a producer", net.producer, 15)
        net.stop("node2")
        producer = wait_for("another producer", partial(producer_but, net, "node2"), 15)
        third = next(n for n in ("node0", "node1") if n != producer)
        monkeypatch.setenv(CLOCK_OFFSET_ENV, "-3600")
        net.start("node2")
        monkeypatch.delenv(CLOCK_OFFSET_ENV)

        k = net.member_key(third)
        sent = net.send(third, sign(k, 0, SINK, b"", gas=21_000))
        got = wait_for("the block", partial(net.receipt, "regulator", sent), 20)
        height = int(got["blockNumber"], 16)
        wait_for(
            "node2 refusing it",
            lambda: etcd_get(net, keys.rejected(height, "node2")),
            15,
        )
        kv = etcd_get(net, keys.block(height))
        assert kv is not None
        header, _ = decode_block(kv.value)
        old_format = {
            "voter": sealer_of(net, third),
            "rev": kv.mod_revision,
            "hash": header.hash.hex(),
            "sealer": "0x" + header.coinbase.hex(),
            "reason": "forged",
        }
        outsider = PrivateKey()
        wrong_key = json.loads(ballot.sign(outsider, height, header.hash, header.coinbase, "x"))
        wrong_key["voter"] = sealer_of(net, third)  # a name beside the signature counts not
        forged = {
            third: json.dumps(old_format).encode(),
            "intruder": ballot.sign(outsider, height, header.hash, header.coinbase, "forged"),
            "impostor": json.dumps(wrong_key).encode(),
        }
        for name, value in forged.items():
            etcd_put(net, keys.rejected(height, name), value)
        time.sleep(3)  # node2 recounts the votes every round (and on every vote written)
        same = etcd_get(net, keys.block(height))
        assert same is not None and same.mod_revision == kv.mod_revision
        assert net.metric("node2", "alliance_blocks_removed_total") == 0
        st = net.status()
        assert st["faulty"] == [] and st["producer"] == producer
        assert {net.head(n) for n in (producer, third, "regulator")} == {net.head("regulator")}
        assert net.head("regulator")[0] >= height
        net.kill("node2")

        # faulty marks for every sealer: empty, and a real header with one valid vote only
        weak = ballot.mark(header, etcd_values(net, keys.rejected(height)), "forger")
        for n in SEALERS:
            mark = weak if sealer_of(net, n) == "0x" + header.coinbase.hex() else b"{}"
            etcd_put(net, keys.faulty(bytes.fromhex(sealer_of(net, n)[2:])), mark)
        st = wait_for(
            "forged marks reported", lambda: (s := net.status())["forged_marks"] and s, 10
        )
        assert st["faulty"] == [] and sorted(st["forged_marks"]) == sorted(
            sealer_of(net, n) for n in SEALERS
        )
        net.stop(producer)
        wait_for("the third sealer taking over", lambda: net.producer() == third, 15)
        after = net.send(third, sign(k, 1, SINK, b"", gas=21_000))
        wait_for("a block after the takeover", partial(net.receipt, "regulator", after), 20)
        assert "ignoring a faulty mark" in net.log(third)
