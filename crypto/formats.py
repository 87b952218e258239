"""Versioned binary formats of FAME objects, parsed strictly.

Every object starts with a 4-byte magic and a version byte; group elements have fixed sizes
and are checked for subgroup membership and non-identity on load (``crypto.pairing``);
counts and lengths are bounded; trailing bytes are rejected. Anything malformed raises
:class:`crypto.errors.FormatError`.
"""

from __future__ import annotations

from typing import Any

from crypto.encoding import Reader, Writer
from crypto.errors import FormatError, PolicyError
from crypto.fame import FameCiphertext, FameMasterKey, FamePublicKey, FameUserKey
from crypto.lsss import build_matrix
from crypto.pairing import DEFAULT_GROUP, PairingGroup
from crypto.policy import MAX_LEAVES, parse_policy, to_text, validate_attribute

VERSION = 1
MAX_ID_CHARS = 64
MAX_ATTR_CHARS = 256
MAX_KEY_ATTRIBUTES = 4096
MAX_POLICY_BYTES = 65536


def _g1s(w: Writer, grp: PairingGroup, points: tuple[Any, ...]) -> None:
    for p in points:
        w.raw(grp.dump_g1(p))


def _g2s(w: Writer, grp: PairingGroup, points: tuple[Any, ...]) -> None:
    for p in points:
        w.raw(grp.dump_g2(p))


def _read_g1s(r: Reader, grp: PairingGroup, n: int) -> tuple[Any, ...]:
    return tuple(grp.load_g1(r.raw(grp.g1_bytes)) for _ in range(n))


def _read_g2s(r: Reader, grp: PairingGroup, n: int) -> tuple[Any, ...]:
    return tuple(grp.load_g2(r.raw(grp.g2_bytes)) for _ in range(n))


def _read_id(r: Reader) -> str:
    value = r.text(MAX_ID_CHARS)
    if not value or not all(c.isascii() and (c.isalnum() or c in "-_") for c in value):
        raise FormatError(f"{r.what}: invalid authority id {value!r}")
    return value


def dump_public_key(pk: FamePublicKey, grp: PairingGroup = DEFAULT_GROUP) -> bytes:
    w = Writer().raw(b"ALPK").u8(VERSION).text(pk.authority)
    _g2s(w, grp, pk.h_a)
    return w.raw(grp.dump_gt(pk.t[0])).raw(grp.dump_gt(pk.t[1])).getvalue()


def load_public_key(data: bytes, grp: PairingGroup = DEFAULT_GROUP) -> FamePublicKey:
    r = Reader(data, "ABE public key")
    r.expect(b"ALPK")
    r.version(VERSION)
    authority = _read_id(r)
    h_a = _read_g2s(r, grp, 2)
    t = (grp.load_gt(r.raw(grp.gt_bytes)), grp.load_gt(r.raw(grp.gt_bytes)))
    r.finish()
    return FamePublicKey(authority=authority, h_a=(h_a[0], h_a[1]), t=t)


def dump_master_key(msk: FameMasterKey, grp: PairingGroup = DEFAULT_GROUP) -> bytes:
    w = Writer().raw(b"ALMK").u8(VERSION)
    for s in (*msk.a, *msk.b):
        w.raw(grp.dump_scalar(s))
    _g1s(w, grp, msk.g_d)
    return w.getvalue()


def load_master_key(data: bytes, grp: PairingGroup = DEFAULT_GROUP) -> FameMasterKey:
    r = Reader(data, "ABE master key")
    r.expect(b"ALMK")
    r.version(VERSION)
    scalars = [grp.load_scalar(r.raw(grp.scalar_bytes)) for _ in range(4)]
    g_d = _read_g1s(r, grp, 3)
    r.finish()
    return FameMasterKey(
        a=(scalars[0], scalars[1]), b=(scalars[2], scalars[3]), g_d=(g_d[0], g_d[1], g_d[2])
    )


def dump_user_key(key: FameUserKey, grp: PairingGroup = DEFAULT_GROUP) -> bytes:
    w = Writer().raw(b"ALUK").u8(VERSION).text(key.authority)
    _g2s(w, grp, key.k0)
    _g1s(w, grp, key.kp)
    w.u32(len(key.attributes))
    for attribute in key.attributes:
        w.text(attribute)
        _g1s(w, grp, key.k[attribute])
    return w.getvalue()


def load_user_key(data: bytes, grp: PairingGroup = DEFAULT_GROUP) -> FameUserKey:
    r = Reader(data, "ABE user key")
    r.expect(b"ALUK")
    r.version(VERSION)
    authority = _read_id(r)
    k0 = _read_g2s(r, grp, 3)
    kp = _read_g1s(r, grp, 3)
    count = r.count(MAX_KEY_ATTRIBUTES, "attributes")
    k: dict[str, tuple[Any, Any, Any]] = {}
    previous = ""
    for _ in range(count):
        attribute = r.text(MAX_ATTR_CHARS)
        try:
            validate_attribute(attribute)
        except PolicyError as exc:
            raise FormatError(f"ABE user key: {exc}") from exc
        if attribute <= previous:
            raise FormatError("ABE user key: attributes not sorted and distinct")
        previous = attribute
        triple = _read_g1s(r, grp, 3)
        k[attribute] = (triple[0], triple[1], triple[2])
    r.finish()
    return FameUserKey(
        authority=authority,
        attributes=tuple(k),
        k0=(k0[0], k0[1], k0[2]),
        k=k,
        kp=(kp[0], kp[1], kp[2]),
    )


def dump_ciphertext(ct: FameCiphertext, grp: PairingGroup = DEFAULT_GROUP) -> bytes:
    w = Writer().raw(b"ALCT").u8(VERSION).text(ct.policy)
    _g2s(w, grp, ct.c0)
    w.u32(len(ct.c))
    for triple in ct.c:
        _g1s(w, grp, triple)
    return w.getvalue()


def load_ciphertext(data: bytes, grp: PairingGroup = DEFAULT_GROUP) -> FameCiphertext:
    r = Reader(data, "ABE ciphertext")
    r.expect(b"ALCT")
    r.version(VERSION)
    policy = r.text(MAX_POLICY_BYTES)
    try:
        parsed = parse_policy(policy)
    except PolicyError as exc:
        raise FormatError(f"ABE ciphertext: bad policy: {exc}") from exc
    if to_text(parsed) != policy:
        raise FormatError("ABE ciphertext: policy is not in canonical form")
    c0 = _read_g2s(r, grp, 3)
    rows = r.count(MAX_LEAVES, "rows")
    if rows != len(build_matrix(parsed).rows):
        raise FormatError("ABE ciphertext: row count does not match its policy")
    c = []
    for _ in range(rows):
        triple = _read_g1s(r, grp, 3)
        c.append((triple[0], triple[1], triple[2]))
    r.finish()
    return FameCiphertext(policy=policy, c0=(c0[0], c0[1], c0[2]), c=tuple(c))
