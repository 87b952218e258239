"""Hosted members' keys at rest: sealed key files unlocked with a passphrase at start; a
missing or wrong passphrase, or a plaintext key, stops the API before it serves anything."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from eth_account import Account

from ledger_node.network.procs import free_port
from sharing_api.api.core.config import ApiSettings, HostedMember
from sharing_api.api.core.keys import PassphraseError, resolve_passphrase, unlock_members
from tests.support.api import TEST_PASSPHRASE

if TYPE_CHECKING:
    from tests.support.api import TestAlliance

REPO = Path(__file__).resolve().parents[2]


def _serve(config: Path, port: int, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "sharing_api.cli",
        "gateway",
        "serve",
        "--insecure-http",
        "--config",
        str(config),
    ]
    return subprocess.Popen(
        [*cmd, "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ALLIANCE_PASSPHRASE"}
    env.update(changes)
    return env


def _config(alliance: TestAlliance, tmp_path: Path, **changes: Any) -> Path:
    settings = alliance.settings(
        database_url=f"sqlite:///{tmp_path / 'index.sqlite3'}",
        state_dir=str(tmp_path / "api"),
        passphrase_file="",
    )
    doc = json.loads(settings.model_dump_json())
    doc.update(changes)
    path = tmp_path / "api.json"
    path.write_text(json.dumps(doc))
    return path


def _refused(config: Path, env: dict[str, str], *extra: str) -> str:
    """Run `alliance gateway serve`; it must exit 1 with one error line, never listening."""
    port = free_port()
    proc = _serve(config, port, env, *extra)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert not _listening(port)
    return lines[0]


@pytest.mark.integration
def test_start_needs_the_right_passphrase(alliance: TestAlliance, tmp_path: Path) -> None:
    config = _config(alliance, tmp_path)
    assert "no passphrase" in _refused(config, _env())
    assert "wrong passphrase" in _refused(config, _env(ALLIANCE_PASSPHRASE="not it"))
    wrong_file = tmp_path / "wrong-passphrase"
    wrong_file.write_text("also not it\n")
    line = _refused(
        config, _env(ALLIANCE_PASSPHRASE=TEST_PASSPHRASE), "--passphrase-file", str(wrong_file)
    )
    assert "wrong passphrase" in line  # the file, when given, wins over the environment
    # Nothing was set up for a server that never started.
    assert not (tmp_path / "index.sqlite3").exists()
    assert not (tmp_path / "api").exists()

    # The control: the same config with the right passphrase serves every hosted member.
    port = free_port()
    proc = _serve(config, port, _env(ALLIANCE_PASSPHRASE=TEST_PASSPHRASE))
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        expected = sorted(alliance.address(n) for n in ("h1", "clinic", "h3", "regulator"))
        assert health["hosted_members"] == expected
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.integration
def test_plaintext_keys_are_refused(alliance: TestAlliance, tmp_path: Path) -> None:
    env = _env(ALLIANCE_PASSPHRASE=TEST_PASSPHRASE)
    members = json.loads(alliance.settings().model_dump_json())["members"]
    inline = [{**members[0], "key": alliance.keys["h1"]}]
    line = _refused(_config(alliance, tmp_path, members=inline), env)
    assert "plaintext" in line
    assert alliance.keys["h1"].removeprefix("0x") not in line  # the error never echoes it
    plain = tmp_path / "h1.hex"
    plain.write_text(alliance.keys["h1"])
    as_file = [{**members[0], "key_file": str(plain)}]
    assert "plaintext keys are refused" in _refused(
        _config(alliance, tmp_path, members=as_file), env
    )
    raw_authority = tmp_path / "h1.authority"
    raw_authority.write_bytes(alliance.authorities[alliance.keys["h1"]].to_bytes())
    bad_authority = [{**members[0], "authority_key_file": str(raw_authority)}]
    assert "plaintext keys are refused" in _refused(
        _config(alliance, tmp_path, members=bad_authority), env
    )


def test_sealed_files_hold_no_key_bytes(alliance: TestAlliance, tmp_path: Path) -> None:
    settings = alliance.settings()
    config_text = settings.model_dump_json()
    names = ("h1", "clinic", "h3", "regulator")
    for name, member in zip(names, settings.members, strict=True):
        key = Account.from_key(alliance.keys[name]).key
        files = [Path(member.key_file)]
        if member.authority_key_file:
            files.append(Path(member.authority_key_file))
        for path in files:
            data = path.read_bytes()
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert bytes(key) not in data and bytes(key).hex().encode() not in data.lower()
        assert bytes(key).hex() not in config_text.lower()
        authority = alliance.authorities.get(alliance.keys[name])
        if authority is not None:
            secret = authority.to_bytes()
            sealed = Path(member.authority_key_file or "").read_bytes()
            # No 16-byte window of the master key's serialization appears in its file.
            windows = {secret[i : i + 16] for i in range(0, len(secret) - 16, 8)}
            assert not any(w in sealed for w in windows)
    # Unlocking gives back exactly the keys.
    unlocked = unlock_members(settings, TEST_PASSPHRASE)
    assert [u.ledger_key for u in unlocked] == [
        bytes(Account.from_key(alliance.keys[n]).key) for n in names
    ]
    assert unlocked[0].authority is not None
    assert unlocked[0].authority.to_bytes() == alliance.authorities[alliance.keys["h1"]].to_bytes()
    with pytest.raises(ValueError, match="wrong passphrase"):
        unlock_members(settings, "nope")


def test_passphrase_sources(tmp_path: Path) -> None:
    with pytest.raises(PassphraseError, match="ALLIANCE_PASSPHRASE"):
        resolve_passphrase(ApiSettings(), environ={})
    assert resolve_passphrase(ApiSettings(), environ={"ALLIANCE_PASSPHRASE": "env"}) == "env"
    file = tmp_path / "pass"
    file.write_text("from-file\n")
    settings = ApiSettings(passphrase_file=str(file))
    assert resolve_passphrase(settings, environ={"ALLIANCE_PASSPHRASE": "env"}) == "from-file"
    file.write_text("\n")
    with pytest.raises(PassphraseError, match="empty"):
        resolve_passphrase(settings, environ={})
    # Nothing hosted: nothing to unlock, no passphrase asked for.
    assert unlock_members(ApiSettings(), None) == []
    with pytest.raises(ValueError, match="plaintext"):
        HostedMember.model_validate({"key": "0x" + "11" * 32, "key_file": "x"})


def test_seal_key_command(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sharing_api.cli.main import cli

    plain = tmp_path / "plain.hex"
    key = Account.create()
    plain.write_text("0x" + bytes(key.key).hex() + "\n")
    out = tmp_path / "sealed.key"
    env = {"ALLIANCE_PASSPHRASE": "pw-for-seal"}
    result = CliRunner().invoke(
        cli, ["gateway", "seal-key", "--out", str(out), "--from", str(plain)], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["address"] == key.address
    assert bytes(key.key) not in out.read_bytes()
    member = HostedMember(key_file=str(out))
    assert unlock_members(ApiSettings(members=(member,)), "pw-for-seal")[0].ledger_key == bytes(
        key.key
    )
    again = CliRunner().invoke(cli, ["gateway", "seal-key", "--out", str(out)], env=env)
    assert again.exit_code != 0  # never overwrites a key file
