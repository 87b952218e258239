"""A person's RW15 attribute keys: one GID, a grant per authority (the RW15 side of
``crypto.authority.UserKey``).

A grant records what an authority issued to the GID: its generation and parameters'
fingerprint (so a reader can tell a key of a rotated-out generation at once), the key id,
subject and expiry, the attributes, and the AMUK key material (``crypto.rw15_formats``).
Grants from several authorities combine only in a bundle of one GID: :meth:`Rw15Key.merge`
refuses another GID, and the scheme itself makes forced combinations useless.

Layout: "ALMK" | v u8 | gid text | n u32 | n x (authority text | generation u32 |
fingerprint 32 | key id 16 | subject text | expiry u32 | m u32 | m x attribute text |
AMUK blob), grants sorted by authority and distinct; every check of ``UserKey`` applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto.encoding import Reader, Writer
from crypto.errors import DecryptionError, FormatError
from crypto.expiry import MAX_EPOCH
from crypto.rw15 import AUTHORITY_ID, GID_PATTERN, Rw15UserKey, authority_of, cover_attributes
from crypto.rw15_formats import dump_user_key, load_user_key

VERSION = 1
KEY_ID_BYTES = 16
MAX_GRANTS = 64
MAX_SUBJECT_CHARS = 256


@dataclass(frozen=True)
class Rw15Grant:
    """One authority's keys for one GID."""

    authority: str
    generation: int
    params_fingerprint: bytes
    key_id: bytes
    subject: str
    expiry_epoch: int
    attributes: tuple[str, ...]  # qualified, without the reserved epoch attributes
    key: Rw15UserKey


@dataclass(frozen=True)
class Rw15Key:
    """Every grant one GID holds, at most one per authority (the newest replaces)."""

    gid: str
    grants: tuple[Rw15Grant, ...]

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(sorted(a for g in self.grants for a in g.attributes))

    def grant(self, authority: str) -> Rw15Grant | None:
        return next((g for g in self.grants if g.authority == authority), None)

    def merge(self, *others: Rw15Key) -> Rw15Key:
        """This GID's grants together; a key of another GID is refused (keys of two people
        never combine)."""
        by_authority = {g.authority: g for g in self.grants}
        for other in others:
            if other.gid != self.gid:
                raise DecryptionError(
                    f"keys of different GIDs cannot be combined ({self.gid} and {other.gid})"
                )
            for g in other.grants:
                by_authority[g.authority] = g
        return Rw15Key(self.gid, tuple(by_authority[a] for a in sorted(by_authority)))

    def to_bytes(self) -> bytes:
        w = Writer().raw(b"ALMK").u8(VERSION).text(self.gid).u32(len(self.grants))
        for g in self.grants:
            w.text(g.authority).u32(g.generation).raw(g.params_fingerprint).raw(g.key_id)
            w.text(g.subject).u32(g.expiry_epoch).u32(len(g.attributes))
            for attribute in g.attributes:
                w.text(attribute)
            w.blob(dump_user_key(g.key))
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Rw15Key:
        r = Reader(data, "RW15 key")
        r.expect(b"ALMK")
        r.version(VERSION)
        gid = r.text(64)
        if not GID_PATTERN.fullmatch(gid):
            raise FormatError(f"{r.what}: GID is not a lowercase 0x address")
        count = r.count(MAX_GRANTS, "grants")
        if count == 0:
            raise FormatError(f"{r.what}: no grants")
        grants: list[Rw15Grant] = []
        for _ in range(count):
            grants.append(_read_grant(r, gid))
        r.finish()
        names = [g.authority for g in grants]
        if names != sorted(set(names)):
            raise FormatError(f"{r.what}: grants not sorted by authority and distinct")
        return cls(gid, tuple(grants))


def _read_grant(r: Reader, gid: str) -> Rw15Grant:
    authority = r.text(64)
    if not AUTHORITY_ID.fullmatch(authority):
        raise FormatError(f"{r.what}: invalid authority id {authority!r}")
    generation = r.u32()
    fingerprint = r.raw(32)
    key_id = r.raw(KEY_ID_BYTES)
    subject = r.text(MAX_SUBJECT_CHARS)
    expiry = r.u32()
    if expiry > MAX_EPOCH:
        raise FormatError(f"{r.what}: expiry epoch out of range")
    attributes = tuple(r.text(256) for _ in range(r.count(4096, "attributes")))
    key = load_user_key(r.blob(1 << 22))
    try:
        owners = {authority_of(a) for a in attributes}
    except ValueError as exc:
        raise FormatError(f"{r.what}: {exc}") from None
    expected = set(attributes) | set(cover_attributes(authority, expiry))
    if (
        key.gid != gid
        or owners - {authority}
        or len(set(attributes)) != len(attributes)
        or set(key.components) != expected
    ):
        raise FormatError(f"{r.what}: grant metadata does not match its key material")
    return Rw15Grant(authority, generation, fingerprint, key_id, subject, expiry, attributes, key)
