"""Attribute authorities: each alliance member issues keys for its own staff.

An authority has an id (``h1``) and a generation (bumped by :meth:`AttributeAuthority.rotate`,
how a revocation takes effect at once: records sealed for the new generation cannot be
opened by keys of an older one). Attributes it issues carry its prefix: asked for
``role:doctor``, authority ``h1`` issues ``h1.role:doctor``, and it refuses ``pj.role:doctor``.
Every key carries an expiry epoch (see ``crypto.expiry``) enforced by the scheme itself.

An authority holds two key pairs of one generation: FAME (single-authority parts of a
policy) and RW15 (``crypto.rw15``: parts that AND attributes of several authorities). Its
published parameters carry both public keys, so the one hash registered on chain covers
both. Version 1 objects (FAME only, before RW15) still load; they take part in no RW15 wrap.
RW15 keys are issued to a GID (the holder's own key address) by :meth:`issue_rw15_key`;
the caller checks that the holder proved possession of the GID first.
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
from crypto.rw15 import Rw15PublicKey, Rw15SecretKey, issue, normalize_gid, shared
from crypto.rw15_formats import dump_public_key as dump_rw15_public
from crypto.rw15_formats import dump_secret_key as dump_rw15_secret
from crypto.rw15_formats import load_public_key as load_rw15_public
from crypto.rw15_formats import load_secret_key as load_rw15_secret
from crypto.rw15_keys import Rw15Grant

VERSION = 1
VERSION_RW15 = 2  # params and master keys that also hold the authority's RW15 keys
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
    rw15: Rw15PublicKey | None = None  # None: a version 1 authority, FAME only

    def to_bytes(self) -> bytes:
        version = VERSION if self.rw15 is None else VERSION_RW15
        w = Writer().raw(b"ALAP").u8(version).text(self.authority).u32(self.generation)
        w.blob(dump_public_key(self.fame))
        if self.rw15 is not None:
            w.blob(dump_rw15_public(self.rw15))
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> AuthorityParams:
        r = Reader(data, "authority parameters")
        r.expect(b"ALAP")
        version = _read_version(r)
        authority = r.text(64)
        generation = r.u32()
        fame = load_public_key(r.blob(4096))
        rw15 = load_rw15_public(r.blob(4096)) if version == VERSION_RW15 else None
        r.finish()
        if fame.authority != authority or (rw15 is not None and rw15.authority != authority):
            raise FormatError("authority parameters: inner authority id does not match")
        return cls(authority=authority, generation=generation, fame=fame, rw15=rw15)

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
    rw15_public: Rw15PublicKey | None = None  # None: loaded from a version 1 file
    rw15_secret: Rw15SecretKey | None = None

    @classmethod
    def setup(cls, authority: str, generation: int = 1) -> AttributeAuthority:
        validate_authority_id(authority)
        public, master = _FAME.setup(authority)
        rw15_public, rw15_secret = shared().setup_authority(authority)
        return cls(authority, generation, public, master, rw15_public, rw15_secret)

    def params(self) -> AuthorityParams:
        return AuthorityParams(self.authority, self.generation, self.public, self.rw15_public)

    def issue_rw15_key(
        self, gid: str, attributes: Iterable[str], expiry_epoch: int, subject: str = ""
    ) -> Rw15Grant:
        """RW15 keys for ``gid`` (an address whose holder the caller has verified and who
        signed the request: the scheme cannot check who owns a GID)."""
        if self.rw15_secret is None:
            raise ValueError(
                f"authority {self.authority!r} has no RW15 keys (a version 1 master key): "
                "rotate it to a new generation"
            )
        qualified = tuple(sorted({qualify(a.strip(), self.authority) for a in attributes}))
        if not qualified:
            raise ValueError("a key needs at least one attribute")
        if len(subject) > MAX_SUBJECT_CHARS:
            raise ValueError(f"subject longer than {MAX_SUBJECT_CHARS} characters")
        if not 0 <= expiry_epoch <= MAX_EPOCH:
            raise ValueError(f"expiry epoch {expiry_epoch} out of range")
        gid = normalize_gid(gid)
        key = issue(shared(), self.rw15_secret, gid, qualified, expiry_epoch)
        return Rw15Grant(
            authority=self.authority,
            generation=self.generation,
            params_fingerprint=self.params().fingerprint,
            key_id=os.urandom(KEY_ID_BYTES),
            subject=subject,
            expiry_epoch=expiry_epoch,
            attributes=qualified,
            key=key,
        )

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
        has_rw15 = self.rw15_public is not None and self.rw15_secret is not None
        w = Writer().raw(b"ALAM").u8(VERSION_RW15 if has_rw15 else VERSION)
        w.text(self.authority).u32(self.generation)
        w.blob(dump_public_key(self.public)).blob(dump_master_key(self.master))
        if self.rw15_public is not None and self.rw15_secret is not None:
            w.blob(dump_rw15_public(self.rw15_public)).blob(dump_rw15_secret(self.rw15_secret))
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> AttributeAuthority:
        r = Reader(data, "authority master key")
        r.expect(b"ALAM")
        version = _read_version(r)
        authority = r.text(64)
        generation = r.u32()
        public = load_public_key(r.blob(4096))
        master = load_master_key(r.blob(4096))
        rw15_public = rw15_secret = None
        if version == VERSION_RW15:
            rw15_public = load_rw15_public(r.blob(4096))
            rw15_secret = load_rw15_secret(r.blob(4096))
        r.finish()
        inner = {public.authority} | {k.authority for k in (rw15_public, rw15_secret) if k}
        if inner != {authority}:
            raise FormatError("authority master key: inner authority id does not match")
        return cls(authority, generation, public, master, rw15_public, rw15_secret)


def _read_version(r: Reader) -> int:
    version = r.u8()
    if version not in (VERSION, VERSION_RW15):
        raise FormatError(f"{r.what}: unsupported version {version}")
    return version
