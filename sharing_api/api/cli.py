"""`alliance api`: serve the sharing API (uvicorn, 127.0.0.1 by default)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sharing_api.api.core.config import load_settings


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
    workers_threads: int,
) -> None:
    """Serve the API until interrupted."""
    import uvicorn

    from sharing_api.api.main import create_app
    from sharing_api.api.services import Services

    settings = load_settings(config, {
        "chain_url": chain_url, "deployment_file": deployment,
        "database_url": database_url, "storage_root": storage_root,
    })  # fmt: skip
    services = Services.build(settings)
    app = create_app(services, threads=workers_threads)

    click.echo(json.dumps({"listening": f"http://{host}:{port}"}), err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
