"""`alliance demo`, erasure: the second patient has a lab result published at the community
clinic, then erases it from their wallet at the clinic's gateway. The ciphertext is deleted,
the chain marks the record erased (naming no patient) and nobody can read it again."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount

from crypto.policy_commitment import policy_commitment
from crypto.records import read_container_header
from sharing_api.sdk import ApiError, SharingClient

Expect = Callable[[str, bool], None]


def erase_a_record(
    expect: Expect,
    echo: Callable[[str], None],
    xq: SharingClient,
    gp: SharingClient,
    patient: LocalAccount,
    wallet: SharingClient,
) -> None:
    policy = "xq.role:doctor"
    sealed = SharingClient.seal(
        b'{"resourceType": "Observation", "status": "final"}',
        policy,
        [xq.authority_params("xq")],
        xq.crypto_suite(),
    )
    rec = gp.upload(patient.address, "lab", policy, sealed)
    header = read_container_header(io.BytesIO(sealed))
    expect(
        f"record {rec['record_id']}: the chain holds a commitment to its policy, not the text",
        rec["policy_commitment"] == "0x" + policy_commitment(header).hex(),
    )
    erased = wallet.erase_record(rec["record_id"])
    echo(f"    record {rec['record_id']} erased: ciphertext deleted, RecordErased on chain")
    expect(
        "the patient erases it from the wallet; the chain and the index mark it erased",
        [r["erased"] for r in erased] == [True],
    )
    status = _status(lambda: gp.fetch(rec["record_id"]))
    expect(f"nobody can read it again ({status}: gone)", status == 410)


def _status(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiError as exc:
        return exc.status
    return 200
