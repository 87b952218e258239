"""RW15 attribute keys over the sharing API, requested with a signature by the GID's key.

me = StaffIdentity.generate()                      # or identity.load_or_create(...)
doctor = h1.staff_client("dr-wang", "doctor", ["dept:cardiology"], gid=me.gid)
bundle = issue_staff_key(doctor, me)               # h1.* from h1's gateway
title = issue_credential_key(reg_gateway, me, "reg", ["title:chief-physician"])
keys = bundle.merge(title)                         # one GID: combines; another: refused
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

from crypto.expiry import current_epoch
from crypto.rw15_keys import Rw15Key
from sharing_api.auth.key_request import build_request, sign_request
from sharing_api.sdk.client import SharingClient
from sharing_api.sdk.identity import StaffIdentity

DEADLINE_S = 300


def signed_request(
    client: SharingClient,
    identity: StaffIdentity,
    authority: str,
    attributes: Iterable[str],
    valid_days: int,
) -> dict[str, str]:
    """A key request signed by the identity's key, with a fresh nonce of that gateway."""
    facts = client.json("POST", "/auth/nonce")
    request = build_request(
        authority,
        identity.gid,
        list(attributes),
        current_epoch() + valid_days,
        int(facts["chain_id"]),
        str(facts["nonce"]),
        int(time.time()) + DEADLINE_S,
    )
    return {"request": request.to_text(), "signature": sign_request(request, identity.private_key)}


def _key(out: dict[str, Any]) -> Rw15Key:
    return Rw15Key.from_bytes(base64.b64decode(out["key"]))


def issue_staff_key(
    staff: SharingClient,
    identity: StaffIdentity,
    valid_days: int = 30,
    attributes: Iterable[str] | None = None,
) -> Rw15Key:
    """As staff (a token whose member bound ``identity.gid``): the member's RW15 key for the
    token's attributes (or the given subset)."""
    me = staff.json("GET", "/auth/me")
    authority = staff.my_authority()
    if authority is None:
        raise ValueError("your member is no attribute authority on this gateway")
    wanted = list(me["attributes"]) if attributes is None else list(attributes)
    body = signed_request(staff, identity, authority, wanted, valid_days)
    return _key(staff.json("POST", "/keys/gid", json=body))


def issue_credential_key(
    gateway: SharingClient,
    identity: StaffIdentity,
    authority: str,
    attributes: Iterable[str],
    valid_days: int = 30,
) -> Rw15Key:
    """From the gateway hosting ``authority`` (no sign-in: the signature is the proof), a key
    for attributes that authority verified for the GID (the regulator: title, licence)."""
    body = signed_request(gateway, identity, authority, attributes, valid_days)
    return _key(gateway.json("POST", "/keys/credentials/key", json=body))


def verify_credential(
    regulator: SharingClient,
    gid: str,
    title: str | None = None,
    licence: str | None = None,
    valid_until: date | None = None,
) -> list[dict[str, Any]]:
    """As the regulator: record a title and/or licence it verified for ``gid``."""
    body: dict[str, Any] = {"gid": gid, "title": title, "licence": licence}
    if valid_until is not None:
        body["valid_until"] = valid_until.isoformat()
    out: list[dict[str, Any]] = regulator.json("POST", "/keys/credentials", json=body)
    return out
