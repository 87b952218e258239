"""etcd over TLS with one role per node, against a real 3-member cluster set up by the
supervisor (``alliance network up``'s code): who may connect, who may write which keys."""

from __future__ import annotations

import asyncio
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from ledger_node.network import pki
from ledger_node.network.access import EtcdAccess
from ledger_node.network.cli import network
from ledger_node.network.etcd import Etcd, EtcdError, EtcdUnavailable, b64
from ledger_node.network.layout import Keys
from ledger_node.network.roles import OBSERVER, ROOT_USER
from ledger_node.network.supervisor import LocalNetwork
from tests.support.etcd import etcd_cluster, requires_etcd

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(120)]

KEYS = Keys("local")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    """Two sealing nodes and the regulator: certificates, users and roles, etcd only."""
    network = LocalNetwork.create(tmp_path_factory.mktemp("auth") / "net", 2)
    try:
        network.start_etcd()
        yield network
    finally:
        network.down()


def put(
    net: LocalNetwork, access: EtcdAccess | None, key: bytes, value: bytes = b"x", url: str = ""
) -> None:
    async def go() -> None:
        etcd = Etcd([url] if url else net.etcd_endpoints, access=access)
        try:
            await etcd.put(key, value)
        finally:
            await etcd.close()

    asyncio.run(go())


def read(net: LocalNetwork, key: bytes, user: str = ROOT_USER) -> bytes | None:
    async def go() -> bytes | None:
        etcd = Etcd(net.etcd_endpoints, access=net.access(user))
        try:
            kv = await etcd.get(key)
            return kv.value if kv else None
        finally:
            await etcd.close()

    return asyncio.run(go())


def test_every_key_and_certificate_file_is_private(net: LocalNetwork) -> None:
    files = [p for p in (net.root / "tls").rglob("*") if p.is_file()]
    assert len(files) > 20
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not (net.root / "tls" / "node0" / "ca.key").exists()  # only the CA holds it


def test_a_node_writes_its_own_keys_and_not_another_nodes(net: LocalNetwork) -> None:
    node0 = net.access("node0")
    put(net, node0, KEYS.node("node0"))
    put(net, node0, KEYS.pool_entry(1, "node0"))
    put(net, node0, KEYS.rejected(5, "node0"))
    put(net, node0, KEYS.tick_pool)
    assert read(net, KEYS.node("node0")) == b"x"
    for key in (
        KEYS.node("node1"),  # another node's status record
        KEYS.node("node00"),  # a name that only starts like its own
        KEYS.sub("anything-else"),  # a key the layout does not name
        KEYS.sub("tick/other"),  # only tick/block and tick/pool
        Keys("other").block(1),  # another network's blocks
    ):
        with pytest.raises(EtcdError, match="permission denied"):
            put(net, node0, key)
        assert read(net, key) is None
    # nor users, roles or the auth switch
    with pytest.raises(EtcdError, match="permission denied"):
        asyncio.run(
            _call(net.etcd_endpoints, node0, "/v3/auth/user/add", {"name": "x", "password": "y"})
        )


def test_status_trusts_the_key_not_the_id_a_record_claims(net: LocalNetwork) -> None:
    """node0 may write only its own status record; one claiming to be node1's producer
    record does not make `status` show node1 as producing."""
    from ledger_node.network.layout import to_json
    from ledger_node.network.status import network_status

    claim = {"id": "node1", "role": "producer", "sealer": "0x" + "11" * 20, "alarms": ["x"]}
    put(net, net.access("node0"), KEYS.node("node0"), to_json(claim))
    rows = {r["id"]: r for r in network_status(net)["nodes"]}
    assert rows["node1"]["role"] != "producer" and rows["node1"]["alarms"] == []
    assert rows["node0"]["role"] == "producer"  # its own row shows what it wrote


