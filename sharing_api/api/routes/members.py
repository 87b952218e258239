"""The alliance's members with their names, roles and gateways (read from the
AllianceRegistry), so the wallet can name a custodian or reader and offer grantees by name,
and a gateway can find another member's gateway."""

from __future__ import annotations

from fastapi import APIRouter

from sharing_api.api.deps import Anyone, ServicesDep
from sharing_api.api.errors import PROBLEM_RESPONSES
from sharing_api.api.lookups import members
from sharing_api.api.schemas import MemberOut

router = APIRouter(prefix="/members", tags=["members"])


@router.get("", responses=PROBLEM_RESPONSES, summary="Alliance members: names, roles and gateways")
def list_members(_: Anyone, services: ServicesDep) -> list[MemberOut]:
    return members(services)
