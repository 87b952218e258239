"""Ledger benchmark: consent grants on this node vs anvil, getLogs, and a 100k-grant chain.

Workload: patients sign EIP-712 ``Grant``s (all signed before timing starts), members relay
them with ``ConsentRegistry.grantBySig`` in raw JSON-RPC batches until every receipt is in.
Cases: grants/node, grants/anvil (tx_per_s), grants/ratio, getlogs/node, getlogs/anvil (ms),
then on this node only getlogs/100k (ms) and restart/100k (s).

Contract artifacts come from ``contracts/artifacts`` (override: ALLIANCE_CONTRACT_ARTIFACTS).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import rlp
from coincurve import PrivateKey
from eth_abi.abi import encode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchlib import Reporter, progress  # noqa: E402

from ledger_node.txcodec import create_address, keccak  # noqa: E402
from tests.support.anvil_min import anvil  # noqa: E402
from tests.support.ledger import NodeProcess, init_node  # noqa: E402

GRANT_TYPEHASH = keccak(
    b"Grant(address patient,address grantee,uint8 granteeRole,uint16 categories,uint8 purposes,"
    b"uint40 validFrom,uint40 validUntil,bytes32 documentHash,uint256 nonce,uint256 deadline)"
)
DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
GRANT_SIG = (
    "grantBySig((address,address,uint8,uint16,uint8,uint40,uint40,bytes32,uint256,uint256),"
    "uint8,bytes32,bytes32)"
)
BATCH = 500
NODE_CHAIN_ID = 7171


def artifact(name: str) -> dict[str, Any]:
    base = Path(os.environ.get("ALLIANCE_CONTRACT_ARTIFACTS", REPO / "contracts" / "artifacts"))
    path = base / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: contract artifacts missing (contracts branch)")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def address_of(key: PrivateKey) -> bytes:
    return keccak(key.public_key.format(compressed=False)[1:])[12:]


def sign_tx(
    key: PrivateKey,
    chain_id: int,
    nonce: int,
    to: bytes | None,
    data: bytes,
    gas: int,
    fee: int = 0,
) -> bytes:
    """An EIP-1559 transaction, signed with coincurve (fast, no eth_account)."""
    fields = [chain_id, nonce, fee, fee, gas, to or b"", 0, data, []]
    payload = b"\x02" + rlp.encode(fields)
    sig = key.sign_recoverable(keccak(payload), hasher=None)
    r, s, y = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    signed: bytes = rlp.encode([*fields, y, r, s])
    return b"\x02" + signed


class Rpc:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=900)  # anvil can take minutes on a busy machine

    def call(self, method: str, *params: Any) -> Any:
        reply = self.client.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        ).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def batch(self, method: str, params: list[list[Any]]) -> list[Any]:
        body = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": p} for i, p in enumerate(params)
        ]
        replies = sorted(self.client.post(self.url, json=body).json(), key=lambda r: r["id"])
        for r in replies:
            if "error" in r:
                raise RuntimeError(f"{method}: {r['error']}")
        return [r["result"] for r in replies]

    def wait_receipts(
        self, hashes: list[str], timeout: float = 600, nudge: bool = False
    ) -> list[dict[str, Any]]:
        """Poll until every receipt is in. ``nudge``: anvil's automine leaves transactions
        that arrive while it mines stranded in its pool (seen here with 5,000 batched
        grants); an ``evm_mine`` after 0.1 s without progress includes them."""
        pending = list(hashes)
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        last_progress = time.monotonic()
        while pending:
            before = len(pending)
            chunk = pending[:1000]  # the node's default batch cap (ledger_node/limits.py)
            got = self.batch("eth_getTransactionReceipt", [[h] for h in chunk])
            for h, r in zip(chunk, got, strict=True):
                if r is not None:
                    found[h] = r
            pending = [h for h in pending if h not in found]
            if len(pending) < before:
                last_progress = time.monotonic()
            elif nudge and time.monotonic() - last_progress > 0.1:
                self.call("evm_mine")
                last_progress = time.monotonic()
            if pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(pending)} receipts missing")
                time.sleep(0.02)
        return [found[h] for h in hashes]


class Deployment:
    """AllianceRegistry + ConsentRegistry deployed by member 0; relayers = all members."""

    def __init__(self, rpc: Rpc, chain_id: int, members: list[PrivateKey], fee: int = 0) -> None:
        # anvil raises its base fee when blocks fill up, so zero-fee txs would stall there:
        # on anvil the relayers are funded and pay a fee well above any base fee.
        self.rpc, self.chain_id, self.members, self.fee = rpc, chain_id, members, fee
        if fee:
            for k in members:
                rpc.call("anvil_setBalance", "0x" + address_of(k).hex(), hex(10**28))
        self.nonces = [
            int(rpc.call("eth_getTransactionCount", "0x" + address_of(k).hex(), "pending"), 16)
            for k in members
        ]
        addrs = [address_of(k) for k in members]
        n = len(members)
        args = encode(
            ["address[]", "uint8[]", "string[]", "bytes32[]", "uint256"],
            [addrs, [1] * n, [f"h{i}" for i in range(n)], [bytes(32)] * n, 1],
        )
        self.alliance = self._deploy(artifact("AllianceRegistry")["bytecode"], args)
        self.consent = self._deploy(
            artifact("ConsentRegistry")["bytecode"], encode(["address"], [self.alliance])
        )
        self.selector = keccak(GRANT_SIG.encode())[:4]

    def _deploy(self, bytecode: str, args: bytes) -> bytes:
        key = self.members[0]
        raw = sign_tx(
            key,
            self.chain_id,
            self.nonces[0],
            None,
            bytes.fromhex(bytecode.removeprefix("0x")) + args,
            8_000_000,
            self.fee,
        )
        addr = create_address(address_of(key), self.nonces[0])
        self.nonces[0] += 1
        h = self.rpc.call("eth_sendRawTransaction", "0x" + raw.hex())
        receipt = self.rpc.wait_receipts([h])[0]
        if receipt["status"] != "0x1":
            raise RuntimeError("deployment failed")
        return addr

    def domain(self) -> bytes:
        return keccak(
            DOMAIN_TYPEHASH
            + keccak(b"AllianceConsent")
            + keccak(b"1")
            + encode(["uint256", "address"], [self.chain_id, self.consent])
        )

    def signed_grants(self, patients: list[PrivateKey], deadline: int) -> list[bytes]:
        """Calldata for each patient's grant (EIP-712 signed by the patient)."""
        domain = self.domain()
        grantee = address_of(self.members[1 % len(self.members)])
        out = []
        for p in patients:
            fields = [address_of(p), grantee, 0, 1, 1, 0, deadline, bytes(32), 0, deadline]
            words = encode(
                [
                    "address",
                    "address",
                    "uint8",
                    "uint16",
                    "uint8",
                    "uint40",
                    "uint40",
                    "bytes32",
                    "uint256",
                    "uint256",
                ],
                fields,
            )
            digest = keccak(b"\x19\x01" + domain + keccak(GRANT_TYPEHASH + words))
            sig = p.sign_recoverable(digest, hasher=None)
            v, r, s = sig[64] + 27, sig[:32], sig[32:64]
            out.append(self.selector + words + encode(["uint8", "bytes32", "bytes32"], [v, r, s]))
        return out

    def relay_txs(self, calldata: list[bytes]) -> list[bytes]:
        raws = []
        for i, data in enumerate(calldata):
            m = i % len(self.members)
            raws.append(
                sign_tx(
                    self.members[m],
                    self.chain_id,
                    self.nonces[m],
                    self.consent,
                    data,
                    400_000,
                    self.fee,
                )
            )
            self.nonces[m] += 1
        return raws


