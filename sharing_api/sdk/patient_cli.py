"""`alliance patient`: a patient's pseudonyms and disclosure, and a member's attestation.

A patient's identity here is their recovery phrase (``--mnemonic-file`` or
``ALLIANCE_MNEMONIC_FILE``, a file holding the BIP-39 words; never a command-line argument):
the pseudonym for each custodian is derived from it (``sharing_api.patient.pseudonyms``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from crypto.files import atomic_output
from sharing_api.patient.disclosure import make_disclosure
from sharing_api.sdk.cli import (
    ADDRESS,
    SdkGroup,
    _api_option,
    _client,
    _key_option,
    _show,
    _timeout,
    _verify,
)
from sharing_api.sdk.client import SharingClient
from sharing_api.sdk.patient_wallet import PatientWallet

mnemonic_option = click.option(
    "--mnemonic-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="ALLIANCE_MNEMONIC_FILE",
    default=None,
    help="A file holding your BIP-39 recovery phrase (every pseudonym derives from it).",
)


def wallet_from(mnemonic_file: Path | None) -> PatientWallet:
    if mnemonic_file is None:
        raise ValueError("no recovery phrase: pass --mnemonic-file or set ALLIANCE_MNEMONIC_FILE")
    return PatientWallet.from_file(mnemonic_file)


def wallet_client(api_url: str, wallet: PatientWallet) -> SharingClient:
    """A client signed in once as the patient, every care provider's pseudonym proven."""
    client = SharingClient(api_url, timeout=_timeout(), verify=_verify())
    wallet.login(client)
    return client


@click.group(cls=SdkGroup)
def patient() -> None:
    """Patients: your pseudonym per custodian and disclosures (a patient); attest a verified
    patient (a member)."""


@patient.command("attest")
@click.argument("address", type=ADDRESS)
@_api_option
@_key_option
def patient_attest(address: str, api_url: str, key_file: Path | None) -> None:
    """Attest, as your member (--key-file), that you verified this patient's real identity:
    their consents can then be relayed. Only the address and your member go on chain.
    Attest the patient's pseudonym for your member (`alliance patient pseudonym`)."""
    with _client(api_url, key_file) as client:
        _show(client.attest_patient(address))


@patient.command("pseudonym")
@click.option("--custodian", required=True, type=ADDRESS, help="The member keeping the records.")
@mnemonic_option
def patient_pseudonym(custodian: str, mnemonic_file: Path | None) -> None:
    """Print the address a custodian registers your records under (show it at the desk).
    Works offline: it is derived from your recovery phrase and the member's address."""
    click.echo(wallet_from(mnemonic_file).address_at(custodian))


@patient.command("disclose")
@click.option(
    "--custodian",
    "custodians",
    required=True,
    multiple=True,
    type=ADDRESS,
    help="A member whose pseudonym you disclose (repeat: two or more).",
)
@click.option("--regulator", required=True, type=ADDRESS, help="The regulator it is for.")
@click.option("--chain-id", required=True, type=int, help="The alliance's chain id.")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path))
@mnemonic_option
def patient_disclose(
    custodians: tuple[str, ...],
    regulator: str,
    chain_id: int,
    out_path: Path,
    mnemonic_file: Path | None,
) -> None:
    """Write a disclosure that your pseudonyms at these custodians are one person, signed by
    each, for the regulator only (`alliance audit disclosed FILE` checks it)."""
    wallet = wallet_from(mnemonic_file)
    accounts = [wallet.account_at(c) for c in dict.fromkeys(c.lower() for c in custodians)]
    doc = make_disclosure(accounts, regulator, chain_id, int(time.time()))
    with atomic_output(out_path, mode=0o600) as out:
        out.write(json.dumps(doc, indent=2).encode())
    click.echo(f"disclosed {len(accounts)} pseudonyms to {regulator}: {out_path}", err=True)
