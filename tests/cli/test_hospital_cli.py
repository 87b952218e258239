"""`alliance record|consent|referral` as a newcomer meets them, without a running API: every
command explains itself, a sample record to publish exists, and bad addresses or an API that
is not there are one `error:` line and exit 1."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import pytest

from crypto.authority import AttributeAuthority
from crypto.expiry import current_epoch
from ledger_node.network.procs import free_port
from sharing_api.api.core.keys import seal_ledger_key
from sharing_api.cli.main import main
from sharing_api.fhir import SAMPLE_KINDS, validate_resource
from sharing_api.gateway.tls import make_certificate
from sharing_api.sdk.cli import record
from sharing_api.sdk.consent_cli import consent
from sharing_api.sdk.consultation_cli import consultation
from sharing_api.sdk.referral_cli import referral
from sharing_api.sdk.staff_cli import staff

PATIENT = "0x5a1E0000000000000000000000000000000000b7"
LEDGER_KEY = "0x" + "11" * 32  # any valid key: these tests never reach an API


def _commands() -> Iterator[tuple[str, click.Command]]:
    for group in (record, consent, referral, staff, consultation):
        assert isinstance(group, click.Group)
        for name, command in group.commands.items():
            yield f"{group.name} {name}", command


def test_every_command_and_option_is_described() -> None:
    missing = []
    for name, command in _commands():
        if not (command.help or "").strip():
            missing.append(name)
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{name} {param.opts[0]}")
    assert missing == []


def _err(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("kind", SAMPLE_KINDS)
def test_record_sample_writes_a_valid_bundle(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle.json"
    assert main(["record", "sample", "--patient", PATIENT, "--kind", kind, "--out", str(out)]) == 0
    bundle = json.loads(out.read_text())
    assert validate_resource(bundle)["resourceType"] == "Bundle" and bundle["entry"]
    assert PATIENT in out.read_text()
    assert "alliance record put" in capsys.readouterr().err  # what to do next


def test_record_put_help_points_at_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "put", "--help"]) == 0
    assert "alliance record sample" in capsys.readouterr().out


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    bundle, key = tmp_path / "bundle.json", tmp_path / "me.key"
    bundle.write_text("{}")
    key.write_text(LEDGER_KEY)
    return {"bundle": str(bundle), "key": str(key)}


# Every address option of the hospital CLI, with the other required arguments.
ADDRESS_OPTIONS = [
    ("--patient", ["record", "sample", "--out", "x.json"]),
    ("--patient", ["record", "put", "{bundle}", "--category", "lab", "--policy", "a:b"]),
    ("--patient", ["record", "list"]),
    ("--grantee", ["consent", "grant", "--categories", "lab"]),
    ("--patient", ["consent", "list"]),
    (
        "--patient",
        ["referral", "create", "--receiver", PATIENT, "--records", "1", "--consent", "1"],
    ),
    (
        "--receiver",
        ["referral", "create", "--patient", PATIENT, "--records", "1", "--consent", "1"],
    ),
    ("--patient", ["referral", "propose", "--receiver", PATIENT]),
    ("--receiver", ["referral", "propose", "--patient", PATIENT]),
]


@pytest.mark.parametrize("bad", ["0x123", "0x" + "zz" * 20, PATIENT[2:]])
@pytest.mark.parametrize(("option", "args"), ADDRESS_OPTIONS)
def test_a_bad_address_is_one_line_naming_the_option(
    option: str,
    args: list[str],
    bad: str,
    files: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.format(**files) for a in args] + [option, bad]
    status = main(argv)
    expected = f"error: {option}: not an address (0x followed by 40 hex digits): {bad!r}"
    assert (status, _err(capsys)) == (1, [expected])


# One command per kind of first request: sign-in, a token's own request, a streamed download.
UNREACHABLE = [
    (["record", "list", "--key-file", "{key}"], {}),
    (["record", "put", "{sample}", "--patient", PATIENT, "--category", "lab"], {"token": "t"}),
    (["record", "get", "1", "--key", "{abe_key}", "--out", "{out}"], {"token": "t"}),
    (["record", "key", "--out", "{out}"], {"token": "t"}),
    (["consent", "grant", "--grantee", PATIENT, "--categories", "lab", "--key-file", "{key}"], {}),
    (["referral", "proposals", "--key-file", "{key}"], {}),
    (["consultation", "list", "--key-file", "{key}"], {}),
    (["referral", "proposal-accept", "1", "--key-file", "{key}"], {}),
    (["referral", "proposal-decline", "1", "--key-file", "{key}"], {}),
    (["staff", "token", "--id", "dr-chen", "--role", "doctor", "--key-file", "{key}"], {}),
]


def _unreachable_argv(args: list[str], tmp_path: Path, files: dict[str, str]) -> list[str]:
    sample = tmp_path / "sample.json"
    if not sample.exists():
        assert main(["record", "sample", "--patient", PATIENT, "--out", str(sample)]) == 0
    names = {**files, "sample": str(sample), "out": str(tmp_path / "out")}
    if "{abe_key}" in args:  # `record get` reads its ABE key before any request
        authority = AttributeAuthority.setup("h1")
        abe_key = tmp_path / "dr.key"
        abe_key.write_bytes(
            authority.issue_key(["role:doctor"], current_epoch() + 1, "dr").to_bytes()
        )
        names["abe_key"] = str(abe_key)
    argv = [a.format(**names) for a in args]
    return argv + (["--policy", "role:doctor"] if argv[:2] == ["record", "put"] else [])


@pytest.mark.parametrize(("args", "env"), UNREACHABLE)
def test_an_api_that_is_not_there_is_one_line(
    args: list[str],
    env: dict[str, str],
    files: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("ALLIANCE_API_URL", url)
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    if "token" in env:
        monkeypatch.setenv("ALLIANCE_TOKEN", env["token"])
    argv = _unreachable_argv(args, tmp_path, files)
    capsys.readouterr()
    status = main(argv)
    expected = (
        f"error: cannot reach the sharing API at {url} (connection refused); "
        "is it running? set ALLIANCE_API_URL or --api"
    )
    assert (status, _err(capsys)) == (1, [expected])


def test_an_api_that_does_not_answer_is_one_line(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Connections complete in the kernel's backlog, but nobody ever answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("ALLIANCE_API_TIMEOUT", "0.3")
        status = main(["record", "list", "--api", url, "--key-file", files["key"]])
    expected = (
        f"error: cannot reach the sharing API at {url} (no answer within 0.3 s); "
        "is it running? set ALLIANCE_API_URL or --api"
    )
    assert (status, _err(capsys)) == (1, [expected])


def test_a_bad_timeout_setting_is_one_line(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALLIANCE_API_TIMEOUT", "soon")
    status = main(["record", "list", "--key-file", files["key"]])
    assert (status, _err(capsys)) == (
        1,
        ["error: ALLIANCE_API_TIMEOUT: not a number of seconds: 'soon'"],
    )


def test_staff_token_with_a_staff_token_set_is_one_line(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A member issues staff tokens; ALLIANCE_TOKEN would sign in as a staff member instead.
    monkeypatch.setenv("ALLIANCE_TOKEN", "a-staff-token")
    argv = ["staff", "token", "--id", "dr-chen", "--role", "doctor", "--key-file", files["key"]]
    assert (main(argv), _err(capsys)) == (
        1,
        ["error: ALLIANCE_TOKEN is set: unset it, a member signs in with --key-file"],
    )


def test_a_sealed_key_with_the_wrong_passphrase_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sealed = tmp_path / "h1.ledger.key"
    seal_ledger_key(sealed, LEDGER_KEY, "the right passphrase")
    monkeypatch.setenv("ALLIANCE_PASSPHRASE", "another member's passphrase")
    argv = ["consent", "grant", "--grantee", PATIENT, "--categories", "lab"]
    status = main([*argv, "--key-file", str(sealed)])
    assert (status, _err(capsys)) == (
        1,
        [f"error: {sealed}: wrong passphrase or corrupted key file (ALLIANCE_PASSPHRASE)"],
    )


@contextmanager
def _tls_server(directory: Path) -> Iterator[str]:
    """A TLS listener with a gateway's self-signed certificate (it only shakes hands)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    make_certificate(cert, key, "gw", ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    stop = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.1)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                with contextlib.suppress(OSError), conn:
                    context.wrap_socket(conn, server_side=True).close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield f"https://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join(5)


