"""FAME (Agrawal and Chase, CCS 2017) ciphertext-policy ABE as a key-encapsulation mechanism.

Type-3 pairing e: G1 x G2 -> GT, generators g (G1) and h (G2). One authority:

  setup:   a1, a2, b1, b2, d1, d2, d3 <- Zp
           pk = (H1 = h^a1, H2 = h^a2, T1 = e(g,h)^(d1 a1 + d3), T2 = e(g,h)^(d2 a2 + d3))
           msk = (a1, a2, b1, b2, g^d1, g^d2, g^d3)
  keygen:  r1, r2 <- Zp; K0 = (h^(b1 r1), h^(b2 r2), h^(r1+r2))
           per attribute y, sigma_y <- Zp, t in {1,2}:
             K_y,t = H(y,1,t)^(b1 r1/a_t) H(y,2,t)^(b2 r2/a_t) H(y,3,t)^((r1+r2)/a_t)
                     * g^(sigma_y/a_t)
             K_y,3 = g^(-sigma_y)
           sigma' <- Zp, K'_t like K_y,t with the column hashes H(0,1,l,t) and g^(d_t) in front,
           K'_3 = g^(d3) g^(-sigma')
  encrypt: LSSS (M, rho); s1, s2 <- Zp; C0 = (H1^s1, H2^s2, h^(s1+s2))
           C_i,l = H(rho(i),l,1)^s1 H(rho(i),l,2)^s2 prod_j [H(0,j,l,1)^s1 H(0,j,l,2)^s2]^M_ij
           encapsulated element Z = T1^s1 T2^s2
  decrypt: coefficients w with sum w_i M_i = (1,0,..,0);
           Z = prod_l e(K'_l + sum_i w_i K_rho(i),l, C0_l) / prod_l e(sum_i w_i C_i,l, K0_l)

Hashes are domain-separated per authority and kind (attribute vs matrix column), with
length-prefixed inputs, so no attribute name can collide with a column hash input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto.errors import DecryptionError, PolicyError
from crypto.lsss import build_matrix, reconstruction
from crypto.pairing import DEFAULT_GROUP, PairingGroup
from crypto.policy import Node, leaves, to_text


@dataclass(frozen=True)
class FamePublicKey:
    authority: str
    h_a: tuple[Any, Any]  # (h^a1, h^a2) in G2
    t: tuple[Any, Any]  # (T1, T2) in GT


@dataclass(frozen=True)
class FameMasterKey:
    a: tuple[Any, Any]
    b: tuple[Any, Any]
    g_d: tuple[Any, Any, Any]  # (g^d1, g^d2, g^d3) in G1


@dataclass(frozen=True)
class FameUserKey:
    authority: str
    attributes: tuple[str, ...]  # sorted, distinct
    k0: tuple[Any, Any, Any]  # G2
    k: dict[str, tuple[Any, Any, Any]]  # attribute -> 3 G1 elements
    kp: tuple[Any, Any, Any]  # G1


@dataclass(frozen=True)
class FameCiphertext:
    policy: str  # canonical policy text; the LSSS matrix is re-derived from it
    c0: tuple[Any, Any, Any]  # G2
    c: tuple[tuple[Any, Any, Any], ...]  # one triple of G1 elements per LSSS row


class Fame:
    """The scheme over one pairing group. Stateless; safe to share."""

    def __init__(self, group: PairingGroup = DEFAULT_GROUP) -> None:
        self.group = group

    # -- hashing ---------------------------------------------------------------------------
    def _attr_hash(self, authority: str, attribute: str, l_index: int, t: int) -> Any:
        return self.group.hash_to_g1("fame/attribute", authority, attribute, l_index, t)

    def _column_hash(self, authority: str, column: int, l_index: int, t: int) -> Any:
        return self.group.hash_to_g1("fame/column", authority, column, l_index, t)

    # -- setup and keys --------------------------------------------------------------------
    def setup(self, authority: str) -> tuple[FamePublicKey, FameMasterKey]:
        grp = self.group
        a1, a2, b1, b2, d1, d2, d3 = (grp.random_scalar() for _ in range(7))
        g, h = grp.g1(), grp.g2()
        e_gh = grp.pair(g, h)
        pk = FamePublicKey(
            authority=authority,
            h_a=(h * a1, h * a2),
            t=(e_gh ** (d1 * a1 + d3), e_gh ** (d2 * a2 + d3)),
        )
        msk = FameMasterKey(a=(a1, a2), b=(b1, b2), g_d=(g * d1, g * d2, g * d3))
        return pk, msk

    def keygen(self, pk: FamePublicKey, msk: FameMasterKey, attributes: list[str]) -> FameUserKey:
        grp = self.group
        g, h = grp.g1(), grp.g2()
        attrs = tuple(sorted(set(attributes)))
        r1, r2 = grp.random_scalar(), grp.random_scalar()
        b1r1, b2r2, rsum = msk.b[0] * r1, msk.b[1] * r2, r1 + r2
        k0 = (h * b1r1, h * b2r2, h * rsum)
        inv_a = (grp.scalar(1) / msk.a[0], grp.scalar(1) / msk.a[1])
        # Exponents of the three hashes, divided by a_t, for t = 1, 2.
        exps = [(b1r1 * inv, b2r2 * inv, rsum * inv) for inv in inv_a]

        def component(hashes: list[list[Any]], sigma: Any, t: int) -> Any:
            e1, e2, e3 = exps[t]
            return (
                hashes[0][t] * e1 + hashes[1][t] * e2 + hashes[2][t] * e3 + g * (sigma * inv_a[t])
            )

        k: dict[str, tuple[Any, Any, Any]] = {}
        for attribute in attrs:
            hashes = [
                [self._attr_hash(pk.authority, attribute, l_, t) for t in (1, 2)]
                for l_ in (1, 2, 3)
            ]
            sigma = grp.random_scalar()
            k[attribute] = (component(hashes, sigma, 0), component(hashes, sigma, 1), g * -sigma)
        col_hashes = [
            [self._column_hash(pk.authority, 1, l_, t) for t in (1, 2)] for l_ in (1, 2, 3)
        ]
        sigma_p = grp.random_scalar()
        kp = (
            msk.g_d[0] + component(col_hashes, sigma_p, 0),
            msk.g_d[1] + component(col_hashes, sigma_p, 1),
            msk.g_d[2] + g * -sigma_p,
        )
        return FameUserKey(authority=pk.authority, attributes=attrs, k0=k0, k=k, kp=kp)

    # -- encapsulation ---------------------------------------------------------------------
    def encapsulate(self, pk: FamePublicKey, policy: Node) -> tuple[Any, FameCiphertext]:
        """Return (Z, ciphertext): Z in GT is the shared secret, for a KDF."""
        grp = self.group
        matrix = build_matrix(policy)
        s1, s2 = grp.random_scalar(), grp.random_scalar()
        h = grp.g2()
        c0 = (pk.h_a[0] * s1, pk.h_a[1] * s2, h * (s1 + s2))
        # U[j][l] = H(0,j+1,l,1)^s1 H(0,j+1,l,2)^s2: shared by every row using column j.
        columns = [
            [
                self._column_hash(pk.authority, j + 1, l_, 1) * s1
                + self._column_hash(pk.authority, j + 1, l_, 2) * s2
                for l_ in (1, 2, 3)
            ]
            for j in range(matrix.columns)
        ]
        per_attribute: dict[str, list[Any]] = {}
        rows = []
        for label, row in zip(matrix.labels, matrix.rows, strict=True):
            base = per_attribute.get(label)
            if base is None:
                base = [
                    self._attr_hash(pk.authority, label, l_, 1) * s1
                    + self._attr_hash(pk.authority, label, l_, 2) * s2
                    for l_ in (1, 2, 3)
                ]
                per_attribute[label] = base
            triple = []
            for l_index in range(3):
                acc = base[l_index]
                for j, m in enumerate(row):
                    if m:
                        acc = acc + _times(columns[j][l_index], m, grp)
                triple.append(acc)
            rows.append((triple[0], triple[1], triple[2]))
        z = (pk.t[0] ** s1) * (pk.t[1] ** s2)
        return z, FameCiphertext(policy=to_text(policy), c0=c0, c=tuple(rows))

    def decapsulate(self, key: FameUserKey, ct: FameCiphertext, policy: Node) -> Any:
        """Recover Z; raise DecryptionError if the key's attributes do not satisfy the policy.

        ``policy`` must be the parsed ``ct.policy`` (callers parse once and check it).
        """
        grp = self.group
        if len(ct.c) != sum(1 for _ in leaves(policy)):
            raise DecryptionError("ciphertext rows do not match its policy")
        weights = reconstruction(policy, frozenset(key.attributes), grp.order)
        if weights is None:
            raise DecryptionError("the key's attributes do not satisfy the policy")
        labels = [leaf.name for leaf in leaves(policy)]
        num_terms: list[Any] = [None, None, None]
        den_terms: list[Any] = list(key.kp)
        for row, w in weights.items():
            k_attr = key.k[labels[row]]
            for l_index in range(3):
                c_term = _times(ct.c[row][l_index], w, grp)
                k_term = _times(k_attr[l_index], w, grp)
                num_terms[l_index] = (
                    c_term if num_terms[l_index] is None else num_terms[l_index] + c_term
                )
                den_terms[l_index] = den_terms[l_index] + k_term
        if any(t is None for t in num_terms):
            raise PolicyError("policy reconstruction used no rows")
        num = grp.pair(num_terms[0], key.k0[0])
        den = grp.pair(den_terms[0], ct.c0[0])
        for l_index in (1, 2):
            num = num * grp.pair(num_terms[l_index], key.k0[l_index])
            den = den * grp.pair(den_terms[l_index], ct.c0[l_index])
        return den / num


def _times(point: Any, m: int, grp: PairingGroup) -> Any:
    """point * m for a small or reduced integer m, skipping the scalar mult for +-1."""
    if m == 1:
        return point
    if m == -1 or m == grp.order - 1:
        return -point
    return point * grp.scalar(m)
