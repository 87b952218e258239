"""Fixed-base exponentiation by precomputed comb tables, over any group the seam exposes.

pymcl has no fixed-base or multi-scalar routines, but a group addition (G1: ~1 us) or GT
multiplication (~4 us) costs far less than a full scalar multiplication (G1: ~80 us, GT
exponentiation: ~250 us). For a base used again and again (a scheme's generators, an
authority's public key), a table of ``base^(d * 2^(w*i))`` for every window i and digit
d in [1, 2^w) turns an exponentiation into at most ceil(bits / w) table look-ups and group
operations:

    base^k = prod_i T[i][k_i],   k = sum_i k_i 2^(w*i),  0 <= k_i < 2^w

Table sizes (bits = 256): w = 8 gives 32 x 255 entries (G1: ~8 ms to build, 32 additions per
use); w = 6 gives 43 x 63 entries (GT: ~10 ms and ~1.7 MB, 43 multiplications per use).

The digits of the secret exponent select table entries, so running time and memory access
depend on the exponent: like everything above pymcl in this package, it is not constant-time.
The tables hold only public values (multiples of a public base).
"""

from __future__ import annotations

from typing import Any


class FixedBase:
    """``table(k)`` returns base^k (GT, ``multiplicative=True``) or base * k (G1/G2)."""

    def __init__(
        self, base: Any, identity: Any, *, multiplicative: bool, window: int, bits: int = 256
    ) -> None:
        if not 1 <= window <= 10:
            raise ValueError("window must be 1..10 bits")
        self.window = window
        self.bits = bits
        self.multiplicative = multiplicative
        self.identity = identity
        self.mask = (1 << window) - 1
        rows: list[list[Any]] = []
        start = base
        for _ in range(-(-bits // window)):
            row = [start]
            for _ in range(self.mask - 1):
                row.append(row[-1] * start if multiplicative else row[-1] + start)
            rows.append(row)
            start = row[-1] * start if multiplicative else row[-1] + start  # base^(2^w ...)
        self.rows = rows

    def __call__(self, exponent: int) -> Any:
        if not 0 <= exponent < 1 << self.bits:
            raise ValueError("exponent out of range for this table")
        acc: Any = None
        mask, window, mult = self.mask, self.window, self.multiplicative
        for row in self.rows:
            digit = exponent & mask
            if digit:
                entry = row[digit - 1]
                if acc is None:
                    acc = entry
                elif mult:
                    acc = acc * entry
                else:
                    acc = acc + entry
            exponent >>= window
        return self.identity if acc is None else acc