def test_a_gateway_certificate_not_trusted_says_which_setting(
    files: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A self-signed gateway without ALLIANCE_API_CA is not "is it running?"."""
    (tmp_path / "gw").mkdir()
    monkeypatch.delenv("ALLIANCE_API_CA", raising=False)
    with _tls_server(tmp_path / "gw") as url:
        status = main(["record", "list", "--api", url, "--key-file", files["key"]])
        err = _err(capsys)
        assert status == 1 and len(err) == 1, err
        assert err[0].startswith(f"error: cannot reach the sharing API at {url} (")
        assert "CERTIFICATE_VERIFY_FAILED" in err[0]
        assert err[0].endswith(
            "; trust the gateway's own certificate: ALLIANCE_API_CA=<gateway dir>/tls/cert.pem"
        )
        # Another gateway's certificate: named as the wrong one.
        (tmp_path / "other").mkdir()
        make_certificate(tmp_path / "other/cert.pem", tmp_path / "other/key.pem", "x", [])
        monkeypatch.setenv("ALLIANCE_API_CA", str(tmp_path / "other/cert.pem"))
        status = main(["record", "list", "--api", url, "--key-file", files["key"]])
        err = _err(capsys)
        assert status == 1 and err[0].endswith(
            f"; ALLIANCE_API_CA={tmp_path / 'other/cert.pem'} is not this gateway's certificate"
        ), err
