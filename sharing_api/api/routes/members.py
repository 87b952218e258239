"""The alliance's members with their names and roles (read from the AllianceRegistry), so the
wallet can name a custodian or reader and offer grantees by name."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from sharing_api.api.deps import Anyone, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES
from sharing_api.api.services import Services
from sharing_api.chain.governance import MemberInfo

router = APIRouter(prefix="/members", tags=["members"])


class MemberOut(BaseModel):
    address: str
    name: str
    roles: list[str]
    active: bool


def member_infos(services: Services) -> list[tuple[str, MemberInfo]]:
    """Every member the registry lists with its record, lowercase addresses like the index
    (a few eth_calls: alliances have tens of members, not thousands)."""
    registry = services.reader.registry
    return [(address.lower(), registry.member(address)) for address in registry.members()]


def members(services: Services) -> list[MemberOut]:
    return [
        MemberOut(address=a, name=i.name, roles=i.roles.labels(), active=i.active)
        for a, i in member_infos(services)
    ]


def names(services: Services) -> dict[str, str]:
    return {m.address: m.name for m in members(services)}


@router.get("", responses=PROBLEM_RESPONSES, summary="Alliance members: names and roles")
def list_members(_: Anyone, services: ServicesDep) -> list[MemberOut]:
    return members(services)
