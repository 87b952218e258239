"""`alliance contracts deploy` end to end against a real chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger_node.network.procs import free_port
from sharing_api.chain import Alliance, ChainClient, ChainUnavailable, Deployment
from sharing_api.cli.main import main
from tests.contracts.conftest import ChainEndpoint, genesis_for


@pytest.mark.integration
def test_deploy_writes_a_usable_deployment(
    chain: ChainEndpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_for(chain.keys).to_dict()))
    key_file = tmp_path / "deployer.key"
    key_file.write_text(chain.keys[0] + "\n")
    out = tmp_path / "deployment.json"
    args = ["contracts", "deploy", "--rpc", chain.url, "--genesis", str(genesis)]
    assert main([*args, "--key-file", str(key_file), "--out", str(out)]) == 0
    assert "AccessLog" in capsys.readouterr().out
    deployment = Deployment.load(out)
    alliance = Alliance(ChainClient(chain.url, chain.keys[1]), deployment)
    assert len(alliance.registry.members()) == 4
    assert alliance.registry.threshold() == 2


def test_deploy_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps({"threshold": 3, "members": []}))
    key_file = tmp_path / "k"
    key_file.write_text("0x" + "11" * 32)
    url = f"http://127.0.0.1:{free_port()}"
    args = ["contracts", "deploy", "--rpc", url, "--key-file", str(key_file)]
    assert main([*args, "--genesis", str(genesis)]) == 1
    assert "error: genesis needs at least one member" in capsys.readouterr().err
    assert main([*args, "--genesis", str(tmp_path / "missing.json")]) == 1
    assert "error:" in capsys.readouterr().err
    key_file.write_text("not a key")
    keys = tuple("0x" + f"{i + 1:02x}" * 32 for i in range(5))
    genesis.write_text(json.dumps(genesis_for(keys).to_dict()))
    assert main([*args, "--genesis", str(genesis)]) == 1
    assert "not a hex private key" in capsys.readouterr().err


def test_unreachable_endpoint_is_an_os_error() -> None:
    client = ChainClient(f"http://127.0.0.1:{free_port()}", "0x" + "11" * 32, timeout=2)
    with pytest.raises(ChainUnavailable, match="unreachable"):
        client.block_timestamp()
