"""`alliance record|consent|referral`: the hospital and patient side of the sharing API.

Encryption and decryption happen here, locally; the API only ever sees ciphertext. Who you
are: ``ALLIANCE_TOKEN`` (a staff token a member issued), or a ledger/wallet key file
(``--key-file`` or ``ALLIANCE_KEY_FILE``: 0x-hex, or sealed under ``ALLIANCE_PASSPHRASE`` by
``alliance gateway seal-key``) to sign in with EIP-4361. Keys are never command-line arguments.
"""

from __future__ import annotations

import base64
import io
import json
import os
import ssl
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from crypto.authority import UserKey
from crypto.errors import KeystoreError, PolicyError
from crypto.files import atomic_output
from crypto.header import ReaderKey
from crypto.keystore import read_key_file
from crypto.policy import parse_policy
from crypto.rw15_keys import Rw15Key
from sharing_api.api.core.keys import LEDGER_KIND
from sharing_api.chain import Category, Purpose
from sharing_api.fhir import SAMPLE_KINDS, sample_bundle, validate_resource
from sharing_api.sdk.client import ApiUnreachable, Download, SharingClient, check_address

DEFAULT_API = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 60.0
KEYSTORE_MAGIC = b"ALKS"


class SdkGroup(click.Group):
    """A command group whose commands report an unreachable API as one line (with what to
    check), not an httpx traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiUnreachable as exc:
            raise ApiUnreachable(exc.url, exc.reason, _unreachable_hint(exc.reason)) from None


def _unreachable_hint(reason: str) -> str:
    """What to check: a gateway's self-signed certificate is the usual cause of a TLS failure,
    not a gateway that is down."""
    if "CERTIFICATE_VERIFY_FAILED" not in reason:
        return "is it running? set ALLIANCE_API_URL or --api"
    cafile = os.environ.get("ALLIANCE_API_CA", "")
    if cafile:
        return f"ALLIANCE_API_CA={cafile} is not this gateway's certificate"
    return "trust the gateway's own certificate: ALLIANCE_API_CA=<gateway dir>/tls/cert.pem"


class Address(click.ParamType[str]):
    """An account address: 0x and 40 hex digits, refused in one line naming the option."""

    name = "0xADDRESS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        where = param.opts[0] if param is not None and param.opts else "address"
        # A ValueError, not click's BadParameter: `alliance` prints it as one `error:` line.
        return check_address(str(value), where)


ADDRESS = Address()
_api_option = click.option(
    "--api",
    "api_url",
    envvar="ALLIANCE_API_URL",
    default=DEFAULT_API,
    show_default=True,
    help="Sharing API base URL.",
)
_key_option = click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="ALLIANCE_KEY_FILE",
    default=None,
    help="Your ledger/wallet private key (0x-hex, or sealed by `alliance gateway seal-key`).",
)


def _read_key(path: Path | None) -> str:
    """A 0x-hex key file, or a sealed one (``alliance gateway seal-key``) opened with
    ``ALLIANCE_PASSPHRASE`` or a prompt."""
    if path is None:
        raise ValueError("no identity: set ALLIANCE_TOKEN or pass --key-file")
    data = path.read_bytes()
    if data.startswith(KEYSTORE_MAGIC):
        passphrase = os.environ.get("ALLIANCE_PASSPHRASE") or str(
            click.prompt(f"Passphrase for {path}", hide_input=True, err=True)
        )
        try:
            return "0x" + read_key_file(path, LEDGER_KIND, passphrase).hex()
        except KeystoreError as exc:
            # Which file, and where its passphrase came from: a member and a hosted clinic
            # may have different ones.
            source = " (ALLIANCE_PASSPHRASE)" if os.environ.get("ALLIANCE_PASSPHRASE") else ""
            raise KeystoreError(f"{path}: {exc}{source}") from None
    return data.decode("utf-8").strip()


def _timeout() -> float:
    text = os.environ.get("ALLIANCE_API_TIMEOUT", "")
    try:
        seconds = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ValueError(f"ALLIANCE_API_TIMEOUT: not a number of seconds: {text!r}") from None
    if seconds <= 0:
        raise ValueError(f"ALLIANCE_API_TIMEOUT: must be positive: {text!r}")
    return seconds


def _verify() -> ssl.SSLContext | bool:
    """Trust for the gateway's certificate: ``ALLIANCE_API_CA`` names the gateway's own
    self-signed ``tls/cert.pem`` (its fingerprint is on chain), else the system's CAs."""
    cafile = os.environ.get("ALLIANCE_API_CA", "")
    if not cafile:
        return True
    if not Path(cafile).is_file():
        raise ValueError(f"ALLIANCE_API_CA: no such certificate file: {cafile}")
    return ssl.create_default_context(cafile=cafile)


