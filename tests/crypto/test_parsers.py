"""Hostile bytes to every parser: the documented FormatError, nothing else."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.authority import AttributeAuthority, AuthorityParams, UserKey
from crypto.errors import FormatError
from crypto.fame import Fame
from crypto.formats import (
    dump_ciphertext,
    dump_master_key,
    dump_public_key,
    dump_user_key,
    load_ciphertext,
    load_master_key,
    load_public_key,
    load_user_key,
)
from crypto.header import RecordHeader, seal_header
from crypto.pairing import DEFAULT_GROUP
from crypto.policy import parse_policy
from crypto.records import read_container_header
from crypto.rw15_keys import Rw15Key
from crypto.stream import StreamHeader
from crypto.suite import SM4_GCM_SM3
from tests.crypto.conftest import Alliance


def _container(data: bytes) -> Any:
    return read_container_header(io.BytesIO(data))


PARSERS: dict[str, Callable[[bytes], Any]] = {
    "public key": load_public_key,
    "master key": load_master_key,
    "fame user key": load_user_key,
    "fame ciphertext": load_ciphertext,
    "authority params": AuthorityParams.from_bytes,
    "authority master": AttributeAuthority.from_bytes,
    "user key": UserKey.from_bytes,
    "record header": RecordHeader.from_bytes,
    "record header v2": RecordHeader.from_bytes,
    "rw15 key": Rw15Key.from_bytes,
    "record header (sm4)": RecordHeader.from_bytes,
    "stream header": StreamHeader.from_bytes,
    "stream header (sm4)": StreamHeader.from_bytes,
    "stream header (v1)": StreamHeader.from_bytes,
    "container": _container,
    "g1": DEFAULT_GROUP.load_g1,
    "g2": DEFAULT_GROUP.load_g2,
    "gt": DEFAULT_GROUP.load_gt,
    "scalar": DEFAULT_GROUP.load_scalar,
}


@pytest.fixture(scope="module")
def valid(alliance: Alliance) -> dict[str, bytes]:
    fame = Fame()
    pk, msk = fame.setup("x1")
    _, ct = fame.encapsulate(pk, parse_policy("a:1 and (b:1 or 2 of (c:1, d:1, e:1))"))
    header = seal_header(os.urandom(32), os.urandom(16), "role:nurse", [alliance.h1.params()])
    both = "(h1.role:nurse and pj.role:doctor) or h1.role:x"
    params = [alliance.h1.params(), alliance.pj.params()]
    v2 = seal_header(os.urandom(32), os.urandom(16), both, params)
    grant = alliance.h1.issue_rw15_key("0x" + "12" * 20, ["role:nurse"], alliance.now + 9)
    sm4_header = seal_header(
        os.urandom(32), os.urandom(16), "role:nurse", [alliance.h1.params()], suite=SM4_GCM_SM3
    )
    container = io.BytesIO()
    from crypto.records import write_container

    write_container(header, container)
    grp = DEFAULT_GROUP
    return {
        "public key": dump_public_key(pk),
        "master key": dump_master_key(msk),
        "fame user key": dump_user_key(fame.keygen(pk, msk, ["a:1", "b:1"])),
        "fame ciphertext": dump_ciphertext(ct),
        "authority params": alliance.h1.params().to_bytes(),
        "authority master": alliance.h1.to_bytes(),
        "user key": alliance.h1_nurse.to_bytes(),
        "record header": header.to_bytes(),
        "record header v2": v2.to_bytes(),
        "rw15 key": Rw15Key(grant.key.gid, (grant,)).to_bytes(),
        "record header (sm4)": sm4_header.to_bytes(),
        "stream header": StreamHeader(1 << 20, os.urandom(16)).to_bytes(),
        "stream header (sm4)": StreamHeader(1 << 20, os.urandom(16), SM4_GCM_SM3).to_bytes(),
        "stream header (v1)": StreamHeader(1 << 20, os.urandom(16), version=1).to_bytes(),
        "container": container.getvalue(),
        "g1": grp.dump_g1(grp.g1() * grp.random_scalar()),
        "g2": grp.dump_g2(grp.g2() * grp.random_scalar()),
        "gt": grp.dump_gt(grp.pair(grp.g1(), grp.g2())),
        "scalar": grp.dump_scalar(grp.random_scalar()),
    }


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_valid_objects_parse(valid: dict[str, bytes], name: str) -> None:
    PARSERS[name](valid[name])


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_truncations_and_extensions_are_format_errors(valid: dict[str, bytes], name: str) -> None:
    raw = valid[name]
    cuts = sorted({0, 1, 4, 5, len(raw) // 2, len(raw) - 1})
    for cut in cuts:
        with pytest.raises(FormatError):
            PARSERS[name](raw[:cut])
    if name != "container":  # a container's body follows its header by design
        with pytest.raises(FormatError):
            PARSERS[name](raw + b"\x00")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(sorted(PARSERS)), data=st.data())
def test_mutations_raise_only_format_errors(valid: dict[str, bytes], name: str, data: Any) -> None:
    raw = bytearray(valid[name])
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    with contextlib.suppress(FormatError):
        PARSERS[name](bytes(raw))


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(PARSERS)), blob=st.binary(max_size=700))
def test_random_bytes_raise_only_format_errors(name: str, blob: bytes) -> None:
    # Short random strings can be valid scalars; anything but success or FormatError fails.
    with contextlib.suppress(FormatError):
        PARSERS[name](blob)


def test_points_off_the_subgroup_and_identity_are_refused() -> None:
    grp = DEFAULT_GROUP
    with pytest.raises(FormatError, match="identity"):
        grp.load_g1(bytes(48))
    with pytest.raises(FormatError):
        grp.load_g1(b"\xff" * 48)
    with pytest.raises(FormatError):
        grp.load_gt(os.urandom(576))
    two = bytearray(576)  # the constant 2 of Fp12: a valid field element outside GT
    two[0] = 2
    with pytest.raises(FormatError, match="order-r subgroup"):
        grp.load_gt(bytes(two))
    with pytest.raises(FormatError, match="zero"):
        grp.load_scalar(bytes(32))
    with pytest.raises(FormatError):
        grp.load_scalar((grp.order).to_bytes(32, "little"))


def test_curve_points_outside_the_g1_subgroup_are_refused() -> None:
    """x = 4 gives a point on y^2 = x^3 + 4 whose order is not r (BLS12-381 G1 has a
    cofactor); mcl's compressed encoding is x little-endian with the y-sign in the top bit."""
    grp = DEFAULT_GROUP
    p = int(
        "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9fef"
        "fffffffaaab",
        16,
    )
    x = 4
    assert pow((x**3 + 4) % p, (p - 1) // 2, p) == 1  # x^3 + 4 is a square: on the curve
    generator = grp.dump_g1(grp.g1())
    gx = int.from_bytes(generator[:47] + bytes([generator[47] & 0x7F]), "little")
    for flag in (0x00, 0x80):  # the encoding is right: the generator's x loads with its flag
        encoded = bytearray(gx.to_bytes(48, "little"))
        encoded[47] |= flag
        if flag == generator[47] & 0x80:
            assert grp.load_g1(bytes(encoded)) == grp.g1()
        off = bytearray(x.to_bytes(48, "little"))
        off[47] |= flag
        with pytest.raises(FormatError):
            grp.load_g1(bytes(off))
