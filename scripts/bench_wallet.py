"""The patient wallet with pairwise pseudonyms: signing in once while proving k pseudonyms
(each signs the same EIP-4361 text; the gateway recovers every signer), and listing a
patient's records across 5 pseudonyms.

    python scripts/bench.py wallet [--quick]

Cases: ``signin/k1`` and ``signin/k5`` (ms, median of a full sign-in: nonce, signing by
the primary and each pseudonym, login; targets: k5 <= 3x k1), ``signin/k5_over_k1``
(ratio), ``list/k5`` (ms to list 200 records under 5 pseudonyms with ``GET /records``,
every page; target <= 150) and ``list-me/k5`` (the wallet's ``/patients/me/records``,
which adds each record's block time). The test alliance has three custodians, so the 200
records are registered by them in turn under the patient's 5 pseudonyms (what the query
sees is the same). Keys are derived once, as the wallet caches them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import Reporter, median_ms, progress

from sharing_api.sdk import PatientWallet, SharingClient
from tests.support.api import running_api, running_ledger_alliance

PHRASE = "test test test test test test test test test test test junk"
RECORDS = 200


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    repeat = 5 if args.quick else 30
    records = 40 if args.quick else RECORDS
    with tempfile.TemporaryDirectory(prefix="bench-wallet-") as tmp:
        progress("starting a ledger node, the contracts and the API")
        with (
            running_ledger_alliance(Path(tmp)) as alliance,
            running_api(alliance.settings()) as api,
        ):
            _run(reporter, api.url, alliance, repeat, records)


def _run(reporter: Reporter, url: str, alliance: object, repeat: int, n: int) -> None:
    names = ("h1", "clinic", "h3")
    keys = alliance.keys  # type: ignore[attr-defined]
    custodians = [alliance.address(m) for m in names]  # type: ignore[attr-defined]
    # Five pseudonyms: the three custodians' and two more members' (any address derives one).
    others = [alliance.address("regulator"), "0x" + "5a" * 20]  # type: ignore[attr-defined]
    wallet = PatientWallet(PHRASE)
    pseudonyms = [wallet.address_at(m) for m in custodians + others]
    primary = "0x" + bytes(wallet.primary.key).hex()
    pkeys = [wallet.key_at(m) for m in custodians + others]

    members = {m: SharingClient(url) for m in names}
    for m, client in members.items():
        client.login(keys[m])
    params = members["h1"].authority_params("h1")
    sealed = members["h1"].seal(b"bench", "h1.role:doctor", [params])
    progress(f"registering {n} records under {len(pseudonyms)} pseudonyms")

    def upload(i: int) -> None:
        custodian = members[names[i % len(names)]]
        custodian.upload(pseudonyms[i % len(pseudonyms)], "lab", "h1.role:doctor", sealed)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(upload, range(n)))

    with SharingClient(url) as client:
        k1 = median_ms(lambda: client.login(primary, pkeys[:1]), repeat)
        k5 = median_ms(lambda: client.login(primary, pkeys[:5]), repeat)
        reporter.emit("signin/k1", "median", k1, "ms", n=repeat)
        reporter.emit("signin/k5", "median", k5, "ms", n=repeat, target="<= 3x k1")
        reporter.emit("signin/k5_over_k1", "ratio", round(k5 / k1, 2), "x", target=3)
        listed = client.json("GET", "/records")
        assert len(listed) == n, f"listed {len(listed)} of {n} records"
        ms = median_ms(lambda: client.json("GET", "/records"), repeat)
        reporter.emit("list/k5", "median", ms, "ms", n=repeat, records=n, target=150)
        me = median_ms(lambda: client.json("GET", "/patients/me/records"), repeat)
        reporter.emit("list-me/k5", "median", me, "ms", n=repeat, records=n)
    for client in members.values():
        client.close()