def test_the_follower_cannot_write_at_all(net: LocalNetwork) -> None:
    regulator = net.access("regulator")
    for key in (
        KEYS.node("regulator"),
        KEYS.producer,
        KEYS.block(1),
        KEYS.pool_entry(2, "regulator"),
        KEYS.rejected(1, "regulator"),
        KEYS.faulty(b"\x01" * 20),
        KEYS.tick_block,
    ):
        with pytest.raises(EtcdError, match="permission denied"):
            put(net, regulator, key)
        assert read(net, key) is None
    # it reads the network's keys, as `status` (the observer) does, and nothing else
    assert read(net, KEYS.node("node0"), "regulator") is not None
    assert read(net, KEYS.node("node0"), OBSERVER) is not None
    with pytest.raises(EtcdError, match="permission denied"):
        read(net, Keys("other").block(1), "regulator")


def test_a_token_a_member_does_not_know_is_renewed(net: LocalNetwork) -> None:
    """Simple tokens expire per member (5 min idle) and die with a restart: the clients
    authenticate again instead of failing."""
    from ledger_node.network.lease import LeaseKeeper

    async def go() -> bytes | None:
        etcd = Etcd(net.etcd_endpoints[:1], access=net.access("node1"))
        try:
            await etcd.put(KEYS.node("node1"), b"before")
            etcd._token = "node1.bogus"  # as after the member forgot it
            await etcd.put(KEYS.node("node1"), b"after")
            kv = await etcd.get(KEYS.node("node1"))
            return kv.value if kv else None
        finally:
            await etcd.close()

    assert asyncio.run(go()) == b"after"
    # `status` keeps the observer's token between calls; a stale one is renewed too
    from ledger_node.network import status

    put(net, net.access("node1"), KEYS.node("node1"), b"not json")
    assert all(m["up"] for m in status.network_status(net)["etcd"])
    cached = (net.root, *net.etcd_endpoints)
    assert cached in status._tokens
    status._tokens[cached] = "observer.bogus"
    st = status.network_status(net)
    assert all(m["up"] for m in st["etcd"]) and "error" not in st
    assert status._tokens[cached] != "observer.bogus"
    keeper = LeaseKeeper(net.etcd_endpoints, 2, lambda: (b"", b""), net.access("node1"))
    try:
        lease = int(keeper.call("/v3/lease/grant", {"TTL": "2"})["ID"])
        keeper._token = "node1.bogus"
        keeper.call("/v3/lease/revoke", {"ID": str(lease)})  # the next member: a new token
        assert keeper._token not in (None, "node1.bogus")
    finally:
        keeper.client.close()


def test_the_followers_lease_keeper_stops_asking_to_publish(net: LocalNetwork) -> None:
    """etcd refuses the follower's status record: its lease keeper keeps its lease but stops
    putting the record (each refusal would be a Raft write on every member, twice a second),
    while a sealing node's keeper publishes its own."""
    import time

    from ledger_node.network.lease import LeaseKeeper

    def keeper(node_id: str) -> LeaseKeeper:
        return LeaseKeeper(
            net.etcd_endpoints, 2, lambda: (KEYS.node(node_id), b"up"), net.access(node_id)
        )

    follower, sealer = keeper("regulator"), keeper("node1")
    for k in (follower, sealer):
        k.start()
    try:
        deadline = time.monotonic() + 10
        while follower.publish or read(net, KEYS.node("node1")) != b"up":
            assert time.monotonic() < deadline, "keepers did not settle"
            time.sleep(0.1)
        assert follower.alive() and sealer.alive() and sealer.publish
        assert read(net, KEYS.node("regulator")) is None
    finally:
        for k in (follower, sealer):
            k.stop()


