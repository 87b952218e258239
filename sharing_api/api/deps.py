"""Dependencies of the routes, as ``Annotated`` aliases: the services, the caller, and role
guards. Every route names exactly which kinds of caller it admits; anyone else gets 403.

The dependencies are ``async`` because they never block: FastAPI would otherwise run each in
the thread pool, one thread hop per dependency per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sharing_api.api.core.security import Kind, Principal, TokenError
from sharing_api.api.errors import ApiError, forbidden
from sharing_api.api.services import Services
from sharing_api.index.proposals import ProposalStore

_bearer = HTTPBearer(auto_error=False, description="token from POST /auth/login")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "a bearer token is required", "Unauthorized")
    try:
        principal = services.tokens.verify(credentials.credentials)
    except TokenError as exc:
        raise ApiError(401, str(exc), "Unauthorized") from None
    # Checked on every request, after the token cache: a revoked person's token, valid
    # and cached, stops working at once, on every worker (the list is in the index DB).
    if principal.kind is Kind.STAFF and services.staff.is_revoked(
        principal.member, principal.staff_id
    ):
        raise ApiError(401, "this staff member's access was revoked", "Unauthorized")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*kinds: Kind) -> Callable[[Principal], Awaitable[Principal]]:
    allowed = frozenset(kinds)

    async def guard(principal: PrincipalDep) -> Principal:
        if principal.kind not in allowed:
            names = ", ".join(sorted(k.value for k in allowed))
            raise forbidden(f"this route is for {names}; you are {principal.kind.value}")
        return principal

    return guard


# The caller kinds each family of routes admits.
Anyone = PrincipalDep
CareProvider = Annotated[Principal, Depends(require(Kind.MEMBER, Kind.STAFF))]
MemberOnly = Annotated[Principal, Depends(require(Kind.MEMBER))]
StaffOnly = Annotated[Principal, Depends(require(Kind.STAFF))]
Regulator = Annotated[Principal, Depends(require(Kind.REGULATOR))]
PatientOrCare = Annotated[Principal, Depends(require(Kind.PATIENT, Kind.MEMBER, Kind.STAFF))]
PatientOnly = Annotated[Principal, Depends(require(Kind.PATIENT))]
PatientOrMember = Annotated[Principal, Depends(require(Kind.PATIENT, Kind.MEMBER))]


# Not async: catching the index up blocks on the chain, so FastAPI runs it in a thread.
def fresh(services: ServicesDep) -> Services:
    """Catch the index up to the chain head first (reads only blocks not yet indexed), so
    an audit query sees every access already acknowledged to a reader."""
    services.indexer.sync()
    return services


FreshServices = Annotated[Services, Depends(fresh)]


async def get_proposals(services: ServicesDep) -> ProposalStore:
    return services.proposals


ProposalsDep = Annotated[ProposalStore, Depends(get_proposals)]
