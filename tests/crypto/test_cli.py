"""`alliance abe ...` end to end, as an operator would run it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sharing_api.cli.main import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALLIANCE_PASSPHRASE", "test passphrase")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str) -> int:
    return main(list(args))


def test_setup_keygen_encrypt_decrypt_rewrap_revoke(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = workdir / "bundle.json"
    record.write_bytes(os.urandom(200_000))
    assert _run("abe", "setup", "--out", "h1", "--id", "h1") == 0
    assert _run("abe", "setup", "--out", "h1") == 1  # never overwrites an authority
    assert (
        _run(
            "abe",
            "keygen",
            "--authority",
            "h1",
            "--attrs",
            "role:doctor,dept:cardiology",
            "--expires",
            "2099-01-01",
            "--out",
            "doc.key",
            "--subject",
            "dr-li",
        )
        == 0
    )
    assert (
        _run(
            "abe",
            "keygen",
            "--authority",
            "h1",
            "--attrs",
            "role:nurse",
            "--expires",
            "2099-01-01",
            "--out",
            "nurse.key",
        )
        == 0
    )
    assert (
        _run(
            "abe",
            "encrypt",
            "--params",
            "h1",
            "--policy",
            "role:doctor and dept:cardiology",
            str(record),
            "rec.alr",
        )
        == 0
    )
    assert _run("abe", "decrypt", "--key", "doc.key", "rec.alr", "out.json") == 0
    assert (workdir / "out.json").read_bytes() == record.read_bytes()

    capsys.readouterr()
    assert _run("abe", "decrypt", "--key", "nurse.key", "rec.alr", "denied.json") == 1
    assert "do not satisfy" in capsys.readouterr().err
    assert not (workdir / "denied.json").exists()
    assert not list(workdir.glob("*.partial"))

    # Detached header: rewrap touches only the header.
    assert (
        _run(
            "abe",
            "encrypt",
            "--params",
            "h1/params.bin",
            "--policy",
            "role:doctor",
            "--header-out",
            "rec.hdr",
            str(record),
            "rec.body",
        )
        == 0
    )
    assert (
        _run(
            "abe",
            "rewrap",
            "--key",
            "doc.key",
            "--params",
            "h1",
            "--policy",
            "role:nurse",
            "rec.hdr",
            "rec2.hdr",
        )
        == 0
    )
    assert (
        _run(
            "abe", "decrypt", "--key", "nurse.key", "--header", "rec2.hdr", "rec.body", "nurse.json"
        )
        == 0
    )
    assert (workdir / "nurse.json").read_bytes() == record.read_bytes()

    nurse_id = json.loads((workdir / "h1" / "issued.json").read_text())[1]["key_id"]
    assert (
        _run("abe", "revoke", "--authority", "h1", "--key-id", nurse_id, "--reissue-dir", "fresh")
        == 0
    )
    assert (
        _run(
            "abe",
            "encrypt",
            "--params",
            "h1",
            "--policy",
            "role:nurse or role:doctor",
            str(record),
            "new.alr",
        )
        == 0
    )
    capsys.readouterr()
    assert _run("abe", "decrypt", "--key", "nurse.key", "new.alr", "x") == 1
    assert "generation" in capsys.readouterr().err
    (fresh_doctor,) = (workdir / "fresh").glob("*.key")
    assert _run("abe", "decrypt", "--key", str(fresh_doctor), "new.alr", "doc2.json") == 0
    assert _run("abe", "inspect", "new.alr") == 0
    assert "generation 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["abe", "encrypt", "--params", "h1", "--policy", "role:doctor and", "in", "o"],
            "position 15",
        ),
        (
            [
                "abe",
                "keygen",
                "--authority",
                "h1",
                "--attrs",
                "pj.role:doctor",
                "--expires",
                "2099-01-01",
                "--out",
                "k",
            ],
            "cannot issue",
        ),
        (
            [
                "abe",
                "keygen",
                "--authority",
                "h1",
                "--attrs",
                "role:doctor",
                "--expires",
                "2021-01-01",
                "--out",
                "k",
            ],
            "not in the future",
        ),
        (["abe", "decrypt", "--key", "h1/params.bin", "in", "o"], "not a key file"),
        (["abe", "inspect", "in"], "not an AllianceLedger"),
    ],
)
def test_errors_are_one_clear_line(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (workdir / "in").write_bytes(b"plain")
    assert _run("abe", "setup", "--out", "h1", "--id", "h1") == 0
    capsys.readouterr()
    assert _run(*args) != 0
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "Traceback" not in err
    assert not (workdir / "o").exists() and not (workdir / "k").exists()


def test_wrong_passphrase(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("abe", "setup", "--out", "h1", "--id", "h1") == 0
    monkeypatch.setenv("ALLIANCE_PASSPHRASE", "not it")
    capsys.readouterr()
    assert (
        _run(
            "abe",
            "keygen",
            "--authority",
            "h1",
            "--attrs",
            "role:doctor",
            "--expires",
            "2099-01-01",
            "--out",
            "k",
        )
        == 1
    )
    assert "wrong passphrase" in capsys.readouterr().err


def test_national_suite_for_records_and_key_files(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    record = workdir / "note.txt"
    record.write_bytes(os.urandom(3000))
    assert _run("abe", "setup", "--out", "h1", "--id", "h1", "--suite", "sm4-gcm") == 0
    keygen = ["abe", "keygen", "--authority", "h1", "--attrs", "role:doctor"]
    assert _run(*keygen, "--expires", "2099-01-01", "--out", "doc.key") == 0
    # Key files record their suite after "ALKS" and the version; keygen follows master.key.
    assert (workdir / "h1" / "master.key").read_bytes()[4:6] == b"\x02\x02"
    assert (workdir / "doc.key").read_bytes()[4:6] == b"\x02\x02"
    encrypt = ["abe", "encrypt", "--params", "h1", "--policy", "role:doctor"]
    assert _run(*encrypt, "--suite", "sm4-gcm", str(record), "sm4.alr") == 0
    monkeypatch.setenv("ALLIANCE_CRYPTO_SUITE", "aes-256-gcm")  # the setting, by environment
    assert _run(*encrypt, str(record), "aes.alr") == 0
    capsys.readouterr()
    for name, suite in (("sm4.alr", "sm4-gcm"), ("aes.alr", "aes-256-gcm")):
        assert _run("abe", "inspect", name) == 0
        assert f"cipher suite: {suite} (format version 2)" in capsys.readouterr().out
        # Decrypting reads the suite from the record: one key opens both.
        assert _run("abe", "decrypt", "--key", "doc.key", name, f"{name}.out") == 0
        assert (workdir / f"{name}.out").read_bytes() == record.read_bytes()
    capsys.readouterr()
    assert _run(*encrypt, "--suite", "sm4-cbc", str(record), "bad.alr") != 0
    assert "'sm4-cbc' is not one of 'aes-256-gcm', 'sm4-gcm'" in capsys.readouterr().err
    assert not (workdir / "bad.alr").exists()
