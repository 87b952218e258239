"""`alliance audit` on a small real history: the project's ledger node, the contracts, the
API (local store, SQLite index), a consent, reads, a revocation and two break-glass reads,
one of them justified. Then verify (chain + blobs, one blob tampered), anomalies and report."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from eth_account import Account

from sharing_api.cli.main import cli
from sharing_api.sdk import SharingClient
from sharing_api.sdk.client import ApiError
from tests.support.api import DEPLOYER, deploy_test_alliance, running_api
from tests.support.ledger import DEV_KEYS, running_node

pytestmark = pytest.mark.integration


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["audit", *args], catch_exceptions=False)


def justify_later(member: SharingClient, access_id: int) -> None:
    """The justify route reads the index without syncing it first: wait for the indexer
    (polling every 0.2 s) to have the break-glass access."""
    for _ in range(50):
        try:
            member.json(
                "POST",
                f"/audit/break-glass/{access_id}/justify",
                json={"justification": "STEMI"},
            )
            return
        except ApiError as exc:
            if exc.status != 404:
                raise
            time.sleep(0.1)
    raise AssertionError(f"break-glass access {access_id} never reached the index")


def effective_genesis(data_dir: Path, out: Path) -> Path:
    """The genesis the node runs (``node init`` adds its key as the sealer when the file
    names none): what an auditor is given along with the RPC address."""
    from ledger_node.datadir import DB_FILE
    from ledger_node.store import Store

    store = Store(data_dir / DB_FILE)
    try:
        out.write_bytes(store.get_meta("genesis") or b"")
    finally:
        store.close()
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("audit")
    with running_node(DEV_KEYS[:5], block_time_ms=20, data_dir=root / "node") as node:
        alliance = deploy_test_alliance(root / "alliance", node.url, DEPLOYER)
        with running_api(alliance.settings()) as api:

            def signed_in(key: str) -> SharingClient:
                client = SharingClient(api.url)
                client.login(key)
                return client

            patient = Account.create()
            pclient = signed_in("0x" + bytes(patient.key).hex())
            h1, clinic, h3 = (signed_in(alliance.keys[n]) for n in ("h1", "clinic", "h3"))
            clinic.attest_patient(patient.address)
            h1_doc = h1.staff_client("dr-chen", "doctor", ["dept:cardiology"])
            h3_doc = h3.staff_client("dr-wang", "doctor", ["dept:internal-medicine"])
            params = [clinic.authority_params("c1")]
            blobs = [
                clinic.seal(plain, "c1.role:doctor", params)
                for plain in (b"audit-record-one" * 8, b"audit-record-two" * 8)
            ]
            rids = [
                clinic.upload(patient.address, "lab", "c1.role:doctor", b)["record_id"]
                for b in blobs
            ]
            consent = pclient.grant_consent(
                patient.key,
                grantee=alliance.address("h1"),
                categories=["lab"],
                purposes=["treatment"],
            )
            for _ in range(3):
                h1_doc.fetch(rids[0])
            pclient.revoke_consent(patient.key, consent["consent_id"])
            h1_doc.fetch(rids[0], break_glass=True, reason="collapsed in ER")
            _, headers = h3_doc.fetch(rids[1], break_glass=True, reason="unconscious")
            chief = h3.staff_client("dr-qin", "chief-physician", ["dept:internal-medicine"])
            justify_later(chief, int(headers["x-access-id"]))
            yield {
                "node_dir": root / "node",
                "genesis": effective_genesis(root / "node", root / "genesis.json"),
                "rpc": node.url,
                "chain": [
                    "--rpc",
                    node.url,
                    "--deployment",
                    str(alliance.root / "deployment.json"),
                ],
                "storage": str(alliance.root / "storage"),
                "index": f"sqlite:///{alliance.root / 'index.sqlite3'}",
                "api": api,
                "blobs": blobs,
                "h1": alliance.address("h1").lower(),
                "h3": alliance.address("h3").lower(),
            }
            for c in (pclient, h1, clinic, h3):
                c.close()


def test_verify_chain_and_blobs_then_a_tampered_blob(history: dict[str, Any]) -> None:
    ok = run(
        "verify",
        "--data-dir",
        str(history["node_dir"]),
        *history["chain"],
        "--storage-root",
        history["storage"],
        "--json",
    )
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output)
    assert out["chain"]["blocks"] > 10 and out["chain"]["transactions"] > 10
    assert out["blobs"] == {"total": 2, "checked": 2, "ok": 2, "failures": [], "erased": 0}
    sampled = run(
        "verify", *history["chain"], "--storage-root", history["storage"], "--sample", "1"
    )
    assert sampled.exit_code == 0 and "1/1 checked of 2 records" in sampled.output

    # Flip bytes of the second blob on disk: verify names that record and exits 1.
    target = next(
        p
        for p in Path(history["storage"]).rglob("*")
        if p.is_file() and history["blobs"][1] in p.read_bytes()
    )
    data = target.read_bytes()
    target.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # the sealed body's last byte
    try:
        bad = run("verify", *history["chain"], "--storage-root", history["storage"])
    finally:
        target.write_bytes(data)
    assert bad.exit_code == 1
    assert "FAILED: blob of record 2 (" in bad.output
    assert "blobs FAILED: 1/2 checked" in bad.output


def test_anomalies_clean_then_planted_thresholds(history: dict[str, Any]) -> None:
    clean = run("anomalies", *history["chain"], "--json")
    assert clean.exit_code == 0 and json.loads(clean.output) == []
    # The chain already refuses reads without a live basis and after revocation; what the
    # history does hold is an unjustified break-glass read (h1) and h1's four reads today.
    later = str(int(time.time()) + 7200)
    found = json.loads(
        run(
            "anomalies",
            *history["chain"],
            "--json",
            "--justify-within",
            "3600",
            "--now",
            later,
            "--max-per-day",
            "2",
        ).output
    )
    assert sorted((a["rule"], a["reader"]) for a in found) == [
        ("unjustified-break-glass", history["h1"]),
        ("unusual-volume", history["h1"]),
    ]


def test_report_html_csv_fhir(history: dict[str, Any], tmp_path: Path) -> None:
    day = 86_400
    lo = time.strftime("%Y-%m-%d", time.gmtime(time.time() - day))
    hi = time.strftime("%Y-%m-%d", time.gmtime(time.time() + day))
    out = tmp_path / "report"
    result = run(
        "report",
        *history["chain"],
        "--from",
        lo,
        "--to",
        hi,
        "--out",
        str(out),
        "--max-per-day",
        "2",
    )
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert html.count("<svg") == 4 and "unusual-volume" in html
    with (out / "accesses.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["basis"] for r in rows] == ["consent"] * 3 + ["break-glass"] * 2
    assert [r["justified"] for r in rows][-2:] == ["false", "true"]
    assert {r["reader"] for r in rows} == {history["h1"], history["h3"]}
    bundle = json.loads((out / "auditevents.json").read_text())
    assert bundle["resourceType"] == "Bundle"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["AuditEvent"] * 5
    # A period before the history: no accesses.
    empty = run(
        "report",
        *history["chain"],
        "--from",
        "2020-01-01",
        "--to",
        "2020-01-02",
        "--out",
        str(tmp_path / "empty"),
    )
    assert empty.exit_code == 0 and "0 accesses" in empty.output


def test_index_db_gives_the_same_findings_as_the_chain(history: dict[str, Any]) -> None:
    history["api"].services.indexer.sync()
    args = [
        "--json",
        "--justify-within",
        "3600",
        "--now",
        str(int(time.time()) + 7200),
        "--max-per-day",
        "2",
    ]
    from_chain = json.loads(run("anomalies", *history["chain"], *args).output)
    from_index = json.loads(run("anomalies", "--database-url", history["index"], *args).output)
    assert len(from_chain) == 2 and from_index == from_chain
    blobs = run("verify", "--database-url", history["index"], "--storage-root", history["storage"])
    assert blobs.exit_code == 0 and "blobs ok: 2/2" in blobs.output


def test_verify_over_rpc_re_executes_like_the_data_dir(history: dict[str, Any]) -> None:
    local = run("verify", "--data-dir", str(history["node_dir"]), "--no-blobs", "--json")
    remote = run(
        "verify", "--genesis", str(history["genesis"]), *history["chain"], "--no-blobs", "--json"
    )
    assert remote.exit_code == 0, remote.output
    on_disk, over_rpc = json.loads(local.output)["chain"], json.loads(remote.output)["chain_rpc"]
    # The node may seal more (empty) blocks between the two runs.
    assert over_rpc["blocks"] >= on_disk["blocks"] > 10
    assert over_rpc["transactions"] == on_disk["transactions"]


def test_verify_over_rpc_finds_a_tampered_transaction_and_a_wrong_genesis(
    history: dict[str, Any], tmp_path: Path
) -> None:
    from ledger_node.block import SealError
    from sharing_api.audit.rpc_verify import http_request, verify_rpc

    honest = http_request(history["rpc"])
    assert verify_rpc(honest, history["genesis"]).transactions > 10

    def tampering(method: str, params: list[Any]) -> Any:
        """A node that serves one access-log transaction with a flipped calldata byte."""
        result = honest(method, params)
        if method == "eth_getBlockByNumber" and params[1] and result["transactions"]:
            tx = result["transactions"][-1]
            data = bytes.fromhex(tx["input"][2:])
            if len(data) > 40:
                tx["input"] = "0x" + (data[:-1] + bytes([data[-1] ^ 1])).hex()
        return result

    with pytest.raises(SealError, match=r"block \d+: transaction 0x[0-9a-f]+ does not hash"):
        verify_rpc(tampering, history["genesis"])

    other = json.loads(history["genesis"].read_text())
    other["timestamp"] = int(other.get("timestamp", 0)) + 1
    wrong = tmp_path / "wrong-genesis.json"
    wrong.write_text(json.dumps(other))
    with pytest.raises(SealError, match="block 0 does not match the genesis file"):
        verify_rpc(honest, wrong)


def tampered_copy(node_dir: Path, out: Path) -> int:
    """A consistent copy of the node's chain database with the last transaction of the
    newest block that has any deleted (the node keeps running on the original); that
    block's number."""
    from ledger_node.datadir import DB_FILE

    out.mkdir()
    src, dst = sqlite3.connect(node_dir / DB_FILE), sqlite3.connect(out / DB_FILE)
    try:
        src.backup(dst)
        block, idx = dst.execute(
            "SELECT block, idx FROM txs ORDER BY block DESC, idx DESC"
        ).fetchone()
        dst.execute("DELETE FROM txs WHERE block = ? AND idx = ?", (block, idx))
        dst.commit()
    finally:
        src.close()
        dst.close()
    return int(block)


