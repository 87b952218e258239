"""Threat: once reads carry staff pseudonyms, someone must be able to open one, and nobody
but the regulator may, nor without the alliance seeing it. The reader member's gateway
answers GET /audit/staff/{pseudonym} to the regulator alone, after putting the reveal on
chain (StaffRevealed(member, staff, regulator)); a member, staff, a patient: 403."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from sharing_api.audit.cli import reveal_cmd
from sharing_api.sdk import ApiError
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration


def test_only_the_regulator_learns_who_read_and_the_alliance_sees_it(cast: Cast) -> None:
    services = cast.api.services
    patient = Account.create().address
    nurse = cast.h1.staff_client("nurse-reveal", "nurse")
    rid = nurse.upload(patient, "lab", "h1.role:nurse", cast.sealed(b"x", "h1.role:nurse"))
    _, headers = nurse.fetch(rid["record_id"])
    row = next(
        r
        for r in cast.regulator.json("GET", "/audit/accesses", params={"patient": patient})
        if r["access_id"] == int(headers["x-access-id"])
    )
    path = f"/audit/staff/{row['staff']}"
    before = len(services.reader.registry.events("StaffRevealed"))

    for other in (cast.h1, cast.h1_doctor, nurse, cast.clinic, cast.patient):
        with pytest.raises(ApiError) as refused:
            other.json("GET", path)
        assert refused.value.status == 403
    with pytest.raises(ApiError) as anonymous:
        cast.anonymous.json("GET", path)
    assert anonymous.value.status == 401
    assert len(services.reader.registry.events("StaffRevealed")) == before

    revealed = cast.regulator.json("GET", path)
    assert (revealed["staff_id"], revealed["role"]) == ("nurse-reveal", "nurse")
    assert revealed["member"] == cast.address("h1").lower()
    events = services.reader.registry.events("StaffRevealed")
    assert len(events) == before + 1
    last = events[-1]
    assert last.tx_hash == revealed["reveal_tx"]
    assert str(last.args["member"]).lower() == cast.address("h1").lower()
    assert "0x" + bytes(last.args["staff"]).hex() == row["staff"]
    assert str(last.args["regulator"]).lower() == cast.address("regulator").lower()

    # A pseudonym this gateway never issued: nothing to reveal, nothing recorded.
    with pytest.raises(ApiError) as unknown:
        cast.regulator.json("GET", "/audit/staff/0x" + "11" * 32)
    assert unknown.value.status == 404
    assert len(services.reader.registry.events("StaffRevealed")) == before + 1


def test_the_regulator_cli_finds_the_readers_gateway_in_the_directory(
    cast: Cast, tmp_path: Path
) -> None:
    """`alliance audit reveal --access ID`: reader and pseudonym from the chain, the reader's
    gateway from the on-chain directory, the answer from that gateway (recorded on chain)."""
    services = cast.api.services
    h1 = cast.address("h1")
    services.signer(h1).registry.set_gateway(cast.api.url, b"\0" * 32)  # plain http: a test
    nurse = cast.h1.staff_client("nurse-cli", "nurse")
    rid = nurse.upload(
        Account.create().address, "lab", "h1.role:nurse", cast.sealed(b"y", "h1.role:nurse")
    )
    _, headers = nurse.fetch(rid["record_id"])
    key_file = tmp_path / "regulator.key"
    key_file.write_text(cast.alliance.keys["regulator"])
    before = len(services.reader.registry.events("StaffRevealed"))
    deployment = str(cast.alliance.root / "deployment.json")
    args = [
        "--access", headers["x-access-id"], "--key-file", str(key_file), "--insecure-http",
        "--rpc", cast.alliance.chain_url, "--deployment", deployment,
    ]  # fmt: skip
    result = CliRunner().invoke(reveal_cmd, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "nurse-cli (nurse)" in result.output
    assert len(services.reader.registry.events("StaffRevealed")) == before + 1
