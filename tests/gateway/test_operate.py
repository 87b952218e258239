"""`alliance gateway init`, `register` and `status`, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sharing_api.chain import Alliance, ChainClient, Deployment
from sharing_api.cli.main import cli
from tests.support.api import running_ledger_alliance

pytestmark = pytest.mark.integration


def test_init_register_status(tmp_path: Path) -> None:
    with running_ledger_alliance(tmp_path / "chain") as alliance:
        plain = tmp_path / "h3.hex"
        plain.write_text(alliance.keys["h3"])
        secret = tmp_path / "pass"
        secret.write_text("operator passphrase\n")
        run = CliRunner()
        gw = tmp_path / "h3gw"
        init = run.invoke(
            cli,
            [
                "gateway", "init", "--dir", str(gw), "--id", "h3", "--port", "9443",
                "--chain-url", alliance.chain_url,
                "--deployment", str(alliance.root / "deployment.json"),
                "--ledger-key-file", str(plain), "--no-authority",
                "--passphrase-file", str(secret),
            ],
        )  # fmt: skip
        assert init.exit_code == 0, init.output
        made = json.loads(init.output)
        assert made["address"] == alliance.address("h3")
        assert (gw / "tls" / "cert.pem").exists() and (
            gw / "tls" / "key.pem"
        ).stat().st_mode & 0o077 == 0
        assert alliance.keys["h3"][2:] not in (gw / "keys" / "h3.ledger.key").read_text(
            errors="replace"
        )
        again = run.invoke(cli, ["gateway", "init", "--dir", str(gw), "--id", "h3"])
        assert again.exit_code != 0 and "refusing to overwrite" in again.output

        config = str(gw / "gateway.json")
        before = run.invoke(cli, ["gateway", "status", "--config", config, "--json"])
        assert before.exit_code == 0, before.output
        assert json.loads(before.output)["members"][0]["directory_url"] is None

        # A cloud operator hosts the clinic too, its keys sealed under the clinic's own
        # passphrase (the operator's does not open them).
        clinic_hex = tmp_path / "clinic.hex"
        clinic_hex.write_text(alliance.keys["clinic"])
        clinic_pass = tmp_path / "clinic.pass"
        clinic_pass.write_text("the clinic's own passphrase\n")
        added = run.invoke(
            cli,
            [
                "gateway", "add-member", "--config", config, "--id", "clinic",
                "--ledger-key-file", str(clinic_hex),
                "--member-passphrase-file", str(clinic_pass),
            ],
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        assert json.loads(added.output)["address"] == alliance.address("clinic")
        from crypto.errors import KeystoreError
        from crypto.keystore import read_key_file

        with pytest.raises(KeystoreError):
            read_key_file(gw / "keys" / "clinic.ledger.key", "ledger", "operator passphrase")

        registered = run.invoke(cli, ["gateway", "register", "--config", config])
        assert registered.exit_code == 0, registered.output
        assert len(registered.output.strip().splitlines()) == 2
        on_chain = Alliance(
            ChainClient(alliance.chain_url, alliance.keys["h3"]),
            Deployment.load(alliance.root / "deployment.json"),
        ).registry.gateway_of(alliance.address("h3"))
        assert on_chain is not None and on_chain.url == "https://127.0.0.1:9443"
        assert on_chain.fingerprint.hex() == made["tls_fingerprint"]

        after = run.invoke(cli, ["gateway", "status", "--config", config, "--json"])
        report = json.loads(after.output)
        assert report["node"]["reachable"] and report["node"]["head"] > 0
        assert report["store"]["reachable"]
        assert report["index"]["lag_blocks"] == 0
        assert [m["matches_this_gateway"] for m in report["members"]] == [True, True]

        plain_http = run.invoke(
            cli, ["gateway", "serve", "--config", config, "--state-dir", str(tmp_path / "none")]
        )
        assert plain_http.exit_code != 0 and "--insecure-http" in plain_http.output