def test_verify_lists_every_problem_as_a_failed_line(
    history: dict[str, Any], tmp_path: Path
) -> None:
    """A chain with a transaction removed, a genesis file that is not the chain's and an
    altered blob: verify runs every check, prints one FAILED line per problem and exits 1
    with no traceback (in process, and as the `alliance` command a user runs)."""
    block = tampered_copy(history["node_dir"], tmp_path / "node")
    other = json.loads(history["genesis"].read_text())
    other["timestamp"] = int(other.get("timestamp", 0)) + 1
    wrong = tmp_path / "wrong-genesis.json"
    wrong.write_text(json.dumps(other))
    target = next(
        p
        for p in Path(history["storage"]).rglob("*")
        if p.is_file() and history["blobs"][0] in p.read_bytes()
    )
    data = target.read_bytes()
    target.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # the sealed body's last byte
    args = ["verify", "--data-dir", str(tmp_path / "node"), "--genesis", str(wrong)]
    args += [*history["chain"], "--storage-root", history["storage"]]
    try:
        bad = run(*args)  # catch_exceptions=False: an exception would fail this test
        as_json = run(*args, "--json")
    finally:
        target.write_bytes(data)
    assert bad.exit_code == 1, bad.output
    assert "Traceback" not in bad.output
    failed = [line for line in bad.output.splitlines() if line.startswith("FAILED: ")]
    assert failed == [
        f"FAILED: chain (data directory {tmp_path / 'node'}): "
        f"block {block}: transactions or receipts differ on re-execution",
        f"FAILED: chain over JSON-RPC ({history['rpc']}, genesis {wrong}): "
        "block 0 does not match the genesis file",
        failed[2],
    ]
    assert failed[2].startswith("FAILED: blob of record 1 (")
    assert "blobs FAILED: 1/2 checked of 2 records" in bad.output
    assert bad.output.splitlines()[-1] == "verify FAILED: 3 problems"
    assert as_json.exit_code == 1
    out = json.loads(as_json.output)
    assert ["FAILED: " + p for p in out["problems"]] == failed
    assert out["chain"]["error"].startswith(f"block {block}: ")
    assert out["blobs"]["ok"] == 1

    # The installed command: the same line on stdout, status 1, nothing on stderr.
    verify_args = ["--data-dir", str(tmp_path / "node"), "--no-blobs"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run(
        [sys.executable, "-m", "sharing_api.cli", "audit", "verify", *verify_args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines() == [
        f"FAILED: chain (data directory {tmp_path / 'node'}): "
        f"block {block}: transactions or receipts differ on re-execution",
        "verify FAILED: 1 problem",
    ]
