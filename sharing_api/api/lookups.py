"""Lookups the routes share: a record (indexed, or its immutable fields cached), the head
of its ciphertext, the alliance members, and which hosted member relays a signed message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sharing_api.api.core.security import Kind, Principal
from sharing_api.api.errors import forbidden, gone, not_found
from sharing_api.api.schemas import MemberOut
from sharing_api.api.services import Services
from sharing_api.chain import Alliance
from sharing_api.chain.governance import GatewayEntry, MemberInfo


def find_record(services: Services, record_id: int) -> dict[str, Any]:
    row = services.index.record(record_id)
    if row is None:  # maybe registered since the last poll
        services.indexer.sync()
        row = services.index.record(record_id)
    if row is None:
        raise not_found(f"no record {record_id}")
    return row


FIXED_FIELDS = ("record_id", "patient", "custodian", "category", "cid", "content_hash")


def fixed_record(services: Services, record_id: int) -> dict[str, Any]:
    """The record's immutable fields (what the fetch path needs), cached per process: a
    record's patient, category, custodian and ciphertext never change on chain (a new
    version is a new record)."""
    if record_id in services.indexer.erased:
        raise gone(record_id)
    found = services.fixed_records.get(record_id)
    if found is None:
        row = find_record(services, record_id)
        if row["erased"]:
            services.indexer.erased.add(record_id)
            raise gone(record_id)
        found = {k: row[k] for k in FIXED_FIELDS}
        if int(row["superseded_by"]):  # superseded before this process indexed it
            services.indexer.superseded[record_id] = int(row["superseded_by"])
        if len(services.fixed_records) >= 100_000:
            services.fixed_records.clear()
        services.fixed_records[record_id] = found
    return found


INLINE_BYTES = 1024 * 1024


def read_head(
    services: Services, row: dict[str, Any]
) -> tuple[list[bytes], int, Iterator[bytes] | None]:
    """Up to INLINE_BYTES of verified ciphertext; the rest as an iterator (None if done)."""
    chunks = iter(services.storage.get(row["cid"], row["content_hash"].removeprefix("0x")))
    head: list[bytes] = []
    size = 0
    for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size >= INLINE_BYTES:
            return head, size, chunks
    return head, size, None


def member_infos(
    services: Services, *, gateways: bool = True
) -> list[tuple[str, MemberInfo, GatewayEntry | None]]:
    """Every member the registry lists with its record and directory entry, lowercase
    addresses like the index (a few eth_calls: alliances have tens of members, not
    thousands). ``gateways=False`` skips the directory (None) where only names matter."""
    registry = services.reader.registry
    return [
        (
            address.lower(),
            registry.member(address),
            registry.gateway_of(address) if gateways else None,
        )
        for address in registry.members()
    ]


def members(services: Services) -> list[MemberOut]:
    return [
        MemberOut(
            address=a,
            name=i.name,
            roles=i.roles.labels(),
            active=i.active,
            gateway_url=g.url if g else None,
            gateway_fingerprint="0x" + g.fingerprint.hex() if g else None,
        )
        for a, i, g in member_infos(services)
    ]


def names(services: Services) -> dict[str, str]:
    return {a: i.name for a, i, _ in member_infos(services, gateways=False)}


def patient_scope(principal: Principal, patient: str | None, what: str) -> str | tuple[str, ...]:
    """The patient addresses a patient's list covers: all of theirs (primary and proven
    pseudonyms), or the one asked for if it is theirs (403 otherwise)."""
    if patient is None:
        return principal.patients
    if not principal.owns(patient):
        raise forbidden(f"patients see their own {what} only")
    return patient


def relayer_for(services: Services, principal: Principal) -> Alliance:
    """Members relay with their own account; a patient's signature is relayed by the first
    member this API hosts (the patient pays nothing and needs no account)."""
    if principal.kind is Kind.PATIENT:
        if not services.hosted:
            raise forbidden("this API hosts no member to relay with")
        return next(iter(services.hosted.values()))
    return services.signer(principal.member)
