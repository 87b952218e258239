"""A patient's record labels (DS4P) from the gateways that received the records' headers.

A gateway knows the security labels of the records whose sealed header it received (its
members' uploads, ``index.set_policy``); the patient's own ("home") gateway, which serves the
wallet, usually did not receive them. So the labels travel with the referral inbox
(``api/alliance_inbox.py``): the peer that already checked the patient's signed inbox
statements for the pseudonyms of the custodians it hosts answers, besides those proposals,
the labels of those pseudonyms' records kept by the members it hosts. They go only to the
relay the patient named (the gateway serving the wallet) and on to the wallet, which warns
before a consent covers such records. The statement proves the patient asked; nothing else
is added to it, so gateways of an older release still answer (without labels).

The home gateway keeps a peer's labels only for records that its own index (the chain)
shows are of one of the addresses asked about and kept by a member that peer hosts: a
peer speaks for its members' records only. They are shown, not stored: the labels stay
with the gateways that received the headers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Annotated

from pydantic import BaseModel, Field

from crypto.labels import SENSITIVITY
from sharing_api.api.schemas import AddressField
from sharing_api.api.services import Services
from sharing_api.index.db import IndexDB

Code = Annotated[str, Field(pattern="^(" + "|".join(SENSITIVITY) + ")$")]


class RecordLabelsOut(BaseModel):
    record_id: Annotated[int, Field(ge=0)]
    patient: AddressField
    custodian: AddressField
    confidentiality: Annotated[str, Field(pattern="^[NRV]$")]
    sensitivity: Annotated[list[Code], Field(max_length=len(SENSITIVITY))]


def local_labels(services: Services, patients: Collection[str]) -> list[RecordLabelsOut]:
    """The labels this gateway holds for ``patients``' records kept by members it hosts."""
    rows = services.index.records(patient=list(patients)) if patients else []
    return [
        RecordLabelsOut(
            record_id=int(r["record_id"]),
            patient=r["patient"],
            custodian=r["custodian"],
            confidentiality=r["confidentiality"],
            sensitivity=[c for c in str(r["sensitivity"] or "").split(",") if c],
        )
        for r in rows
        if r["confidentiality"] is not None and not r["erased"] and services.hosts(r["custodian"])
    ]


def trusted_labels(
    index: IndexDB,
    found: Iterable[RecordLabelsOut],
    patients: Collection[str],
    hosted: Collection[str],
) -> tuple[list[RecordLabelsOut], int]:
    """A peer's labels that this gateway's index confirms (the record is of one of
    ``patients``, kept by a member in ``hosted``, the peer's), and how many were not."""
    kept: list[RecordLabelsOut] = []
    refused = 0
    for label in found:
        row = index.record(label.record_id)
        if (
            row is None
            or row["patient"] != label.patient.lower()
            or row["custodian"] != label.custodian.lower()
            or label.patient.lower() not in patients
            or label.custodian.lower() not in hosted
        ):
            refused += 1
            continue
        kept.append(label)
    return kept, refused
