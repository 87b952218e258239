"""The alliance's cipher suite: chosen in the genesis, carried in deployment.json to every
gateway; `gateway init` takes it from there (or --suite), writes it to gateway.json and
seals the member's key files in it; `add-member` follows the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from crypto.keystore import key_file_suite, read_key_file
from crypto.suite import AES_256_GCM_SHA256, SM4_GCM_SM3
from sharing_api.api.core.config import ApiSettings, load_settings
from sharing_api.cli.main import cli


def _init(tmp_path: Path, *extra: str) -> tuple[Path, dict[str, object]]:
    secret = tmp_path / "pass"
    secret.write_text("operator passphrase\n")
    gw = tmp_path / "gw"
    args = ["gateway", "init", "--dir", str(gw), "--id", "h9", "--passphrase-file", str(secret)]
    result = CliRunner().invoke(cli, [*args, *extra])
    assert result.exit_code == 0, result.output
    return gw, json.loads(result.output)


def test_init_with_the_national_suite(tmp_path: Path) -> None:
    gw, made = _init(tmp_path, "--suite", "sm4-gcm")
    assert made["crypto_suite"] == "sm4-gcm"
    config = gw / "gateway.json"
    assert load_settings(config, {}).crypto_suite == "sm4-gcm"
    for name in ("h9.ledger.key", "h9.authority.key"):
        assert key_file_suite(gw / "keys" / name) is SM4_GCM_SM3
    assert len(read_key_file(gw / "keys" / "h9.ledger.key", "ledger", "operator passphrase")) == 32

    # A hosted clinic added later is sealed in the gateway's suite too.
    clinic_pass = tmp_path / "clinic.pass"
    clinic_pass.write_text("the clinic's own passphrase\n")
    added = CliRunner().invoke(
        cli,
        [
            "gateway", "add-member", "--config", str(config), "--id", "fx", "--no-authority",
            "--member-passphrase-file", str(clinic_pass),
        ],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert key_file_suite(gw / "keys" / "fx.ledger.key") is SM4_GCM_SM3


def test_default_is_aes_and_unknown_suites_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLIANCE_HOME", str(tmp_path / "home"))  # no deployment.json there
    gw, made = _init(tmp_path, "--no-authority")
    assert made["crypto_suite"] == "aes-256-gcm"
    assert key_file_suite(gw / "keys" / "h9.ledger.key") is AES_256_GCM_SHA256
    assert ApiSettings().crypto_suite is None  # unset: the alliance's, from deployment.json
    by_env = {"ALLIANCE_API_CRYPTO_SUITE": "sm4-gcm"}
    assert load_settings(None, {}, environ=by_env).crypto_suite == "sm4-gcm"
    with pytest.raises(ValueError, match="crypto_suite"):
        load_settings(None, {"crypto_suite": "sm4-cbc"}, environ={})


def test_init_takes_the_alliances_suite_from_its_deployment(tmp_path: Path) -> None:
    from sharing_api.chain.genesis import Deployment, Genesis

    names = ("AllianceRegistry", "ConsentRegistry", "RecordRegistry", "ReferralRegistry")
    everything = (*names, "AccessLog", "ConsultationRegistry")
    addresses = {n: "0x" + f"{i + 1:040x}" for i, n in enumerate(everything)}
    deployment = Deployment(7171, addresses, 1, crypto_suite="sm4-gcm")
    deployment.save(tmp_path / "deployment.json")
    assert Deployment.load(tmp_path / "deployment.json").crypto_suite == "sm4-gcm"
    gw, made = _init(tmp_path, "--no-authority", "--deployment", str(tmp_path / "deployment.json"))
    assert made["crypto_suite"] == "sm4-gcm"
    assert key_file_suite(gw / "keys" / "h9.ledger.key") is SM4_GCM_SM3
    with pytest.raises(ValueError, match="crypto_suite"):
        Deployment(7171, addresses, 1, crypto_suite="sm4-cbc")
    with pytest.raises(ValueError, match="crypto_suite"):
        Genesis.from_dict({"threshold": 1, "crypto_suite": "rot13", "members": []})
