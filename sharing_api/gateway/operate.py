"""Operating a gateway: `alliance gateway init`, `register` and `status`."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import click

from sharing_api.api.core.config import ApiSettings, HostedMember, load_settings

ZERO32 = b"\x00" * 32


def _settings(config: Path | None, passphrase_file: Path | None) -> ApiSettings:
    return load_settings(
        config, {"passphrase_file": str(passphrase_file) if passphrase_file else None}
    )


def tls_fingerprint(settings: ApiSettings) -> bytes:
    """The fingerprint to register: the gateway certificate's, or zero for plain HTTP."""
    from sharing_api.gateway.tls import fingerprint_of_file

    tls = settings.resolved_tls()
    return fingerprint_of_file(tls[0]) if tls else ZERO32


def seal_new_member(
    keys_dir: Path,
    member_id: str,
    ledger_key_file: Path | None,
    no_authority: bool,
    passphrase: str,
    suite_name: str = "aes-256-gcm",
) -> tuple[str, Any, HostedMember]:
    """A member's ledger key (the given plaintext file's, else a new one) and, unless
    ``no_authority``, a new ABE authority, sealed into ``keys_dir`` under ``passphrase`` in
    the gateway's cipher suite."""
    from crypto.authority import AttributeAuthority
    from crypto.keystore import DEFAULT_LOG2_N
    from crypto.suite import suite_by_name
    from sharing_api.api.core.keys import seal_hosted_member

    key = (
        ledger_key_file.read_text(encoding="utf-8").strip()
        if ledger_key_file
        else "0x" + secrets.token_hex(32)
    )
    authority = None if no_authority else AttributeAuthority.setup(member_id)
    suite = suite_by_name(suite_name)
    member = seal_hosted_member(
        keys_dir, member_id, key, passphrase, authority, DEFAULT_LOG2_N, suite
    )
    return key, authority, member


