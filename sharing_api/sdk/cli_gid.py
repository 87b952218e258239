"""`alliance gid` (a person's own key and their RW15 attribute keys) and `alliance regulator`
(the regulator's registry of verified titles and licences)."""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import date
from pathlib import Path

import click

from crypto.expiry import epoch_of
from crypto.rw15_keys import Rw15Key
from sharing_api.auth.key_request import MAX_DEADLINE_S, build_request, sign_request
from sharing_api.sdk.cli import (
    ADDRESS,
    SdkGroup,
    _api_option,
    _client,
    _csv,
    _key_option,
    _show,
    _timeout,
    _verify,
    load_reader_key,
)
from sharing_api.sdk.client import SharingClient
from sharing_api.sdk.gid_keys import issue_credential_key, issue_staff_key, verify_credential
from sharing_api.sdk.identity import StaffIdentity, load_or_create

_identity_option = click.option(
    "--identity",
    "identity_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your own key file (`alliance gid new`), sealed under ALLIANCE_PASSPHRASE.",
)
_out_option = click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The RW15 key bundle (created 0600); an existing bundle of the same GID is merged.",
)


def _passphrase() -> str:
    value = os.environ.get("ALLIANCE_PASSPHRASE")
    if value:
        return value
    return str(click.prompt("Passphrase for your key", hide_input=True, err=True))


def _identity(path: Path) -> StaffIdentity:
    if not path.exists():
        raise ValueError(f"{path}: no such key file (create one with `alliance gid new`)")
    return load_or_create(path, _passphrase())


def _save(out_path: Path, key: Rw15Key) -> None:
    if out_path.exists():
        old = load_reader_key(out_path.read_bytes())
        if isinstance(old, Rw15Key):
            key = old.merge(key)  # another GID's bundle is refused here
    out_path.write_bytes(key.to_bytes())
    os.chmod(out_path, 0o600)
    click.echo(f"RW15 keys of {key.gid}: {', '.join(key.attributes)} -> {out_path}", err=True)


@click.group(cls=SdkGroup)
def gid() -> None:
    """Your own key (your GID) and the RW15 attribute keys authorities issue to it."""


@gid.command("new")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
def gid_new(out_path: Path) -> None:
    """Create your own key (sealed, 0600) and print its address: your GID."""
    if out_path.exists():
        raise ValueError(f"{out_path} exists: refusing to overwrite a key")
    click.echo(load_or_create(out_path, _passphrase()).gid)


@gid.command("staff-key")
@_identity_option
@_out_option
@click.option("--days", default=30, show_default=True, type=int, help="How long the key is valid.")
@_api_option
def gid_staff_key(identity_path: Path, out_path: Path, days: int, api_url: str) -> None:
    """Your member's RW15 key for your staff token's attributes (needs ALLIANCE_TOKEN from a
    token that names your GID: `alliance staff token --gid`)."""
    with _client(api_url, None) as client:
        key = issue_staff_key(client, _identity(identity_path), days)
    _save(out_path, key)


@gid.command("credential-key")
@_identity_option
@_out_option
@click.option("--authority", default="reg", show_default=True, help="The issuing authority.")
@click.option("--attrs", required=True, help='What it verified for you, e.g. "title:chief".')
@click.option("--days", default=30, show_default=True, type=int, help="How long the key is valid.")
@_api_option
def gid_credential_key(
    identity_path: Path, out_path: Path, authority: str, attrs: str, days: int, api_url: str
) -> None:
    """Keys for titles or licences an authority verified for your GID, from its gateway
    (no sign-in: your signature is the proof)."""

    with SharingClient(api_url, timeout=_timeout(), verify=_verify()) as client:
        key = issue_credential_key(client, _identity(identity_path), authority, _csv(attrs), days)
    _save(out_path, key)


@gid.command("request")
@_identity_option
@click.option("--authority", required=True, help="The authority that will issue, e.g. reg.")
@click.option("--attrs", required=True, help='e.g. "title:chief-physician".')
@click.option("--expires", required=True, help="YYYY-MM-DD, as its `alliance abe keygen`.")
@click.option("--chain", "chain_id", default=0, show_default=True, type=int, help="Chain id.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
def gid_request(
    identity_path: Path, authority: str, attrs: str, expires: str, chain_id: int, out_path: Path
) -> None:
    """A signed key request for an authority's operator (`alliance abe keygen --request`),
    valid for 10 minutes."""
    request = build_request(
        authority,
        _identity(identity_path).gid,
        _csv(attrs),
        epoch_of(date.fromisoformat(expires)) - 1,
        chain_id,
        secrets.token_hex(12),
        int(time.time()) + MAX_DEADLINE_S,
    )
    signature = sign_request(request, _identity(identity_path).private_key)
    out_path.write_text(json.dumps({"request": request.to_text(), "signature": signature}))
    click.echo(f"request for {request.gid} -> {out_path}", err=True)


@click.group(cls=SdkGroup)
def regulator() -> None:
    """The regulator's registry of the titles and licences it verified (per GID)."""


@regulator.command("verify-title")
@click.option("--gid", "gid_address", required=True, type=ADDRESS, help="The doctor's GID.")
@click.option("--title", default=None, help="e.g. chief-physician (reg.title:...).")
@click.option("--licence", default=None, help="e.g. cardiology (reg.licence:...).")
@click.option("--valid-until", default=None, help="YYYY-MM-DD (default: a year from today).")
@_api_option
@_key_option
def verify_title(
    gid_address: str,
    title: str | None,
    licence: str | None,
    valid_until: str | None,
    api_url: str,
    key_file: Path | None,
) -> None:
    """Record a title and/or licence you verified for a GID (signed in as the regulator)."""
    until = date.fromisoformat(valid_until) if valid_until else None
    with _client(api_url, key_file) as client:
        _show(verify_credential(client, gid_address, title, licence, until))


@regulator.command("credentials")
@click.option("--gid", "gid_address", default=None, type=ADDRESS, help="Only this GID.")
@_api_option
@_key_option
def credentials(gid_address: str | None, api_url: str, key_file: Path | None) -> None:
    """List the registry."""
    with _client(api_url, key_file) as client:
        params = {"gid": gid_address} if gid_address else {}
        _show(client.json("GET", "/keys/credentials", params=params))
