"""Threat: ABE keys issued to a staff member stayed good after the person was revoked. The
keys the gateway issued are recorded; revoking the person and rotating the member's
authority (``sharing_api.staff.rotation.rotate_without``) re-issues every other staff
member's live keys under the new generation, and the revoked person's keys open nothing
sealed from then on."""

from __future__ import annotations

import pytest

from crypto.errors import DecryptionError
from sharing_api.sdk import SharingClient
from sharing_api.staff.rotation import rotate_without
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration
POLICY = "h1.role:doctor"


def test_after_revocation_and_rotation_the_revoked_key_opens_nothing_new(cast: Cast) -> None:
    services = cast.api.services
    h1 = cast.address("h1")
    gone = cast.h1.staff_client("dr-rotated-out", "doctor")
    kept = cast.h1.staff_client("dr-rotated-in", "doctor")
    gone_key, kept_key = gone.issue_my_key(valid_days=10), kept.issue_my_key(valid_days=10)
    authority = services.authorities[h1]
    before = SharingClient.seal(b"sealed before", POLICY, [authority.params()])
    assert SharingClient.open(before, gone_key) == b"sealed before"

    cast.h1.json("POST", "/auth/staff/dr-rotated-out/revoke")
    mine = [
        k
        for k in services.staff.keys(h1)
        if k.key_id in (gone_key.key_id.hex(), kept_key.key_id.hex())
    ]
    rotation = rotate_without(authority, mine, {"dr-rotated-out"})
    assert rotation.authority.generation == authority.generation + 1
    assert [old.key_id for old, _ in rotation.reissued] == [kept_key.key_id.hex()]
    fresh = rotation.reissued[0][1]
    assert (fresh.attributes, fresh.expiry_epoch) == (kept_key.attributes, kept_key.expiry_epoch)

    after = SharingClient.seal(b"sealed after", POLICY, [rotation.authority.params()])
    assert SharingClient.open(after, fresh) == b"sealed after"
    for old in (gone_key, kept_key):
        with pytest.raises(DecryptionError):
            SharingClient.open(after, old)
