"""`alliance record`, and what the SDK's other commands share (options, sign-in, output):
`consent_cli`, `referral_cli`, `staff_cli`, `patient_cli`, `cli_gid`. The hospital and
patient side of the sharing API.

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
from datetime import date
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
from sharing_api.sdk.label_cli import (
    label_options,
    labels_for_new_version,
    labels_from,
    precheck,
    seal_for,
)

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
@click.option("--policy", default=None, help=f"{_POLICY_HELP} Default: from the labels (R, V).")
@label_options
@_api_option
@_key_option
def record_put(
    fhir_file: Path,
    patient: str,
    category: str,
    policy: str | None,
    confidentiality: str | None,
    sensitivity: tuple[str, ...],
    care_team: str | None,
    allow_wider: bool,
    api_url: str,
    key_file: Path | None,
) -> None:
    """Validate a FHIR R4 resource, encrypt it locally and publish it.

    No FHIR file yet? `alliance record sample --patient 0x.. --out bundle.json` writes one.
    The policy actually sealed (every attribute with its authority) is printed on stderr.
    Security labels (--confidentiality, --sensitivity) are sealed in the record's header
    and its FHIR meta.security, never put on chain.
    """
    # Everything checkable here is checked before signing in, encrypting or sending.
    document = validate_resource(fhir_file.read_bytes())
    Category.parse(category)
    labels = labels_from(confidentiality, sensitivity)
    _check_policy(policy)
    precheck(labels, policy, care_team)
    with _client(api_url, key_file) as client:
        sealed, sealed_policy = seal_for(client, document, policy, labels, care_team, allow_wider)
        with _upload_bar(sealed) as bar:
            out = client.upload(patient, category, sealed_policy, _chunks(sealed, bar))
        _show(out)


@record.command("supersede")
@click.argument("record_id", type=int)
@click.argument("fhir_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    default=None,
    help=f"Of the new version. {_POLICY_HELP} Default: the old version's (with --care-team "
    "or labels given: from the labels).",
)
@label_options
@_api_option
@_key_option
def record_supersede(
    record_id: int,
    fhir_file: Path,
    policy: str | None,
    confidentiality: str | None,
    sensitivity: tuple[str, ...],
    care_team: str | None,
    allow_wider: bool,
    api_url: str,
    key_file: Path | None,
) -> None:
    """Publish a new version of a record you keep (validated, encrypted locally). It keeps
    the old version's security labels unless --confidentiality or --sensitivity is given
    (a less restrictive label is warned about), and its policy unless --policy or
    --care-team is given."""
    document = validate_resource(fhir_file.read_bytes())
    _check_policy(policy)
    with _client(api_url, key_file) as client:
        old = client.json("GET", f"/records/{record_id}")
        labels, warning = labels_for_new_version(old, confidentiality, sensitivity)
        if warning:
            click.secho(warning, err=True, fg="yellow")
        if policy is None and care_team is None and old.get("policy"):
            policy = str(old["policy"])  # the old version's readers, no more
        precheck(labels, policy, care_team)
        sealed, sealed_policy = seal_for(client, document, policy, labels, care_team, allow_wider)
        with _upload_bar(sealed) as bar:
            out = client.supersede(record_id, sealed_policy, _chunks(sealed, bar))
        _show(out)


def _check_policy(policy: str | None) -> None:
    if policy is None:
        return
    try:
        parse_policy(policy)
    except PolicyError as exc:
        raise PolicyError(f"--policy: {exc}") from None


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
@click.option(
    "--consultation",
    "consultation_id",
    type=int,
    default=None,
    help="Read under this consultation (its consultant: a named record; its requester: "
    "the report) with --purpose consultation.",
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
    consultation_id: int | None,
    break_glass: bool,
    reason: str | None,
    api_url: str,
    key_file: Path | None,
) -> None:
    """Fetch a record (the access is logged on chain first) and decrypt it locally."""
    Purpose.parse(purpose)
    keys = [load_reader_key(p.read_bytes()) for p in key_paths]
    with _client(api_url, key_file) as client:
        query = {
            "purpose": purpose,
            "referral_id": referral_id,
            "consultation_id": consultation_id,
            "reason": reason,
        }
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
