"""Decentralised multi-authority CP-ABE (Rouselakis and Waters, FC 2015) as a KEM.

Reference: Y. Rouselakis, B. Waters, "Efficient Statically-Secure Large-Universe
Multi-Authority Attribute-Based Encryption", Financial Cryptography 2015 (ePrint 2015/016),
the prime-order construction, moved to a type-3 pairing e: G1 x G2 -> GT on BLS12-381.
No central authority: any number of authorities, each with its own keys; a user's keys
from several authorities combine only through the user's global identifier (GID).

  global:  label (e.g. "allianceledger/rw15/v1"); nothing up the sleeve:
           g1 = HashG1("rw15/g1", label), g2 = HashG2("rw15/g2", label), E = e(g1, g2)
           H(gid) = HashG2("rw15/gid", label, gid)        (GID hash)
           F(u)   = HashG2("rw15/attribute", label, u)    (attribute hash)
           Two tags, so no GID can ever hash to an attribute's point (Charm's
           abenc_maabe_rw15 uses one hash for both).
  authority theta:  alpha, y <- Zp;  pk = (E^alpha, g1^y);  sk = (alpha, y)
  keygen(gid, u) by the authority T(u) owning u:  t <- Zp (fresh per attribute)
           K_u  = g2^alpha * H(gid)^y * F(u)^t   in G2
           KP_u = g1^t                            in G1
  encrypt under an LSSS (M, rho) with n rows, l columns:
           s <- Zp; v = (s, v2..vl), w = (0, w2..wl) random; lambda_x = M_x.v, omega_x = M_x.w
           per row x, t_x <- Zp (fresh per row), theta = T(rho(x)):
             C1_x = E^lambda_x * (E^alpha_theta)^t_x   in GT
             C2_x = g1^(-t_x)                           in G1
             C3_x = (g1^y_theta)^t_x * g1^omega_x        in G1
             C4_x = F(rho(x))^t_x                       in G2
           encapsulated secret Z = E^s (the caller derives its symmetric key from Z with the
           project's HKDF, as for FAME)
  decrypt with coefficients c_x, sum c_x M_x = (1, 0, .., 0), over rows the key holds:
           each row: C1_x e(C2_x, K) e(C3_x, H(gid)) e(KP, C4_x) = E^lambda_x e(g1, H(gid))^omega_x
           Z = prod_x C1_x^c_x * prod_x [e(c_x C2_x, K_rho(x)) e(c_x KP_rho(x), C4_x)]
               * e(sum_x c_x C3_x, H(gid))             (2|rows| + 1 pairings)

Policies are the project's language and LSSS (``crypto.policy``, ``crypto.lsss``): any
monotone formula with AND, OR and K-of-N gates. Every attribute must name its authority,
``h1.dept:cardiology``, ``reg.title:chief-physician``: the prefix before the first dot is
T(u). An authority issues only attributes with its own prefix.

Expiry (a design decision). As in FAME (``crypto.expiry``), a key valid through epoch E
holds reserved attributes for the dyadic intervals covering [0, E], here one set per
authority (``h1._epoch.l<level>:<prefix>``, at most 16, issued with the key by
:func:`issue`), and :func:`bind_epoch` ANDs a ciphertext's policy with the clause "some
interval containing t" of *each authority whose attributes are used*: every maximal
single-authority subtree S becomes (S and clause_A); in an AND gate the clause of each
authority is added once. So a key set opens a record sealed at epoch t only if the key of
every authority it relies on was valid at t: a doctor whose hospital key expired cannot read
new hospital-gated records with a fresh regulator title, nor the other way round. A clause
costs 16 OR rows (they share one E^lambda and one g1^omega; each row still has its own t_x),
and one extra row (two pairings) per authority at decryption. A policy with more than ~60
single-authority subtrees exceeds the policy language's 1,024 leaves once bound and is
refused with PolicyError (never truncated).

Pitfalls of "A Bunch of Broken Schemes" (Venema and Alpar, 2021) avoided here: fresh t_x per
row (never shared, also not among OR rows with equal shares) and fresh t per attribute key;
the shares of zero omega_x blind the H(gid) terms, so rows decrypted with keys of two GIDs do
not cancel (a key bundle holds one GID, :meth:`Rw15UserKey.merge` refuses two, and forced
combinations give a wrong element, see the tests); the LSSS comes from ``crypto.lsss``
(Lewko-Waters AND splits with fresh column randomness, Shamir thresholds) and the tests check
that a key missing one AND child cannot reach (1, 0, .., 0), unlike CIRCL's TKN20 AND-gate bug;
hash inputs are tagged and length-prefixed; random scalars are never zero; public keys are
subgroup-checked on load. Key components of one authority are useless for another's rows:
the row uses the owner's E^alpha and g1^y.

Speed: pymcl offers no multi-pairing, Miller-loop products or fixed-base routines, so the
fixed bases (g1, E, each authority's g1^y and E^alpha) use comb tables
(``crypto.fixed_base``); hashes to G2 are LRU-cached (public values); coefficients +-1 skip
scalar multiplications; all coefficient multiplications are in G1 (the cheap group).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crypto import expiry
from crypto.errors import DecryptionError, PolicyError
from crypto.fixed_base import FixedBase
from crypto.lsss import build_matrix, reconstruction
from crypto.pairing import DEFAULT_GROUP, PairingGroup
from crypto.policy import Attr, Gate, Node, leaves, parse_policy, to_text, validate_attribute

DEFAULT_LABEL = "allianceledger/rw15/v1"
# The same rule as crypto.authority.validate_authority_id (kept here to avoid an import cycle
# once crypto.authority issues RW15 keys).
AUTHORITY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
GID_PATTERN = re.compile(r"0x[0-9a-f]{40}")
LABEL_PATTERN = re.compile(r"[a-z0-9][a-z0-9/._-]{0,63}")
_MAX_TABLES = 64


def normalize_gid(gid: str) -> str:
    """A GID is a staff member's own key address: ``0x`` + 40 hex digits, kept lowercase (so
    a checksummed and a lowercase spelling name the same person)."""
    canonical = gid.strip().lower()
    if not GID_PATTERN.fullmatch(canonical):
        raise ValueError(f"invalid GID {gid!r}: expected an address, 0x + 40 hex digits")
    return canonical


def authority_of(attribute: str) -> str:
    """T(u): the authority prefix of a qualified attribute, or :class:`PolicyError`."""
    owner = Attr(validate_attribute(attribute)).authority
    if owner is None or not AUTHORITY_ID.fullmatch(owner):
        raise PolicyError(
            f"attribute {attribute!r} names no authority: write <authority>.<name>:<value>"
        )
    return owner


def is_reserved(attribute: str) -> bool:
    """Reserved (expiry) attributes have a name component starting with '_'."""
    name = attribute.split(":", 1)[0]
    return any(part.startswith(expiry.RESERVED_PREFIX) for part in name.split("."))


@dataclass(frozen=True)
class Rw15PublicKey:
    authority: str
    e_alpha: Any  # E^alpha in GT
    g_y: Any  # g1^y in G1


@dataclass(frozen=True)
class Rw15SecretKey:
    authority: str
    alpha: Any  # scalar
    y: Any  # scalar


@dataclass(frozen=True)
class Rw15UserKey:
    """One GID's attribute keys, possibly from several authorities."""

    gid: str
    components: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # u -> (K_u, KP_u)

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(sorted(self.components))

    def merge(self, *others: Rw15UserKey) -> Rw15UserKey:
        """This GID's keys from several authorities in one bundle; a later key replaces an
        earlier one for the same attribute. Keys of another GID are refused."""
        components = dict(self.components)
        for other in others:
            if other.gid != self.gid:
                raise DecryptionError("keys of different GIDs cannot be combined")
            components.update(other.components)
        return Rw15UserKey(self.gid, dict(sorted(components.items())))