def _client(api_url: str, key_file: Path | None) -> SharingClient:
    token = os.environ.get("ALLIANCE_TOKEN", "")
    client = SharingClient(api_url, token, timeout=_timeout(), verify=_verify())
    if not token:
        client.login(_read_key(key_file))
    return client


def load_reader_key(raw: bytes) -> ReaderKey:
    """A FAME key (ALUX) or an RW15 key bundle (ALMK), as written by the key commands."""
    return Rw15Key.from_bytes(raw) if raw[:4] == b"ALMK" else UserKey.from_bytes(raw)


def _show(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# ---- records ----------------------------------------------------------------------------


@click.group(cls=SdkGroup)
def record() -> None:
    """Publish, fetch (and decrypt locally) and list encrypted records."""


_CATEGORIES = ", ".join(c.label for c in Category)
_PURPOSES = ", ".join(p.label for p in Purpose)
_POLICY_HELP = (
    "CP-ABE policy, e.g. 'role:doctor and dept:cardiology' (unprefixed attributes are your "
    "member's) or '(h1.role:doctor and h1.dept:cardiology) or c1.role:doctor'."
)


@record.command("sample")
@click.option("--patient", required=True, type=ADDRESS, help="The patient's wallet address.")
@click.option(
    "--kind",
    type=click.Choice(SAMPLE_KINDS),
    default=SAMPLE_KINDS[0],
    show_default=True,
    help="Which sample: a chest-pain visit (Bundle of 6) or one blood-pressure reading.",
)
@click.option(
    "--custodian",
    default="Sample Community Clinic",
    show_default=True,
    help="The institution named as the encounter's service provider.",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the bundle (JSON).",
)
def record_sample(patient: str, kind: str, custodian: str, out_path: Path) -> None:
    """Write a valid sample FHIR R4 Bundle to try `record put` with (no API needed)."""
    bundle = sample_bundle(kind, patient, custodian, date.today().isoformat())
    with atomic_output(out_path) as handle:
        handle.write(json.dumps(bundle, indent=2, ensure_ascii=False).encode() + b"\n")
    click.echo(
        f"sample {kind} bundle for {patient} -> {out_path}; publish it with: alliance record "
        f"put {out_path} --patient {patient} --category summary --policy ... --key-file ...",
        err=True,
    )


@record.command("put")
@click.argument("fhir_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--patient", required=True, type=ADDRESS, help="The patient's wallet address.")
@click.option("--category", required=True, help=f"Record category: {_CATEGORIES}.")
@click.option("--policy", required=True, help=_POLICY_HELP)
@_api_option
@_key_option
def record_put(
    fhir_file: Path, patient: str, category: str, policy: str, api_url: str, key_file: Path | None
) -> None:
    """Validate a FHIR R4 resource, encrypt it locally and publish it.

    No FHIR file yet? `alliance record sample --patient 0x.. --out bundle.json` writes one.
    The policy actually sealed (every attribute with its authority) is printed on stderr.
    """
    # Everything checkable here is checked before signing in, encrypting or sending.
    document = validate_resource(fhir_file.read_bytes())
    Category.parse(category)
    _check_policy(policy)
    with _client(api_url, key_file) as client:
        sealed, sealed_policy = _seal_for(client, document, policy)
        with _upload_bar(sealed) as bar:
            out = client.upload(patient, category, sealed_policy, _chunks(sealed, bar))
        _show(out)


@record.command("supersede")
@click.argument("record_id", type=int)
@click.argument("fhir_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--policy", required=True, help=f"Of the new version. {_POLICY_HELP}")
@_api_option
@_key_option
def record_supersede(
    record_id: int, fhir_file: Path, policy: str, api_url: str, key_file: Path | None
) -> None:
    """Publish a new version of a record you keep (validated, encrypted locally)."""
    document = validate_resource(fhir_file.read_bytes())
    _check_policy(policy)
    with _client(api_url, key_file) as client:
        sealed, sealed_policy = _seal_for(client, document, policy)
        with _upload_bar(sealed) as bar:
            out = client.supersede(record_id, sealed_policy, _chunks(sealed, bar))
        _show(out)


def _check_policy(policy: str) -> None:
    try:
        parse_policy(policy)
    except PolicyError as exc:
        raise PolicyError(f"--policy: {exc}") from None


def _seal_for(client: SharingClient, document: dict[str, Any], policy: str) -> tuple[bytes, str]:
    """The sealed container and the policy it was sealed under (shown, so that what a
    shorthand like 'role:doctor' became is never a surprise), in the gateway's suite."""
    qualified, params = client.policy_for_sealing(policy)
    suite = client.crypto_suite()
    click.echo(f"policy: {qualified}", err=True)
    click.echo(f"cipher suite: {suite.name}", err=True)
    return SharingClient.seal_fhir(document, qualified, params, suite), qualified


def _upload_bar(sealed: bytes) -> Any:
    return click.progressbar(length=len(sealed), label="uploading", file=sys.stderr, show_pos=True)


def _chunks(data: bytes, bar: Any, size: int = 256 * 1024) -> Any:
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        bar.update(len(piece))
        yield piece


@record.command("get")
@click.argument("record_id", type=int)
@click.option(
    "--key",
    "key_paths",
    required=True,
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your ABE key (`alliance record key`) or RW15 key bundle (`alliance gid ...`); "
    "repeat it to try several, e.g. keys of an older and the current generation.",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the decrypted record (created 0600).",
)
@click.option(
    "--purpose", default="treatment", show_default=True, help=f"Purpose of use: {_PURPOSES}."
)
@click.option(
    "--referral",
    "referral_id",
    type=int,
    default=None,
    help="Read under this referral (as its receiver) instead of a consent.",
)
@click.option("--break-glass", is_flag=True, help="Emergency read without consent (doctors).")
@click.option("--reason", default=None, help="Why (required with --break-glass).")
@_api_option
@_key_option
def record_get(
    record_id: int,
    key_paths: tuple[Path, ...],
    out_path: Path,
    purpose: str,
    referral_id: int | None,
    break_glass: bool,
    reason: str | None,
    api_url: str,
    key_file: Path | None,
) -> None:
    """Fetch a record (the access is logged on chain first) and decrypt it locally."""
    Purpose.parse(purpose)
    keys = [load_reader_key(p.read_bytes()) for p in key_paths]
    with _client(api_url, key_file) as client:
        query = {"purpose": purpose, "referral_id": referral_id, "reason": reason}
        with client.download(record_id, break_glass=break_glass or None, **query) as download:
            data = _receive(download)
            headers = download.headers
    plaintext = _open_with(data, keys)
    # Plaintext health data: owner-only, and never a half-written file.
    with atomic_output(out_path, mode=0o600) as handle:
        handle.write(plaintext)
    click.echo(
        f"record {record_id}: {len(plaintext)} bytes -> {out_path} "
        f"(access {headers.get('x-access-id')} logged on chain)",
        err=True,
    )


def _open_with(container: bytes, keys: list[ReaderKey]) -> bytes:
    """Open with whichever key does (after a rotation a person holds keys of two
    generations; RW15 bundles of one GID given in several files are used together)."""
    return SharingClient.open(container, keys)


def _receive(download: Download) -> bytes:
    """The ciphertext, with a progress bar on stderr (by bytes when the size is known)."""
    buffer = io.BytesIO()
    if download.size is not None:
        with click.progressbar(
            length=download.size, label="downloading", file=sys.stderr, show_pos=True
        ) as bar:
            for chunk in download.chunks:
                buffer.write(chunk)
                bar.update(len(chunk))
    else:
        with click.progressbar(download.chunks, label="downloading", file=sys.stderr) as chunks:
            for chunk in chunks:
                buffer.write(chunk)
    return buffer.getvalue()


@record.command("key")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write your ABE key (created 0600).",
)
@click.option("--days", default=30, show_default=True, type=int, help="How long the key is valid.")
@_api_option
def record_key(out_path: Path, days: int, api_url: str) -> None:
    """Ask your member (attribute authority) for your ABE key (needs ALLIANCE_TOKEN)."""
    with _client(api_url, None) as client:
        out = client.json("POST", "/keys", json={"valid_days": days})
    out_path.write_bytes(base64.b64decode(out["key"]))
    os.chmod(out_path, 0o600)
    click.echo(
        f"key for {out['subject']} ({', '.join(out['attributes'])}) "
        f"valid through {out['expires']} -> {out_path}",
        err=True,
    )