def write_gateway_config(
    directory: Path,
    members: list[HostedMember],
    *,
    public_url: str,
    chain_url: str,
    deployment_file: str,
    passphrase_file: str = "",
    storage: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """``directory/gateway.json``: everything `gateway serve` needs, state under directory."""
    config: dict[str, Any] = {
        "chain_url": chain_url,
        "deployment_file": deployment_file,
        "members": [m.model_dump(exclude_defaults=True) for m in members],
        "state_dir": str(directory),
        "database_url": f"sqlite:///{directory / 'index.sqlite3'}",
        "public_url": public_url,
        "storage": storage or {"backend": "local", "local_root": str(directory / "storage")},
        **({"passphrase_file": passphrase_file} if passphrase_file else {}),
        **(extra or {}),
    }
    path = directory / "gateway.json"
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def alliance_suite(deployment_file: str | None) -> str:
    """The alliance's cipher suite as its deployment.json names it (the genesis's choice)."""
    from sharing_api.chain.genesis import DEFAULT_SUITE_NAME, Deployment
    from sharing_api.settings import alliance_home

    path = Path(deployment_file) if deployment_file else alliance_home() / "deployment.json"
    return Deployment.load(path).crypto_suite if path.exists() else DEFAULT_SUITE_NAME


@click.command()
@click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the gateway's files go (keys/, tls/, gateway.json, storage/).",
)
@click.option("--id", "member_id", required=True, help="The member's short id, e.g. h1.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Name or IP others dial.")
@click.option("--port", default=8443, show_default=True, type=int)
@click.option("--chain-url", default="http://127.0.0.1:8545", show_default=True)
@click.option("--deployment", default="", help="deployment.json of the alliance contracts.")
@click.option(
    "--ledger-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The member's existing plaintext 0x-hex ledger key (default: a new key).",
)
@click.option("--no-authority", is_flag=True, help="The member issues no ABE attribute keys.")
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Seal the keys under this file's passphrase (default: $ALLIANCE_PASSPHRASE).",
)
@click.option(
    "--suite",
    "crypto_suite",
    type=click.Choice(["aes-256-gcm", "sm4-gcm"], case_sensitive=False),
    default=None,
    help="The alliance's cipher suite (sm4-gcm: SM4-GCM with SM3) for its key files and the "
    "records sealed through it [default: the alliance's, from --deployment, else "
    "aes-256-gcm]. It must be the alliance's: the gateway refuses to start otherwise.",
)
def init(
    directory: Path,
    member_id: str,
    host: str,
    port: int,
    chain_url: str,
    deployment: str,
    ledger_key_file: Path | None,
    no_authority: bool,
    passphrase_file: Path | None,
    crypto_suite: str | None,
) -> None:
    """Make a member's gateway files: its sealed ledger key and ABE master key, a
    self-signed TLS certificate, and gateway.json. Prints what to register on chain."""
    from sharing_api.api.core.keys import resolve_passphrase
    from sharing_api.gateway.tls import make_certificate

    if (directory / "gateway.json").exists():
        raise click.ClickException(f"{directory / 'gateway.json'} exists; refusing to overwrite")
    passphrase = resolve_passphrase(
        ApiSettings(passphrase_file=str(passphrase_file) if passphrase_file else "")
    )
    crypto_suite = (crypto_suite or alliance_suite(deployment)).lower()
    key, authority, member = seal_new_member(
        directory / "keys", member_id, ledger_key_file, no_authority, passphrase, crypto_suite
    )
    fingerprint = make_certificate(
        directory / "tls" / "cert.pem", directory / "tls" / "key.pem", member_id, [host]
    )
    public_url = f"https://{host}:{port}"
    config = write_gateway_config(
        directory,
        [member],
        public_url=public_url,
        chain_url=chain_url,
        deployment_file=deployment,
        passphrase_file=str(passphrase_file.resolve()) if passphrase_file else "",
        extra={"crypto_suite": crypto_suite},
    )
    from eth_account import Account

    out = {
        "member": member_id,
        "address": Account.from_key(key).address,
        "abe_params_fingerprint": authority.params().fingerprint.hex() if authority else None,
        "gateway_url": public_url,
        "tls_fingerprint": fingerprint.hex(),
        "crypto_suite": crypto_suite,
        "config": str(config),
        "next": [
            "have the alliance admit the address (governance proposal) if it is new",
            f"alliance gateway register --config {config}",
            f"alliance gateway serve --config {config} --host {host} --port {port}",
        ],
    }
    click.echo(json.dumps(out, indent=2))


@click.command("add-member")
@click.option(
    "--config",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The hosting gateway's gateway.json (e.g. a cloud operator's).",
)
@click.option("--id", "member_id", required=True, help="The hosted member's short id, e.g. fx.")
@click.option(
    "--ledger-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The member's existing plaintext 0x-hex ledger key (default: a new key).",
)
@click.option("--no-authority", is_flag=True, help="The member issues no ABE attribute keys.")
@click.option(
    "--member-passphrase-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The member's OWN passphrase: its keys are sealed apart from the operator's.",
)
def add_member(
    config: Path,
    member_id: str,
    ledger_key_file: Path | None,
    no_authority: bool,
    member_passphrase_file: Path,
) -> None:
    """Host another member on this gateway (a cloud operator's clinics): its keys sealed
    under its own passphrase, listed in gateway.json. Then `register` and restart."""
    from eth_account import Account

    from sharing_api.api.core.keys import read_passphrase_file

    values = json.loads(config.read_text(encoding="utf-8"))
    members = values.setdefault("members", [])
    keys_dir = config.parent / "keys"
    if (keys_dir / f"{member_id}.ledger.key").exists():
        raise click.ClickException(f"member {member_id!r} already has keys in {keys_dir}")
    passphrase = read_passphrase_file(member_passphrase_file)
    suite_name = str(values.get("crypto_suite") or alliance_suite(values.get("deployment_file")))
    key, authority, member = seal_new_member(
        keys_dir, member_id, ledger_key_file, no_authority, passphrase, suite_name
    )
    member = member.model_copy(update={"passphrase_file": str(member_passphrase_file.resolve())})
    members.append(member.model_dump(exclude_defaults=True))
    config.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    click.echo(
        json.dumps(
            {
                "member": member_id,
                "address": Account.from_key(key).address,
                "abe_params_fingerprint": (
                    authority.params().fingerprint.hex() if authority else None
                ),
                "config": str(config),
                "next": [f"alliance gateway register --config {config}", "restart the gateway"],
            },
            indent=2,
        )
    )


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
)
def register(config: Path | None, passphrase_file: Path | None) -> None:
    """Register this gateway's URL and TLS fingerprint on chain for every hosted member."""
    from sharing_api.api.services import Services

    settings = _settings(config, passphrase_file)
    if not settings.public_url:
        raise click.ClickException("the config has no public_url (where others reach you)")
    fingerprint = tls_fingerprint(settings)
    services = Services.build(settings)
    try:
        for address, signer in services.hosted.items():
            sent = signer.registry.set_gateway(settings.public_url, fingerprint)
            click.echo(
                json.dumps(
                    {
                        "member": address,
                        "gateway_url": settings.public_url,
                        "tls_fingerprint": fingerprint.hex(),
                        "tx": sent.tx_hash,
                    }
                )
            )
    finally:
        services.close()


