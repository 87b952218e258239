"""Security labels across gateways: h1's gateway (A) received a labelled record's header, the
patient's wallet is served by the cloud gateway (B), which did not. B lists the record
without labels (it does not know them) and the inbox brings them from A, which answers only
for records its members keep, and only with the patient's statement. A peer that claims
labels for records of a member it does not host is not believed (api/record_labels.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from crypto.labels import SecurityLabels
from sharing_api.api.record_labels import RecordLabelsOut, trusted_labels
from sharing_api.index.db import IndexDB
from sharing_api.index.schema import records
from sharing_api.sdk import SharingClient
from tests.gateway.conftest import Gateways
from tests.support.index_rows import ZERO32, _insert

POLICY = "h1.role:doctor"


@pytest.mark.integration
def test_the_home_gateway_shows_labels_the_custodians_gateway_holds(gateways: Gateways) -> None:
    g = gateways
    key = Account.create()
    with g.member("h1") as h1, g.member("clinic") as clinic:
        h1.attest_patient(key.address)
        params = [h1.authority_params("h1")]
        labels = SecurityLabels.of("V", ["PSY", "HIV"])
        sealed = SharingClient.seal(b"{}", POLICY, params, labels=labels)
        at_a = h1.upload(key.address, "summary", POLICY, sealed)["record_id"]
        plain = h1.upload(key.address, "lab", POLICY, SharingClient.seal(b"{}", POLICY, params))
        sealed = SharingClient.seal(b"{}", POLICY, params, labels=SecurityLabels.of("R"))
        at_b = clinic.upload(key.address, "lab", POLICY, sealed)["record_id"]
    with g.client(g.cloud, key.key) as wallet:
        listed = {r["record_id"]: r for r in wallet.json("GET", "/patients/me/records")}
        assert listed[at_a]["confidentiality"] is None  # B never saw that header
        assert listed[at_b]["confidentiality"] == "R"  # B received this one
        inbox = wallet.referral_inbox(key.key)
    assert inbox["unreachable"] == []
    h1_address = g.alliance.address("h1").lower()
    assert sorted(inbox["labels"], key=lambda x: x["record_id"]) == [
        {
            "record_id": at_a,
            "patient": key.address.lower(),
            "custodian": h1_address,
            "confidentiality": "V",
            "sensitivity": ["HIV", "PSY"],
        },
        {  # A knows this one is normal: it received its (unlabelled) header
            "record_id": plain["record_id"],
            "patient": key.address.lower(),
            "custodian": h1_address,
            "confidentiality": "N",
            "sensitivity": [],
        },
    ]  # B's own record is not among them: B lists its labels itself


def test_a_peers_labels_count_only_for_its_own_members_records(tmp_path: Path) -> None:
    index = IndexDB(f"sqlite:///{tmp_path / 'index.db'}")
    patient, other = "0x" + "aa" * 20, "0x" + "bb" * 20
    h1, clinic = "0x" + "01" * 20, "0x" + "02" * 20
    rows = [(1, patient, h1), (2, patient, clinic), (3, other, h1)]
    _insert(index, records, [
        {"record_id": rid, "patient": who, "custodian": at, "category": 0,
         "content_hash": ZERO32, "cid": f"cid{rid}", "policy_commitment": ZERO32,
         "supersedes": 0, "superseded_by": 0, "timestamp": 0, "erased": False,
         "block_number": rid, "tx_hash": ZERO32}
        for rid, who, at in rows
    ])  # fmt: skip

    def label(rid: int, who: str, at: str) -> RecordLabelsOut:
        return RecordLabelsOut(
            record_id=rid, patient=who, custodian=at, confidentiality="N", sensitivity=[]
        )

    claimed = [
        label(1, patient, h1),  # true, and h1 is the peer's member
        label(2, patient, clinic),  # the clinic is not hosted by that peer
        label(2, patient, h1),  # the chain says record 2 is the clinic's
        label(3, other, h1),  # not an address the peer was asked about
        label(9, patient, h1),  # no such record
    ]
    kept, refused = trusted_labels(index, claimed, {patient}, {h1})
    assert [k.record_id for k in kept] == [1] and refused == 4
    index.close()
