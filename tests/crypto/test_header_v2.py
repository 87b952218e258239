"""Header version 3: FAME wraps for single-authority parts, one RW15 wrap for the parts that
AND attributes of several authorities; versions 1 and 2 still open; expiry, rotation, re-wrap and
tampering for both schemes."""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.authority import AttributeAuthority, AuthorityParams
from crypto.errors import DecryptionError, FormatError, KeyExpiredError, PolicyError
from crypto.header import RecordHeader, open_header, rewrap, seal_header
from crypto.header_rw15 import Rw15Wrap
from crypto.rw15_keys import Rw15Key
from tests.crypto.conftest import Alliance

CHIEF, ATTENDING = "0x" + "c1" * 20, "0x" + "a7" * 20
TIERED = "h1.dept:cardiology and reg.title:chief-physician"


@pytest.fixture(scope="module")
def reg() -> AttributeAuthority:
    return AttributeAuthority.setup("reg")


def _bundle(gid: str, *grants: tuple[AttributeAuthority, list[str], int]) -> Rw15Key:
    return Rw15Key(gid, tuple(a.issue_rw15_key(gid, attrs, e) for a, attrs, e in grants))


def _params(alliance: Alliance, reg: AttributeAuthority) -> list[AuthorityParams]:
    return [alliance.h1.params(), alliance.pj.params(), reg.params()]


def _seal(
    alliance: Alliance,
    reg: AttributeAuthority,
    policy: str,
    epoch: int | None = None,
    version: int | None = None,
) -> RecordHeader:
    params = _params(alliance, reg)
    return seal_header(os.urandom(32), os.urandom(16), policy, params, epoch, version=version)


def test_cross_authority_and_opens_for_one_gid_only(
    alliance: Alliance, reg: AttributeAuthority
) -> None:
    header = RecordHeader.from_bytes(_seal(alliance, reg, TIERED).to_bytes())
    assert header.version == 3 and [type(w) for w in header.wraps] == [Rw15Wrap]
    later = alliance.now + 30
    chief = _bundle(
        CHIEF, (alliance.h1, ["dept:cardiology"], later), (reg, ["title:chief-physician"], later)
    )
    assert len(open_header(header, chief)) == 32
    attending = _bundle(
        ATTENDING, (alliance.h1, ["dept:cardiology"], later), (reg, ["title:attending"], later)
    )
    with pytest.raises(DecryptionError, match="do not satisfy"):
        open_header(header, attending)
    # The attending's h1 key and the chief's title, as two bundles: never pooled.
    title_only = _bundle(CHIEF, (reg, ["title:chief-physician"], later))
    h1_only = _bundle(ATTENDING, (alliance.h1, ["dept:cardiology"], later))
    with pytest.raises(DecryptionError):
        open_header(header, [title_only, h1_only])
    # The same GID's grants given apart are merged.
    h1_chief = _bundle(CHIEF, (alliance.h1, ["dept:cardiology"], later))
    assert len(open_header(header, [h1_chief, title_only])) == 32


def test_mixed_policy_has_fame_and_rw15_wraps(alliance: Alliance, reg: AttributeAuthority) -> None:
    policy = f"({TIERED}) or pj.role:doctor"
    header = _seal(alliance, reg, policy)
    assert [w.authority for w in header.wraps] == ["pj", "h1+reg"]
    assert len(open_header(header, alliance.pj_doctor)) == 32  # FAME, as before
    with pytest.raises(DecryptionError):
        open_header(header, alliance.cardiologist)


def test_expiry_is_enforced_per_authority(alliance: Alliance, reg: AttributeAuthority) -> None:
    sealed_on = alliance.now + 10
    header = _seal(alliance, reg, TIERED, epoch=sealed_on)
    expired_title = _bundle(
        CHIEF,
        (alliance.h1, ["dept:cardiology"], sealed_on + 5),
        (reg, ["title:chief-physician"], sealed_on - 1),
    )
    with pytest.raises(KeyExpiredError, match="reg"):
        open_header(header, expired_title)


def test_older_versions_still_open_and_fame_only_stays_version_2(
    alliance: Alliance, reg: AttributeAuthority
) -> None:
    fame_only = "h1.role:doctor or pj.role:doctor"
    v2 = _seal(alliance, reg, fame_only)
    assert v2.version == 2 and v2.to_bytes()[4] == 2
    assert len(open_header(RecordHeader.from_bytes(v2.to_bytes()), alliance.cardiologist)) == 32
    v1 = _seal(alliance, reg, fame_only, version=1)
    assert v1.to_bytes()[4] == 1
    assert len(open_header(RecordHeader.from_bytes(v1.to_bytes()), alliance.pj_doctor)) == 32
    forced = _seal(alliance, reg, fame_only, version=3)
    assert len(open_header(RecordHeader.from_bytes(forced.to_bytes()), alliance.pj_doctor)) == 32
    for old in (1, 2):
        with pytest.raises(ValueError):
            _seal(alliance, reg, TIERED, version=old)


def test_rewrap_and_rotation(alliance: Alliance, reg: AttributeAuthority) -> None:
    later = alliance.now + 30
    chief = _bundle(
        CHIEF, (alliance.h1, ["dept:cardiology"], later), (reg, ["title:chief-physician"], later)
    )
    header = _seal(alliance, reg, TIERED)
    rotated = alliance.h1.rotate()
    params = [rotated.params(), reg.params()]
    moved = rewrap(header, chief, params)
    assert moved.version == 3
    with pytest.raises(DecryptionError, match="another generation"):
        open_header(moved, chief)  # the old h1 grant is of generation 1
    fresh = chief.merge(_bundle(CHIEF, (rotated, ["dept:cardiology"], later)))
    key = open_header(moved, fresh)
    assert key == open_header(header, chief)
    # Re-wrapped to a FAME-only policy, the header is version 2 again.
    nurse = rewrap(moved, fresh, [alliance.h1.params()], "h1.role:nurse")
    assert nurse.version == 2 and open_header(nurse, alliance.h1_nurse) == key


def test_version_1_authorities_cannot_take_part_in_rw15(alliance: Alliance) -> None:
    old = AuthorityParams(alliance.pj.authority, 1, alliance.pj.public)  # no RW15 key
    with pytest.raises(PolicyError, match="no RW15 parameters"):
        seal_header(
            os.urandom(32), os.urandom(16), "h1.role:x and pj.role:y", [alliance.h1.params(), old]
        )


def test_every_byte_of_a_v3_header_is_authenticated(
    alliance: Alliance, reg: AttributeAuthority
) -> None:
    later = alliance.now + 30
    chief = _bundle(
        CHIEF, (alliance.h1, ["dept:cardiology"], later), (reg, ["title:chief-physician"], later)
    )
    raw = _seal(alliance, reg, f"({TIERED}) or pj.role:doctor").to_bytes()
    for position in range(0, len(raw), max(1, len(raw) // 40)):
        mutated = bytearray(raw)
        mutated[position] ^= 0x01
        with contextlib.suppress(FormatError):
            header = RecordHeader.from_bytes(bytes(mutated))
            for key in (chief, alliance.pj_doctor):
                with pytest.raises(DecryptionError):
                    open_header(header, key)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=800))
def test_random_bytes_behind_the_v3_magic_raise_only_format_errors(body: bytes) -> None:
    for suite in (b"\x01", b"\x02"):
        with contextlib.suppress(FormatError):
            RecordHeader.from_bytes(b"ALRH\x03" + suite + body)
