"""`alliance storage put|get|stat|delete` and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sharing_api.cli.main import main
from tests.support.seaweed import SeaweedFS


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALLIANCE_HOME", str(tmp_path / "home"))
    for name in ("BACKEND", "MAX_SIZE", "LOCAL_ROOT", "CID_VERSION"):
        monkeypatch.delenv(f"ALLIANCE_STORAGE_{name}", raising=False)
    return tmp_path / "home"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["storage", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_put_get_stat_delete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "record.bin"
    src.write_bytes(b"ciphertext " * 50_000)
    code, out, _ = run(capsys, "put", str(src))
    assert code == 0
    cid = out.strip()
    assert cid.startswith("Qm")
    dest = tmp_path / "back.bin"
    assert run(capsys, "get", cid, str(dest))[0] == 0
    assert dest.read_bytes() == src.read_bytes()
    code, out, _ = run(capsys, "stat", cid)
    assert json.loads(out) == {
        "cid": cid,
        "sha256": json.loads(run(capsys, "put", "--json", str(src))[1])["sha256"],
        "size": src.stat().st_size,
        "backend": "local",
    }
    assert run(capsys, "delete", cid)[1].strip() == "deleted"
    code, _, err = run(capsys, "get", cid, str(tmp_path / "gone.bin"))
    assert code == 1 and err.startswith("error: ") and cid in err
    assert not (tmp_path / "gone.bin").exists()


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * 1000)
    code, _, err = run(capsys, "--max-size", "999", "put", str(src))
    assert code == 1 and "size limit" in err and err.count("\n") == 1
    code, _, err = run(capsys, "stat", "not-a-cid")
    assert code == 1 and "not a supported CID" in err
    code, _, err = run(
        capsys,
        "--backend",
        "ipfs",
        "--ipfs-api",
        "http://127.0.0.1:9",
        "stat",
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
    )
    assert code == 1 and "ipfs" in err and "unavailable" in err


def test_config_file_and_environment(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home.mkdir(parents=True)
    root = tmp_path / "elsewhere"
    (home / "storage.toml").write_text(f'[storage]\nlocal_root = "{root}"\ncid_version = 1\n')
    src = tmp_path / "r.bin"
    src.write_bytes(b"abc")
    cid = run(capsys, "put", str(src))[1].strip()
    assert cid.startswith("bafkrei") and any(root.rglob(cid))
    monkeypatch.setenv("ALLIANCE_STORAGE_CID_VERSION", "0")  # environment beats the file
    assert run(capsys, "put", str(src))[1].startswith("Qm")
    # and a flag beats both
    assert run(capsys, "--cid-version", "1", "put", str(src))[1].startswith("bafkrei")
    (home / "storage.toml").write_text('[storage]\nbackend = "floppy"\n')
    code, _, err = run(capsys, "stat", cid)
    assert code == 1 and "unknown storage backend" in err


@pytest.mark.integration
def test_s3_backend_from_environment(
    tmp_path: Path,
    seaweed: SeaweedFS,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ALLIANCE_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("ALLIANCE_STORAGE_S3_ENDPOINT", seaweed.endpoint)
    monkeypatch.setenv("ALLIANCE_STORAGE_S3_BUCKET", "cli-test")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    src = tmp_path / "r.bin"
    src.write_bytes(b"via s3")
    cid = run(capsys, "put", str(src))[1].strip()
    assert json.loads(run(capsys, "stat", cid)[1])["backend"] == "s3"
    assert run(capsys, "get", cid, "-")[1] == "via s3"
