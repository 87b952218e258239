"""`alliance referral`: create and follow referrals between members, the patient's
proposals, their texts.

Split from sharing_api/sdk/cli.py, which keeps the shared options and helpers."""

from __future__ import annotations

import time
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
    _read_key,
    _show,
)
from sharing_api.sdk.client import SharingClient
from sharing_api.sdk.patient_cli import mnemonic_option, wallet_client, wallet_from
from sharing_api.sdk.patient_wallet import PatientWallet

# ---- referrals --------------------------------------------------------------------------


@click.group(cls=SdkGroup)
def referral() -> None:
    """Refer patients between members and follow the referral's life."""


_DIRECTION_HELP = "up: to a higher-level institution; down: back to primary care."


@referral.command("create")
@click.option("--patient", required=True, type=ADDRESS, help="The patient's wallet address.")
@click.option("--receiver", required=True, type=ADDRESS, help="Receiving member's address.")
@click.option(
    "--direction",
    type=click.Choice(["up", "down"]),
    default="up",
    show_default=True,
    help=_DIRECTION_HELP,
)
@click.option("--records", "record_ids", required=True, help="Comma-separated record ids.")
@click.option(
    "--consent",
    "consent_id",
    required=True,
    type=int,
    help="The patient's consent to the receiver (purpose referral).",
)
@click.option("--reason", default="", help="Why (kept off chain; only its hash is on chain).")
@click.option(
    "--expires-days",
    type=click.IntRange(1, 90),
    default=None,
    help="Days until the referral (and access through it) ends [default: 30, or the "
    "consent's end if sooner].",
)
@_api_option
@_key_option
def referral_create(
    patient: str,
    receiver: str,
    direction: str,
    record_ids: str,
    consent_id: int,
    reason: str,
    expires_days: int | None,
    api_url: str,
    key_file: Path | None,
) -> None:
    """Create a referral handing records over to the receiver."""
    ids = [int(i) for i in _csv(record_ids)]
    expires_at = None if expires_days is None else int(time.time()) + expires_days * 86_400
    with _client(api_url, key_file) as client:
        _show(
            client.create_referral(
                patient,
                receiver,
                ids,
                consent_id,
                direction=direction,
                reason=reason,
                expires_at=expires_at,
            )
        )


@referral.command("propose")
@click.option("--patient", required=True, type=ADDRESS, help="The patient's wallet address.")
@click.option(
    "--receiver", required=True, type=ADDRESS, help="Receiving member's (or staff) address."
)
@click.option(
    "--direction",
    type=click.Choice(["up", "down"]),
    default="up",
    show_default=True,
    help=_DIRECTION_HELP,
)
@click.option("--records", "record_ids", default="", help="Comma-separated record ids.")
@click.option(
    "--categories",
    default="",
    help="Comma-separated categories: the patient's current records of these are handed over.",
)
@click.option("--reason", default="", help="Why, shown to the patient.")
@click.option(
    "--expires-days",
    type=int,
    default=7,
    show_default=True,
    help="Days the patient has to answer.",
)
@_api_option
@_key_option
def referral_propose(
    patient: str,
    receiver: str,
    direction: str,
    record_ids: str,
    categories: str,
    reason: str,
    expires_days: int,
    api_url: str,
    key_file: Path | None,
) -> None:
    """Propose a referral for the patient to accept (signing) or decline."""
    with _client(api_url, key_file) as client:
        _show(
            client.propose_referral(
                patient,
                receiver,
                record_ids=[int(i) for i in _csv(record_ids)],
                categories=_csv(categories),
                direction=direction,
                reason=reason,
                expires_in_s=expires_days * 86_400,
            )
        )


@referral.command("proposals")
@_api_option
@_key_option
@mnemonic_option
def referral_proposals(api_url: str, key_file: Path | None, mnemonic_file: Path | None) -> None:
    """Proposals: my member's and their status, or a patient's inbox (with --mnemonic-file:
    at every gateway, naming you or any of your pseudonyms)."""
    if mnemonic_file is not None:
        wallet = wallet_from(mnemonic_file)
        with wallet_client(api_url, wallet) as client:
            _show(wallet.referral_inbox(client))
        return
    with _client(api_url, key_file) as client:
        _show(client.referral_proposals())


_referrer_option = click.option(
    "--referrer",
    type=ADDRESS,
    default=None,
    help="With --mnemonic-file: the member that made it (ids are per gateway), if two match.",
)


def _in_inbox(
    wallet: PatientWallet, client: SharingClient, proposal_id: int, referrer: str | None
) -> dict[str, Any]:
    """The proposal ``proposal_id`` (of ``referrer``) in the patient's inbox at every gateway."""
    inbox = wallet.referral_inbox(client)
    found = [
        p
        for p in inbox["proposals"]
        if p["proposal_id"] == proposal_id and referrer in (None, p["referrer"])
    ]
    if len(found) > 1:
        makers = ", ".join(p["referrer"] for p in found)
        raise ValueError(f"proposal {proposal_id} was made by {makers}: pass --referrer")
    if not found:
        down = "".join(f"; {u['gateway_url']}: {u['detail']}" for u in inbox["unreachable"])
        raise ValueError(f"no proposal {proposal_id} in your inbox{down}")
    one: dict[str, Any] = found[0]
    return one


