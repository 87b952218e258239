"""Liveness, readiness (chain reachable, index position) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from sharing_api.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and readiness")
def health(services: ServicesDep) -> dict[str, Any]:
    try:
        head: int | None = int(services.reader.client.w3.eth.block_number)
    except Exception:  # reported, not raised: health must answer even when the chain is down
        head = None
    return {
        "status": "ok" if head is not None else "degraded",
        "chain_id": services.deployment.chain_id,
        "chain_head": head,
        "indexed_through": (services.index.next_block() or 0) - 1,
        "hosted_members": sorted(services.hosted),
        "crypto_suite": services.crypto_suite,  # what clients seal records in
    }


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    return services.metrics.render()
