"""`alliance staff`: a member issues and revokes its staff's tokens.

Split from sharing_api/sdk/cli.py, which keeps the shared options and helpers."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from sharing_api.sdk.cli import (
    ADDRESS,
    SdkGroup,
    _api_option,
    _client,
    _csv,
    _key_option,
    _show,
)

# ---- staff ------------------------------------------------------------------------------


@click.group(cls=SdkGroup)
def staff() -> None:
    """A member signs its staff in (tokens for `record key|get`, ALLIANCE_TOKEN) and revokes
    them (tokens refused, authority rotated, other staff's keys re-issued)."""


@staff.command("token")
@click.option(
    "--id",
    "staff_id",
    required=True,
    help="The staff member's id at your member, e.g. dr-chen (letters, digits, ._@-).",
)
@click.option("--role", required=True, help="Their role, e.g. doctor or nurse (ABE role:ROLE).")
@click.option(
    "--attrs",
    default="",
    help="Comma-separated further ABE attributes, e.g. dept:cardiology (your member's).",
)
@click.option(
    "--gid",
    default=None,
    type=ADDRESS,
    help="The staff member's own key address (`alliance gid new`), bound to this staff id: "
    "your authority issues RW15 keys only to it.",
)
@_api_option
@_key_option
def staff_token(
    staff_id: str, role: str, attrs: str, gid: str | None, api_url: str, key_file: Path | None
) -> None:
    """Issue a token to one of your staff, signed in as your member (--key-file).

    Prints only the token, for ALLIANCE_TOKEN=$(alliance staff token ...); who it names and
    until when goes to stderr.
    """
    # A staff token in the environment would sign in as that staff, who may issue nothing.
    if os.environ.get("ALLIANCE_TOKEN"):
        raise ValueError("ALLIANCE_TOKEN is set: unset it, a member signs in with --key-file")
    body: dict[str, Any] = {"staff_id": staff_id, "role": role, "attributes": _csv(attrs)}
    if gid is not None:
        body["gid"] = gid
    with _client(api_url, key_file) as client:
        out = client.json("POST", "/auth/staff-tokens", json=body)
        attributes = client.json("GET", "/auth/me", headers=_bearer(out["access_token"]))
    until = datetime.fromtimestamp(int(out["expires_at"]), UTC).strftime("%Y-%m-%d %H:%M UTC")
    click.echo(
        f"staff token for {out['subject']} ({', '.join(attributes['attributes'])}) "
        f"valid until {until}",
        err=True,
    )
    click.echo(out["access_token"])


@staff.command("revoke")
@click.option("--id", "staff_id", required=True, help="The staff member's id at your member.")
@click.option(
    "--rotate/--no-rotate",
    default=True,
    show_default=True,
    help="Rotate your ABE authority if they hold a live key (--no-rotate: tokens only).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's answer as JSON.")
@_api_option
@_key_option
def staff_revoke(
    staff_id: str, rotate: bool, as_json: bool, api_url: str, key_file: Path | None
) -> None:
    """Revoke one of your staff: every token of theirs is refused from now on, and your
    gateway rotates your ABE authority to a new generation, so the keys they hold open
    nothing sealed from then on. The gateway saves the new generation, serves its
    parameters, publishes their hash on chain and re-issues every other live staff key;
    your staff fetch theirs with `alliance record keys` and keep their old ones for records
    sealed before. Revoking again rotates only if still needed.
    """
    with _client(api_url, key_file) as client:
        out = client.revoke_staff(staff_id, rotate=rotate)
    if as_json:
        _show(out)
        return
    state = "revoked" if out["revoked"] else "was already revoked"
    click.echo(f"{out['staff_id']} of {out['member']} {state}")
    click.echo(out["note"])
    for key_id in out["key_ids"]:
        click.echo(f"ABE key {key_id}")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
