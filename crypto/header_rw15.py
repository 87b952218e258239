"""The RW15 wrap of a record header (``crypto.header`` version 3): the parts of a policy that
AND attributes of several authorities, sealed together under their OR with decentralised
multi-authority ABE (``crypto.rw15``), expiry bound per authority with ``rw15.bind_epoch``.

A wrap records, for every authority its policy names, the generation and the parameters'
fingerprint it was sealed for, so a reader holding a grant of a rotated-out generation is
told so, and :func:`crypto.header.rewrap` re-seals under the current parameters. The key
wrapping the data key is derived from the KEM secret; its AEAD associated data is a hash
of the whole RW15 ciphertext (every row, not only those a reader uses: the KEM does not
authenticate rows a key does not touch) and of the header fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crypto.authority import AuthorityParams
from crypto.encoding import Reader, Writer
from crypto.errors import DecryptionError, FormatError, KeyExpiredError, PolicyError
from crypto.pairing import DEFAULT_GROUP
from crypto.policy import Node, leaves, parse_policy
from crypto.rw15 import (
    AUTHORITY_ID,
    Rw15Ciphertext,
    Rw15PublicKey,
    Rw15UserKey,
    authority_of,
    bind_epoch,
    shared,
)
from crypto.rw15_formats import dump_ciphertext, load_ciphertext
from crypto.rw15_keys import Rw15Key
from crypto.suite import Suite

MAX_AUTHORITIES = 64
MAX_CIPHERTEXT_BYTES = 1 << 22


@dataclass(frozen=True)
class SealedFor:
    """One authority of an RW15 wrap, as it was when the wrap was sealed."""

    authority: str
    generation: int
    params_fingerprint: bytes


@dataclass(frozen=True)
class Rw15Wrap:
    sealed_for: tuple[SealedFor, ...]  # sorted by authority, distinct
    ciphertext: Rw15Ciphertext
    sealed_key: bytes

    @property
    def authority(self) -> str:
        """For display: the authorities joined with '+' (``h1+reg``)."""
        return "+".join(s.authority for s in self.sealed_for)

    def write(self, w: Writer) -> None:
        w.u32(len(self.sealed_for))
        for s in self.sealed_for:
            w.text(s.authority).u32(s.generation).raw(s.params_fingerprint)
        w.blob(dump_ciphertext(self.ciphertext)).raw(self.sealed_key)

    @classmethod
    def read(cls, r: Reader, sealed_key_bytes: int) -> Rw15Wrap:
        sealed_for = []
        for _ in range(r.count(MAX_AUTHORITIES, "authorities")):
            authority = r.text(64)
            if not AUTHORITY_ID.fullmatch(authority):
                raise FormatError(f"{r.what}: invalid authority id {authority!r}")
            sealed_for.append(SealedFor(authority, r.u32(), r.raw(32)))
        ciphertext = load_ciphertext(r.blob(MAX_CIPHERTEXT_BYTES))
        names = [s.authority for s in sealed_for]
        owners = {authority_of(leaf.name) for leaf in leaves(parse_policy(ciphertext.policy))}
        if names != sorted(owners):
            raise FormatError(f"{r.what}: RW15 wrap's authorities do not match its policy")
        return cls(tuple(sealed_for), ciphertext, r.raw(sealed_key_bytes))

    def context(self, suite: Suite, stream_id: bytes, policy: str, epoch: int) -> bytes:
        parts: list[bytes | str | int] = [stream_id, policy, epoch]
        for s in self.sealed_for:
            parts += [s.authority, s.generation, s.params_fingerprint]
        return suite.tagged_hash("rw15-wrap-context", *parts, dump_ciphertext(self.ciphertext))


def public_keys(policy: Node, params: Mapping[str, AuthorityParams]) -> dict[str, Rw15PublicKey]:
    """The RW15 public key of every authority ``policy`` names, or a clear PolicyError."""
    out: dict[str, Rw15PublicKey] = {}
    for authority in sorted({authority_of(leaf.name) for leaf in leaves(policy)}):
        p = params.get(authority)
        if p is None:
            raise PolicyError(f"no public parameters given for authority {authority!r}")
        if p.rw15 is None:
            raise PolicyError(
                f"authority {authority!r} publishes no RW15 parameters (version 1): it must "
                "rotate before a policy can AND its attributes with another authority's"
            )
        out[authority] = p.rw15
    return out


def encapsulate(
    policy: Node, params: Mapping[str, AuthorityParams], epoch: int
) -> tuple[bytes, Rw15Wrap]:
    """(secret for the KDF, the wrap without its sealed key) for ``policy`` at ``epoch``."""
    pks = public_keys(policy, params)
    z, ct = shared().encapsulate(pks, bind_epoch(policy, epoch))
    sealed_for = tuple(
        SealedFor(a, params[a].generation, params[a].fingerprint) for a in sorted(pks)
    )
    return DEFAULT_GROUP.dump_gt(z), Rw15Wrap(sealed_for, ct, b"")


def decapsulate(wrap: Rw15Wrap, key: Rw15Key, epoch: int, policy: str) -> bytes:
    """The KEM secret with the bundle's grants that match the wrap's generations, or a
    DecryptionError that says which grant is stale, expired or missing (``policy``: the
    header's, for the message: the wrap's own carries the epoch clauses)."""
    components: dict[str, tuple[object, object]] = {}
    stale, expired = [], []
    for s in wrap.sealed_for:
        grant = key.grant(s.authority)
        if grant is None:
            continue
        if grant.generation != s.generation or grant.params_fingerprint != s.params_fingerprint:
            stale.append(f"{s.authority} (yours: {grant.generation}, sealed: {s.generation})")
        elif grant.expiry_epoch < epoch:
            expired.append(s.authority)
        else:
            components.update(grant.key.components)
    try:
        z = shared().decapsulate(Rw15UserKey(key.gid, components), wrap.ciphertext)
    except DecryptionError:
        if expired:
            raise KeyExpiredError(
                f"the key of {', '.join(expired)} expired before the record was sealed"
            ) from None
        why = f"; keys of another generation: {', '.join(stale)}" if stale else ""
        raise DecryptionError(
            f"the keys of {key.gid} ({', '.join(key.attributes)}) do not satisfy the "
            f"policy {policy}{why}"
        ) from None
    return DEFAULT_GROUP.dump_gt(z)
