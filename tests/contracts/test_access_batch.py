"""AccessLog.logAccessBatch: many accesses in one transaction, each checked and logged exactly
as logAccess would (same AccessLogged event), all-or-nothing."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode

from sharing_api.chain import Basis, Category, Purpose
from sharing_api.chain.records import LOG_ACCESS_BATCH, AccessEntry, access_batch_calldata
from tests.contracts.conftest import Actors
from tests.contracts.helpers import grant, register, reverts, sha

pytestmark = pytest.mark.integration


def _without_id(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k != "accessId"}


def test_batch_emits_what_single_calls_emit(actors: Actors) -> None:
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    lab = register(actors.h1, actors.patient, Category.LAB)
    er = register(actors.h1, actors.patient, Category.SUMMARY)
    own = register(actors.clinic, actors.patient, Category.IMAGING)
    zero = b"\0" * 32
    entries = [
        AccessEntry(lab, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id, zero, sha("a")),
        AccessEntry(lab, clinic, Purpose.REFERRAL, Basis.CONSENT, g.consent_id),
        AccessEntry(
            er, clinic, Purpose.EMERGENCY, Basis.BREAK_GLASS, 0, sha("unconscious"), sha("b")
        ),
        AccessEntry(own, clinic, Purpose.TREATMENT, Basis.CUSTODIAN, 0, zero, sha("c")),
    ]
    # The batcher's hand-encoded calldata is what eth_abi (and so web3) would send.
    tuples = [
        (lab, clinic, 0, 0, g.consent_id, zero, sha("a")),
        (lab, clinic, 1, 0, g.consent_id, zero, zero),
        (er, clinic, 4, 2, 0, sha("unconscious"), sha("b")),
        (own, clinic, 0, 3, 0, zero, sha("c")),
    ]
    by_abi = LOG_ACCESS_BATCH + encode(
        ["(uint256,address,uint8,uint8,uint256,bytes32,bytes32)[]"], [tuples]
    )
    assert access_batch_calldata(entries) == by_abi
    fn = actors.clinic.access.fn.logAccessBatch(tuples)
    assert "0x" + by_abi.hex() == fn._encode_transaction_data()

    singles = [
        actors.clinic.access.log_access(
            e.record_id, e.reader, e.purpose, e.basis, e.basis_id, e.reason_hash, e.staff
        ).access_id
        for e in entries
    ]
    batch = actors.clinic.access.log_access_batch(entries)
    assert batch.access_ids == tuple(range(singles[-1] + 1, singles[-1] + 5))
    logged = actors.regulator.access.events("AccessLogged")
    assert [e.args["accessId"] for e in logged] == [*singles, *batch.access_ids]
    assert [_without_id(e.args) for e in logged[:4]] == [_without_id(e.args) for e in logged[4:]]
    # The pseudonym of the person who read rides in the event as given (zero: the member).
    assert [bytes(e.args["staff"]) for e in logged[4:]] == [e.staff for e in entries]
    assert {e.tx_hash for e in logged[4:]} == {batch.sent.tx_hash}
    assert [e.log_index for e in logged[4:]] == sorted(e.log_index for e in logged[4:])
    # Break-glass entries of a batch enter the review queue like single ones.
    assert actors.regulator.access.unjustified_break_glass() == [singles[2], batch.access_ids[2]]
    assert actors.regulator.access.break_glass_entry(batch.access_ids[2]) == (
        clinic,
        clinic,
        False,
    )


def test_every_entry_is_checked_and_one_refusal_reverts_the_batch(actors: Actors) -> None:
    clinic, h3 = actors.clinic.client.address, actors.h3.client.address
    g = grant(
        actors.h1, actors.patient, clinic, categories=(Category.LAB,), purposes=(Purpose.TREATMENT,)
    )
    lab = register(actors.h1, actors.patient, Category.LAB)
    imaging = register(actors.h1, actors.patient, Category.IMAGING)
    ok = AccessEntry(lab, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id)
    log = actors.clinic.access.log_access_batch
    bad_purpose: Any = 7
    refused = {
        "BasisDoesNotCover": AccessEntry(
            imaging, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
        ),
        "InvalidPurpose": AccessEntry(lab, clinic, bad_purpose, Basis.CONSENT, g.consent_id),
        # the clinic logs only in its own name
        "NotOwnAccess": AccessEntry(lab, h3, Purpose.TREATMENT, Basis.CONSENT, g.consent_id),
        "MissingReason": AccessEntry(lab, clinic, Purpose.EMERGENCY, Basis.BREAK_GLASS, 0),
        "UnknownRecord": AccessEntry(999, clinic, Purpose.TREATMENT, Basis.CONSENT, 1),
        "ReaderNotCustodian": AccessEntry(lab, clinic, Purpose.TREATMENT, Basis.CUSTODIAN),
    }
    for name, entry in refused.items():
        for position in range(3):  # first, middle and last entry
            batch = [ok, ok]
            batch.insert(position, entry)
            reverts(name, lambda b=batch: log(b))  # type: ignore[misc]
    reverts("NotMember", lambda: actors.outsider.access.log_access_batch([ok]))
    assert actors.h1.access.events("AccessLogged") == []
    assert log([ok, ok]).access_ids == (1, 2)


def test_an_empty_batch_logs_nothing(actors: Actors) -> None:
    empty = actors.clinic.access.log_access_batch([])
    assert empty.access_ids == () and actors.h1.access.events("AccessLogged") == []


def test_gas_per_access_falls_with_batch_size(actors: Actors, chain: Any) -> None:
    """Gas per access: one logAccess vs batches of 8 and 32 (printed for the record)."""
    clinic = actors.clinic.client.address
    g = grant(actors.h1, actors.patient, clinic, categories=(Category.LAB,))
    lab = register(actors.h1, actors.patient, Category.LAB)
    entry = AccessEntry(lab, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id)
    single = actors.clinic.access.log_access(
        lab, clinic, Purpose.TREATMENT, Basis.CONSENT, g.consent_id
    ).sent.gas_used
    per_access = {
        n: actors.clinic.access.log_access_batch([entry] * n).sent.gas_used / n for n in (8, 32)
    }
    print(f"{chain.name}: logAccess {single} gas; batch gas per access {per_access}")
    # Every entry still pays its reads and its event; the batch saves the 21k base cost, the
    # membership check and the cold-access surcharges of all but the first entry.
    assert per_access[8] < 0.6 * single
    assert per_access[32] < per_access[8]
    assert per_access[32] < 30_000