@dataclass(frozen=True)
class Rw15Ciphertext:
    policy: str  # canonical policy text; the LSSS matrix is re-derived from it
    rows: tuple[tuple[Any, Any, Any, Any], ...]  # (C1 GT, C2 G1, C3 G1, C4 G2) per LSSS row


class Rw15:
    """The scheme over one pairing group and one global label. Safe to share; it keeps
    caches of public values only (comb tables of public bases)."""

    def __init__(self, group: PairingGroup = DEFAULT_GROUP, label: str = DEFAULT_LABEL) -> None:
        if not LABEL_PATTERN.fullmatch(label):
            raise ValueError(f"invalid global label {label!r}")
        self.group = group
        self.label = label
        self.g1 = group.hash_to_g1("rw15/g1", label)
        self.g2 = group.hash_to_g2("rw15/g2", label)
        self.e = group.pair(self.g1, self.g2)
        self._tables: dict[bytes, FixedBase] = {}
        self._tables_lock = threading.Lock()  # gateways share one instance across threads

    # -- hashes and tables -------------------------------------------------------------------
    def gid_hash(self, gid: str) -> Any:
        """H(gid) in G2, tagged apart from the attribute hash."""
        return self.group.hash_to_g2("rw15/gid", self.label, normalize_gid(gid))

    def attribute_hash(self, attribute: str) -> Any:
        """F(u) in G2."""
        return self.group.hash_to_g2("rw15/attribute", self.label, attribute)

    def _random(self) -> int:
        return secrets.randbelow(self.group.order - 1) + 1

    def _table_g1(self, point: Any) -> FixedBase:
        key = b"1" + self.group.dump_g1(point)
        table = self._tables.get(key)
        if table is None:
            table = FixedBase(point, point * self.group.scalar(0), multiplicative=False, window=8)
            self._remember(key, table)
        return table

    def _table_gt(self, value: Any) -> FixedBase:
        key = b"T" + self.group.dump_gt(value)
        table = self._tables.get(key)
        if table is None:
            table = FixedBase(value, self.group.gt_one(), multiplicative=True, window=6)
            self._remember(key, table)
        return table

    def _remember(self, key: bytes, table: FixedBase) -> None:
        with self._tables_lock:
            if len(self._tables) >= _MAX_TABLES:
                self._tables.pop(next(iter(self._tables)), None)
            self._tables[key] = table

    def clear_tables(self) -> None:
        """Forget comb tables (benchmarks use it to measure cold costs)."""
        self._tables.clear()

    # -- authorities and keys ----------------------------------------------------------------
    def setup_authority(self, authority: str) -> tuple[Rw15PublicKey, Rw15SecretKey]:
        if not AUTHORITY_ID.fullmatch(authority):
            raise ValueError(f"invalid authority id {authority!r}")
        alpha, y = self._random(), self._random()
        pk = Rw15PublicKey(authority, self._table_gt(self.e)(alpha), self._table_g1(self.g1)(y))
        sk = Rw15SecretKey(authority, self.group.scalar(alpha), self.group.scalar(y))
        return pk, sk

    def keygen(self, sk: Rw15SecretKey, gid: str, attributes: Iterable[str]) -> Rw15UserKey:
        """Keys for ``gid`` and each attribute, all of which must belong to ``sk``'s
        authority. Reserved (expiry) attributes are allowed here: :func:`issue` adds them."""
        gid = normalize_gid(gid)
        attrs = sorted(set(attributes))
        if not attrs:
            raise ValueError("no attributes to issue")
        for attribute in attrs:
            if authority_of(attribute) != sk.authority:
                raise PolicyError(
                    f"authority {sk.authority!r} cannot issue {attribute!r} "
                    f"(it belongs to {authority_of(attribute)!r})"
                )
        grp = self.group
        base = self.g2 * sk.alpha + self.gid_hash(gid) * sk.y  # g2^alpha H(gid)^y, per call
        g1_table = self._table_g1(self.g1)
        components: dict[str, tuple[Any, Any]] = {}
        for attribute in attrs:
            t = self._random()
            components[attribute] = (
                base + self.attribute_hash(attribute) * grp.scalar(t),
                g1_table(t),
            )
        return Rw15UserKey(gid, components)

    # -- encapsulation -----------------------------------------------------------------------
    def encapsulate(
        self, pks: Mapping[str, Rw15PublicKey], policy: Node
    ) -> tuple[Any, Rw15Ciphertext]:
        """Return (Z, ciphertext): Z in GT is the shared secret, for a KDF. ``pks`` maps each
        authority named in the policy to its public key."""
        grp, order = self.group, self.group.order
        text = to_text(policy)
        policy = parse_policy(text)  # canonical tree: the one decryption re-derives
        matrix = build_matrix(policy)
        owners = []
        for label in matrix.labels:
            owner = authority_of(label)
            pk = pks.get(owner)
            if pk is None or pk.authority != owner:
                raise PolicyError(f"no public key given for authority {owner!r}")
            owners.append(pk)
        v = [self._random() for _ in range(matrix.columns)]
        w = [0, *(self._random() for _ in range(matrix.columns - 1))]
        e_table, g_table = self._table_gt(self.e), self._table_g1(self.g1)
        # Rows with equal M_x (an OR's children) have equal shares: compute E^lambda and
        # g1^omega once per distinct row. Each row still gets its own t_x below.
        shares: dict[tuple[int, ...], tuple[Any, Any]] = {}
        rows = []
        for label, row, pk in zip(matrix.labels, matrix.rows, owners, strict=True):
            share = shares.get(row)
            if share is None:
                lam = sum(m * vj for m, vj in zip(row, v, strict=True) if m) % order
                omega = sum(m * wj for m, wj in zip(row, w, strict=True) if m) % order
                share = (e_table(lam), g_table(omega) if omega else None)
                shares[row] = share
            t = self._random()
            c3 = self._table_g1(pk.g_y)(t)
            rows.append(
                (
                    share[0] * self._table_gt(pk.e_alpha)(t),
                    g_table(order - t),
                    c3 if share[1] is None else c3 + share[1],
                    self.attribute_hash(label) * grp.scalar(t),
                )
            )
        return e_table(v[0]), Rw15Ciphertext(policy=text, rows=tuple(rows))

    def decapsulate(self, key: Rw15UserKey, ct: Rw15Ciphertext, policy: Node | None = None) -> Any:
        """Recover Z; raise DecryptionError if the key's attributes do not satisfy the policy.

        ``policy`` may be passed as the already parsed ``ct.policy``."""
        policy = parse_policy(ct.policy) if policy is None else policy
        labels = [leaf.name for leaf in leaves(policy)]
        if len(ct.rows) != len(labels):
            raise DecryptionError("ciphertext rows do not match its policy")
        weights = reconstruction(policy, frozenset(key.components), self.group.order)
        if weights is None:
            raise DecryptionError("the key's attributes do not satisfy the policy")
        return self.combine(key, ct, labels, weights)

    def combine(
        self, key: Rw15UserKey, ct: Rw15Ciphertext, labels: list[str], weights: Mapping[int, int]
    ) -> Any:
        """The decryption product for given rows and coefficients (public for tests that
        try forged coefficients; :meth:`decapsulate` is the API)."""
        grp = self.group
        gt_acc: Any = None
        c3_acc: Any = None
        for row, c in weights.items():
            c1, c2, c3, c4 = ct.rows[row]
            k, kp = key.components[labels[row]]
            if c != 1:
                c1 = c1 ** grp.scalar(c)
                c2, c3, kp = _times(c2, c, grp), _times(c3, c, grp), _times(kp, c, grp)
            term = c1 * grp.pair(c2, k) * grp.pair(kp, c4)
            gt_acc = term if gt_acc is None else gt_acc * term
            c3_acc = c3 if c3_acc is None else c3_acc + c3
        if gt_acc is None:
            raise PolicyError("policy reconstruction used no rows")
        return gt_acc * grp.pair(c3_acc, self.gid_hash(key.gid))