@record.command("keys")
@click.option(
    "--out-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write each key, as KEY_ID.key (created 0600).",
)
@_api_option
def record_keys(out_dir: Path, api_url: str) -> None:
    """Fetch the keys your member re-issued to you when it rotated its authority (after it
    revoked a colleague); needs ALLIANCE_TOKEN. Keep your older keys too."""
    with _client(api_url, None) as client:
        rows = client.json("GET", "/keys")
    out_dir.mkdir(parents=True, exist_ok=True)
    for row in rows:
        path = out_dir / f"{row['key_id']}.key"
        with atomic_output(path, mode=0o600) as handle:
            handle.write(base64.b64decode(row["key"]))
        click.echo(
            f"key {row['key_id']} (generation {row['generation']}: "
            f"{', '.join(row['attributes'])}) valid through {row['expires']} -> {path}",
            err=True,
        )
    _show([{k: v for k, v in row.items() if k != "key"} for row in rows])


@record.command("list")
@click.option("--patient", default=None, type=ADDRESS, help="Only this patient's records.")
@_api_option
@_key_option
def record_list(patient: str | None, api_url: str, key_file: Path | None) -> None:
    """Records you may see (a patient: their own)."""
    with _client(api_url, key_file) as client:
        _show(client.json("GET", "/records", params={"patient": patient} if patient else {}))


