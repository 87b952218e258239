"""Threat: a patient's erasure request had no path through the product: the blob could only
be deleted with the storage CLI, the chain and every index still listed the record as
readable, and a reader learned of it only from a storage error. Now the patient erases at
the custodian's gateway: the ciphertext (and its header) is deleted, the chain marks every
version erased (``RecordErased``, naming nothing about the patient), a read answers 410,
and the index keeps no policy text."""

from __future__ import annotations

import pytest
from eth_account import Account

from sharing_api.sdk import ApiError, SharingClient
from tests.api.conftest import Cast, known_patient

pytestmark = pytest.mark.integration
POLICY = "c1.role:doctor or h1.role:doctor"


def test_a_patient_erases_a_record_and_all_its_versions(cast: Cast) -> None:
    patient = known_patient(cast)
    first = cast.clinic_doctor.upload(patient.address, "lab", POLICY, cast.sealed(b"v1", POLICY))
    second = cast.clinic_doctor.supersede(first["record_id"], POLICY, cast.sealed(b"v2", POLICY))
    with SharingClient(cast.api.url) as wallet:
        wallet.login(patient.key)
        wallet.grant_consent(
            patient.key, grantee=cast.address("h1"), categories=["lab"], purposes=["treatment"]
        )
        cast.h1_doctor.fetch(second["record_id"])  # readable before

        with pytest.raises(ApiError) as refused:  # another patient, another member: no
            cast.h1.erase_record(second["record_id"])
        assert refused.value.status == 403
        stranger = SharingClient(cast.api.url)
        stranger.login(Account.create().key)
        with pytest.raises(ApiError) as refused:
            stranger.erase_record(second["record_id"])
        assert refused.value.status == 403

        erased = wallet.erase_record(second["record_id"])  # the newer: both versions go
        assert [r["record_id"] for r in erased] == [first["record_id"], second["record_id"]]
        assert all(r["erased"] and r["policy"] is None for r in erased)
        for record in (first, second):
            assert not cast.api.services.storage.has(record["cid"])
            assert cast.api.services.reader.records.get(record["record_id"]).erased
            with pytest.raises(ApiError) as gone:
                cast.h1_doctor.fetch(record["record_id"])
            assert gone.value.status == 410
        assert all(r["erased"] for r in wallet.json("GET", "/records"))
        assert wallet.erase_record(first["record_id"])[0]["erased"]  # again: nothing breaks
    events = cast.api.services.reader.records.events("RecordErased")
    assert {int(e.args["recordId"]) for e in events} >= {first["record_id"], second["record_id"]}
    assert all(set(e.args) == {"recordId", "custodian"} for e in events)


def test_an_audit_counts_erased_blobs_as_erased_not_missing(cast: Cast) -> None:
    from sharing_api.audit.verify import verify_blobs

    patient = known_patient(cast)
    record = cast.clinic_doctor.upload(patient.address, "lab", POLICY, cast.sealed(b"x", POLICY))
    cast.clinic.erase_record(record["record_id"])  # the custodian, on the patient's behalf
    services = cast.api.services
    result = verify_blobs(services.storage, services.index.records())
    assert record["record_id"] not in {f["record_id"] for f in result.failures}
    assert result.erased >= 1
    summary = cast.regulator.json("GET", "/audit/summary")
    assert summary["erased_records"] >= 1