_SHARED: Rw15 | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> Rw15:
    """The process's one instance over the default group and label: its comb tables cost
    ~1.7 MB per GT base, so every caller (headers, authorities) shares them."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Rw15()
        return _SHARED


def _times(point: Any, m: int, grp: PairingGroup) -> Any:
    """point * m for a reduced integer m, skipping the scalar multiplication for +-1."""
    if m == 1:
        return point
    if m == grp.order - 1:
        return -point
    return point * grp.scalar(m)


# -- expiry, bound by the scheme (see the module docstring) ----------------------------------
def cover_attributes(authority: str, expiry_epoch: int) -> list[str]:
    """The reserved attributes an authority issues with a key valid through ``expiry_epoch``."""
    return [f"{authority}.{a}" for a in expiry.cover_attributes(expiry_epoch)]


def epoch_clause(authority: str, epoch: int) -> Node:
    """Satisfied exactly by the keys of ``authority`` valid at ``epoch``."""
    clause = expiry.epoch_clause(epoch)
    assert isinstance(clause, Gate)
    return Gate(1, tuple(Attr(f"{authority}.{c.name}") for c in leaves(clause)))


def issue(
    scheme: Rw15,
    sk: Rw15SecretKey,
    gid: str,
    attributes: Iterable[str],
    expiry_epoch: int,
) -> Rw15UserKey:
    """An authority's keys for ``gid``: the attributes plus the expiry cover of [0, E]."""
    attrs = list(attributes)
    for attribute in attrs:
        if is_reserved(attribute):
            raise PolicyError(f"attribute {attribute!r} is reserved")
    return scheme.keygen(sk, gid, [*attrs, *cover_attributes(sk.authority, expiry_epoch)])


