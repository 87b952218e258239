"""Threat: ABE keys issued to a staff member stayed good after the person was revoked; only a
hand-run `alliance abe revoke` could shut them out. Revoking the person through their
member's gateway now rotates the member's authority: the gateway saves the new generation,
serves its parameters, publishes their hash on chain and re-issues every other live key,
which each holder fetches with GET /keys. A record sealed afterwards with the parameters the
gateway serves opens with no key of the revoked person; the kept staff open it with their
re-issued key, and still open what was sealed before with the key they had."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.authority import AttributeAuthority
from crypto.errors import DecryptionError
from crypto.keystore import read_key_file
from sharing_api.api.core.keys import AUTHORITY_KIND
from sharing_api.sdk import ApiError, SharingClient
from tests.support import api as support
from tests.support.api import TEST_PASSPHRASE, RunningApi, running_api, running_ledger_alliance

pytestmark = pytest.mark.integration
POLICY = "h1.role:doctor"


@pytest.fixture(scope="module")
def own(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[support.TestAlliance, RunningApi]]:
    """An alliance of its own: rotating h1's authority must not change the session's."""
    root = tmp_path_factory.mktemp("rotation")
    with running_ledger_alliance(root) as alliance, running_api(alliance.settings()) as api:
        yield alliance, api


def _member(api: RunningApi, alliance: support.TestAlliance, name: str) -> SharingClient:
    client = SharingClient(api.url)
    client.login(alliance.keys[name])
    return client


def test_revoking_staff_rotates_the_authority_and_reissues_the_others_keys(
    own: tuple[support.TestAlliance, RunningApi],
) -> None:
    alliance, api = own
    h1 = _member(api, alliance, "h1")
    gone = h1.staff_client("dr-rotated-out", "doctor")
    kept = h1.staff_client("dr-rotated-in", "doctor", ["dept:cardiology"])
    gone_key, kept_key = gone.issue_my_key(valid_days=10), kept.issue_my_key(valid_days=10)
    served = h1.authority_params("h1")
    before = SharingClient.seal(b"sealed before", POLICY, [served])
    assert SharingClient.open(before, gone_key) == b"sealed before"

    out = h1.revoke_staff("dr-rotated-out")
    assert (out["revoked"], out["rotated"]) == (True, True)
    assert (out["generation"], out["reissued"]) == (served.generation + 1, 1)
    assert out["key_ids"] == [gone_key.key_id.hex()] and out["params_hash_tx"]
    assert "rotated to generation" in out["note"]

    # The gateway serves the new generation, and the chain holds its hash.
    now = h1.authority_params("h1")
    assert now.generation == served.generation + 1
    registry = api.services.reader.registry
    assert registry.member(alliance.address("h1")).abe_params_hash == now.fingerprint

    after = SharingClient.seal(b"sealed after", POLICY, [now])
    for old in (gone_key, kept_key):
        with pytest.raises(DecryptionError):
            SharingClient.open(after, old)
    (fresh,) = kept.my_reissued_keys()
    assert fresh.generation == now.generation
    assert (fresh.attributes, fresh.expiry_epoch) == (kept_key.attributes, kept_key.expiry_epoch)
    assert SharingClient.open(after, fresh) == b"sealed after"
    assert SharingClient.open(before, kept_key) == b"sealed before"  # old keys still serve
    with pytest.raises(DecryptionError):
        SharingClient.open(before, fresh)

    # The revoked person fetches nothing; a colleague issued nothing has nothing waiting.
    with pytest.raises(ApiError) as refused:
        gone.json("GET", "/keys")
    assert refused.value.status == 401
    assert h1.staff_client("dr-new", "doctor").my_reissued_keys() == []

    # Saved where the gateway keeps the authority: sealed, owner-only, the new generation.
    path = Path(str(alliance.hosted_members()[0].authority_key_file))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = AttributeAuthority.from_bytes(read_key_file(path, AUTHORITY_KIND, TEST_PASSPHRASE))
    assert saved.params() == now

    # Again: nothing left to shut out, so no second rotation; the clinic's authority (another
    # member of the same gateway) never moved.
    again = h1.revoke_staff("dr-rotated-out")
    assert (again["revoked"], again["rotated"], again["reissued"]) == (False, False, 0)
    assert (again["generation"], again["params_hash_tx"]) == (now.generation, None)
    assert h1.authority_params("h1") == now
    assert h1.authority_params("c1").generation == 1
    h1.close()


def test_without_rotation_the_answer_says_what_is_left_open(
    own: tuple[support.TestAlliance, RunningApi],
) -> None:
    alliance, api = own
    clinic = _member(api, alliance, "clinic")
    leaver = clinic.staff_client("dr-tokens-only", "doctor")
    leaver.issue_my_key(valid_days=3)
    generation = clinic.authority_params("c1").generation
    out = clinic.revoke_staff("dr-tokens-only", rotate=False)
    assert (out["revoked"], out["rotated"], out["generation"]) == (True, False, generation)
    assert "1 live key(s) of theirs still open records" in out["note"]
    assert clinic.authority_params("c1").generation == generation
    # Rotation asked for later still happens: the person holds a live key of this generation.
    later = clinic.revoke_staff("dr-tokens-only")
    assert (later["rotated"], later["generation"]) == (True, generation + 1)
    clinic.close()