def send_all(rpc: Rpc, raws: list[bytes], relayers: int, nudge: bool = False) -> float:
    """Send in batches; return tx/s until every receipt is in.

    Polls only each relayer's last transaction (both chains include a sender's txs in nonce
    order), then fetches every receipt: light polling that does not slow either chain down.
    """
    start = time.perf_counter()
    hashes: list[str] = []
    for i in range(0, len(raws), BATCH):
        hashes += rpc.batch(
            "eth_sendRawTransaction", [["0x" + r.hex()] for r in raws[i : i + BATCH]]
        )
    rpc.wait_receipts(hashes[-relayers:], nudge=nudge)
    receipts = rpc.wait_receipts(hashes, nudge=nudge)
    elapsed = time.perf_counter() - start
    failed = sum(1 for r in receipts if r["status"] != "0x1")
    if failed:
        raise RuntimeError(f"{failed} grants failed")
    return len(raws) / elapsed


def getlogs_ms(rpc: Rpc, consent: bytes, patient: PrivateKey, repeat: int) -> tuple[float, int]:
    topic = "0x" + (bytes(12) + address_of(patient)).hex()
    flt = {
        "fromBlock": "0x0",
        "toBlock": "latest",
        "address": "0x" + consent.hex(),
        "topics": [None, None, topic],
    }
    samples, n = [], 0
    for _ in range(repeat + 1):
        t = time.perf_counter()
        n = len(rpc.call("eth_getLogs", flt))
        samples.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(samples[1:]), 3), n


