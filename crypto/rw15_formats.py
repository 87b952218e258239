"""Versioned binary formats of RW15 objects (``crypto.rw15``), parsed strictly.

Layouts (all integers big-endian; "text" is a u32 length + UTF-8; sizes of group elements are
fixed: G1 48, G2 96, GT 576, scalar 32 bytes)::

    global params  "AMGP" | v u8 | label text
    public key     "AMPK" | v u8 | authority text | E^alpha GT | g1^y G1
    secret key     "AMSK" | v u8 | authority text | alpha scalar | y scalar
    user key       "AMUK" | v u8 | gid text | n u32 | n x (attribute text | K G2 | KP G1)
    ciphertext     "AMCT" | v u8 | policy text | n u32 | n x (C1 GT | C2 G1 | C3 G1 | C4 G2)

On load: magic, version, every length and count bounded, identifiers and attributes
validated (a GID in canonical lowercase form; attributes qualified by an authority, sorted
and distinct in a user key, all of one GID), every group element checked for length,
subgroup membership and non-identity (``crypto.pairing``), the policy canonical and its row
count equal to its LSSS rows, no trailing bytes. Anything malformed raises only
:class:`crypto.errors.FormatError`. Global parameters carry only their label: the points are
re-derived from it (nothing to trust, nothing to check).
"""

from __future__ import annotations

from typing import Any

from crypto.encoding import Reader, Writer
from crypto.errors import FormatError, PolicyError
from crypto.lsss import build_matrix
from crypto.pairing import DEFAULT_GROUP, PairingGroup
from crypto.policy import MAX_LEAVES, leaves, parse_policy, to_text
from crypto.rw15 import (
    AUTHORITY_ID,
    GID_PATTERN,
    LABEL_PATTERN,
    Rw15,
    Rw15Ciphertext,
    Rw15PublicKey,
    Rw15SecretKey,
    Rw15UserKey,
    authority_of,
)

VERSION = 1
MAX_ID_CHARS = 64
MAX_ATTR_CHARS = 256
MAX_KEY_ATTRIBUTES = 4096
MAX_POLICY_BYTES = 65536


def _read_authority(r: Reader) -> str:
    value = r.text(MAX_ID_CHARS)
    if not AUTHORITY_ID.fullmatch(value):
        raise FormatError(f"{r.what}: invalid authority id {value!r}")
    return value


def _attribute_owner(r: Reader, attribute: str) -> str:
    try:
        return authority_of(attribute)
    except PolicyError as exc:
        raise FormatError(f"{r.what}: {exc}") from exc


def dump_global_params(scheme: Rw15) -> bytes:
    return Writer().raw(b"AMGP").u8(VERSION).text(scheme.label).getvalue()


def load_global_params(data: bytes, grp: PairingGroup = DEFAULT_GROUP) -> Rw15:
    r = Reader(data, "RW15 global parameters")
    r.expect(b"AMGP")
    r.version(VERSION)
    label = r.text(MAX_ID_CHARS)
    r.finish()
    if not LABEL_PATTERN.fullmatch(label):
        raise FormatError(f"{r.what}: invalid label {label!r}")
    return Rw15(grp, label)


def dump_public_key(pk: Rw15PublicKey, grp: PairingGroup = DEFAULT_GROUP) -> bytes:
    w = Writer().raw(b"AMPK").u8(VERSION).text(pk.authority)
    return w.raw(grp.dump_gt(pk.e_alpha)).raw(grp.dump_g1(pk.g_y)).getvalue()


def load_public_key(data: bytes, grp: PairingGroup = DEFAULT_GROUP) -> Rw15PublicKey:
    r = Reader(data, "RW15 public key")
    r.expect(b"AMPK")
    r.version(VERSION)
    authority = _read_authority(r)
    e_alpha = grp.load_gt(r.raw(grp.gt_bytes))
    g_y = grp.load_g1(r.raw(grp.g1_bytes))
    r.finish()
    return Rw15PublicKey(authority, e_alpha, g_y)


def dump_secret_key(sk: Rw15SecretKey, grp: PairingGroup = DEFAULT_GROUP) -> bytes:
    w = Writer().raw(b"AMSK").u8(VERSION).text(sk.authority)
    return w.raw(grp.dump_scalar(sk.alpha)).raw(grp.dump_scalar(sk.y)).getvalue()