@referral.command("proposal-accept")
@click.argument("proposal_id", type=int)
@click.option(
    "--lasts-days",
    type=click.IntRange(1, 90),
    default=30,
    show_default=True,
    help="Days the referral lasts once created (you sign this).",
)
@_referrer_option
@_api_option
@_key_option
@mnemonic_option
def referral_proposal_accept(
    proposal_id: int,
    lasts_days: int,
    referrer: str | None,
    api_url: str,
    key_file: Path | None,
    mnemonic_file: Path | None,
) -> None:
    """Accept a proposal as its patient: sign its ReferralConsent with your key (with
    --mnemonic-file: a proposal at any gateway, signed by the pseudonym it names)."""
    if mnemonic_file is not None:
        wallet = wallet_from(mnemonic_file)
        with wallet_client(api_url, wallet) as client:
            p = _in_inbox(wallet, client, proposal_id, referrer and referrer.lower())
            out = wallet.accept_proposal(client, p, lasts_s=lasts_days * 86_400)
            click.echo(_proposal_in_words(client, out), err=True)
        _show(out)
        return
    key = _read_key(key_file)
    with _client(api_url, key_file) as client:
        out = client.accept_referral_proposal(key, proposal_id, lasts_s=lasts_days * 86_400)
        click.echo(_proposal_in_words(client, out), err=True)
    _show(out)


@referral.command("proposal-decline")
@click.argument("proposal_id", type=int)
@click.option("--note", default="", help="Why, for the proposing member.")
@_referrer_option
@_api_option
@_key_option
@mnemonic_option
def referral_proposal_decline(
    proposal_id: int,
    note: str,
    referrer: str | None,
    api_url: str,
    key_file: Path | None,
    mnemonic_file: Path | None,
) -> None:
    """Decline a proposal as its patient (nothing goes on chain; with --mnemonic-file: a
    proposal at any gateway, signed by the pseudonym it names)."""
    if mnemonic_file is not None:
        wallet = wallet_from(mnemonic_file)
        with wallet_client(api_url, wallet) as client:
            p = _in_inbox(wallet, client, proposal_id, referrer and referrer.lower())
            out = wallet.decline_proposal(client, p, note)
            click.echo(_proposal_in_words(client, out), err=True)
        _show(out)
        return
    with _client(api_url, key_file) as client:
        out = client.decline_referral_proposal(proposal_id, note)
        click.echo(_proposal_in_words(client, out), err=True)
    _show(out)


def _proposal_in_words(client: SharingClient, p: dict[str, Any]) -> str:
    """What the patient just answered, with member names rather than bare addresses."""
    names = {m["address"].lower(): m["name"] for m in client.json("GET", "/members")}

    def who(address: str) -> str:
        name = names.get(address.lower())
        return f"{name} ({address})" if name else address

    records = ", ".join(map(str, p["record_ids"])) or "none"
    kinds = f" ({', '.join(p['categories'])})" if p["categories"] else ""
    line = (
        f"proposal {p['proposal_id']} {p['status']}: referral {p['direction']} from "
        f"{who(p['referrer'])} to {who(p['receiver'])}, records {records}{kinds}"
    )
    if p.get("referral_id") is not None:
        line += f"; referral {p['referral_id']} created on chain"
    return line + (f"; reason: {p['reason']}" if p["reason"] else "")


def _transition(action: str) -> click.Command:
    party = "referrer" if action == "cancel" else "receiver"

    @click.command(action, help=f"{action.capitalize()} a referral (as its {party}).")
    @click.argument("referral_id", type=int)
    @click.option("--note", default="", help="A note for the other party.")
    @_api_option
    @_key_option
    def command(referral_id: int, note: str, api_url: str, key_file: Path | None) -> None:
        with _client(api_url, key_file) as client:
            steps = {
                "accept": lambda: client.accept_referral(referral_id),
                "reject": lambda: client.reject_referral(referral_id, note),
                "complete": lambda: client.complete_referral(referral_id, note),
                "cancel": lambda: client.cancel_referral(referral_id, note),
            }
            _show(steps[action]())

    return command


for _action in ("accept", "reject", "complete", "cancel"):
    referral.add_command(_transition(_action))


@referral.command("withdraw")
@click.argument("referral_id", type=int)
@_api_option
@_key_option
@mnemonic_option
def referral_withdraw(
    referral_id: int, api_url: str, key_file: Path | None, mnemonic_file: Path | None
) -> None:
    """As the patient: sign a withdrawal with your wallet key (with --mnemonic-file: the
    pseudonym the referral names); a member relays it and the referral ends at once."""
    if mnemonic_file is not None:
        wallet = wallet_from(mnemonic_file)
        with wallet_client(api_url, wallet) as client:
            _show(wallet.withdraw_referral(client, referral_id))
        return
    key = _read_key(key_file)
    with _client(api_url, key_file) as client:
        _show(client.withdraw_referral(key, referral_id))


@referral.command("list")
@_api_option
@_key_option
def referral_list(api_url: str, key_file: Path | None) -> None:
    """Referrals you are a party to (a patient: their own)."""
    with _client(api_url, key_file) as client:
        _show(client.referrals())


@referral.command("texts")
@click.argument("referral_id", type=int)
@_api_option
@_key_option
def referral_texts(referral_id: int, api_url: str, key_file: Path | None) -> None:
    """A referral's reason and notes, each checked here against its commitment on chain
    (exit 1 if any does not match: that text is not the referral's)."""
    with _client(api_url, key_file) as client:
        texts = client.referral_texts(referral_id)
    _show([vars(t) for t in texts])
    wrong = [t.kind for t in texts if not t.matches_chain]
    if wrong:
        raise click.ClickException(
            f"referral {referral_id}: {', '.join(wrong)} does not match its commitment on chain"
        )


@referral.command("fhir")
@click.argument("referral_id", type=int)
@_api_option
@_key_option
def referral_fhir(referral_id: int, api_url: str, key_file: Path | None) -> None:
    """The referral as a FHIR R4 Bundle of its ServiceRequest and Task."""
    with _client(api_url, key_file) as client:
        _show(client.json("GET", f"/fhir/Task/{referral_id}"))
