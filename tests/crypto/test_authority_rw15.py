"""Authorities with RW15 keys: params and master keys of version 2 (both schemes' public keys
under the one hash registered on chain), version 1 still loading, and a GID's key bundle."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.authority import AttributeAuthority, AuthorityParams
from crypto.encoding import Writer
from crypto.errors import DecryptionError, FormatError, PolicyError
from crypto.formats import dump_master_key, dump_public_key
from crypto.rw15_keys import Rw15Key

GID = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


@pytest.fixture(scope="module")
def h1() -> AttributeAuthority:
    return AttributeAuthority.setup("h1")


def test_params_and_master_round_trip_with_both_schemes(h1: AttributeAuthority) -> None:
    params = AuthorityParams.from_bytes(h1.params().to_bytes())
    assert params.rw15 is not None and params.fingerprint == h1.params().fingerprint
    again = AttributeAuthority.from_bytes(h1.to_bytes())
    assert again.params().fingerprint == h1.params().fingerprint
    assert again.rw15_secret is not None


def test_version_1_objects_still_load(h1: AttributeAuthority) -> None:
    v1 = Writer().raw(b"ALAP").u8(1).text("h1").u32(1).blob(dump_public_key(h1.public))
    params = AuthorityParams.from_bytes(v1.getvalue())
    assert params.rw15 is None and params.to_bytes() == v1.getvalue()
    master = (Writer().raw(b"ALAM").u8(1).text("h1").u32(1).blob(dump_public_key(h1.public))).blob(
        dump_master_key(h1.master)
    )
    old = AttributeAuthority.from_bytes(master.getvalue())
    assert old.rw15_public is None
    with pytest.raises(ValueError, match="no RW15 keys"):
        old.issue_rw15_key(GID, ["dept:x"], 100)
    assert old.rotate().rw15_public is not None  # a rotation brings RW15 keys


def test_rotation_renews_the_rw15_keys(h1: AttributeAuthority) -> None:
    rotated = h1.rotate()
    assert rotated.generation == h1.generation + 1
    assert rotated.rw15_public != h1.rw15_public


def test_grants_qualify_and_refuse_other_authorities(h1: AttributeAuthority) -> None:
    grant = h1.issue_rw15_key(GID.upper().replace("0X", "0x"), ["dept:cardiology"], 4000)
    assert grant.attributes == ("h1.dept:cardiology",) and grant.key.gid == GID
    with pytest.raises(PolicyError):
        h1.issue_rw15_key(GID, ["reg.title:chief"], 4000)
    with pytest.raises(ValueError, match="GID"):
        h1.issue_rw15_key("dr-chen", ["dept:x"], 4000)


def test_bundles_merge_per_gid_only(h1: AttributeAuthority) -> None:
    reg = AttributeAuthority.setup("reg")
    mine = Rw15Key(GID, (h1.issue_rw15_key(GID, ["dept:cardiology"], 4000),))
    title = Rw15Key(GID, (reg.issue_rw15_key(GID, ["title:chief-physician"], 4000),))
    both = mine.merge(title)
    assert both.attributes == ("h1.dept:cardiology", "reg.title:chief-physician")
    assert Rw15Key.from_bytes(both.to_bytes()) == both
    theirs = Rw15Key(OTHER, (reg.issue_rw15_key(OTHER, ["title:chief-physician"], 4000),))
    with pytest.raises(DecryptionError, match="different GIDs"):
        mine.merge(theirs)


def test_a_bundle_whose_grant_names_another_gid_is_refused(h1: AttributeAuthority) -> None:
    grant = h1.issue_rw15_key(OTHER, ["dept:x"], 4000)
    raw = Rw15Key(OTHER, (grant,)).to_bytes().replace(OTHER.encode(), GID.encode(), 1)
    with pytest.raises(FormatError):
        Rw15Key.from_bytes(raw)


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=600), magic=st.sampled_from([b"", b"ALMK\x01", b"ALAP\x02"]))
def test_random_bytes_raise_only_format_errors(blob: bytes, magic: bytes) -> None:
    for parse in (Rw15Key.from_bytes, AuthorityParams.from_bytes):
        with contextlib.suppress(FormatError):
            parse(magic + blob)
