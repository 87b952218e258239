"""The `alliance` entry point: help, unknown commands, error formatting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sharing_api.cli.main import SUBCOMMANDS, main


def test_help_lists_every_registered_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_every_registered_subcommand_imports_and_has_help() -> None:
    for name in SUBCOMMANDS:
        result = subprocess.run(
            [sys.executable, "-m", "sharing_api.cli", name, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout


def test_unknown_subcommand_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err
