"""`alliance abe`: attribute authorities, keys, record encryption, decryption and re-wrapping.

An authority directory holds ``params.bin`` (public: hand it to anyone who encrypts),
``master.key`` (the master key, sealed under a passphrase) and ``issued.json`` (which keys it
issued: id, subject, attributes, expiry, generation; never key material).
Passphrases come from ``ALLIANCE_PASSPHRASE`` or a prompt, never from the command line.

The cipher suite (``--suite``, else ``ALLIANCE_CRYPTO_SUITE``): ``aes-256-gcm`` (default) or
``sm4-gcm`` (SM4-GCM with SM3, the national-cryptography suite) for the records ``encrypt``
seals and the key files ``setup`` writes; ``keygen`` and ``revoke`` default to the suite of
the authority's own ``master.key``. ``decrypt``, ``rewrap`` and ``inspect`` read the suite
from the files, so they need no setting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click

from crypto.authority import AttributeAuthority, AuthorityParams, UserKey, qualify
from crypto.errors import FormatError
from crypto.expiry import current_epoch, date_of, epoch_of
from crypto.files import atomic_output
from crypto.header import ReaderKey, RecordHeader, rewrap
from crypto.header_rw15 import Rw15Wrap
from crypto.keystore import key_file_suite, read_key_file, write_key_file
from crypto.labels import CONFIDENTIALITY, SENSITIVITY
from crypto.records import (
    decrypt_record,
    encrypt_body,
    new_record,
    read_container_header,
    write_container,
)
from crypto.rw15_keys import Rw15Key
from crypto.suite import DEFAULT_SUITE, SUITE_NAMES, Suite, suite_by_name

PARAMS_FILE, MASTER_FILE, REGISTRY_FILE = "params.bin", "master.key", "issued.json"
SUITE_ENV = "ALLIANCE_CRYPTO_SUITE"
F = TypeVar("F", bound=Callable[..., Any])


def _suite_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--suite",
        "suite_name",
        type=click.Choice(SUITE_NAMES, case_sensitive=False),
        default=None,
        envvar=SUITE_ENV,
        help=f"Cipher suite for {what} (env {SUITE_ENV}).",
    )


def _authority_suite(directory: Path, suite_name: str | None) -> Suite:
    """The suite asked for, else the one the authority's master.key is sealed in."""
    return suite_by_name(suite_name) if suite_name else key_file_suite(directory / MASTER_FILE)


def _passphrase(confirm: bool) -> str:
    value = os.environ.get("ALLIANCE_PASSPHRASE")
    if value:
        return value
    return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"expected a date YYYY-MM-DD, got {value!r}", param_hint=option
        ) from None


def _load_params(path: Path) -> AuthorityParams:
    file = path / PARAMS_FILE if path.is_dir() else path
    return AuthorityParams.from_bytes(file.read_bytes())


def _load_authority(directory: Path) -> AttributeAuthority:
    raw = read_key_file(directory / MASTER_FILE, "authority", _passphrase(confirm=False))
    return AttributeAuthority.from_bytes(raw)


def _save_authority(
    directory: Path, authority: AttributeAuthority, passphrase: str, suite: Suite
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    raw = authority.to_bytes()
    write_key_file(directory / MASTER_FILE, "authority", raw, passphrase, suite=suite)
    (directory / PARAMS_FILE).write_bytes(authority.params().to_bytes())


def _registry(directory: Path) -> list[dict[str, Any]]:
    path = directory / REGISTRY_FILE
    return list(json.loads(path.read_text())) if path.exists() else []


def _save_registry(directory: Path, entries: list[dict[str, Any]]) -> None:
    tmp = directory / (REGISTRY_FILE + ".tmp")
    tmp.write_text(json.dumps(entries, indent=1) + "\n")
    os.replace(tmp, directory / REGISTRY_FILE)


def _load_user_key(path: Path) -> ReaderKey:
    """A FAME key (ALUX) or an RW15 key bundle of one GID (ALMK), sealed as kind "user"."""
    raw = read_key_file(path, "user", _passphrase(confirm=False))
    return Rw15Key.from_bytes(raw) if raw[:4] == b"ALMK" else UserKey.from_bytes(raw)


def _load_user_keys(paths: tuple[Path, ...]) -> list[ReaderKey]:
    return [_load_user_key(p) for p in paths]


@click.group()
def abe() -> None:
    """CP-ABE (FAME on BLS12-381): authorities, keys, encrypt, decrypt, rewrap.

    Records and key files are AES-256-GCM, or SM4-GCM with SM3 with --suite sm4-gcm."""


@abe.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for params.bin (public) and master.key (sealed).",
)
@click.option(
    "--id",
    "authority_id",
    default="aa",
    show_default=True,
    help="Authority id: the prefix of the attributes it issues (h1 -> h1.role:...).",
)
@_suite_option("master.key (default aes-256-gcm)")
def setup(out_dir: Path, authority_id: str, suite_name: str | None) -> None:
    """Create an attribute authority."""
    if (out_dir / MASTER_FILE).exists():
        raise click.ClickException(f"{out_dir} already holds an authority; refusing to overwrite")
    authority = AttributeAuthority.setup(authority_id)
    suite = suite_by_name(suite_name or DEFAULT_SUITE)
    _save_authority(out_dir, authority, _passphrase(confirm=True), suite)
    _save_registry(out_dir, [])
    click.echo(f"authority {authority_id!r} generation 1 created in {out_dir}")
    click.echo(
        f"public parameters: {out_dir / PARAMS_FILE} "
        f"(fingerprint {authority.params().fingerprint.hex()})"
    )


