"""The etcd JSON-gateway client against a real 3-member cluster: CAS, leases, failover, watch."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ledger_node.network.etcd import (
    Etcd,
    EtcdOutcomeUnknown,
    EtcdUnavailable,
    cmp_absent,
    cmp_value,
    last_key,
    op_delete,
    op_put,
    prefix_end,
    watch_prefix,
)
from ledger_node.network.procs import EtcdCluster, free_port
from tests.support.etcd import etcd_cluster, requires_etcd

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(120)]


def test_prefix_end() -> None:
    assert prefix_end(b"/a/") == b"/a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff") == b"\x00"


def test_cas_leases_failover_and_watch() -> None:
    async def scenario(cluster: EtcdCluster) -> None:
        etcd = Etcd(cluster.endpoints, timeout=2, access=cluster.client)
        try:
            # compare-and-swap on absence: only the first writer of a height wins
            assert await etcd.txn([cmp_absent(b"/t/blocks/1")], [op_put(b"/t/blocks/1", b"A")])
            assert not await etcd.txn([cmp_absent(b"/t/blocks/1")], [op_put(b"/t/blocks/1", b"B")])
            assert (await etcd.get(b"/t/blocks/1")).value == b"A"  # type: ignore[union-attr]
            # a fenced write: only while the producer key holds our token
            await etcd.put(b"/t/producer", b"me")
            assert await etcd.txn(
                [cmp_value(b"/t/producer", b"me")],
                [op_put(b"/t/blocks/2", b"x"), op_delete(b"/t/pool/1")],
            )
            assert not await etcd.txn([cmp_value(b"/t/producer", b"you")], [op_put(b"/t/x", b"")])
            newest = await last_key(etcd, b"/t/blocks/")
            assert newest is not None and newest.key == b"/t/blocks/2"

            # a key under a lease disappears when the lease is not kept alive
            lease = await etcd.grant(2)
            await etcd.put(b"/t/leader", b"n0", lease)
            assert await etcd.keepalive(lease) > 0
            deadline = time.monotonic() + 6
            while await etcd.get(b"/t/leader") is not None:
                assert time.monotonic() < deadline, "the lease never expired"
                await asyncio.sleep(0.2)

            # the watch reports changes under a prefix
            seen: list[bytes] = []
            watch = asyncio.create_task(watch_prefix(etcd, b"/t/", seen.extend))
            await asyncio.sleep(0.3)
            await etcd.put(b"/t/pool/9", b"tx")
            for _ in range(50):
                if b"/t/pool/9" in seen:
                    break
                await asyncio.sleep(0.05)
            watch.cancel()
            assert b"/t/pool/9" in seen

            # one member down: the client moves on to the next
            cluster.kill_member(0)
            await etcd.put(b"/t/after", b"1")
            assert (await etcd.get(b"/t/after")).value == b"1"  # type: ignore[union-attr]
        finally:
            await etcd.close()

    with etcd_cluster(3) as cluster:
        asyncio.run(scenario(cluster))


def test_no_member_reachable_is_an_oserror() -> None:
    async def scenario() -> None:
        etcd = Etcd(["http://127.0.0.1:9"], timeout=0.5)
        try:
            with pytest.raises(EtcdUnavailable):
                await etcd.get(b"/x")
        finally:
            await etcd.close()

    asyncio.run(scenario())


def test_a_member_answering_non_json_is_skipped_as_unavailable() -> None:
    """A cut or restarting member can answer an HTTP error page: that is an OSError the
    node turns into "ordering unavailable", never a ValueError (an HTTP 500 from the node)."""
    import http.server
    import threading

    class Broken(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b"500 Internal Server Error"
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    async def scenario() -> None:
        etcd = Etcd([f"http://127.0.0.1:{server.server_port}"], timeout=2)
        try:
            with pytest.raises(EtcdUnavailable, match="not JSON"):
                await etcd.get(b"/x")
        finally:
            await etcd.close()

    try:
        asyncio.run(scenario())
    finally:
        server.shutdown()
        server.server_close()


def test_pool_entries_landing_out_of_key_order_are_all_admitted(tmp_path: Path) -> None:
    """Two nodes stamp their pool entries with the time; the later stamp can land in etcd
    first. The producer reads the pool by etcd revision, so the earlier one is not skipped."""
    from ledger_node.network.layout import Keys, encode_txs
    from ledger_node.network.replica import ReplicaNode
    from tests.ledger_node.helpers import make_chain, sign
    from tests.support.ledger import DEV_KEYS

    chain = make_chain(tmp_path / "chain")
    keys = Keys("race")
    first = sign(DEV_KEYS[0], 0, "0x" + "11" * 20, b"", gas=21_000)
    second = sign(DEV_KEYS[1], 0, "0x" + "11" * 20, b"", gas=21_000)

    async def scenario(cluster: EtcdCluster) -> None:
        node = ReplicaNode(chain, Etcd(cluster.endpoints, access=cluster.client), keys, "n0")
        try:
            await node.etcd.put(keys.pool_entry(2000, "b"), encode_txs([second]))
            await node._admit_from_pool()
            await node.etcd.put(keys.pool_entry(1000, "a"), encode_txs([first]))
            await node._admit_from_pool()
            assert {p.tx.raw for p in chain.pool} == {first, second}
            await node._admit_from_pool()  # nothing new: nothing admitted twice
            assert len(chain.pool) == 2
        finally:
            await node.etcd.close()

    with etcd_cluster(1) as cluster:
        asyncio.run(scenario(cluster))
    chain.close()


class AnswerDropper:
    """A TCP proxy to one plain-HTTP etcd member that passes requests on and throws the
    answers away: the member applies a transaction, the client hears nothing (a link that
    breaks after the request went out)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        try:
            while data := await reader.read(65536):
                up_w.write(data)
                await up_w.drain()
                await up_r.read(65536)  # the answer: dropped
        finally:
            up_w.close()
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


def test_a_transaction_without_an_answer_is_not_tried_on_another_member() -> None:
    """A compare-and-swap that was applied but whose answer was lost must not be sent to the
    next member: there its compare fails and the caller reads "lost" (a producer stepped
    down after committing its block). It raises EtcdOutcomeUnknown; the caller reads etcd.
    Reads and transactions that surely were not sent still turn to the next member."""

    async def scenario(cluster: EtcdCluster) -> None:
        first, second = cluster.members[0], cluster.members[1]
        dropper = AnswerDropper(first.client_port)
        through = await dropper.start()
        etcd = Etcd([through, second.client_url], timeout=1)
        closed = Etcd([f"http://127.0.0.1:{free_port()}", second.client_url], timeout=1)
        try:
            with pytest.raises(EtcdOutcomeUnknown):
                await etcd.txn([cmp_absent(b"/u/blocks/1")], [op_put(b"/u/blocks/1", b"A")])
            got = await etcd.get(b"/u/blocks/1")  # a read turns to the second member
            assert got is not None and got.value == b"A"  # it had been applied
            # refused before anything was sent: the next member takes it
            assert await closed.txn([cmp_absent(b"/u/blocks/2")], [op_put(b"/u/blocks/2", b"B")])
            # a transaction that may run twice says so
            assert await etcd.txn([], [op_put(b"/u/pool/1", b"x")], idempotent=True)
        finally:
            await etcd.close()
            await closed.close()
            await dropper.close()

    with etcd_cluster(3, tls=False) as cluster:
        asyncio.run(scenario(cluster))