@record.command("erase")
@click.argument("record_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_api_option
@_key_option
def record_erase(record_id: int, yes: bool, api_url: str, key_file: Path | None) -> None:
    """Erase a record and all its versions, for good: the patient (or the custodian on
    their behalf), at the custodian's gateway. The ciphertext is deleted and the chain
    marks the records erased; no one can read them again."""
    if not yes:
        click.confirm(f"Erase record {record_id} and every version of it, for good?", abort=True)
    with _client(api_url, key_file) as client:
        _show(client.erase_record(record_id))


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


# `alliance patient` (attest, pseudonym, disclose) is in sharing_api/sdk/patient_cli.py.


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
def referral_proposals(api_url: str, key_file: Path | None) -> None:
    """Proposals: my member's and their status, or a patient's inbox."""
    with _client(api_url, key_file) as client:
        _show(client.referral_proposals())


@referral.command("proposal-accept")
@click.argument("proposal_id", type=int)
@click.option(
    "--lasts-days",
    type=click.IntRange(1, 90),
    default=30,
    show_default=True,
    help="Days the referral lasts once created (you sign this).",
)
@_api_option
@_key_option
def referral_proposal_accept(
    proposal_id: int, lasts_days: int, api_url: str, key_file: Path | None
) -> None:
    """Accept a proposal as its patient: sign its ReferralConsent with your key."""
    key = _read_key(key_file)
    with _client(api_url, key_file) as client:
        out = client.accept_referral_proposal(key, proposal_id, lasts_s=lasts_days * 86_400)
        click.echo(_proposal_in_words(client, out), err=True)
    _show(out)


@referral.command("proposal-decline")
@click.argument("proposal_id", type=int)
@click.option("--note", default="", help="Why, for the proposing member.")
@_api_option
@_key_option
def referral_proposal_decline(
    proposal_id: int, note: str, api_url: str, key_file: Path | None
) -> None:
    """Decline a proposal as its patient (nothing goes on chain)."""
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
def referral_withdraw(referral_id: int, api_url: str, key_file: Path | None) -> None:
    """As the patient: sign a withdrawal with your wallet key; a member relays it and the
    referral ends at once."""
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
