"""`alliance demo` runs end to end and every step behaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from sharing_api.cli.main import main


def test_demo_succeeds_and_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "is refused" in out and "reads the bundle" in out
    assert (tmp_path / "record.header").exists() and (tmp_path / "record.body").exists()
    assert b"Chest pain" not in (tmp_path / "record.body").read_bytes()
