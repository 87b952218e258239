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
