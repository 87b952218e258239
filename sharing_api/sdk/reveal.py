"""The regulator asks who made an access: the access's staff pseudonym and reader come from
the chain, the reader's gateway from the on-chain directory (TLS pinned to the registered
fingerprint), and that gateway answers the regulator signed in there (and records it)."""

from __future__ import annotations

from typing import Any

from sharing_api.chain import Alliance
from sharing_api.gateway.tls import pinned_context
from sharing_api.sdk.client import SharingClient

ZERO = b"\0" * 32


class NothingToReveal(ValueError):
    """The access does not exist, was made by the member itself, or its reader has no
    gateway in the directory."""


def reveal_access(
    alliance: Alliance,
    access_id: int,
    regulator_key: str,
    *,
    insecure_http: bool = False,
    timeout: float = 30.0,
) -> dict[str, Any]:
    found = [
        e for e in alliance.access.events("AccessLogged") if int(e.args["accessId"]) == access_id
    ]
    if not found:
        raise NothingToReveal(f"no access {access_id} on chain")
    staff, reader = bytes(found[0].args["staff"]), str(found[0].args["reader"])
    if staff == ZERO:
        raise NothingToReveal(f"access {access_id} was made by member {reader} itself, no staff")
    entry = alliance.registry.gateway_of(reader)
    if entry is None:
        raise NothingToReveal(f"member {reader} has no gateway in the directory")
    if entry.url.startswith("http://") and not insecure_http:
        raise NothingToReveal(
            f"{reader}'s gateway is plain http ({entry.url}): pass --insecure-http"
        )
    verify: Any = (
        True if entry.url.startswith("http://") else pinned_context(entry.url, entry.fingerprint)
    )
    with SharingClient(entry.url, timeout=timeout, verify=verify) as client:
        client.login(regulator_key)
        return client.reveal_staff("0x" + staff.hex())
