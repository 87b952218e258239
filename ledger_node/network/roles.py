"""etcd users and roles: one role per ledger node, holding exactly the key ranges its code
writes (``layout.py``; ``replica.py`` and ``lease.py`` do the writing), plus read access to
the network's prefix.

A sealing node writes, under ``/alliance/<net>/``:

  producer           its campaign (create if absent, under its lease), its step-down and
                     the release of a stale key naming it (fenced deletes)
  blocks/            a block, once, fenced on ``producer``; a quorum removal deletes a
                     refused block and every block after it
  pool/              its acknowledged transactions; as producer it deletes the entries a
                     block consumed (any node's), and a quorum removal requeues transactions
  tick/block|pool    (those two keys) put with every block and every pool entry
  rejected/          its vote on a refused block; a quorum removal clears that height's votes
  faulty/            the mark a quorum removal puts on the removed blocks' sealer
  nodes/<id>         its own status record (one key, not a prefix), under its lease

So a node cannot write another node's status record, any key outside these ranges (another
network's, or any key the layout does not name), users, roles or the auth switch. Within
``pool/`` and ``rejected/`` etcd cannot tell entries apart by writer: the producer deletes
every node's consumed entries and a removal clears every vote of a height, so those ranges
are shared by all sealers; vote contents are what signed votes protect. The regulator's
follower (and the ``observer`` user ``status`` reads with) gets read access only.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx

from ledger_node.network.access import AUTHENTICATE, PASSWORD_FILE, EtcdAccess, client_options
from ledger_node.network.etcd import b64, prefix_end
from ledger_node.network.layout import Keys

ROOT_USER = "root"  # etcd requires it before auth is enabled; used for set-up only
OBSERVER = "observer"  # `alliance network status`: read only
SHARED_PREFIXES = ("blocks/", "pool/", "rejected/", "faulty/")


def grants(keys: Keys, node_id: str, follower: bool) -> list[tuple[str, bytes, bytes]]:
    """(permission, key, range_end) for a node's role; range_end b"" means that one key."""
    perms: list[tuple[str, bytes, bytes]] = [("READ", keys.root, prefix_end(keys.root))]
    if follower:
        return perms
    for key in (keys.producer, keys.node(node_id), keys.tick_block, keys.tick_pool):
        perms.append(("READWRITE", key, b""))  # single keys
    for name in SHARED_PREFIXES:
        prefix = keys.sub(name)
        perms.append(("READWRITE", prefix, prefix_end(prefix)))
    return perms


def new_password(directory: Path) -> str:
    """A random etcd password in ``directory/etcd.password`` (0600), unless one is there."""
    path = directory / PASSWORD_FILE
    if path.exists():
        return path.read_text().strip()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_hex(24)
    path.touch(0o600)
    path.chmod(0o600)
    path.write_text(password + "\n")
    return password


class Admin:
    """Auth calls as the etcd root user, on one member (the cluster replicates them)."""

    def __init__(self, endpoint: str, root: EtcdAccess) -> None:
        self.base = endpoint.rstrip("/")
        self.root = root
        self.client = httpx.Client(timeout=10, **client_options(root))
        self.token: str | None = None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, path: str, body: dict[str, Any], exists_ok: bool = False) -> dict[str, Any]:
        headers = {"Authorization": self.token} if self.token else {}
        doc: dict[str, Any] = self.client.post(self.base + path, json=body, headers=headers).json()
        if "error" in doc:
            msg = str(doc.get("error"))
            if exists_ok and "already exists" in msg:
                return doc
            auth_on = "user name is empty" in msg or "auth token" in msg
            if auth_on and self.token is None and self.login():
                return self.call(path, body, exists_ok)
            raise OSError(f"etcd {path}: {msg}")
        return doc

    def login(self) -> bool:
        creds = self.root.credentials()
        if creds is None:
            return False
        doc = self.client.post(self.base + AUTHENTICATE, json=creds).json()
        self.token = doc.get("token")
        return self.token is not None

    def add_user(self, name: str, password: str, perms: list[tuple[str, bytes, bytes]]) -> None:
        """User ``name`` with role ``name`` holding exactly ``perms`` (idempotent)."""
        self.call("/v3/auth/user/add", {"name": name, "password": password}, exists_ok=True)
        self.call("/v3/auth/role/add", {"name": name}, exists_ok=True)
        for perm, key, end in perms:
            p: dict[str, Any] = {"permType": perm, "key": b64(key)}
            if end:
                p["range_end"] = b64(end)
            self.call("/v3/auth/role/grant", {"name": name, "perm": p})
        self.call("/v3/auth/user/grant", {"user": name, "role": name})

    def enable(self) -> None:
        """Create root (role root) with its password, then switch authentication on."""
        creds = self.root.credentials()
        if creds is None:
            raise ValueError("the root access has no password")
        self.call("/v3/auth/user/add", {"name": ROOT_USER, **_pw(creds)}, exists_ok=True)
        self.call("/v3/auth/role/add", {"name": ROOT_USER}, exists_ok=True)
        self.call("/v3/auth/user/grant", {"user": ROOT_USER, "role": ROOT_USER})
        self.call("/v3/auth/enable", {})


def _pw(creds: dict[str, Any]) -> dict[str, Any]:
    return {"password": creds["password"]}


def setup_network(
    endpoint: str,
    root: EtcdAccess,
    keys: Keys,
    users: list[tuple[str, bool, Path]],
) -> None:
    """Users and roles for every (node id, follower, TLS dir), the observer, then auth on."""
    with Admin(endpoint, root) as admin:
        for node_id, follower, directory in users:
            admin.add_user(node_id, new_password(directory), grants(keys, node_id, follower))
        admin.enable()
