"""The hospital CLI across gateways, as the README's hospital flow uses it: a clinic hosted on
the cloud gateway seals to h1's attributes (an authority its gateway does not host), and h1
signs its staff in on the command line (`alliance staff token`) to fetch and decrypt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sharing_api.cli.main import main
from tests.gateway.conftest import GATEWAY_PASSPHRASE, Gateways

pytestmark = pytest.mark.integration


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip().splitlines()


def test_a_clinic_seals_to_another_gateways_authority_and_h1_staff_read_it(
    gateways: Gateways,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    g = gateways
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    monkeypatch.setenv("ALLIANCE_API_URL", g.cloud.url)
    monkeypatch.setenv("ALLIANCE_API_CA", str(g.cloud.cert))
    monkeypatch.setenv("ALLIANCE_PASSPHRASE", "the clinic's own passphrase")
    clinic_key = str(g.cloud.directory / "keys" / "clinic.ledger.key")
    bundle = tmp_path / "bundle.json"
    assert main(["record", "sample", "--patient", g.patient.address, "--out", str(bundle)]) == 0
    put = ["record", "put", str(bundle), "--patient", g.patient.address]
    put += ["--category", "summary", "--key-file", clinic_key]

    # h1's authority lives on h1's gateway: the cloud gateway fetches its parameters.
    status, out, err = _run([*put, "--policy", "h1.role:doctor or role:doctor"], capsys)
    assert status == 0, err
    record = json.loads(out)
    assert record["policy"] == "h1.role:doctor or c1.role:doctor"
    assert "policy: h1.role:doctor or c1.role:doctor" in err

    # An authority no member of the alliance runs is still one line naming the known ones.
    status, _, err = _run([*put, "--policy", "zz.role:doctor"], capsys)
    assert (status, err) == (
        1,
        ["error: policy names no known attribute authority 'zz' (this API knows: c1)"],
    )

    wallet = g.client(g.cloud, g.patient.key)
    wallet.grant_consent(
        g.patient.key,
        grantee=g.alliance.address("h1"),
        categories=["summary"],
        purposes=["treatment"],
    )
    wallet.close()

    # h1 signs its cardiologist in on the command line; the token alone is on stdout.
    monkeypatch.setenv("ALLIANCE_API_URL", g.h1.url)
    monkeypatch.setenv("ALLIANCE_API_CA", str(g.h1.cert))
    monkeypatch.setenv("ALLIANCE_PASSPHRASE", GATEWAY_PASSPHRASE)
    h1_key = str(g.h1.directory / "keys" / "h1.ledger.key")
    staff = ["staff", "token", "--id", "dr-chen", "--role", "doctor"]
    status, out, err = _run([*staff, "--attrs", "dept:cardiology", "--key-file", h1_key], capsys)
    assert status == 0, err
    token = out.strip()
    assert token.count(".") == 2 and "\n" not in token
    assert len(err) == 1 and err[0].startswith("staff token for dr-chen@")
    assert "(h1.dept:cardiology, h1.role:doctor) valid until " in err[0]

    monkeypatch.setenv("ALLIANCE_TOKEN", token)
    abe_key, read = tmp_path / "dr.key", tmp_path / "read.json"
    status, _, err = _run(["record", "key", "--out", str(abe_key)], capsys)
    assert status == 0, err
    get = ["record", "get", str(record["record_id"]), "--key", str(abe_key), "--out", str(read)]
    status, _, err = _run(get, capsys)
    assert status == 0, err
    assert json.loads(read.read_text()) == json.loads(bundle.read_text())