@abe.command()
@click.option(
    "--authority",
    "authority_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--attrs", required=True, help='Comma-separated attributes, e.g. "role:doctor,dept:cardiology".'
)
@click.option(
    "--expires",
    required=True,
    help="YYYY-MM-DD: the key opens nothing sealed on or after this day.",
)
@click.option("--subject", default="", help="Who the key is for (kept in issued.json).")
@click.option(
    "--request",
    "request_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Issue RW15 keys to a GID instead: the holder's signed request (`alliance gid "
    "request`), which must name this authority, these attributes and this expiry.",
)
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path))
@_suite_option("the key file (default: master.key's)")
def keygen(
    authority_dir: Path,
    attrs: str,
    expires: str,
    subject: str,
    request_file: Path | None,
    out_file: Path,
    suite_name: str | None,
) -> None:
    """Issue a user key for a set of attributes, sealed under a passphrase."""
    expiry_epoch = epoch_of(_parse_day(expires, "--expires")) - 1
    if expiry_epoch < current_epoch():
        raise click.BadParameter("the expiry date is not in the future", param_hint="--expires")
    authority = _load_authority(authority_dir)
    if request_file is not None:
        suite = _authority_suite(authority_dir, suite_name)
        _keygen_rw15(authority_dir, authority, attrs, expiry_epoch, request_file, out_file, suite)
        return
    key = authority.issue_key([a for a in attrs.split(",") if a.strip()], expiry_epoch, subject)
    suite = _authority_suite(authority_dir, suite_name)
    write_key_file(out_file, "user", key.to_bytes(), _passphrase(confirm=False), suite=suite)
    entries = _registry(authority_dir)
    entries.append(
        {
            "key_id": key.key_id.hex(),
            "subject": subject,
            "attributes": list(key.attributes),
            "expiry_epoch": expiry_epoch,
            "generation": key.generation,
            "revoked": False,
        }
    )
    _save_registry(authority_dir, entries)
    click.echo(
        f"key {key.key_id.hex()} for {', '.join(key.attributes)} "
        f"valid through {date_of(expiry_epoch).isoformat()} -> {out_file}"
    )


def _keygen_rw15(
    authority_dir: Path,
    authority: AttributeAuthority,
    attrs: str,
    expiry_epoch: int,
    request_file: Path,
    out_file: Path,
    suite: Suite,
) -> None:
    """RW15 keys to the GID that signed ``request_file`` (the scheme cannot tell who owns a
    GID: the signature proves it; the operator vouches that it verified the person)."""
    # The request format lives with the API's (EIP-191 over secp256k1); imported only here.
    from sharing_api.auth.key_request import parse_request, verify_request

    body = json.loads(request_file.read_text())
    text, signature = str(body["request"]), str(body["signature"])
    request = verify_request(text, signature, parse_request(text).chain_id)
    wanted = [qualify(a.strip(), authority.authority) for a in attrs.split(",") if a.strip()]
    if (request.authority, request.attributes, request.expiry_epoch) != (
        authority.authority,
        tuple(sorted(set(wanted))),
        expiry_epoch,
    ):
        raise ValueError("the signed request does not name this authority, --attrs and --expires")
    entries = _registry(authority_dir)
    if any(e.get("nonce") == request.nonce for e in entries):
        raise ValueError("this request was used already (its nonce is in issued.json)")
    grant = authority.issue_rw15_key(request.gid, request.attributes, expiry_epoch, request.gid)
    bundle = Rw15Key(request.gid, (grant,))
    write_key_file(out_file, "user", bundle.to_bytes(), _passphrase(confirm=False), suite=suite)
    entries.append(
        {
            "key_id": grant.key_id.hex(),
            "subject": request.gid,
            "gid": request.gid,
            "nonce": request.nonce,
            "scheme": "rw15",
            "attributes": list(grant.attributes),
            "expiry_epoch": expiry_epoch,
            "generation": grant.generation,
            "revoked": False,
        }
    )
    _save_registry(authority_dir, entries)
    click.echo(f"RW15 key {grant.key_id.hex()} for {request.gid}: {', '.join(grant.attributes)}")