def test_only_alliance_certificates_over_tls_get_in(net: LocalNetwork, tmp_path: Path) -> None:
    node0 = net.access("node0")
    assert node0 is not None
    url = net.etcd_endpoints[0]
    key = KEYS.node("node0")
    # no client certificate: the TLS handshake fails
    no_cert = ssl.create_default_context(cafile=str(node0.tls.ca))
    with pytest.raises((httpx.HTTPError, ssl.SSLError)):  # an alert after the handshake
        httpx.post(url + "/v3/kv/range", json={"key": ""}, verify=no_cert, timeout=5)
    # a certificate from another CA, even with node0's user and password
    pki.create_ca(tmp_path / "ca", "mallory")
    other = pki.issue(tmp_path / "ca", "node0", tmp_path / "m")
    forged = EtcdAccess(pki.TlsFiles(node0.tls.ca, other.cert, other.key), "node0", node0.password)
    with pytest.raises(EtcdUnavailable):
        put(net, forged, key)
    # ... and a client that trusts another CA does not talk to the alliance's etcd
    with pytest.raises(EtcdUnavailable):
        put(net, EtcdAccess(pki.TlsFiles(other.ca, node0.tls.cert, node0.tls.key)), key)
    # plain HTTP to an etcd member
    with pytest.raises(EtcdUnavailable):
        put(net, None, KEYS.sub("plain"), url=url.replace("https://", "http://"))
    assert read(net, KEYS.sub("plain")) is None
    # an alliance certificate but no etcd user, or a wrong password
    with pytest.raises(EtcdError, match="user name is empty"):
        put(net, EtcdAccess(node0.tls), key)
    with pytest.raises(EtcdError, match="authentication failed"):
        put(net, EtcdAccess(node0.tls, "node0", "wrong"), key)
    # a node's certificate is no etcd peer: the peer port refuses it
    peer_port = net.etcd_ports[0][1]
    with pytest.raises((httpx.HTTPError, ssl.SSLError)):  # an alert after the handshake
        httpx.get(f"https://127.0.0.1:{peer_port}/version", verify=node0.ssl_context(), timeout=5)


def test_the_manual_path_turns_auth_on_and_adds_a_node(tmp_path: Path) -> None:
    """For members on their own hosts: `alliance network cert issue`, `auth-enable` and
    `user`, against a fresh TLS cluster without auth."""
    runner = CliRunner()

    def cli(*args: str) -> None:
        done = runner.invoke(network, list(args))
        assert done.exit_code == 0, (done.output, done.exception)

    with etcd_cluster(1, tmp_path / "etcd") as cluster:
        ca, url = str(tmp_path / "etcd" / "tls" / "ca"), cluster.endpoints[0]
        root, node3 = tmp_path / "root", tmp_path / "node3"
        cli("cert", "issue", "--ca-dir", ca, "--cn", "root", "--out", str(root))
        cli("cert", "issue", "--ca-dir", ca, "--cn", "node3", "--out", str(node3))
        cli("auth-enable", "--etcd", url, "--admin-dir", str(root))
        cli("user", "--etcd", url, "--admin-dir", str(root), "--id", "node3", "--dir", str(node3))
        access = EtcdAccess.from_dir(node3)
        assert access.user == "node3"
        assert stat.S_IMODE((node3 / "etcd.password").stat().st_mode) == 0o600
        asyncio.run(_call(cluster.endpoints, access, "/v3/kv/put", _kv(KEYS.node("node3"))))
        for who, key, error in (
            (access, KEYS.node("node0"), "permission denied"),
            (cluster.client, KEYS.node("node3"), "user name is empty"),  # auth is on
        ):
            with pytest.raises(EtcdError, match=error):
                asyncio.run(_call(cluster.endpoints, who, "/v3/kv/put", _kv(key)))
    bad = runner.invoke(
        network, ["cert", "issue", "--ca-dir", ca, "--cn", "../x", "--out", str(tmp_path)]
    )
    assert bad.exit_code != 0 and "bad certificate name" in str(bad.exception)


def _kv(key: bytes) -> dict[str, str]:
    return {"key": b64(key), "value": b64(b"x")}


async def _call(
    endpoints: list[str], access: EtcdAccess | None, path: str, body: dict[str, str]
) -> None:
    etcd = Etcd(endpoints, access=access)
    try:
        await etcd.call(path, body)
    finally:
        await etcd.close()