def start_node(tmp: Path, members: list[PrivateKey]) -> NodeProcess:
    data = tmp / "node"
    genesis = {
        "chainId": NODE_CHAIN_ID,
        "members": ["0x" + address_of(k).hex() for k in members],
        "allianceRegistry": "0x" + create_address(address_of(members[0]), 0).hex(),
        "blockTimeMs": 250,
        "maxBlockTxs": 5000,
    }
    init_node(data, genesis)
    node = NodeProcess(data, member_keys=[], block_time_ms=250)
    node.start()
    return node


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    n = 500 if args.quick else 5000
    big = 5_000 if args.quick else 100_000
    members = [PrivateKey(keccak(f"bench-member-{i}".encode())) for i in range(4)]
    patients = [PrivateKey(keccak(f"bench-patient-{i}".encode())) for i in range(max(n, big))]
    deadline = int(time.time()) + 10**7
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp_s:
        tmp = Path(tmp_s)
        node = start_node(tmp, members)
        try:
            rpc_n = Rpc(node.url)
            dep_n = Deployment(rpc_n, NODE_CHAIN_ID, members)
            with anvil() as anvil_url:
                rpc_a = Rpc(anvil_url)
                dep_a = Deployment(rpc_a, 31337, members, fee=10**16)
                progress(f"signing {n} grants and relay txs for each chain")
                raws_n = dep_n.relay_txs(dep_n.signed_grants(patients[:n], deadline))
                raws_a = dep_a.relay_txs(dep_a.signed_grants(patients[:n], deadline))
                progress("timing grants on the node")
                tps_n = send_all(rpc_n, raws_n, len(members))
                reporter.emit("grants/node", "tx_per_s", round(tps_n, 1), "tx/s", n=n)
                progress("timing grants on anvil")
                tps_a = send_all(rpc_a, raws_a, len(members), nudge=True)
                reporter.emit("grants/anvil", "tx_per_s", round(tps_a, 1), "tx/s", n=n)
                reporter.emit("grants/ratio", "ratio", round(tps_n / tps_a, 2), "x", peer="anvil")
                ms_n, hits_n = getlogs_ms(rpc_n, dep_n.consent, patients[n // 2], 20)
                ms_a, hits_a = getlogs_ms(rpc_a, dep_a.consent, patients[n // 2], 20)
                assert hits_n == hits_a == 1, (hits_n, hits_a)
                reporter.emit("getlogs/node", "ms", ms_n, "ms", n=n)
                reporter.emit("getlogs/anvil", "ms", ms_a, "ms", n=n)
            rest = big - n
            progress(f"building a {big}-grant chain on the node ({rest} more grants)")
            for i in range(n, big, 10_000):
                chunk = patients[i : min(i + 10_000, big)]
                send_all(rpc_n, dep_n.relay_txs(dep_n.signed_grants(chunk, deadline)), len(members))
                progress(f"  {i + len(chunk)} grants")
            ms_big, hits = getlogs_ms(rpc_n, dep_n.consent, patients[big // 3], 20)
            assert hits == 1
            reporter.emit("getlogs/100k", "ms", ms_big, "ms", n=big)
            samples = []
            for _ in range(1 if args.quick else 3):
                node.stop()
                t = time.perf_counter()
                node.rpc_port = 0
                node.start(timeout=120)
                rpc_n = Rpc(node.url)
                rpc_n.call("eth_blockNumber")
                samples.append(time.perf_counter() - t)
            reporter.emit("restart/100k", "s", round(statistics.median(samples), 3), "s", n=big)
        finally:
            node.stop()