@abe.command()
@click.option(
    "--params",
    "params_paths",
    required=True,
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="An authority directory or params.bin; repeat for several authorities.",
)
@click.option(
    "--policy",
    required=True,
    help='e.g. "(role:doctor and dept:cardiology) or role:records-officer".',
)
@click.option("--epoch", "epoch_day", default=None, help="Seal as of this day (default: today).")
@click.option(
    "--header-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the header here and only the body to OUT (detached record).",
)
@_suite_option("the record (default aes-256-gcm)")
@click.argument("src", type=click.File("rb"))
@click.argument("out", type=click.Path(path_type=Path))
def encrypt(
    params_paths: tuple[Path, ...],
    policy: str,
    epoch_day: str | None,
    header_out: Path | None,
    suite_name: str | None,
    src: BinaryIO,
    out: Path,
) -> None:
    """Encrypt SRC to OUT under a policy (streams; any size)."""
    params = [_load_params(p) for p in params_paths]
    epoch = epoch_of(_parse_day(epoch_day, "--epoch")) if epoch_day else None
    suite = suite_by_name(suite_name or DEFAULT_SUITE)
    header, data_key = new_record(policy, params, epoch, suite)
    with atomic_output(out) as handle:
        if header_out is None:
            write_container(header, handle)
        encrypt_body(header, data_key, src, handle)
        if header_out is not None:
            header_out.write_bytes(header.to_bytes())
    click.echo(f"sealed under: {header.policy} ({suite.name})", err=True)


def _read_header(path: Path) -> RecordHeader:
    return RecordHeader.from_bytes(path.read_bytes())


@abe.command()
@click.option(
    "--key",
    "key_files",
    required=True,
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="A key file (FAME key or RW15 bundle); repeat to try several.",
)
@click.option(
    "--header",
    "header_file",
    default=None,
    type=click.Path(exists=True, path_type=Path),
    help="The header of a detached record (IN is then the body alone).",
)
@click.argument("src", type=click.File("rb"))
@click.argument("out", type=click.Path(path_type=Path))
def decrypt(
    key_files: tuple[Path, ...], header_file: Path | None, src: BinaryIO, out: Path
) -> None:
    """Decrypt IN to OUT; nothing is written unless the whole record verifies."""
    key = _load_user_keys(key_files)
    header = _read_header(header_file) if header_file else read_container_header(src)
    with atomic_output(out) as handle:
        size = decrypt_record(header, src, handle, key)
    click.echo(f"decrypted {size} bytes -> {out}", err=True)


@abe.command("rewrap")
@click.option(
    "--key",
    "key_files",
    required=True,
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="A key that opens the record now (repeat for an RW15 bundle per authority).",
)
@click.option(
    "--params",
    "params_paths",
    required=True,
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
)
@click.option("--policy", default=None, help="The new policy (default: keep the old one).")
@click.option("--epoch", "epoch_day", default=None, help="Seal as of this day (default: today).")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
def rewrap_command(
    key_files: tuple[Path, ...],
    params_paths: tuple[Path, ...],
    policy: str | None,
    epoch_day: str | None,
    src: Path,
    out: Path,
) -> None:
    """Re-wrap a record's header under a new policy or epoch; the body is not touched.

    SRC is a detached header (cost independent of the record's size) or a container
    (then the body is copied unchanged into OUT).
    """
    key = _load_user_keys(key_files)
    params = [_load_params(p) for p in params_paths]
    epoch = epoch_of(_parse_day(epoch_day, "--epoch")) if epoch_day else None
    with open(src, "rb") as handle:
        is_container = handle.read(4) == b"ALRC"
        handle.seek(0)
        header = read_container_header(handle) if is_container else _read_header(src)
        new_header = rewrap(header, key, params, policy, epoch)
        with atomic_output(out) as out_handle:
            if is_container:
                write_container(new_header, out_handle)
                while block := handle.read(1 << 20):
                    out_handle.write(block)
            else:
                out_handle.write(new_header.to_bytes())
    click.echo(f"re-wrapped under: {new_header.policy}", err=True)