def load_secret_key(data: bytes, grp: PairingGroup = DEFAULT_GROUP) -> Rw15SecretKey:
    r = Reader(data, "RW15 secret key")
    r.expect(b"AMSK")
    r.version(VERSION)
    authority = _read_authority(r)
    alpha = grp.load_scalar(r.raw(grp.scalar_bytes))
    y = grp.load_scalar(r.raw(grp.scalar_bytes))
    r.finish()
    return Rw15SecretKey(authority, alpha, y)


def dump_user_key(key: Rw15UserKey, grp: PairingGroup = DEFAULT_GROUP) -> bytes:
    w = Writer().raw(b"AMUK").u8(VERSION).text(key.gid).u32(len(key.components))
    for attribute in key.attributes:
        k, kp = key.components[attribute]
        w.text(attribute).raw(grp.dump_g2(k)).raw(grp.dump_g1(kp))
    return w.getvalue()


def load_user_key(data: bytes, grp: PairingGroup = DEFAULT_GROUP) -> Rw15UserKey:
    r = Reader(data, "RW15 user key")
    r.expect(b"AMUK")
    r.version(VERSION)
    gid = r.text(MAX_ID_CHARS)
    if not GID_PATTERN.fullmatch(gid):
        raise FormatError(f"{r.what}: GID is not a lowercase 0x address")
    count = r.count(MAX_KEY_ATTRIBUTES, "attributes")
    if count == 0:
        raise FormatError(f"{r.what}: no attributes")
    components: dict[str, tuple[Any, Any]] = {}
    previous = ""
    for _ in range(count):
        attribute = r.text(MAX_ATTR_CHARS)
        _attribute_owner(r, attribute)
        if attribute <= previous:
            raise FormatError(f"{r.what}: attributes not sorted and distinct")
        previous = attribute
        k = grp.load_g2(r.raw(grp.g2_bytes))
        kp = grp.load_g1(r.raw(grp.g1_bytes))
        components[attribute] = (k, kp)
    r.finish()
    return Rw15UserKey(gid, components)


def dump_ciphertext(ct: Rw15Ciphertext, grp: PairingGroup = DEFAULT_GROUP) -> bytes:
    w = Writer().raw(b"AMCT").u8(VERSION).text(ct.policy).u32(len(ct.rows))
    for c1, c2, c3, c4 in ct.rows:
        w.raw(grp.dump_gt(c1)).raw(grp.dump_g1(c2)).raw(grp.dump_g1(c3)).raw(grp.dump_g2(c4))
    return w.getvalue()


def load_ciphertext(data: bytes, grp: PairingGroup = DEFAULT_GROUP) -> Rw15Ciphertext:
    r = Reader(data, "RW15 ciphertext")
    r.expect(b"AMCT")
    r.version(VERSION)
    policy = r.text(MAX_POLICY_BYTES)
    try:
        parsed = parse_policy(policy)
    except PolicyError as exc:
        raise FormatError(f"{r.what}: bad policy: {exc}") from exc
    if to_text(parsed) != policy:
        raise FormatError(f"{r.what}: policy is not in canonical form")
    for leaf in leaves(parsed):
        _attribute_owner(r, leaf.name)
    count = r.count(MAX_LEAVES, "rows")
    if count != len(build_matrix(parsed).rows):
        raise FormatError(f"{r.what}: row count does not match its policy")
    # Check the whole length before the (slow, ~1 ms each) GT membership tests.
    row_bytes = grp.gt_bytes + 2 * grp.g1_bytes + grp.g2_bytes
    if len(data) - r.offset != count * row_bytes:
        raise FormatError(
            f"{r.what}: {len(data) - r.offset} bytes of rows, expected {count * row_bytes}"
        )
    rows = []
    for _ in range(count):
        c1 = grp.load_gt(r.raw(grp.gt_bytes))
        c2 = grp.load_g1(r.raw(grp.g1_bytes))
        c3 = grp.load_g1(r.raw(grp.g1_bytes))
        c4 = grp.load_g2(r.raw(grp.g2_bytes))
        rows.append((c1, c2, c3, c4))
    r.finish()
    return Rw15Ciphertext(policy=policy, rows=tuple(rows))
