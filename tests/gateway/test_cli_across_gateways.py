"""The hospital CLI across gateways, as the README's hospital flow uses it: a clinic hosted on
the cloud gateway seals to h1's attributes (an authority its gateway does not host), and h1
signs its staff in on the command line (`alliance staff token`) to fetch and decrypt."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from crypto.authority import AttributeAuthority
from crypto.keystore import read_key_file
from sharing_api.api.core.keys import AUTHORITY_KIND
from sharing_api.cli.main import main
from sharing_api.sdk import SharingClient
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


def test_revoking_a_hosted_clinics_staff_rotates_its_authority_across_the_alliance(
    gateways: Gateways,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`alliance staff revoke` at the cloud gateway rotates the hosted clinic's authority
    (sealed under the clinic's own passphrase); h1's gateway, which seals to c1 with the
    parameters it fetched from the cloud, moves to the new generation at once (the hash on
    chain changed); the kept doctor fetches the re-issued key with `alliance record keys` and
    reads records of both generations with `record get --key OLD --key NEW`."""
    g = gateways
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    monkeypatch.setenv("ALLIANCE_API_URL", g.cloud.url)
    monkeypatch.setenv("ALLIANCE_API_CA", str(g.cloud.cert))
    monkeypatch.setenv("ALLIANCE_PASSPHRASE", "the clinic's own passphrase")
    clinic_key = str(g.cloud.directory / "keys" / "clinic.ledger.key")
    keys = {}
    tokens = {}
    for who in ("dr-leaves", "dr-stays"):
        argv = ["staff", "token", "--id", who, "--role", "doctor", "--key-file", clinic_key]
        status, out, err = _run(argv, capsys)
        assert status == 0, err
        tokens[who] = out.strip()
        keys[who] = tmp_path / f"{who}.key"
        monkeypatch.setenv("ALLIANCE_TOKEN", tokens[who])
        assert _run(["record", "key", "--out", str(keys[who])], capsys)[0] == 0
        monkeypatch.delenv("ALLIANCE_TOKEN")
    at_h1 = SharingClient(g.h1.url, verify=g.h1.verify)
    old = at_h1.authority_params("c1")  # h1's gateway fetches and caches c1's parameters
    bundle = tmp_path / "bundle.json"
    assert main(["record", "sample", "--patient", g.patient.address, "--out", str(bundle)]) == 0
    put = ["record", "put", str(bundle), "--patient", g.patient.address, "--category"]
    put += ["summary", "--policy", "role:doctor", "--key-file", clinic_key]
    status, out, err = _run(put, capsys)
    assert status == 0, err
    before = json.loads(out)["record_id"]

    revoke = ["staff", "revoke", "--id", "dr-leaves", "--key-file", clinic_key]
    status, out, err = _run([*revoke, "--json"], capsys)
    assert status == 0, err
    done = json.loads(out)
    assert (done["rotated"], done["generation"]) == (True, old.generation + 1)
    assert done["reissued"] >= 1 and done["params_hash_tx"]
    assert at_h1.authority_params("c1").generation == old.generation + 1
    saved = g.cloud.directory / "keys" / "clinic.authority.key"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    raw = read_key_file(saved, AUTHORITY_KIND, "the clinic's own passphrase")
    assert AttributeAuthority.from_bytes(raw).generation == old.generation + 1

    status, out, err = _run(put, capsys)
    assert status == 0, err
    after = json.loads(out)["record_id"]
    monkeypatch.setenv("ALLIANCE_TOKEN", tokens["dr-stays"])
    fresh_dir = tmp_path / "fresh"
    status, out, err = _run(["record", "keys", "--out-dir", str(fresh_dir)], capsys)
    assert status == 0, err
    (fresh,) = fresh_dir.iterdir()
    assert json.loads(out)[0]["generation"] == old.generation + 1
    for record_id in (before, after):
        out_file = tmp_path / f"read-{record_id}.json"
        get = ["record", "get", str(record_id), "--key", str(keys["dr-stays"])]
        status, _, err = _run([*get, "--key", str(fresh), "--out", str(out_file)], capsys)
        assert status == 0, err
        assert json.loads(out_file.read_text()) == json.loads(bundle.read_text())
    # The old key alone no longer opens what was sealed after the revocation.
    get = [
        "record",
        "get",
        str(after),
        "--key",
        str(keys["dr-stays"]),
        "--out",
        str(tmp_path / "x.json"),
    ]
    assert _run(get, capsys)[0] == 1
    monkeypatch.delenv("ALLIANCE_TOKEN")

    status, out, err = _run(revoke, capsys)
    assert status == 0, err
    assert out.splitlines()[:2] == [
        f"dr-leaves of {g.alliance.address('clinic')} was already revoked",
        "no rotation needed: they hold no live key of the current generation",
    ]
    at_h1.close()
