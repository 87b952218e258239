"""The alliance's members with their names, roles and gateways (read from the
AllianceRegistry), so the wallet can name a custodian or reader and offer grantees by name,
and a gateway can find another member's gateway."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from sharing_api.api.deps import Anyone, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES
from sharing_api.api.services import Services
from sharing_api.chain.governance import GatewayEntry, MemberInfo

router = APIRouter(prefix="/members", tags=["members"])


class MemberOut(BaseModel):
    address: str
    name: str
    roles: list[str]
    active: bool
    gateway_url: str | None  # None: the member has published no gateway
    gateway_fingerprint: str | None  # 0x-hex SHA-256 of the gateway's TLS certificate


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


@router.get("", responses=PROBLEM_RESPONSES, summary="Alliance members: names, roles and gateways")
def list_members(_: Anyone, services: ServicesDep) -> list[MemberOut]:
    return members(services)