@abe.command()
@click.option(
    "--authority",
    "authority_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--key-id", required=True, help="The id printed by keygen (see issued.json).")
@click.option(
    "--reissue-dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write fresh keys for every live, unrevoked key.",
)
@_suite_option("the re-issued key files and master.key (default: master.key's)")
def revoke(authority_dir: Path, key_id: str, reissue_dir: Path, suite_name: str | None) -> None:
    """Revoke a key at once: rotate the authority and re-issue every other live key.

    Records sealed from now on use the new generation, which the revoked key cannot open.
    """
    entries = _registry(authority_dir)
    target = next((e for e in entries if e["key_id"] == key_id), None)
    if target is None:
        raise click.ClickException(f"no key {key_id} in {authority_dir / REGISTRY_FILE}")
    passphrase = _passphrase(confirm=False)
    suite = _authority_suite(authority_dir, suite_name)
    authority = _load_authority(authority_dir).rotate()
    target["revoked"] = True
    today = current_epoch()
    reissue_dir.mkdir(parents=True, exist_ok=True)
    fresh = []
    for entry in entries:
        if entry["revoked"] or entry.get("superseded_by") or entry["expiry_epoch"] < today:
            continue
        if entry.get("scheme") == "rw15":
            continue  # shut out by the rotation too; its GID's holder signs a new request
        key = authority.issue_key(entry["attributes"], entry["expiry_epoch"], entry["subject"])
        out_file = reissue_dir / f"{key.key_id.hex()}.key"
        write_key_file(out_file, "user", key.to_bytes(), passphrase, suite=suite)
        fresh.append(
            {
                **entry,
                "key_id": key.key_id.hex(),
                "generation": authority.generation,
                "replaces": entry["key_id"],
            }
        )
        entry["revoked"] = True
    _save_authority(authority_dir, authority, passphrase, suite)
    _save_registry(authority_dir, entries + fresh)
    click.echo(
        f"revoked {key_id}; authority now at generation {authority.generation}; "
        f"re-issued {len(fresh)} key(s) into {reissue_dir}"
    )


@abe.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect(path: Path) -> None:
    """Describe a params file, record container or detached header (no secrets needed)."""
    data = path.read_bytes()[: 1 << 24]
    magic = data[:4]
    if magic == b"ALAP":
        p = AuthorityParams.from_bytes(path.read_bytes())
        click.echo(
            f"authority parameters: {p.authority} generation {p.generation} "
            f"fingerprint {p.fingerprint.hex()}"
        )
        return
    if magic == b"ALRC":
        with open(path, "rb") as handle:
            header = read_container_header(handle)
    elif magic == b"ALRH":
        header = RecordHeader.from_bytes(path.read_bytes())
    else:
        raise FormatError(f"{path}: not an AllianceLedger params file, record or header")
    click.echo(f"policy: {header.policy}")
    click.echo(f"cipher suite: {header.suite.name} (format version {header.version})")
    click.echo(f"sealed on: {date_of(header.epoch).isoformat()} (epoch {header.epoch})")
    click.echo(f"header version {header.version}")
    labels = header.labels
    codes = ", ".join(f"{c} ({SENSITIVITY[c].en})" for c in labels.sensitivity) or "none"
    conf = CONFIDENTIALITY[labels.confidentiality].en
    click.echo(f"labels: confidentiality {labels.confidentiality} ({conf}), sensitivity {codes}")
    for wrap in header.wraps:
        if isinstance(wrap, Rw15Wrap):
            generations = ", ".join(f"{s.authority} {s.generation}" for s in wrap.sealed_for)
            click.echo(
                f"RW15 wrap for {wrap.authority} (generations: {generations}; "
                f"{len(wrap.ciphertext.rows)} LSSS rows)"
            )
            continue
        click.echo(
            f"wrapped for {wrap.authority} generation {wrap.generation} "
            f"({len(wrap.ciphertext.c)} LSSS rows)"
        )
