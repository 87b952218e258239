"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from sharing_api.api import errors
from sharing_api.api.headers import SecurityHeaders
from sharing_api.api.routes import (
    audit,
    auth,
    consents,
    console,
    consultations,
    disclosures,
    erasure,
    fhir,
    gateway,
    gateway_proposals,
    gid_keys,
    health,
    keys,
    members,
    patient_attest,
    patients,
    records,
    referral_inbox,
    referral_proposals,
    referrals,
    staff_reveal,
    supervision,
)
from sharing_api.api.services import Services
from sharing_api.web.mount import mount_web


def create_app(services: Services, *, follow_chain: bool = True, threads: int = 64) -> FastAPI:
    """An app over ready services; ``follow_chain`` polls the chain into the index;
    ``threads`` bounds the blocking chain and storage calls served at once."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        services.indexer.sync()
        if follow_chain:
            services.indexer.start(services.settings.index_poll_s)
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="AllianceLedger sharing API",
        version="0.1.0",
        description="Encrypted health records shared across a medical alliance: consent "
        "checked and every access logged on chain before a byte of ciphertext is served.",
        lifespan=lifespan,
        responses=errors.PROBLEM_RESPONSES,
        # No Swagger/ReDoc pages: they load their scripts from a CDN. The schema stays at
        # /openapi.json for any local viewer.
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(SecurityHeaders)
    app.state.services = services
    errors.install(app)
    services.metrics.install(app)
    routers = (
        health,
        auth,
        records,
        erasure,
        consents,
        referrals,
        fhir,
        consultations,
        keys,
        gid_keys,
        audit,
        disclosures,
        staff_reveal,
        console,
        supervision,
        members,
        patients,
        patient_attest,
        gateway,
    )
    for module in routers:
        app.include_router(module.router)
    app.include_router(referral_proposals.router)
    app.include_router(referral_inbox.router)
    app.include_router(gateway_proposals.router)
    mount_web(app)
    return app
