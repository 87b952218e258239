"""Record headers: the record's data key wrapped under a CP-ABE policy, per authority.

A policy is split at its top-level OR. Parts naming one authority stay on FAME, one wrap per
authority under its parts, each ANDed with the epoch clause (expiry, ``crypto.expiry``).
Parts that AND attributes of several authorities (``h1.dept:cardiology and
reg.title:chief-physician``) go together into one RW15 wrap (``crypto.header_rw15``), bound
with ``rw15.bind_epoch``. A reader opens whichever wrap its keys satisfy.

The header names the record's cipher suite (``crypto.suite``): the wraps' AEAD, the HKDF and
the HMAC use it, and so does the body. Versions::

    "ALRH" | version u8 | [suite u8] | stream_id 16 | policy text | [labels] | epoch u32 |
        n u32 | n x wrap | mac 32
    1: no suite byte (AES-256-GCM with SHA-256), FAME wraps only (still read)
    2: a suite byte, FAME wraps only (written when a policy needs no RW15 wrap, so readers
       without RW15 open it)
    3: a suite byte, and a scheme byte before each wrap: 1 FAME, 2 RW15
    4: as 3, with the record's security labels after the policy (``crypto.labels``); written
       only for a labelled record, so unlabelled ones stay readable by older readers.
       Versions 1 to 3 read as "normal, no sensitivity".
    FAME wrap: authority text | generation u32 | fingerprint 32 | FAME ct blob | sealed key 60
    RW15 wrap: see ``crypto.header_rw15.Rw15Wrap``

The header is a separate object from the body, so :func:`rewrap` (new policy or epoch) costs
the same whatever the record's size. An HMAC under a key derived from the data key covers the
whole header, so a change to any byte, even in a wrap this reader does not use, is detected.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TypeAlias

from cryptography.exceptions import InvalidTag

from crypto import header_rw15
from crypto.authority import AuthorityParams, UserKey
from crypto.encoding import Reader, Writer
from crypto.errors import DecryptionError, FormatError, KeyExpiredError, PolicyError
from crypto.expiry import MAX_EPOCH, bind_epoch, check_not_reserved, current_epoch
from crypto.fame import Fame, FameCiphertext
from crypto.formats import dump_ciphertext, load_ciphertext
from crypto.header_rw15 import Rw15Wrap
from crypto.labels import UNLABELLED, SecurityLabels
from crypto.pairing import DEFAULT_GROUP
from crypto.policy import Attr, Gate, Node, leaves, parse_policy, to_text
from crypto.rw15_keys import Rw15Key
from crypto.stream import STREAM_ID_BYTES
from crypto.suite import DEFAULT_SUITE, Suite, suite_by_id

VERSION_PLAIN = 1  # no suite byte (AES-256-GCM), FAME wraps only: read, never written
VERSION = 2  # a suite byte, FAME wraps only
VERSION_SCHEMES = 3  # a suite byte and a scheme byte per wrap: FAME or RW15
VERSION_LABELS = 4  # as 3, and the security labels
VERSIONS = (VERSION_PLAIN, VERSION, VERSION_SCHEMES, VERSION_LABELS)
SCHEME_FAME = 1
SCHEME_RW15 = 2
MAX_WRAPS = 64
SEALED_KEY_BYTES = 12 + 32 + 16
_FAME = Fame()

# What a reader opens a header with: FAME keys (one per authority) and/or RW15 key bundles.
ReaderKey: TypeAlias = UserKey | Rw15Key
ReaderKeys: TypeAlias = UserKey | Rw15Key | Iterable[UserKey | Rw15Key]


@dataclass(frozen=True)
class Wrap:
    authority: str
    generation: int
    params_fingerprint: bytes
    ciphertext: FameCiphertext
    sealed_key: bytes


@dataclass(frozen=True)
class RecordHeader:
    stream_id: bytes
    policy: str  # canonical, with every attribute qualified by its authority
    epoch: int
    wraps: tuple[Wrap | Rw15Wrap, ...]
    mac: bytes = b""
    suite: Suite = DEFAULT_SUITE
    version: int = VERSION  # kept: the MAC covers the header as it was written
    labels: SecurityLabels = UNLABELLED  # DS4P; only a version 4 header carries others

    def __post_init__(self) -> None:
        if self.version not in VERSIONS or (
            self.version == VERSION_PLAIN and self.suite != DEFAULT_SUITE
        ):
            raise ValueError("a record header is version 2 to 4, or version 1 in the AES suite")
        if self.version < VERSION_LABELS and not self.labels.unlabelled:
            raise ValueError("security labels need a version 4 header")

    def _body(self) -> bytes:
        w = Writer().raw(b"ALRH").u8(self.version)
        if self.version >= VERSION:
            w.u8(self.suite.suite_id)
        w.raw(self.stream_id).text(self.policy)
        if self.version >= VERSION_LABELS:
            self.labels.write(w)
        w.u32(self.epoch).u32(len(self.wraps))
        for wrap in self.wraps:
            if self.version >= VERSION_SCHEMES:
                w.u8(SCHEME_RW15 if isinstance(wrap, Rw15Wrap) else SCHEME_FAME)
            if isinstance(wrap, Rw15Wrap):
                if self.version < VERSION_SCHEMES:
                    raise ValueError("an RW15 wrap needs a version 3 or 4 header")
                wrap.write(w)
                continue
            w.text(wrap.authority).u32(wrap.generation).raw(wrap.params_fingerprint)
            w.blob(dump_ciphertext(wrap.ciphertext)).raw(wrap.sealed_key)
        return w.getvalue()

    def to_bytes(self) -> bytes:
        return self._body() + self.mac

    @classmethod
    def from_bytes(cls, data: bytes) -> RecordHeader:
        r = Reader(data, "record header")
        r.expect(b"ALRH")
        version = r.u8()
        if version not in VERSIONS:
            raise FormatError(f"record header: unsupported version {version} (expected 1 to 4)")
        suite = suite_by_id(r.u8(), "record header") if version >= VERSION else DEFAULT_SUITE
        stream_id = r.raw(STREAM_ID_BYTES)
        policy = r.text(65536)
        labels = SecurityLabels.read(r) if version >= VERSION_LABELS else UNLABELLED
        epoch = r.u32()
        if epoch > MAX_EPOCH:
            raise FormatError("record header: epoch out of range")
        wraps: list[Wrap | Rw15Wrap] = []
        for _ in range(r.count(MAX_WRAPS, "wraps")):
            scheme = r.u8() if version >= VERSION_SCHEMES else SCHEME_FAME
            if scheme == SCHEME_RW15:
                wraps.append(Rw15Wrap.read(r, SEALED_KEY_BYTES))
            elif scheme == SCHEME_FAME:
                authority = r.text(64)
                generation = r.u32()
                fingerprint = r.raw(32)
                ciphertext = load_ciphertext(r.blob(1 << 22))
                wraps.append(
                    Wrap(authority, generation, fingerprint, ciphertext, r.raw(SEALED_KEY_BYTES))
                )
            else:
                raise FormatError(f"record header: unknown wrap scheme {scheme}")
        mac = r.raw(32)
        r.finish()
        if not wraps:
            raise FormatError("record header: no wraps")
        return cls(stream_id, policy, epoch, tuple(wraps), mac, suite, version, labels)


def split_by_authority(
    policy: Node, authorities: Iterable[str]
) -> tuple[dict[str, Node], list[Node]]:
    """Qualify the policy's attributes and split a top-level OR into per-authority parts (for
    FAME) and the parts that name several authorities (for one RW15 wrap)."""
    known = list(authorities)
    single = known[0] if len(known) == 1 else None

    def qualify_tree(node: Node) -> Node:
        if isinstance(node, Attr):
            check_not_reserved(node.name)
            if node.authority is None:
                if single is None:
                    raise PolicyError(
                        f"attribute {node.name!r} names no authority; with several authorities "
                        "write it as <authority>.<name>:<value>"
                    )
                return Attr(f"{single}.{node.name}")
            return node
        return Gate(node.threshold, tuple(qualify_tree(c) for c in node.children))

    qualified = qualify_tree(policy)
    parts = qualified.children if isinstance(qualified, Gate) and qualified.is_or else (qualified,)
    grouped: dict[str, list[Node]] = {}
    multi: list[Node] = []
    for part in parts:
        owners = {leaf.authority for leaf in leaves(part)}
        for owner in owners:
            if owner not in known:
                raise PolicyError(f"no public parameters given for authority {owner!r}")
        if len(owners) > 1:
            multi.append(part)
            continue
        owner = owners.pop()
        assert owner is not None
        grouped.setdefault(owner, []).append(part)
    single_parts = {a: ps[0] if len(ps) == 1 else Gate(1, tuple(ps)) for a, ps in grouped.items()}
    return single_parts, multi


def _wrap_context(suite: Suite, stream_id: bytes, policy: str, epoch: int, wrap: Wrap) -> bytes:
    return suite.tagged_hash(
        "wrap-context",
        stream_id,
        policy,
        epoch,
        wrap.authority,
        wrap.generation,
        wrap.params_fingerprint,
        dump_ciphertext(wrap.ciphertext),
    )


def _mac(data_key: bytes, header: RecordHeader) -> bytes:
    key = header.suite.hkdf(data_key, header.stream_id, b"header-mac")
    return header.suite.mac(key, header._body())


def seal_header(
    data_key: bytes,
    stream_id: bytes,
    policy: str,
    params: Iterable[AuthorityParams],
    epoch: int | None = None,
    suite: Suite = DEFAULT_SUITE,
    version: int | None = None,
    labels: SecurityLabels = UNLABELLED,
) -> RecordHeader:
    """Wrap ``data_key`` under ``policy`` for the authorities in ``params``, in ``suite``.
    ``version``: by default 4 for a labelled record, else 2 unless a part needs RW15 (then
    3); 3 forces the scheme byte, 1 (AES suite only) writes what readers before cipher
    suites open. ``labels`` (DS4P) go into the header, under its MAC."""
    if len(data_key) != 32 or len(stream_id) != STREAM_ID_BYTES:
        raise ValueError("data key must be 32 bytes and stream id 16 bytes")
    by_id = {p.authority: p for p in params}
    if not by_id:
        raise ValueError("at least one authority's public parameters are needed")
    epoch = current_epoch() if epoch is None else epoch
    parts, multi = split_by_authority(parse_policy(policy), by_id)
    canonical = to_text(_join_or([*parts.values(), *multi]))
    if version is None:
        version = VERSION_LABELS if not labels.unlabelled else VERSION_SCHEMES if multi else VERSION
    if version not in VERSIONS or (multi and version < VERSION_SCHEMES):
        raise ValueError(f"cannot seal a version {version} header for this policy")
    if version < VERSION_LABELS and not labels.unlabelled:
        raise ValueError(f"a version {version} header cannot carry security labels")
    wraps: list[Wrap | Rw15Wrap] = []
    for authority, part in sorted(parts.items()):
        p = by_id[authority]
        z, ct = _FAME.encapsulate(p.fame, bind_epoch(part, epoch))
        wrap = Wrap(authority, p.generation, p.fingerprint, ct, b"")
        context = _wrap_context(suite, stream_id, canonical, epoch, wrap)
        secret = DEFAULT_GROUP.dump_gt(z)
        sealed = _seal_key(suite, secret, b"wrap-key", stream_id, data_key, context)
        wraps.append(replace(wrap, sealed_key=sealed))
    if multi:
        secret, rw = header_rw15.encapsulate(_join_or(multi), by_id, epoch)
        context = rw.context(suite, stream_id, canonical, epoch)
        sealed = _seal_key(suite, secret, b"rw15-wrap-key", stream_id, data_key, context)
        wraps.append(replace(rw, sealed_key=sealed))
    header = RecordHeader(
        stream_id, canonical, epoch, tuple(wraps), suite=suite, version=version, labels=labels
    )
    return replace(header, mac=_mac(data_key, header))


def _seal_key(
    suite: Suite, secret: bytes, label: bytes, stream_id: bytes, data_key: bytes, ad: bytes
) -> bytes:
    nonce = os.urandom(12)
    return nonce + suite.aead(suite.hkdf(secret, stream_id, label)).encrypt(nonce, data_key, ad)


def _open_key(
    suite: Suite, secret: bytes, label: bytes, stream_id: bytes, sealed: bytes, ad: bytes
) -> bytes:
    aead = suite.aead(suite.hkdf(secret, stream_id, label))
    try:
        return aead.decrypt(sealed[:12], sealed[12:], ad)
    except InvalidTag:
        raise DecryptionError("record header failed authentication (tampered)") from None


def _join_or(parts: list[Node]) -> Node:
    flat: list[Node] = []
    for part in parts:
        flat.extend(part.children if isinstance(part, Gate) and part.is_or else (part,))
    return flat[0] if len(flat) == 1 else Gate(1, tuple(flat))


def _key_list(keys: ReaderKeys) -> list[ReaderKey]:
    if isinstance(keys, UserKey | Rw15Key):
        return [keys]
    return list(keys)


def open_header(header: RecordHeader, keys: ReaderKeys) -> bytes:
    """Recover the data key with whichever wrap the keys open (FAME keys, RW15 bundles: a
    bundle is used alone, never pooled with another GID's), or raise DecryptionError (the
    only reason, or every reason) saying why not."""
    errors: list[DecryptionError] = []
    listed = _key_list(keys)
    for key in listed:
        if isinstance(key, UserKey):
            try:
                return _open_fame(header, key)
            except DecryptionError as exc:
                errors.append(exc)
    bundles = [k for k in listed if isinstance(k, Rw15Key)]
    merged: dict[str, Rw15Key] = {}
    for bundle in bundles:  # one GID's grants from several authorities work together
        merged[bundle.gid] = merged[bundle.gid].merge(bundle) if bundle.gid in merged else bundle
    rw15_wraps = [w for w in header.wraps if isinstance(w, Rw15Wrap)]
    for bundle in merged.values():
        if not rw15_wraps:
            errors.append(DecryptionError(f"the record has no RW15 wrap (policy: {header.policy})"))
        for wrap in rw15_wraps:
            try:
                secret = header_rw15.decapsulate(wrap, bundle, header.epoch, header.policy)
                context = wrap.context(header.suite, header.stream_id, header.policy, header.epoch)
                sealed = wrap.sealed_key
                label = b"rw15-wrap-key"
                data_key = _open_key(header.suite, secret, label, header.stream_id, sealed, context)
                return _checked(header, data_key)
            except DecryptionError as exc:
                errors.append(exc)
    if not errors:
        raise DecryptionError("no key given to open the record")
    if len(errors) == 1:
        raise errors[0]
    if all(isinstance(e, KeyExpiredError) for e in errors):
        raise KeyExpiredError("; ".join(str(e) for e in errors))
    raise DecryptionError("; ".join(str(e) for e in errors))


def _checked(header: RecordHeader, data_key: bytes) -> bytes:
    if not hmac.compare_digest(_mac(data_key, header), header.mac):
        raise DecryptionError("record header failed authentication (tampered)")
    return data_key


def _open_fame(header: RecordHeader, key: UserKey) -> bytes:
    wrap = next(
        (w for w in header.wraps if isinstance(w, Wrap) and w.authority == key.authority), None
    )
    if wrap is None:
        raise DecryptionError(
            f"the record names no attribute of authority {key.authority!r} "
            f"(policy: {header.policy})"
        )
    if wrap.generation != key.generation or wrap.params_fingerprint != key.params_fingerprint:
        raise DecryptionError(
            f"the key is from generation {key.generation} of authority {key.authority!r}, the "
            f"record was sealed for generation {wrap.generation} (or other parameters)"
        )
    if key.expiry_epoch < header.epoch:
        raise KeyExpiredError("the key expired before the record was sealed")
    policy = parse_policy(wrap.ciphertext.policy)
    z = _FAME.decapsulate(key.fame, wrap.ciphertext, policy)
    suite = header.suite
    context = _wrap_context(suite, header.stream_id, header.policy, header.epoch, wrap)
    secret = DEFAULT_GROUP.dump_gt(z)
    return _checked(
        header, _open_key(suite, secret, b"wrap-key", header.stream_id, wrap.sealed_key, context)
    )


def rewrap(
    header: RecordHeader,
    keys: ReaderKeys,
    params: Iterable[AuthorityParams],
    policy: str | None = None,
    epoch: int | None = None,
) -> RecordHeader:
    """The same record under a new policy and/or epoch, sealed for the current parameters
    in ``params`` (so also how records follow an authority's rotation); the body is
    untouched, so the suite and the security labels stay the header's (a version-1 header
    comes back as version 2 or 3, still AES-256-GCM)."""
    data_key = open_header(header, keys)
    return seal_header(
        data_key,
        header.stream_id,
        policy or header.policy,
        params,
        current_epoch() if epoch is None else epoch,
        header.suite,
        labels=header.labels,
    )
