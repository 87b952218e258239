"""The systemd units for a member's host (scripts/systemd/) stay in step with the commands
they run: every flag an ExecStart passes is one the command takes (our CLI's click
parameters; etcd's own --help for the etcd member)."""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest

from sharing_api.cli.main import cli

UNITS = Path(__file__).resolve().parents[2] / "scripts" / "systemd"


def _exec_start(unit: Path) -> list[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text().replace("\\\n", " "))
    return shlex.split(parser["Service"]["ExecStart"])


def _flags(argv: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in argv if a.startswith("--")]


def _click_command(words: list[str]) -> click.Command:
    command: click.Command = cli
    ctx = click.Context(cli)
    for word in words:
        assert isinstance(command, click.Group), words
        found = command.get_command(ctx, word)
        assert found is not None, f"no command {' '.join(words)}"
        command = found
    return command


@pytest.mark.parametrize(
    "name", ["alliance-node.service", "alliance-gateway.service", "alliance-etcd-defrag.service"]
)
def test_our_units_pass_only_flags_the_command_takes(name: str) -> None:
    argv = _exec_start(UNITS / name)
    assert argv[0].endswith("/alliance")
    words = [a for a in argv[1:3]]
    command = _click_command(words)
    known = {opt for p in command.params for opt in getattr(p, "opts", [])}
    unknown = [f for f in _flags(argv) if f not in known]
    assert not unknown, f"{name}: {unknown} are not options of alliance {' '.join(words)}"


def test_the_etcd_unit_passes_only_flags_etcd_takes() -> None:
    argv = _exec_start(UNITS / "alliance-etcd.service")
    helped = subprocess.run(["etcd", "--help"], capture_output=True, text=True, check=False)
    known = set(re.findall(r"--[a-z0-9-]+", helped.stdout + helped.stderr))
    assert "--peer-cert-allowed-cn" in known  # this etcd knows the flags we rely on
    unknown = [f for f in _flags(argv) if f not in known]
    assert not unknown, f"etcd does not take {unknown}"
    assert all(u.startswith("https://") for u in argv if "://" in u)  # TLS everywhere


def test_every_timer_starts_a_unit_that_exists() -> None:
    timers = sorted(UNITS.glob("*.timer"))
    assert timers  # etcd's defragmentation runs on a schedule
    for timer in timers:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(timer.read_text())
        unit = parser["Timer"].get("Unit", timer.stem + ".service")
        assert (UNITS / unit).exists(), f"{timer.name} starts {unit}, which is not in {UNITS}"
        assert parser["Timer"].get("OnCalendar"), timer.name
