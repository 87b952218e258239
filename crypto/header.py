"""Record headers: the record's data key wrapped under a CP-ABE policy, per authority.

A policy naming several authorities must be an OR of single-authority parts
(``h1.role:doctor or (pj.role:doctor and pj.dept:cardiology)``); the data key is wrapped once
per authority under that authority's parts, each ANDed with the epoch clause (expiry). An AND
across authorities is refused: it needs decentralized multi-authority ABE (a later step).

The header is a separate object from the body, so :func:`rewrap` (new policy or epoch) costs
the same whatever the record's size. An HMAC under a key derived from the data key covers the
whole header, so a change to any byte, even in a wrap this reader does not use, is detected.

The header names the record's cipher suite (``crypto.suite``): the wraps' AEAD, the HKDF and
the HMAC use it, and so does the body. Version 2 carries the suite id after the version byte;
version 1 (no suite byte) is still read, as AES-256-GCM with SHA-256. :func:`rewrap` keeps
the suite, since the body (which it does not touch) was encrypted under it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace

from cryptography.exceptions import InvalidTag

from crypto.authority import AuthorityParams, UserKey
from crypto.encoding import Reader, Writer
from crypto.errors import DecryptionError, FormatError, KeyExpiredError, PolicyError
from crypto.expiry import MAX_EPOCH, bind_epoch, check_not_reserved, current_epoch
from crypto.fame import Fame, FameCiphertext
from crypto.formats import dump_ciphertext, load_ciphertext
from crypto.pairing import DEFAULT_GROUP
from crypto.policy import Attr, Gate, Node, leaves, parse_policy, to_text
from crypto.stream import STREAM_ID_BYTES
from crypto.suite import DEFAULT_SUITE, Suite, suite_by_id

VERSION = 2  # written; version 1 (no suite byte: AES-256-GCM) is still read
MAX_WRAPS = 64
SEALED_KEY_BYTES = 12 + 32 + 16
_FAME = Fame()


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
    wraps: tuple[Wrap, ...]
    mac: bytes = b""
    suite: Suite = DEFAULT_SUITE
    version: int = VERSION  # kept: the MAC covers the header as it was written

    def __post_init__(self) -> None:
        if self.version not in (1, 2) or (self.version == 1 and self.suite != DEFAULT_SUITE):
            raise ValueError("a record header is version 2, or version 1 in the AES suite")

    def _body(self) -> bytes:
        w = Writer().raw(b"ALRH").u8(self.version)
        if self.version >= 2:
            w.u8(self.suite.suite_id)
        w.raw(self.stream_id).text(self.policy)
        w.u32(self.epoch).u32(len(self.wraps))
        for wrap in self.wraps:
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
        if version not in (1, 2):
            raise FormatError(f"record header: unsupported version {version} (expected 1 or 2)")
        suite = suite_by_id(r.u8(), "record header") if version >= 2 else DEFAULT_SUITE
        stream_id = r.raw(STREAM_ID_BYTES)
        policy = r.text(65536)
        epoch = r.u32()
        if epoch > MAX_EPOCH:
            raise FormatError("record header: epoch out of range")
        wraps = []
        for _ in range(r.count(MAX_WRAPS, "wraps")):
            authority = r.text(64)
            generation = r.u32()
            fingerprint = r.raw(32)
            ciphertext = load_ciphertext(r.blob(1 << 22))
            wraps.append(Wrap(authority, generation, fingerprint, ciphertext, r.raw(60)))
        mac = r.raw(32)
        r.finish()
        if not wraps:
            raise FormatError("record header: no wraps")
        return cls(stream_id, policy, epoch, tuple(wraps), mac, suite, version)


def split_by_authority(policy: Node, authorities: Iterable[str]) -> dict[str, Node]:
    """Qualify the policy's attributes and split a top-level OR into per-authority parts."""
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
    for part in parts:
        owners = {leaf.authority for leaf in leaves(part)}
        if len(owners) != 1:
            raise PolicyError(
                f"'{to_text(part)}' combines attributes of authorities {sorted(map(str, owners))}: "
                "only an OR of single-authority parts is supported"
            )
        owner = owners.pop()
        assert owner is not None
        if owner not in known:
            raise PolicyError(f"no public parameters given for authority {owner!r}")
        grouped.setdefault(owner, []).append(part)
    return {a: ps[0] if len(ps) == 1 else Gate(1, tuple(ps)) for a, ps in grouped.items()}


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
) -> RecordHeader:
    """Wrap ``data_key`` under ``policy`` for the authorities in ``params``, in ``suite``."""
    if len(data_key) != 32 or len(stream_id) != STREAM_ID_BYTES:
        raise ValueError("data key must be 32 bytes and stream id 16 bytes")
    by_id = {p.authority: p for p in params}
    if not by_id:
        raise ValueError("at least one authority's public parameters are needed")
    epoch = current_epoch() if epoch is None else epoch
    parts = split_by_authority(parse_policy(policy), by_id)
    canonical = to_text(_join_or(list(parts.values())))
    wraps = []
    for authority, part in sorted(parts.items()):
        p = by_id[authority]
        z, ct = _FAME.encapsulate(p.fame, bind_epoch(part, epoch))
        wrap = Wrap(authority, p.generation, p.fingerprint, ct, b"")
        kek = suite.hkdf(DEFAULT_GROUP.dump_gt(z), stream_id, b"wrap-key")
        nonce = os.urandom(12)
        sealed = nonce + suite.aead(kek).encrypt(
            nonce, data_key, _wrap_context(suite, stream_id, canonical, epoch, wrap)
        )
        wraps.append(replace(wrap, sealed_key=sealed))
    header = RecordHeader(stream_id, canonical, epoch, tuple(wraps), suite=suite)
    return replace(header, mac=_mac(data_key, header))


def _join_or(parts: list[Node]) -> Node:
    flat: list[Node] = []
    for part in parts:
        flat.extend(part.children if isinstance(part, Gate) and part.is_or else (part,))
    return flat[0] if len(flat) == 1 else Gate(1, tuple(flat))


def open_header(header: RecordHeader, key: UserKey) -> bytes:
    """Recover the data key, or raise :class:`DecryptionError` saying why not."""
    wrap = next((w for w in header.wraps if w.authority == key.authority), None)
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
    kek = suite.hkdf(DEFAULT_GROUP.dump_gt(z), header.stream_id, b"wrap-key")
    context = _wrap_context(suite, header.stream_id, header.policy, header.epoch, wrap)
    try:
        data_key = suite.aead(kek).decrypt(wrap.sealed_key[:12], wrap.sealed_key[12:], context)
    except InvalidTag:
        raise DecryptionError("record header failed authentication (tampered)") from None
    if not hmac.compare_digest(_mac(data_key, header), header.mac):
        raise DecryptionError("record header failed authentication (tampered)")
    return data_key


def rewrap(
    header: RecordHeader,
    key: UserKey,
    params: Iterable[AuthorityParams],
    policy: str | None = None,
    epoch: int | None = None,
) -> RecordHeader:
    """The same record under a new policy and/or epoch; the body is untouched, so the suite
    stays the header's (a version-1 header comes back as version 2, still AES-256-GCM)."""
    data_key = open_header(header, key)
    return seal_header(
        data_key,
        header.stream_id,
        policy or header.policy,
        params,
        current_epoch() if epoch is None else epoch,
        header.suite,
    )
