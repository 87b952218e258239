"""`alliance record|consent|referral` against the real API: encrypt locally, publish, consent,
fetch and decrypt locally, revoke, and the refused fetch after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sharing_api.cli.main import cli
from sharing_api.fhir import chest_pain_bundle
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration


def _run(args: list[str], **env: str) -> str:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_record_consent_cycle_on_the_command_line(cast: Cast, tmp_path: Path) -> None:
    from eth_account import Account

    api = {"ALLIANCE_API_URL": cast.api.url}
    clinic_key = tmp_path / "clinic.key"
    clinic_key.write_text(cast.alliance.keys["clinic"])
    patient = Account.create()
    patient_key = tmp_path / "patient.key"
    patient_key.write_text("0x" + bytes(patient.key).hex())
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(chest_pain_bundle(patient.address, "c1")))

    policy = "h1.role:doctor or c1.role:doctor"
    put = json.loads(
        _run(
            [
                "record",
                "put",
                str(bundle),
                "--patient",
                patient.address,
                "--category",
                "summary",
                "--policy",
                policy,
                "--key-file",
                str(clinic_key),
            ],
            **api,
        )
    )
    rid = put["record_id"]
    granted = json.loads(
        _run(
            [
                "consent",
                "grant",
                "--grantee",
                cast.address("h1"),
                "--categories",
                "summary",
                "--key-file",
                str(patient_key),
            ],
            **api,
        )
    )
    listed = json.loads(_run(["consent", "list", "--key-file", str(patient_key)], **api))
    assert [c["consent_id"] for c in listed] == [granted["consent_id"]]

    token = {"ALLIANCE_TOKEN": cast.h1_doctor.token, **api}
    key = tmp_path / "dr.key"
    _run(["record", "key", "--out", str(key)], **token)
    out = tmp_path / "read.json"
    _run(["record", "get", str(rid), "--key", str(key), "--out", str(out)], **token)
    assert json.loads(out.read_text()) == json.loads(bundle.read_text())

    _run(["consent", "revoke", str(granted["consent_id"]), "--key-file", str(patient_key)], **api)
    refused = CliRunner().invoke(
        cli,
        ["record", "get", str(rid), "--key", str(key), "--out", str(tmp_path / "again.json")],
        env=token,
    )
    assert refused.exit_code != 0
    assert "403" in str(refused.exception)
    assert not (tmp_path / "again.json").exists()
