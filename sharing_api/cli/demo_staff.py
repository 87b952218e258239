"""The demo's staff-revocation step: a clinic revokes a departing doctor at its gateway, which
rotates the clinic's ABE authority; the rest of the alliance seals to the new generation at
once, and the doctor who stays fetches a re-issued key."""

from __future__ import annotations

from collections.abc import Callable

from crypto.authority import UserKey
from crypto.errors import DecryptionError
from sharing_api.sdk import SharingClient


def _opens(container: bytes, key: UserKey) -> bool:
    try:
        SharingClient.open(container, key)
    except DecryptionError:
        return False
    return True


def revoke_with_rotation(
    expect: Callable[[str, bool], None],
    echo: Callable[[str], None],
    clinic: SharingClient,
    kept: SharingClient,
    elsewhere: SharingClient,
    sealed_before: bytes,
) -> None:
    """``clinic``: the member (xq) at its gateway; ``kept``: one of its doctors who stays;
    ``elsewhere``: a client at another member's gateway; ``sealed_before``: a record sealed
    to ``xq.role:doctor`` before the revocation."""
    locum = clinic.staff_client("dr-sun", "doctor", ["dept:general-practice"])
    locum_key, kept_key = locum.issue_my_key(), kept.issue_my_key()
    out = clinic.revoke_staff("dr-sun")
    echo(f"    {out['note']}; params hash on chain in tx {str(out['params_hash_tx'])[:18]}...")
    expect(
        f"xq's authority rotated to generation {out['generation']} ({out['reissued']} key "
        "of the staff who stay re-issued)",
        out["rotated"] and out["reissued"] >= 1,
    )
    params = elsewhere.authority_params("xq")
    expect(
        "h1's gateway seals to xq's new generation at once (checked against the chain)",
        params.generation == out["generation"],
    )
    after = SharingClient.seal(b'{"resourceType": "Bundle"}', "xq.role:doctor", [params])
    fresh = kept.my_reissued_keys()
    expect(
        "the revoked doctor's key opens nothing sealed afterwards; dr-zhao's re-issued one does",
        not _opens(after, locum_key) and any(_opens(after, k) for k in fresh),
    )
    expect(
        "dr-zhao's earlier key still opens the record sealed before",
        _opens(sealed_before, kept_key),
    )
    again = clinic.revoke_staff("dr-sun")
    expect("revoking again rotates nothing", not again["rotated"])
    locum.close()