def gateway_status(settings: ApiSettings, services: Any) -> dict[str, Any]:
    """Node, store, index and directory, each as seen from this gateway."""
    out: dict[str, Any] = {}
    try:
        head = int(services.reader.client.w3.eth.block_number)
        out["node"] = {"url": settings.chain_url, "reachable": True, "head": head}
    except Exception as exc:
        head = None
        out["node"] = {"url": settings.chain_url, "reachable": False, "error": str(exc)[:200]}
    store = settings.resolved_storage()
    try:
        services.storage.has("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
        out["store"] = {"backend": store.backend, "reachable": True}
    except Exception as exc:
        out["store"] = {"backend": store.backend, "reachable": False, "error": str(exc)[:200]}
    indexed = services.index.next_block()
    out["index"] = {
        "next_block": indexed,
        "lag_blocks": None if head is None or indexed is None else max(0, head + 1 - indexed),
    }
    mine = tls_fingerprint(settings)
    members = []
    for address in services.hosted:
        entry = services.reader.registry.gateway_of(address) if head is not None else None
        members.append(
            {
                "member": address,
                "directory_url": entry.url if entry else None,
                "directory_fingerprint": entry.fingerprint.hex() if entry else None,
                "matches_this_gateway": bool(
                    entry and entry.url == settings.public_url and entry.fingerprint == mine
                ),
            }
        )
    out["members"] = members
    return out


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
def status(config: Path | None, passphrase_file: Path | None, as_json: bool) -> None:
    """Is the node reachable (and its head), the store reachable, the index behind, and is
    each hosted member's directory entry on chain this gateway?"""
    from sharing_api.api.services import Services

    settings = _settings(config, passphrase_file)
    services = Services.build(settings)
    try:
        services.indexer.sync()
        report = gateway_status(settings, services)
    finally:
        services.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    node = report["node"]
    click.echo(
        f"node    {node['url']}: "
        + (f"head {node['head']}" if node["reachable"] else f"UNREACHABLE ({node['error']})")
    )
    store = report["store"]
    click.echo(
        f"store   {store['backend']}: "
        + ("reachable" if store["reachable"] else f"UNREACHABLE ({store['error']})")
    )
    click.echo(f"index   {report['index']['lag_blocks']} blocks behind")
    for m in report["members"]:
        where = m["directory_url"] or "no entry"
        ok = "this gateway" if m["matches_this_gateway"] else "NOT this gateway"
        click.echo(f"member  {m['member']}: directory {where} ({ok})")
    if not node["reachable"] or not store["reachable"]:
        raise click.exceptions.Exit(1)
