"""`alliance storage put|get|stat|delete|restore`: the content-addressed record store by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from sharing_api.storage.base import Storage
from sharing_api.storage.config import BACKENDS, load_config, open_storage


@click.group("storage")
@click.option(
    "--backend", type=click.Choice(BACKENDS), help="Backend (default: config, else local)."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file: storage.toml, or a gateway.json (its storage table) "
    "(default: $ALLIANCE_HOME/storage.toml).",
)
@click.option("--local-root", help="Directory of the local store.")
@click.option("--ipfs-api", help="Kubo RPC API address, e.g. http://127.0.0.1:5001.")
@click.option("--s3-endpoint", help="S3 endpoint URL.")
@click.option("--s3-bucket", help="S3 bucket.")
@click.option("--s3-prefix", help="Key prefix inside the bucket.")
@click.option("--replicas", help="Replicated backend: comma-separated backends, e.g. local,ipfs.")
@click.option("--max-size", type=int, help="Refuse blobs larger than this many bytes (0: none).")
@click.option("--cid-version", type=click.IntRange(0, 1), help="0 (Qm..., default) or 1 (b...).")
@click.pass_context
def storage(ctx: click.Context, /, config_file: Path | None, **overrides: Any) -> None:
    """Put, fetch and inspect blobs in the content-addressed record store.

    Every read is verified block by block against the CID; deleting a blob (unpinning on
    IPFS) is how a patient's erasure request is honoured.
    """
    overrides = {k.replace("-", "_"): v for k, v in overrides.items()}
    config = load_config(config_file, overrides)
    ctx.obj = open_storage(config)
    ctx.call_on_close(ctx.obj.close)


def _store(ctx: click.Context) -> Storage:
    store = ctx.obj
    assert isinstance(store, Storage)
    return store


@storage.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print CID, SHA-256 and size as JSON.")
@click.pass_context
def put(ctx: click.Context, file: str, as_json: bool) -> None:
    """Store FILE (or - for stdin) and print its CID."""
    store = _store(ctx)
    if file == "-":
        info = store.put(sys.stdin.buffer)
    else:
        with open(file, "rb") as handle:
            info = store.put(handle)
    if as_json:
        click.echo(json.dumps({"cid": info.cid, "sha256": info.sha256, "size": info.size}))
    else:
        click.echo(info.cid)


@storage.command("get")
@click.argument("cid")
@click.argument("out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--sha256", "expected_sha256", help="Also require this SHA-256 (hex).")
@click.pass_context
def get(ctx: click.Context, cid: str, out: Path, expected_sha256: str | None) -> None:
    """Fetch CID into OUT, verified; OUT appears only if every byte matched.

    With OUT as -, verified blocks go to stdout as they arrive; on an error the output
    stops short and the exit status is 1.
    """
    store = _store(ctx)
    if str(out) == "-":
        for chunk in store.get(cid, expected_sha256):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    size = store.get_to_file(cid, out, expected_sha256)
    click.echo(f"{size} bytes verified -> {out}", err=True)


@storage.command("stat")
@click.argument("cid")
@click.pass_context
def stat(ctx: click.Context, cid: str) -> None:
    """Print CID, SHA-256 and size as JSON."""
    store = _store(ctx)
    info = store.stat(cid)
    record = {"cid": info.cid, "sha256": info.sha256, "size": info.size, "backend": store.name}
    click.echo(json.dumps(record))


@storage.command("delete")
@click.argument("cid")
@click.pass_context
def delete(ctx: click.Context, cid: str) -> None:
    """Delete (unpin) CID: crypto-shredding for an erasure request."""
    removed = _store(ctx).delete(cid)
    click.echo("deleted" if removed else "absent")


@storage.command("restore")
@click.option(
    "--cid", "cids", multiple=True, help="Only these CIDs (default: all the backup holds)."
)
@click.option(
    "--check-present",
    is_flag=True,
    help="Also read back every copy the primaries hold and replace any that fails verification.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def restore_cmd(
    ctx: click.Context, cids: tuple[str, ...], check_present: bool, as_json: bool
) -> None:
    """Copy blobs from the backup (the `backup` setting) back into the primary store.

    Every blob is verified against its CID on the way; exit 1 if any could not be restored.
    """
    from sharing_api.storage.replicated import ReplicatedStorage
    from sharing_api.storage.restore import restore

    store = _store(ctx)
    if not isinstance(store, ReplicatedStorage) or not store.backups:
        raise click.ClickException("no backup is configured (the storage setting `backup`)")
    report = restore(store.replicas, store.backups[0], cids or None, check_present=check_present)
    if as_json:
        click.echo(
            json.dumps(
                {"restored": report.restored, "present": report.present, "failed": report.failed}
            )
        )
    else:
        for cid in report.restored:
            click.echo(f"restored {cid} (verified)")
        for cid, why in report.failed.items():
            click.echo(f"failed   {cid}: {why}", err=True)
        click.echo(
            f"{len(report.restored)} restored, {len(report.present)} already present, "
            f"{len(report.failed)} failed"
        )
    if not report.ok:
        raise click.exceptions.Exit(1)