def _owners(node: Node) -> set[str]:
    return {authority_of(leaf.name) for leaf in leaves(node)}


def bind_epoch(policy: Node, epoch: int) -> Node:
    """``policy`` with the epoch clause of each authority it relies on (canonical form)."""
    for leaf in leaves(policy):
        if is_reserved(leaf.name):
            raise PolicyError(f"attribute {leaf.name!r} uses a reserved name")
    return parse_policy(to_text(_bind(policy, epoch)))


def _bind(node: Node, epoch: int) -> Node:
    owners = _owners(node)
    if len(owners) == 1:
        clause = epoch_clause(owners.pop(), epoch)
        if isinstance(node, Gate) and node.is_and:
            return Gate(len(node.children) + 1, (*node.children, clause))
        return Gate(2, (node, clause))
    assert isinstance(node, Gate)
    if not node.is_and:
        return Gate(node.threshold, tuple(_bind(child, epoch) for child in node.children))
    kept: list[Node] = []
    needed: set[str] = set()
    for child in node.children:
        child_owners = _owners(child)
        if len(child_owners) == 1:
            kept.append(child)
            needed |= child_owners
        else:
            kept.append(_bind(child, epoch))
    kept.extend(epoch_clause(a, epoch) for a in sorted(needed))
    return Gate(len(kept), tuple(kept))
