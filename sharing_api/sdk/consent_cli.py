"""`alliance consent`: grant, revoke and list consents (the patient signs locally, a member relays).

Split from sharing_api/sdk/cli.py, which keeps the shared options and helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sharing_api.chain import Category, Purpose
from sharing_api.sdk.cli import (
    _CATEGORIES,
    _PURPOSES,
    ADDRESS,
    SdkGroup,
    _api_option,
    _client,
    _csv,
    _key_option,
    _read_key,
    _show,
)

# ---- consents ---------------------------------------------------------------------------


@click.group(cls=SdkGroup)
def consent() -> None:
    """Grant, revoke and list consents (the patient signs locally, a member relays)."""


@consent.command("grant")
@click.option("--grantee", required=True, type=ADDRESS, help="Member address the consent is for.")
@click.option(
    "--categories", required=True, help=f"Comma-separated record categories: {_CATEGORIES}."
)
@click.option(
    "--purposes",
    default="treatment",
    show_default=True,
    help=f"Comma-separated purposes of use: {_PURPOSES}.",
)
@click.option("--days", default=30, show_default=True, type=int, help="How long the consent lasts.")
@click.option(
    "--custodian",
    default=None,
    type=ADDRESS,
    help="With --mnemonic-file: the member whose records of yours the consent covers.",
)
@click.option(
    "--mnemonic-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="ALLIANCE_MNEMONIC_FILE",
    default=None,
    help="Your recovery phrase: signs with your pseudonym for --custodian (not --key-file).",
)
@_api_option
@_key_option
def consent_grant(
    grantee: str,
    categories: str,
    purposes: str,
    days: int,
    custodian: str | None,
    mnemonic_file: Path | None,
    api_url: str,
    key_file: Path | None,
) -> None:
    """Sign a consent grant with your wallet key (or your pseudonym for --custodian) and
    have it relayed on chain."""
    for category in _csv(categories):  # before a passphrase prompt or a request
        Category.parse(category)
    for purpose in _csv(purposes):
        Purpose.parse(purpose)
    terms: dict[str, Any] = {
        "grantee": grantee,
        "categories": _csv(categories),
        "purposes": _csv(purposes),
        "valid_for_s": days * 86_400,
    }
    if mnemonic_file is not None:
        from sharing_api.sdk.patient_cli import wallet_client, wallet_from

        if custodian is None:
            raise ValueError("--mnemonic-file needs --custodian: whose records it covers")
        wallet = wallet_from(mnemonic_file)
        with wallet_client(api_url, wallet) as client:
            _show(wallet.grant_consent(client, custodian=custodian, **terms))
        return
    key = _read_key(key_file)
    with _client(api_url, key_file) as client:
        _show(client.grant_consent(key, **terms))


@consent.command("revoke")
@click.argument("consent_id", type=int)
@click.option(
    "--mnemonic-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="ALLIANCE_MNEMONIC_FILE",
    default=None,
    help="Your recovery phrase: revokes with the pseudonym that granted it.",
)
@_api_option
@_key_option
def consent_revoke(
    consent_id: int, mnemonic_file: Path | None, api_url: str, key_file: Path | None
) -> None:
    """Sign a revocation with your wallet key (or the granting pseudonym) and have it
    relayed on chain."""
    if mnemonic_file is not None:
        from sharing_api.sdk.patient_cli import wallet_client, wallet_from

        wallet = wallet_from(mnemonic_file)
        with wallet_client(api_url, wallet) as client:
            _show(wallet.revoke_consent(client, consent_id))
        return
    key = _read_key(key_file)
    with _client(api_url, key_file) as client:
        _show(client.revoke_consent(key, consent_id))


@consent.command("list")
@click.option("--patient", default=None, type=ADDRESS, help="Only this patient's consents.")
@_api_option
@_key_option
def consent_list(patient: str | None, api_url: str, key_file: Path | None) -> None:
    """Consents (a patient: their own)."""
    with _client(api_url, key_file) as client:
        _show(client.json("GET", "/consents", params={"patient": patient} if patient else {}))


@consent.command("fhir")
@click.argument("consent_id", type=int)
@_api_option
@_key_option
def consent_fhir(consent_id: int, api_url: str, key_file: Path | None) -> None:
    """The consent as a FHIR R4 Consent resource."""
    with _client(api_url, key_file) as client:
        _show(client.json("GET", f"/fhir/Consent/{consent_id}"))


# `alliance patient` (attest, pseudonym, disclose) is in sharing_api/sdk/patient_cli.py.
