"""The pairing-group seam: a small interface and its implementation on pymcl (BLS12-381).

Scheme code depends only on :class:`PairingGroup` and the element operators below, so a
second backend (e.g. arkworks) can be added without touching the schemes.

Element conventions (what a backend's element types must support):
- G1 and G2 are written additively: ``P + Q``, ``-P``, ``P * s`` (s a scalar).
- GT is written multiplicatively: ``x * y``, ``x / y``, ``x ** s``.
- Scalars (Fr) support ``+ - * /`` and negation.

Every ``load_*`` enforces the exact encoding length, rejects the identity (no honest key or
ciphertext contains it, and it is the classic small-subgroup/neutral-element attack vector),
and relies on the backend to reject points off the prime-order subgroup.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Any, Protocol

import pymcl

from crypto.encoding import encode_parts, tagged_hash
from crypto.errors import FormatError

G1Element = Any
G2Element = Any
GTElement = Any
Scalar = Any


class PairingGroup(Protocol):
    """What the ABE schemes need from a type-3 pairing group."""

    name: str
    order: int
    g1_bytes: int
    g2_bytes: int
    gt_bytes: int
    scalar_bytes: int

    def g1(self) -> G1Element: ...
    def g2(self) -> G2Element: ...
    def random_scalar(self) -> Scalar: ...
    def scalar(self, value: int) -> Scalar: ...
    def hash_to_g1(self, tag: str, *parts: bytes | str | int) -> G1Element: ...
    def hash_to_g2(self, tag: str, *parts: bytes | str | int) -> G2Element: ...
    def hash_to_scalar(self, tag: str, *parts: bytes | str | int) -> Scalar: ...
    def pair(self, p: G1Element, q: G2Element) -> GTElement: ...
    def gt_one(self) -> GTElement: ...
    def dump_g1(self, p: G1Element) -> bytes: ...
    def dump_g2(self, q: G2Element) -> bytes: ...
    def dump_gt(self, x: GTElement) -> bytes: ...
    def dump_scalar(self, s: Scalar) -> bytes: ...
    def load_g1(self, data: bytes) -> G1Element: ...
    def load_g2(self, data: bytes) -> G2Element: ...
    def load_gt(self, data: bytes) -> GTElement: ...
    def load_scalar(self, data: bytes) -> Scalar: ...


@lru_cache(maxsize=65536)
def _mcl_hash_g1(tag: str, parts: tuple[bytes | str | int, ...]) -> Any:
    # Two independent map-to-curve encodings summed: the random-oracle construction
    # (as in RFC 9380 hash_to_curve); mcl's single map alone is only an encoding.
    message = tagged_hash("h2g1/" + tag) + encode_parts(parts)
    return pymcl.G1.hash(b"\x00" + message) + pymcl.G1.hash(b"\x01" + message)


@lru_cache(maxsize=65536)
def _mcl_hash_g2(tag: str, parts: tuple[bytes | str | int, ...]) -> Any:
    # The same construction in G2 (mcl's map clears the G2 cofactor); a distinct tag prefix
    # keeps G1 and G2 hashes of the same input unrelated.
    message = tagged_hash("h2g2/" + tag) + encode_parts(parts)
    return pymcl.G2.hash(b"\x00" + message) + pymcl.G2.hash(b"\x01" + message)


class MclBls12381:
    """BLS12-381 through pymcl (mcl): ~0.08 ms G1 mul, ~0.8 ms pairing on these machines.

    Hashes to G1 and G2 are cached (LRU): attribute, column and GID hashes recur across keys
    and ciphertexts, and they are public values, so caching leaks nothing.
    """

    name = "bls12-381/mcl"
    order = int(pymcl.r)
    g1_bytes = 48
    g2_bytes = 96
    gt_bytes = 576
    scalar_bytes = 32

    def g1(self) -> G1Element:
        return pymcl.g1

    def g2(self) -> G2Element:
        return pymcl.g2

    def random_scalar(self) -> Scalar:
        # Uniform in [1, r): zero would make a key or ciphertext component trivial.
        return pymcl.Fr(str(secrets.randbelow(self.order - 1) + 1))

    def scalar(self, value: int) -> Scalar:
        return pymcl.Fr(str(value % self.order))

    def hash_to_g1(self, tag: str, *parts: bytes | str | int) -> G1Element:
        return _mcl_hash_g1(tag, parts)

    def hash_to_g2(self, tag: str, *parts: bytes | str | int) -> G2Element:
        return _mcl_hash_g2(tag, parts)

    def hash_to_scalar(self, tag: str, *parts: bytes | str | int) -> Scalar:
        # 512 bits reduced mod r: statistically uniform.
        wide = tagged_hash("h2fr/" + tag, 0, *parts) + tagged_hash("h2fr/" + tag, 1, *parts)
        return self.scalar(int.from_bytes(wide, "big"))

    def pair(self, p: G1Element, q: G2Element) -> GTElement:
        return pymcl.pairing(p, q)

    def gt_one(self) -> GTElement:
        return pymcl.pairing(pymcl.g1, pymcl.g2) ** pymcl.Fr(0)

    def dump_g1(self, p: G1Element) -> bytes:
        return bytes(p.serialize())

    def dump_g2(self, q: G2Element) -> bytes:
        return bytes(q.serialize())

    def dump_gt(self, x: GTElement) -> bytes:
        return bytes(x.serialize())

    def dump_scalar(self, s: Scalar) -> bytes:
        return bytes(s.serialize())

    def _load(self, kind: Any, data: bytes, size: int, label: str) -> Any:
        if len(data) != size:
            raise FormatError(f"{label} element must be {size} bytes, got {len(data)}")
        try:
            element = kind.deserialize(bytes(data))
        except ValueError as exc:
            raise FormatError(f"{label} element is not a valid subgroup point") from exc
        return element

    def load_g1(self, data: bytes) -> G1Element:
        point = self._load(pymcl.G1, data, self.g1_bytes, "G1")
        if point.is_zero():
            raise FormatError("G1 element is the identity")
        return point

    def load_g2(self, data: bytes) -> G2Element:
        point = self._load(pymcl.G2, data, self.g2_bytes, "G2")
        if point.is_zero():
            raise FormatError("G2 element is the identity")
        return point

    def load_gt(self, data: bytes) -> GTElement:
        # mcl checks only that the bytes encode an Fp12 element; the order-r check is ours.
        value = self._load(pymcl.GT, data, self.gt_bytes, "GT")
        if value.is_one():
            raise FormatError("GT element is the identity")
        if not _pow_generic(value, self.order).is_one():
            raise FormatError("GT element is not in the order-r subgroup")
        return value

    def load_scalar(self, data: bytes) -> Scalar:
        value = self._load(pymcl.Fr, data, self.scalar_bytes, "scalar")
        if value.is_zero():
            raise FormatError("scalar is zero")
        return value


def _pow_generic(x: Any, exponent: int) -> Any:
    """x ** exponent by square-and-multiply with plain Fp12 products.

    mcl's own GT exponentiation may assume its input is already in GT (it can use
    endomorphisms valid only there), so membership is tested with generic arithmetic:
    x is in GT iff x^r == 1, as r^2 does not divide p^12 - 1. About 2-5 ms; only public
    parameters carry GT elements."""
    result, base = None, x
    while exponent:
        if exponent & 1:
            result = base if result is None else result * base
        exponent >>= 1
        if exponent:
            base = base * base
    return result


DEFAULT_GROUP: PairingGroup = MclBls12381()


def hash_cache_clear() -> None:
    """Forget cached hashes to G1 and G2 (benchmarks use it to measure cold costs)."""
    _mcl_hash_g1.cache_clear()
    _mcl_hash_g2.cache_clear()
