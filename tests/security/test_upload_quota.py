"""Threat: uploads were bounded in size per request only: one staff token (or a member)
could fill the custodian's store and the chain with records without end. Now uploads are
limited per uploader, and bytes per member per window (429 + Retry-After); a refused
upload stores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sharing_api.sdk import ApiError, SharingClient
from tests.api.conftest import Cast
from tests.security.limited_api import limited_api

POLICY = "c1.role:doctor"


def _as(client: SharingClient, url: str) -> SharingClient:
    """The same signed-in caller, talking to the limited API (tokens are shared)."""
    return SharingClient(url, client.token)


def _upload(client: SharingClient, cast: Cast, sealed: bytes) -> dict[str, object]:
    return client.upload(cast.patient_key.address, "lab", POLICY, sealed)


def _records(cast: Cast) -> int:
    """Records on chain, as the test alliance's own API indexes them: caught up first (the
    uploads went through the limited API, so its poller may not have seen them yet)."""
    cast.api.services.indexer.sync()
    return len(cast.regulator.json("GET", "/records"))


def _refused(client: SharingClient, cast: Cast, sealed: bytes) -> None:
    before = _records(cast)
    with pytest.raises(ApiError) as caught:
        _upload(client, cast, sealed)
    assert caught.value.status == 429, caught.value
    assert _records(cast) == before


def test_uploads_per_uploader_are_limited(cast: Cast, tmp_path: Path) -> None:
    sealed = cast.sealed(b"a lab result")
    limits = {"upload_per_uploader": {"limit": 2, "window_s": 3600}}
    with limited_api(cast.alliance, tmp_path, **limits) as api:
        doctor = _as(cast.clinic_doctor, api.url)
        _upload(doctor, cast, sealed)
        _upload(doctor, cast, sealed)
        _refused(doctor, cast, sealed)
        _upload(_as(cast.clinic, api.url), cast, sealed)  # another uploader of the member


def test_upload_bytes_per_member_are_limited(cast: Cast, tmp_path: Path) -> None:
    sealed = cast.sealed(b"x" * 4096)
    quota = {"limit": len(sealed) * 2 + len(sealed) // 2, "window_s": 3600}
    with limited_api(cast.alliance, tmp_path, upload_bytes_per_member=quota) as api:
        _upload(_as(cast.clinic_doctor, api.url), cast, sealed)
        _upload(_as(cast.clinic, api.url), cast, sealed)
        # A third upload by yet another person of the same member passes the byte quota.
        nurse = _as(cast.clinic.staff_client("nurse-wu", "nurse"), api.url)
        _refused(nurse, cast, sealed)
        # Another member's quota is its own.
        h1_sealed = cast.sealed(b"y" * 4096)
        _upload(_as(cast.h1_doctor, api.url), cast, h1_sealed)
