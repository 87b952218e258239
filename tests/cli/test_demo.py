"""`alliance demo` runs end to end and every step behaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from sharing_api.cli.main import main


def test_records_part_succeeds_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--workdir", str(tmp_path), "--records-only"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "is refused" in out and "reads the bundle" in out
    records = tmp_path / "records"
    assert (records / "record.header").exists() and (records / "record.body").exists()
    assert b"Chest pain" not in (records / "record.body").read_bytes()


@pytest.mark.integration
def test_full_alliance_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Node, contracts, store and API: referral, reads, revocation, break-glass, audit."""
    assert main(["demo", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    for expected in (
        "referral 1 xq -> h1 accepted",
        "dr-chen decrypts the bundle",
        "is refused after the revocation (403)",
        "reads under break-glass",
        "exported as a FHIR AuditEvent bundle",
        "Every step behaved",
    ):
        assert expected in out
    assert (tmp_path / "alliance" / "deployment.json").exists()
