"""Threat: every RecordRegistered event carried the record's ABE policy in clear
(``h1.dept:psychiatry``): any node operator or JSON-RPC client read what each record is
about. Now the chain holds a commitment salted with the sealed header's random stream id;
the API computes it from the header it receives, and a policy given beside the body must
be the header's."""

from __future__ import annotations

import io

import httpx
import pytest

from crypto.policy_commitment import policy_commitment
from crypto.records import read_container_header
from sharing_api.sdk import ApiError
from tests.api.conftest import Cast, known_patient

pytestmark = pytest.mark.integration
POLICY = "c1.role:doctor and c1.dept:psychiatry"


def _logs_of(chain_url: str, tx_hash: str) -> list[dict[str, object]]:
    reply = httpx.post(
        chain_url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getTransactionReceipt",
            "params": [tx_hash],
        },
        timeout=10,
    ).json()
    logs: list[dict[str, object]] = reply["result"]["logs"]
    return logs


def test_the_chain_holds_a_commitment_not_the_policy(cast: Cast) -> None:
    patient = known_patient(cast)
    sealed = cast.sealed(b"a note", POLICY)
    record = cast.clinic_doctor.upload(patient.address, "summary", POLICY, sealed)
    header = read_container_header(io.BytesIO(sealed))
    assert record["policy_commitment"] == "0x" + policy_commitment(header).hex()
    assert record["policy"] == header.policy  # the uploading gateway holds the header
    for log in _logs_of(cast.alliance.chain_url, record["tx_hash"]):
        raw = bytes.fromhex(str(log["data"])[2:]) + b"".join(
            bytes.fromhex(str(t)[2:])
            for t in log["topics"]  # type: ignore[attr-defined]
        )
        assert b"psychiatry" not in raw and b"c1.dept" not in raw


def test_a_policy_beside_the_body_must_be_the_sealed_one(cast: Cast) -> None:
    patient = known_patient(cast)
    sealed = cast.sealed(b"a note", POLICY)
    before = len(cast.regulator.json("GET", "/records", params={"patient": patient.address}))
    with pytest.raises(ApiError) as refused:
        cast.clinic_doctor.upload(patient.address, "summary", "c1.role:doctor", sealed)
    assert refused.value.status == 400 and "sealed in the record's header" in str(refused.value)
    after = len(cast.regulator.json("GET", "/records", params={"patient": patient.address}))
    assert after == before == 0
