"""Attribute authorities: each alliance member issues keys for its own staff.

An authority has an id (``h1``) and a generation (bumped by :meth:`AttributeAuthority.rotate`,
how a revocation takes effect at once: records sealed for the new generation cannot be
opened by keys of an older one). Attributes it issues carry its prefix: asked for
``role:doctor``, authority ``h1`` issues ``h1.role:doctor``, and it refuses ``pj.role:doctor``.
Every key carries an expiry epoch (see ``crypto.expiry``) enforced by the scheme itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from crypto.encoding import Reader, Writer, tagged_hash
from crypto.errors import FormatError, PolicyError
from crypto.expiry import MAX_EPOCH, check_not_reserved, cover_attributes
from crypto.fame import Fame, FameMasterKey, FamePublicKey, FameUserKey
from crypto.formats import (
    dump_master_key,
    dump_public_key,
    dump_user_key,
    load_master_key,
    load_public_key,
    load_user_key,
)
from crypto.policy import validate_attribute

VERSION = 1
_AUTHORITY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
KEY_ID_BYTES = 16
MAX_SUBJECT_CHARS = 256

_FAME = Fame()


def validate_authority_id(authority: str) -> str:
    if not _AUTHORITY_ID.fullmatch(authority):
        raise ValueError(
            f"invalid authority id {authority!r}: 1-32 of lowercase letters, digits, '_', '-'"
        )
    return authority


def qualify(attribute: str, authority: str) -> str:
    """``role:doctor`` -> ``h1.role:doctor``; an attribute of another authority is refused."""
    validate_attribute(attribute)
    check_not_reserved(attribute)
    name = attribute.split(":", 1)[0]
    if "." in name:
        prefix = name.split(".", 1)[0]
        if prefix != authority:
            raise PolicyError(
                f"authority {authority!r} cannot issue {attribute!r} (it belongs to {prefix!r})"
            )
        return attribute
    return f"{authority}.{attribute}"


@dataclass(frozen=True)
class AuthorityParams:
    """An authority's public parameters (published; their hash is registered on chain)."""

    authority: str
    generation: int
    fame: FamePublicKey

    def to_bytes(self) -> bytes:
        return (
            Writer()
            .raw(b"ALAP")
            .u8(VERSION)
            .text(self.authority)
            .u32(self.generation)
            .blob(dump_public_key(self.fame))
            .getvalue()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> AuthorityParams:
        r = Reader(data, "authority parameters")
        r.expect(b"ALAP")
        r.version(VERSION)
        authority = r.text(64)
        generation = r.u32()
        fame = load_public_key(r.blob(4096))
        r.finish()
        if fame.authority != authority:
            raise FormatError("authority parameters: inner authority id does not match")
        return cls(authority=authority, generation=generation, fame=fame)

    @property
    def fingerprint(self) -> bytes:
        return tagged_hash("authority-params", self.to_bytes())


@dataclass(frozen=True)
class UserKey:
    """A user's attribute key, as issued (the FAME key plus what it was issued for)."""

    authority: str
    generation: int
    params_fingerprint: bytes
    key_id: bytes
    subject: str
    expiry_epoch: int
    attributes: tuple[str, ...]  # the qualified attributes, without the reserved epoch ones
    fame: FameUserKey

    def to_bytes(self) -> bytes:
        w = (
            Writer()
            .raw(b"ALUX")
            .u8(VERSION)
            .text(self.authority)
            .u32(self.generation)
            .raw(self.params_fingerprint)
            .raw(self.key_id)
            .text(self.subject)
            .u32(self.expiry_epoch)
            .u32(len(self.attributes))
        )
        for attribute in self.attributes:
            w.text(attribute)
        return w.blob(dump_user_key(self.fame)).getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> UserKey:
        r = Reader(data, "user key")
        r.expect(b"ALUX")
        r.version(VERSION)
        authority = r.text(64)
        generation = r.u32()
        fingerprint = r.raw(32)
        key_id = r.raw(KEY_ID_BYTES)
        subject = r.text(MAX_SUBJECT_CHARS)
        expiry = r.u32()
        if expiry > MAX_EPOCH:
            raise FormatError("user key: expiry epoch out of range")
        attributes = tuple(r.text(256) for _ in range(r.count(4096, "attributes")))
        fame = load_user_key(r.blob(1 << 22))
        r.finish()
        expected = set(attributes) | set(cover_attributes(expiry))
        if fame.authority != authority or set(fame.attributes) != expected:
            raise FormatError("user key: metadata does not match the key material")
        return cls(authority, generation, fingerprint, key_id, subject, expiry, attributes, fame)


@dataclass(frozen=True)
class AttributeAuthority:
    """An authority's secret state: the master key of its current generation."""

    authority: str
    generation: int
    public: FamePublicKey
    master: FameMasterKey

    @classmethod
    def setup(cls, authority: str, generation: int = 1) -> AttributeAuthority:
        validate_authority_id(authority)
        public, master = _FAME.setup(authority)
        return cls(authority=authority, generation=generation, public=public, master=master)

    def params(self) -> AuthorityParams:
        return AuthorityParams(self.authority, self.generation, self.public)

    def issue_key(self, attributes: Iterable[str], expiry_epoch: int, subject: str = "") -> UserKey:
        qualified = tuple(sorted({qualify(a.strip(), self.authority) for a in attributes}))
        if not qualified:
            raise ValueError("a key needs at least one attribute")
        if len(subject) > MAX_SUBJECT_CHARS:
            raise ValueError(f"subject longer than {MAX_SUBJECT_CHARS} characters")
        fame = _FAME.keygen(self.public, self.master, [*qualified, *cover_attributes(expiry_epoch)])
        return UserKey(
            authority=self.authority,
            generation=self.generation,
            params_fingerprint=self.params().fingerprint,
            key_id=os.urandom(KEY_ID_BYTES),
            subject=subject,
            expiry_epoch=expiry_epoch,
            attributes=qualified,
            fame=fame,
        )

    def rotate(self) -> AttributeAuthority:
        """A fresh master key as the next generation. Keys of earlier generations cannot open
        records sealed for this one: issue new keys to every user who keeps access."""
        return AttributeAuthority.setup(self.authority, self.generation + 1)

    def to_bytes(self) -> bytes:
        return (
            Writer()
            .raw(b"ALAM")
            .u8(VERSION)
            .text(self.authority)
            .u32(self.generation)
            .blob(dump_public_key(self.public))
            .blob(dump_master_key(self.master))
            .getvalue()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> AttributeAuthority:
        r = Reader(data, "authority master key")
        r.expect(b"ALAM")
        r.version(VERSION)
        authority = r.text(64)
        generation = r.u32()
        public = load_public_key(r.blob(4096))
        master = load_master_key(r.blob(4096))
        r.finish()
        return cls(authority, generation, public, master)
