"""The patient's pseudonyms on the command line: the address to show at the desk, a consent
signed with the custodian's pseudonym (`--mnemonic-file --custodian`), and a disclosure the
regulator verifies with `alliance audit disclosed` (logged)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from sharing_api.cli.main import cli
from sharing_api.sdk import PatientWallet
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration


def run(args: list[str], **env: str) -> str:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_pseudonym_consent_and_disclosure(cast: Cast, tmp_path: Path) -> None:
    _, phrase = Account.create_with_mnemonic()
    words = tmp_path / "phrase.txt"
    words.write_text(phrase + "\n")
    wallet = PatientWallet(phrase)
    clinic, h1 = cast.address("clinic"), cast.address("h1")
    at_clinic = run(["patient", "pseudonym", "--custodian", clinic, "--mnemonic-file", str(words)])
    assert at_clinic.strip() == wallet.address_at(clinic)

    cast.clinic.attest_patient(wallet.address_at(clinic))
    sealed = cast.clinic.seal(b"x", "h1.role:doctor", [cast.h1.authority_params("h1")])
    record = cast.clinic.upload(wallet.address_at(clinic), "lab", "h1.role:doctor", sealed)
    env = {"ALLIANCE_API_URL": cast.api.url, "ALLIANCE_MNEMONIC_FILE": str(words)}
    args = ["consent", "grant", "--grantee", h1, "--categories", "lab", "--custodian", clinic]
    granted = json.loads(run(args, **env))
    assert granted["patient"].lower() == wallet.address_at(clinic).lower()
    cast.h1_doctor.fetch(record["record_id"])
    second = cast.clinic.upload(wallet.address_at(clinic), "lab", "h1.role:doctor", sealed)
    cast.h1_doctor.fetch(second["record_id"])
    both = [record["record_id"], second["record_id"]]

    regulator = cast.address("regulator")
    chain_id = cast.alliance.deployment.chain_id
    out = tmp_path / "disclosure.json"
    run(
        [
            "patient",
            "disclose",
            "--custodian",
            clinic,
            "--custodian",
            h1,
            "--regulator",
            regulator,
            "--chain-id",
            str(chain_id),
            "--out",
            str(out),
        ],
        **env,
    )
    home = tmp_path / "home"
    cast.api.services.indexer.sync()  # the index read below holds the access just logged
    settings = cast.api.services.settings
    listed = json.loads(
        run(
            [
                "audit",
                "disclosed",
                str(out),
                "--regulator",
                regulator,
                "--json",
                "--deployment",
                str(settings.deployment_file),
                "--database-url",
                str(settings.database_url),
            ],
            ALLIANCE_HOME=str(home),
        )
    )
    assert [r["record_id"] for r in listed["records"]] == both
    assert [a["record_id"] for a in listed["accesses"]] == both
    (entry,) = (home / "audit" / "disclosures.log").read_text().splitlines()
    assert json.loads(entry)["addresses"] == listed["addresses"]

    # Addressed to another regulator: refused, one line, exit 1.
    refused = CliRunner().invoke(
        cli,
        [
            "audit",
            "disclosed",
            str(out),
            "--regulator",
            cast.address("h1"),
            "--deployment",
            str(settings.deployment_file),
        ],
    )
    assert refused.exit_code != 0

    # The console's path: the regulator posts the same file to its gateway.
    shown = cast.regulator.json("POST", "/audit/disclosed", content=out.read_bytes())
    assert shown["addresses"] == listed["addresses"]
    assert [r["record_id"] for r in shown["records"]] == both
    assert [a["record_id"] for a in shown["accesses"]] == both
    assert shown["next_record_after"] is None and shown["next_access_after"] is None
    # In pages of one: the cursor continues each list; a list that ended stays empty.
    first = cast.regulator.json(
        "POST", "/audit/disclosed", content=out.read_bytes(), params={"limit": 1}
    )
    assert [r["record_id"] for r in first["records"]] == both[:1]
    assert first["next_record_after"] == both[0]
    assert first["next_access_after"] == first["accesses"][0]["access_id"]
    rest = cast.regulator.json(
        "POST",
        "/audit/disclosed",
        content=out.read_bytes(),
        params={
            "limit": 1,
            "after_record": first["next_record_after"],
            "after_access": first["next_access_after"],
        },
    )
    assert [r["record_id"] for r in rest["records"]] == both[1:]
    assert [a["record_id"] for a in rest["accesses"]] == both[1:]
    assert rest["next_record_after"] is None and rest["next_access_after"] is None
    state = Path(settings.resolved_state_dir())
    assert len((state / "audit" / "disclosures.log").read_text().splitlines()) == 3
    # Another party's disclosure (names another regulator) is refused at the gateway too,
    # and a member cannot use one at all.
    foreign = json.loads(out.read_text())
    foreign["regulator"] = cast.address("h1")
    bad = cast.regulator.http.post(
        "/audit/disclosed", headers=cast.regulator._headers(), json=foreign
    )
    assert bad.status_code == 400 and "regulator" in bad.json()["detail"]
    member = cast.h1.http.post(
        "/audit/disclosed", headers=cast.h1._headers(), content=out.read_bytes()
    )
    assert member.status_code == 403
    huge = cast.regulator.http.post(
        "/audit/disclosed", headers=cast.regulator._headers(), content=b" " * 40_000
    )
    assert huge.status_code == 413
    assert len((state / "audit" / "disclosures.log").read_text().splitlines()) == 3
