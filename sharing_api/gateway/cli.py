"""`alliance gateway`: one institution's gateway (the sharing API for one member, or for
several hosted members), from nothing to serving.

    alliance gateway init --dir h1gw --id h1 --host 127.0.0.1 --port 8443   # keys, TLS, config
    alliance gateway register --config h1gw/gateway.json    # URL + TLS fingerprint on chain
    alliance gateway serve --config h1gw/gateway.json       # HTTPS on --host/--port
    alliance gateway status --config h1gw/gateway.json      # node, store, index, directory

Key passphrases come from ``--passphrase-file`` (or the config's ``passphrase_file``, or a
hosted member's own ``passphrase_file``) or else ``ALLIANCE_PASSPHRASE``; never from the
command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sharing_api.api.core.config import ApiSettings, load_settings

_passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the key files' passphrase (default: $ALLIANCE_PASSPHRASE).",
)
_config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Gateway settings JSON (default: $ALLIANCE_HOME/api.json).",
)


@click.group(name="gateway")
def gateway() -> None:
    """A member's gateway: the sharing API, its ledger node, record store, index and keys."""


def _settings(config: Path | None, **overrides: Any) -> ApiSettings:
    storage = {
        k[len("storage_") :]: overrides.pop(k) for k in list(overrides) if k.startswith("storage_")
    }
    return load_settings(config, overrides, storage_overrides=storage)


@gateway.command()
@_config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8443, show_default=True, type=int)
@click.option("--chain-url", default=None, help="JSON-RPC URL of this gateway's ledger node.")
@click.option("--deployment", default=None, help="deployment.json of the alliance contracts.")
@click.option("--database-url", default=None, help="Index DB (SQLite or postgresql:// URL).")
@click.option("--storage-root", default=None, help="Local record store root (backend local).")
@click.option(
    "--storage-backend",
    type=click.Choice(["local", "ipfs", "s3", "replicated"]),
    default=None,
    help="Record store backend (default: the config's storage table, storage.toml, local).",
)
@click.option("--state-dir", default=None, help="The gateway's own files (JWT secret, TLS).")
@click.option(
    "--insecure-http",
    is_flag=True,
    default=None,
    help="Serve and call other gateways over plain HTTP (loopback tests only).",
)
@_passphrase_option
@click.option(
    "--workers-threads",
    default=64,
    show_default=True,
    type=int,
    help="Threads for blocking chain and storage calls.",
)
def serve(
    config: Path | None,
    host: str,
    port: int,
    chain_url: str | None,
    deployment: str | None,
    database_url: str | None,
    storage_root: str | None,
    storage_backend: str | None,
    state_dir: str | None,
    insecure_http: bool | None,
    passphrase_file: Path | None,
    workers_threads: int,
) -> None:
    """Serve the gateway until interrupted: HTTPS with the gateway's certificate, or plain
    HTTP only with --insecure-http. Refuses to start if a key file stays locked."""
    import uvicorn

    from sharing_api.api.main import create_app
    from sharing_api.api.services import Services

    settings = _settings(
        config,
        chain_url=chain_url,
        deployment_file=deployment,
        database_url=database_url,
        storage_root=storage_root,
        storage_backend=storage_backend,
        state_dir=state_dir,
        insecure_http=insecure_http,
        passphrase_file=str(passphrase_file) if passphrase_file else None,
    )
    tls = settings.resolved_tls()
    if tls is None and not settings.insecure_http:
        raise click.ClickException(
            f"no TLS certificate in {settings.resolved_state_dir() / 'tls'}: run "
            "`alliance gateway init`, set tls_cert_file/tls_key_file, or pass --insecure-http "
            "(loopback tests only)"
        )
    services = Services.build(settings)
    app = create_app(services, threads=workers_threads)
    scheme = "https" if tls else "http"
    click.echo(json.dumps({"listening": f"{scheme}://{host}:{port}"}), err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )


@gateway.command("seal-key")
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The sealed key file to write (0600); name it as a member's key_file.",
)
@click.option(
    "--from",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A plaintext 0x-hex ledger key to seal (default: generate a new key).",
)
@_passphrase_option
def seal_key(out_file: Path, from_file: Path | None, passphrase_file: Path | None) -> None:
    """Seal a hosted member's ledger key under a passphrase; print its address."""
    import secrets

    from sharing_api.api.core.keys import resolve_passphrase, seal_ledger_key

    if out_file.exists():
        raise click.ClickException(f"{out_file} exists; refusing to overwrite a key file")
    settings = ApiSettings(passphrase_file=str(passphrase_file) if passphrase_file else "")
    passphrase = resolve_passphrase(settings)
    if from_file is not None:
        key = from_file.read_text(encoding="utf-8").strip()
    else:
        key = "0x" + secrets.token_hex(32)
    address = seal_ledger_key(out_file, key, passphrase)
    click.echo(json.dumps({"address": address, "key_file": str(out_file)}))


from sharing_api.gateway.operate import add_member, init, register, status  # noqa: E402

gateway.add_command(init)
gateway.add_command(add_member)
gateway.add_command(register)
gateway.add_command(status)
