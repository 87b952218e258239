"""`alliance api`: serve the sharing API (uvicorn, 127.0.0.1 by default), and seal the hosted
members' ledger keys into passphrase-protected key files for its config.

The passphrase unlocking those files comes from ``--passphrase-file`` (or the config's
``passphrase_file``) or else ``ALLIANCE_PASSPHRASE``; never from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sharing_api.api.core.config import load_settings

_passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the key files' passphrase (default: $ALLIANCE_PASSPHRASE).",
)


@click.group(name="api")
def api() -> None:
    """The sharing API (FastAPI): records, consents, referrals, keys, audit."""


@api.command()
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="API settings JSON (default: $ALLIANCE_HOME/api.json).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--chain-url", default=None, help="Ledger JSON-RPC endpoint.")
@click.option("--deployment", default=None, help="deployment.json of the alliance contracts.")
@click.option("--database-url", default=None, help="Index DB (SQLite or postgresql:// URL).")
@click.option("--storage-root", default=None, help="Local content-addressed store root.")
@click.option(
    "--state-dir",
    default=None,
    help="The API's own files, e.g. the generated JWT secret (default: $ALLIANCE_HOME/api).",
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
    state_dir: str | None,
    passphrase_file: Path | None,
    workers_threads: int,
) -> None:
    """Serve the API until interrupted (refuses to start if the key files stay locked)."""
    import uvicorn

    from sharing_api.api.main import create_app
    from sharing_api.api.services import Services

    settings = load_settings(config, {
        "chain_url": chain_url, "deployment_file": deployment,
        "database_url": database_url, "storage_root": storage_root,
        "state_dir": state_dir,
        "passphrase_file": str(passphrase_file) if passphrase_file else None,
    })  # fmt: skip
    services = Services.build(settings)
    app = create_app(services, threads=workers_threads)

    click.echo(json.dumps({"listening": f"http://{host}:{port}"}), err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@api.command("seal-key")
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
    """Seal a hosted member's ledger key under the API's passphrase; print its address."""
    import secrets

    from sharing_api.api.core.config import ApiSettings
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
