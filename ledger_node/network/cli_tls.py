"""`alliance network cert ...` and `alliance network user add`: the alliance CA, certificates
and etcd users by hand, for members on their own hosts (``network up`` does all of it for a
local network). See ledger_node/network/README.md, "TLS and etcd roles"."""

from __future__ import annotations

from pathlib import Path

import click

dir_type = click.Path(path_type=Path, file_okay=False)


@click.group("cert")
def cert() -> None:
    """The alliance CA and certificates (ECDSA P-256 keys, files 0600)."""


@cert.command("init")
@click.option("--ca-dir", type=dir_type, required=True, help="where ca.crt and ca.key go")
@click.option("--name", default="alliance", show_default=True, help="the CA's name")
def init_cmd(ca_dir: Path, name: str) -> None:
    """Create the alliance CA (refuses to overwrite one)."""
    from ledger_node.network.pki import create_ca

    click.echo(f"CA certificate: {create_ca(ca_dir, name)} (keep {ca_dir}/ca.key offline)")


@cert.command("issue")
@click.option("--ca-dir", type=dir_type, required=True, help="the CA (ca.crt, ca.key)")
@click.option("--cn", "name", required=True, help="node id (client) or etcd member name")
@click.option("--out", type=dir_type, required=True, help="directory for tls.crt, tls.key, ca.crt")
@click.option(
    "--member",
    is_flag=True,
    help="an etcd member: server certificate (tls.*) and peer certificate (peer.*)",
)
@click.option("--host", "hosts", multiple=True, help="member's IP or DNS name (repeat)")
@click.option("--days", type=int, default=825, show_default=True)
def issue_cmd(
    ca_dir: Path, name: str, out: Path, member: bool, hosts: tuple[str, ...], days: int
) -> None:
    """Issue a node's client certificate, or an etcd member's certificates."""
    from ledger_node.network import pki

    if hosts and not member:
        raise click.UsageError("--host is for --member certificates")
    names = list(hosts) or list(pki.LOCAL_HOSTS)
    files = pki.issue(ca_dir, name, out, server=member, hosts=names, days=days)
    if member:
        pki.issue(ca_dir, pki.PEER_CN, out, True, names, days, stem=pki.PEER_STEM)
    click.echo(f"wrote {files.cert}, {files.key} and {files.ca}")


@click.command("user")
@click.option("--etcd", "endpoint", required=True, help="one etcd client URL (https://...)")
@click.option(
    "--admin-dir",
    type=dir_type,
    required=True,
    help="the root user's TLS dir (ca.crt, tls.crt, tls.key, etcd.password)",
)
@click.option("--network", "name", default="local", show_default=True, help="network name")
@click.option("--id", "node_id", required=True, help="the node id (its certificate's name)")
@click.option(
    "--dir",
    "node_dir",
    type=dir_type,
    required=True,
    help="the node's TLS dir: its etcd.password is created there if absent",
)
@click.option("--follower", is_flag=True, help="read-only (the regulator)")
def user_cmd(
    endpoint: str, admin_dir: Path, name: str, node_id: str, node_dir: Path, follower: bool
) -> None:
    """Add a node's etcd user and role (exactly the keys it writes) to a running cluster."""
    from ledger_node.network.access import EtcdAccess
    from ledger_node.network.layout import Keys
    from ledger_node.network.roles import Admin, grants, new_password

    with Admin(endpoint, EtcdAccess.from_dir(admin_dir)) as admin:
        admin.add_user(node_id, new_password(node_dir), grants(Keys(name), node_id, follower))
    role = "read-only" if follower else "sealing node"
    click.echo(f"etcd user {node_id} ({role}) added; its password is in {node_dir}")


@click.command("auth-enable")
@click.option("--etcd", "endpoint", required=True, help="one etcd client URL (https://...)")
@click.option(
    "--admin-dir",
    type=dir_type,
    required=True,
    help="the root user's TLS dir (ca.crt, tls.crt, tls.key); etcd.password is created there",
)
def auth_enable_cmd(endpoint: str, admin_dir: Path) -> None:
    """Create etcd's root user (role root) with a new password and turn etcd auth on."""
    from ledger_node.network.access import EtcdAccess
    from ledger_node.network.roles import Admin, new_password

    new_password(admin_dir)
    with Admin(endpoint, EtcdAccess.from_dir(admin_dir)) as admin:
        admin.enable()
    click.echo(f"etcd authentication is on; root's password is in {admin_dir}")


@click.command("defrag")
@click.option("--etcd", "endpoints", required=True, help="etcd client URLs, comma-separated")
@click.option(
    "--admin-dir",
    type=dir_type,
    required=True,
    help="the root user's TLS dir (ca.crt, tls.crt, tls.key, etcd.password)",
)
def defrag_cmd(endpoints: str, admin_dir: Path) -> None:
    """Defragment every etcd member, one at a time (the others keep a majority). With etcd
    roles on, nodes may not: run this from the operator's timer (e.g. weekly)."""
    import asyncio

    from ledger_node.network.access import EtcdAccess
    from ledger_node.network.etcd import Etcd
    from ledger_node.network.prune import defragment_member

    urls = [u for u in endpoints.split(",") if u]

    async def run() -> list[str]:
        etcd = Etcd(urls, access=EtcdAccess.from_dir(admin_dir))
        failed = []
        try:
            for url in urls:
                try:
                    await defragment_member(etcd, url)
                    click.echo(f"defragmented {url}")
                except Exception as exc:
                    failed.append(f"{url}: {exc}")
        finally:
            await etcd.close()
        return failed

    failed = asyncio.run(run())
    if failed:
        raise click.ClickException("; ".join(failed))
