"""What `alliance demo` leaves for a newcomer (sharing_api/cli/demo_handoff.py), without a
ledger: gateways prepared as the demo prepares them, then the hand-off files and messages.
The whole path against a running demo is tests/cli/test_readme_flow.py."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from crypto.keystore import read_key_file
from sharing_api.api.core.keys import LEDGER_KIND
from sharing_api.cli.alliance_demo import DemoAlliance, DemoFacts
from sharing_api.cli.demo_handoff import hand_off
from sharing_api.cli.main import main
from sharing_api.gateway.local import MemberKeys, prepare_gateway

PASSPHRASE = "demo passphrase (tests only)"


def _key() -> str:
    return "0x" + bytes(Account.create().key).hex()


@pytest.fixture
def world(tmp_path: Path) -> DemoAlliance:
    keys = {m: _key() for m in ("h1", "pj", "xq", "regulator")}
    common: dict[str, Any] = {
        "chain_url": "http://127.0.0.1:9",
        "deployment_file": tmp_path / "alliance" / "deployment.json",
        "passphrase": PASSPHRASE,
        "register": False,  # no chain here: nothing goes on chain
    }
    gateways = {
        "h1": prepare_gateway(
            tmp_path / "alliance/gateways/h1", [MemberKeys("h1", keys["h1"])], **common
        ),
        "pj": prepare_gateway(
            tmp_path / "alliance/gateways/pj", [MemberKeys("pj", keys["pj"])], **common
        ),
        "cloud": prepare_gateway(
            tmp_path / "alliance/gateways/cloud",
            [MemberKeys("xq", keys["xq"], own_passphrase="xq's own")],
            **common,
        ),
        "reg": prepare_gateway(tmp_path / "alliance/gateways/reg", [], **common),
    }
    home = {"h1": "h1", "pj": "pj", "xq": "cloud", "regulator": "reg"}
    address = {m: Account.from_key(k).address for m, k in keys.items()}
    world = DemoAlliance(gateways, home, keys=keys, address=address)
    world.facts = DemoFacts([_key(), _key()], 7)
    return world


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _variables(tmp_path: Path) -> dict[str, str]:
    """demo.env as bash sees it."""
    script = f"set -eu; . {tmp_path / 'demo.env'}; env"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def test_a_kept_running_demo_leaves_keys_and_prints_the_variables(
    world: DemoAlliance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hand_off(world, tmp_path, kept=True, running=True)
    out = capsys.readouterr().out
    assert world.facts is not None

    # The passphrase, the regulator's key (sealed) and the patients' (plain): owner-only.
    assert (tmp_path / "demo-passphrase").read_text() == PASSPHRASE + "\n"
    keys = tmp_path / "demo-only-keys"
    regulator = keys / "regulator.ledger.key"
    assert read_key_file(regulator, LEDGER_KIND, PASSPHRASE).hex() == world.keys["regulator"][2:]
    for i, key in enumerate(world.facts.patient_keys, start=1):
        assert (keys / f"patient-{i}.key").read_text().strip() == key
    for path in (tmp_path / "demo-passphrase", regulator, *keys.glob("patient-*.key")):
        assert _mode(path) == 0o600, path

    # The printed block is demo.env, and bash reads it into what the README's commands use.
    printed = [line for line in out.splitlines() if line.startswith("export ")]
    assert printed == (tmp_path / "demo.env").read_text().splitlines()
    v = _variables(tmp_path)
    assert v["ALLIANCE_PASSPHRASE"] == PASSPHRASE
    assert (v["ALLIANCE_API_URL"], v["ALLIANCE_API_CA"]) == (v["H1_URL"], v["H1_CA"])
    assert v["CLOUD_URL"] == world.gateways["cloud"].url
    assert Path(v["CLOUD_CA"]) == world.gateways["cloud"].cert
    assert Path(v["XQ_KEY"]).read_bytes().startswith(b"ALKS")  # sealed
    assert Path(v["XQ_PASSPHRASE_FILE"]).read_text().strip() == "xq's own"
    assert read_key_file(Path(v["H1_KEY"]), LEDGER_KIND, v["ALLIANCE_PASSPHRASE"])
    assert v["H1"] == world.address["h1"] and v["REGULATOR"] == world.address["regulator"]
    patient = Account.from_key(world.facts.patient_keys[0]).address
    assert (v["PATIENT"], v["RECORD"]) == (patient, "7")
    assert Path(v["PATIENT_KEY"]).read_text().strip() == world.facts.patient_keys[0]

    readme = (tmp_path / "README-demo.txt").read_text()
    assert "DEMO ONLY" in readme and "The sharing API and the hospital CLI" in readme
    assert "alliance/gateways/cloud/keys/xq.passphrase" in readme  # which file unlocks xq
    assert f"demo passphrase: {tmp_path / 'demo-passphrase'}" in out


def test_without_keep_running_the_files_are_kept_and_it_says_how_to_use_them(
    world: DemoAlliance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hand_off(world, tmp_path, kept=True, running=False)
    out = capsys.readouterr().out
    assert f"demo passphrase: {tmp_path / 'demo-passphrase'}" in out
    assert "stop with the demo" in out and "--keep-running" in out
    assert "export " not in out  # the URLs of stopped gateways would only mislead
    assert (tmp_path / "demo.env").exists() and (tmp_path / "README-demo.txt").exists()


def test_a_temporary_demo_says_nothing_is_kept_and_how_to_keep_it(
    world: DemoAlliance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hand_off(world, tmp_path, kept=False, running=False)
    out = capsys.readouterr().out
    assert "Nothing is kept" in out
    assert "alliance demo --workdir DIR --keep-running" in out
    hand_off(world, tmp_path, kept=False, running=True)
    out = capsys.readouterr().out
    assert "deleted when the demo stops: --workdir DIR keeps it" in out
    assert "export PATIENT=" in out


def test_a_rerun_in_the_same_directory_replaces_the_keys(
    world: DemoAlliance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hand_off(world, tmp_path, kept=True, running=True)
    world.keys["regulator"] = _key()
    hand_off(world, tmp_path, kept=True, running=True)
    sealed = tmp_path / "demo-only-keys" / "regulator.ledger.key"
    assert read_key_file(sealed, LEDGER_KIND, PASSPHRASE).hex() == world.keys["regulator"][2:]


def test_a_workdir_used_by_an_earlier_demo_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "alliance" / "node").mkdir(parents=True)
    assert main(["demo", "--workdir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"error: --workdir {tmp_path} already holds an earlier demo (alliance/node): "
        "choose a new directory, or remove that one first"
    ]
    assert "[1]" not in captured.out and not (tmp_path / "records").exists()
