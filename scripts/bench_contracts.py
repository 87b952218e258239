"""Gas (and wall time on anvil) of each alliance contract operation.

``python scripts/bench.py contracts [--quick]``: starts anvil on 127.0.0.1, deploys an
alliance, runs each operation several times and prints the median gas per case (metric
``gas``) and the median milliseconds per transaction round trip (metric ``latency``).
Ceilings from the issue: grant_by_sig <= 120,000; log_access <= 80,000; register_record
<= 150,000. ``grant_by_sig/first`` is a patient's first grant (pays for a fresh nonce slot).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import Reporter, progress

from sharing_api.chain import (
    Alliance,
    Basis,
    Category,
    ChainClient,
    Direction,
    Genesis,
    MemberSpec,
    Purpose,
    Role,
    Sent,
    deploy_alliance,
)
from sharing_api.chain.consent import ConsentRegistry, Granted
from tests.support.anvil import anvil_node

T = TypeVar("T")

CEILINGS = {"grant_by_sig": 120_000, "log_access": 80_000, "register_record": 150_000}
CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
POLICY = hashlib.sha256(b"h1.role:doctor").digest()  # its commitment, as the chain holds it


def _sha(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


class Cases:
    """Collects (gas, ms) samples per case."""

    def __init__(self) -> None:
        self.gas: dict[str, list[int]] = {}
        self.ms: dict[str, list[float]] = {}

    def measure(self, case: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        result = fn()
        self.ms.setdefault(case, []).append((time.perf_counter() - start) * 1000.0)
        sent = result if isinstance(result, Sent) else getattr(result, "sent", None)
        if not isinstance(sent, Sent):
            raise TypeError(f"{result!r} carries no Sent")
        self.gas.setdefault(case, []).append(sent.gas_used)
        return result


def _grant(
    consent: ConsentRegistry, patient: Any, grantee: str, purpose: Purpose, now: int
) -> Granted:
    terms = consent.grant_terms(
        patient.address,
        grantee=grantee,
        categories=[Category.LAB, Category.SUMMARY, Category.DISCHARGE],
        purposes=[purpose],
        valid_from=now - 60,
        valid_until=now + 86_400,
        deadline=now + 3_600,
    )
    return consent.grant_by_sig(terms, consent.sign_grant(terms, patient.key))


def _revoke(consent: ConsentRegistry, patient: Any, consent_id: int, now: int) -> Sent:
    nonce, sig = consent.sign_revoke(consent_id, patient.key, deadline=now + 3_600)
    return consent.revoke_by_sig(consent_id, nonce, now + 3_600, sig)


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    from eth_account import Account

    repeat = 3 if args.quick else 15
    with anvil_node(accounts=5) as node:
        keys = node.keys
        h1, h2, reg = (Account.from_key(k).address for k in keys[1:4])
        genesis = Genesis(
            members=(
                MemberSpec(h1, "Tertiary hospital", Role.HOSPITAL | Role.ATTRIBUTE_AUTHORITY),
                MemberSpec(h2, "Community clinic", Role.CLINIC | Role.ATTRIBUTE_AUTHORITY),
                MemberSpec(reg, "Regulator", Role.REGULATOR),
            ),
            threshold=2,
        )
        deployer = ChainClient(node.url, keys[0])
        deployment, deploy_gas = deploy_alliance(deployer, genesis)
        for name, gas in deploy_gas.items():
            reporter.emit(f"deploy/{name}", "gas", gas, "gas")
        hospital = Alliance(deployer.as_account(keys[1]), deployment)
        clinic = hospital.as_account(keys[2])
        c = Cases()
        now = hospital.client.block_timestamp()
        consent = hospital.consents
        progress(f"contracts: {repeat} rounds of each operation on anvil")
        for i in range(repeat):
            patient = Account.create()
            grant = partial(_grant, consent, patient, h2)
            first = c.measure("grant_by_sig/first", partial(grant, Purpose.TREATMENT, now))
            for_referral = c.measure("grant_by_sig", partial(grant, Purpose.REFERRAL, now))
            extra = c.measure("grant_by_sig", partial(grant, Purpose.RESEARCH, now))
            record = c.measure(
                "register_record",
                partial(
                    hospital.records.register, patient.address, Category.LAB, CID, _sha(i), POLICY
                ),
            )
            c.measure(
                "log_access",
                partial(
                    clinic.access.log_access,
                    record.record_id,
                    h2,
                    Purpose.TREATMENT,
                    Basis.CONSENT,
                    first.consent_id,
                ),
            )
            c.measure(
                "log_access_breakglass",
                partial(hospital.access.log_break_glass, record.record_id, h1, _sha(10_000 + i)),
            )
            referral = c.measure(
                "referral/create",
                partial(
                    hospital.referrals.create,
                    patient.address,
                    h2,
                    Direction.DOWN,
                    [record.record_id],
                    for_referral.consent_id,
                    now + 3_600,  # before the consent ends (now + 1 day)
                ),
            )
            c.measure("referral/accept", partial(clinic.referrals.accept, referral.referral_id))
            c.measure("revoke_by_sig", partial(_revoke, consent, patient, extra.consent_id, now))
        _throughput(
            reporter, clinic, record.record_id, h2, first.consent_id, 10 if args.quick else 60
        )
        for case in sorted(c.gas):
            gas = int(statistics.median(c.gas[case]))
            extra_fields = {"n": len(c.gas[case]), "max": max(c.gas[case])}
            if case in CEILINGS:
                extra_fields["ceiling"] = CEILINGS[case]
            reporter.emit(case, "gas", gas, "gas", **extra_fields)
        for case in sorted(c.ms):
            ms = round(statistics.median(c.ms[case]), 2)
            reporter.emit(case, "latency", ms, "ms", n=len(c.ms[case]), peer="anvil 1.7.1")


def _throughput(
    reporter: Reporter, clinic: Alliance, record_id: int, reader: str, consent_id: int, n: int
) -> None:
    """Sequential log_access through the typed client (estimate, fees, nonce, receipt per tx)
    against the same transactions pre-signed and sent raw: the client's overhead on anvil."""
    progress(f"contracts: {n} sequential log_access, typed client vs raw pre-signed")
    log = partial(
        clinic.access.log_access, record_id, reader, Purpose.TREATMENT, Basis.CONSENT, consent_id
    )
    start = time.perf_counter()
    for _ in range(n):
        log()
    client_rate = n / (time.perf_counter() - start)

    client = clinic.client
    w3 = client.w3
    fn = clinic.access.fn.logAccess(
        record_id,
        reader,
        int(Purpose.TREATMENT),
        int(Basis.CONSENT),
        consent_id,
        b"\0" * 32,
        b"\0" * 32,  # staff pseudonym: the member itself
    )
    data = fn._encode_transaction_data()
    nonce = w3.eth.get_transaction_count(client.address, "pending")
    fees = client.fees()
    base: dict[str, Any] = {
        "to": clinic.access.address,
        "data": data,
        "gas": 120_000,
        "chainId": client.chain_id,
        "value": 0,
        **fees,
    }
    signed = [client.account.sign_transaction({**base, "nonce": nonce + i}) for i in range(n)]
    start = time.perf_counter()
    for tx in signed:
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(tx.raw_transaction), poll_latency=0.005
        )
    raw_rate = n / (time.perf_counter() - start)
    reporter.emit("log_access/sequential", "throughput", round(client_rate, 1), "tx/s", n=n)
    reporter.emit(
        "log_access/sequential-raw",
        "throughput",
        round(raw_rate, 1),
        "tx/s",
        n=n,
        peer="anvil 1.7.1, pre-signed",
        ratio_client_to_raw=round(client_rate / raw_rate, 2),
    )
