"""`alliance node init|start|verify` end to end."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sharing_api.cli.main import main
from tests.support.ledger import NodeProcess, dev_genesis, init_node, running_node

from .helpers import sign


@pytest.mark.integration
def test_init_start_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "node"
    init_node(data, dev_genesis(["0x" + "ab" * 32], checkpointInterval=2))
    with running_node(member_keys=["0x" + "ab" * 32], data_dir=data) as node:
        for nonce in range(5):
            raw = sign(node.member_keys[0], nonce, "0x" + "11" * 20, b"")
            node.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
            while node.rpc("eth_getTransactionCount", [_addr(node), "latest"]) != hex(nonce + 1):
                pass
    assert main(["node", "verify", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 6 blocks, 5 transactions, 2 checkpoints")
    db = sqlite3.connect(data / "chain.sqlite3")
    db.execute(
        "UPDATE blocks SET header = (SELECT header FROM blocks WHERE number = 2) WHERE number = 3"
    )
    db.commit()
    db.close()
    assert main(["node", "verify", "--data-dir", str(data)]) == 1
    assert "error: block 3" in capsys.readouterr().err


def _addr(node: NodeProcess) -> str:
    from eth_account import Account

    return str(Account.from_key(node.member_keys[0]).address)


def test_init_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = tmp_path / "g.json"
    g.write_text(json.dumps({"chainId": 5, "members": []}))
    assert main(["node", "init", "--genesis", str(g), "--data-dir", str(tmp_path / "d")]) == 1
    assert "at least one member" in capsys.readouterr().err
    g.write_text(json.dumps({"members": ["0x" + "11" * 20]}))
    assert main(["node", "init", "--genesis", str(g), "--data-dir", str(tmp_path / "d")]) == 0
    assert main(["node", "init", "--genesis", str(g), "--data-dir", str(tmp_path / "d")]) == 1
    assert "already holds a chain" in capsys.readouterr().err
    assert main(["node", "verify", "--data-dir", str(tmp_path / "missing")]) == 1


def test_genesis_without_sealers_lets_every_member_seal() -> None:
    from ledger_node.genesis import Genesis

    members = ["0x" + "11" * 20, "0x" + "22" * 20]
    genesis = Genesis.from_json(json.dumps({"chainId": 7171, "members": members}))
    assert genesis.sealers == genesis.members
    assert len(genesis.sealers) == 2
