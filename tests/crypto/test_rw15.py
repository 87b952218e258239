"""RW15 multi-authority ABE: correctness against a boolean evaluator, collusion across GIDs,
the AND-gate share split, per-authority expiry, and the pitfalls of broken MA-ABE schemes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crypto.errors import DecryptionError, PolicyError
from crypto.lsss import build_matrix
from crypto.policy import MAX_LEAVES, Attr, Node, leaves, parse_policy, satisfies, to_text
from crypto.rw15 import (
    Rw15,
    Rw15PublicKey,
    Rw15SecretKey,
    Rw15UserKey,
    _bind,
    authority_of,
    bind_epoch,
    cover_attributes,
    issue,
)
from tests.crypto.strategies import policies

RW15 = Rw15()
AUTHORITIES = ("h1", "pj", "reg")
UNIVERSE = [f"{a}.a{i}:v" for a in AUTHORITIES for i in range(4)]
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20


@dataclass
class Authorities:
    pks: dict[str, Rw15PublicKey]
    sks: dict[str, Rw15SecretKey]

    def key(self, gid: str, attributes: Iterable[str]) -> Rw15UserKey:
        """One GID's keys from every authority that owns one of ``attributes``."""
        by_owner: dict[str, list[str]] = {}
        for attribute in attributes:
            by_owner.setdefault(authority_of(attribute), []).append(attribute)
        key = Rw15UserKey(gid.lower(), {})
        for owner, attrs in by_owner.items():
            key = key.merge(RW15.keygen(self.sks[owner], gid, attrs))
        return key


@pytest.fixture(scope="module")
def auth() -> Authorities:
    pairs = {a: RW15.setup_authority(a) for a in AUTHORITIES}
    return Authorities({a: p[0] for a, p in pairs.items()}, {a: p[1] for a, p in pairs.items()})


def _pooled(gid: str, *keys: Rw15UserKey) -> Rw15UserKey:
    """Colluders pool components under one GID label (bypassing merge's refusal)."""
    components: dict[str, tuple[object, object]] = {}
    for key in keys:
        components.update(key.components)
    return Rw15UserKey(gid, components)


# -- correctness ------------------------------------------------------------------------------
@st.composite
def policy_and_key_attributes(draw: st.DrawFn, max_depth: int = 4) -> tuple[Node, frozenset[str]]:
    """A policy and an attribute set near it: its own attributes minus a few (so that both
    outcomes, and near misses, are common) plus a few others."""
    policy = draw(policies(max_depth=max_depth, universe=UNIVERSE))
    own = sorted({leaf.name for leaf in leaves(policy)})
    dropped = draw(st.frozensets(st.sampled_from(own), max_size=min(2, len(own))))
    extra = draw(st.frozensets(st.sampled_from(UNIVERSE), max_size=3))
    return policy, (frozenset(own) - dropped) | extra


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=policy_and_key_attributes())
def test_decrypts_exactly_when_satisfied(
    auth: Authorities, case: tuple[Node, frozenset[str]]
) -> None:
    policy, attrs = case
    z, ct = RW15.encapsulate(auth.pks, policy)
    ok = satisfies(policy, attrs)
    event(f"satisfied: {ok}")
    if not attrs:
        assert not ok
        return
    key = auth.key(ALICE, attrs)
    if ok:
        assert RW15.decapsulate(key, ct) == z
    else:
        with pytest.raises(DecryptionError, match="do not satisfy"):
            RW15.decapsulate(key, ct)


def test_cross_authority_policies_with_thresholds(auth: Authorities) -> None:
    policy = parse_policy(
        "pj.dept:oncology and 2 of (reg.title:attending, reg.licence:oncology, "
        "h1.program:tumour-board)"
    )
    z, ct = RW15.encapsulate(auth.pks, policy)
    for attrs, ok in [
        (["pj.dept:oncology", "reg.title:attending", "h1.program:tumour-board"], True),
        (["pj.dept:oncology", "reg.licence:oncology", "reg.title:attending"], True),
        (["pj.dept:oncology", "reg.title:attending"], False),
        (["reg.title:attending", "reg.licence:oncology", "h1.program:tumour-board"], False),
    ]:
        key = auth.key(ALICE, attrs)
        if ok:
            assert RW15.decapsulate(key, ct) == z
        else:
            with pytest.raises(DecryptionError):
                RW15.decapsulate(key, ct)


def test_same_attribute_in_several_rows(auth: Authorities) -> None:
    policy = parse_policy("(h1.a:1 and reg.b:1) or (h1.a:1 and pj.c:1) or 2 of (h1.a:1, reg.b:1)")
    z, ct = RW15.encapsulate(auth.pks, policy)
    assert RW15.decapsulate(auth.key(ALICE, ["h1.a:1", "pj.c:1"]), ct) == z
    assert RW15.decapsulate(auth.key(BOB, ["h1.a:1", "reg.b:1"]), ct) == z


def test_refusals(auth: Authorities) -> None:
    with pytest.raises(PolicyError, match="names no authority"):
        RW15.encapsulate(auth.pks, parse_policy("role:doctor"))
    with pytest.raises(PolicyError, match="no public key"):
        RW15.encapsulate(auth.pks, parse_policy("h1.role:doctor and zz.role:x"))
    with pytest.raises(PolicyError, match="cannot issue"):
        RW15.keygen(auth.sks["h1"], ALICE, ["reg.title:chief-physician"])
    with pytest.raises(ValueError, match="GID"):
        RW15.keygen(auth.sks["h1"], "dr-li", ["h1.role:doctor"])
    # A checksummed address and its lowercase spelling are one GID.
    mixed = "0x" + "aB" * 20
    key = RW15.keygen(auth.sks["h1"], mixed, ["h1.role:doctor"])
    assert key.gid == mixed.lower()


# -- collusion across GIDs --------------------------------------------------------------------
def test_two_gids_pooling_keys_of_different_authorities_decrypt_nothing(
    auth: Authorities,
) -> None:
    policy = parse_policy("h1.dept:cardiology and reg.title:chief-physician")
    z, ct = RW15.encapsulate(auth.pks, policy)
    alice = auth.key(ALICE, ["h1.dept:cardiology", "reg.title:attending"])
    bob = auth.key(BOB, ["h1.dept:oncology", "reg.title:chief-physician"])
    for user in (alice, bob):
        with pytest.raises(DecryptionError):
            RW15.decapsulate(user, ct)
    with pytest.raises(DecryptionError, match="different GIDs"):
        alice.merge(bob)
    for gid in (ALICE, BOB):
        pooled = _pooled(gid, alice, bob)
        assert satisfies(policy, pooled.attributes)
        assert RW15.decapsulate(pooled, ct) != z


def test_two_gids_pooling_keys_of_one_authority_decrypt_nothing(auth: Authorities) -> None:
    for text in ("h1.role:doctor and h1.dept:cardiology", "2 of (h1.x:1, h1.y:1, h1.z:1)"):
        policy = parse_policy(text)
        z, ct = RW15.encapsulate(auth.pks, policy)
        names = [leaf.name for leaf in leaves(policy)]
        alice = auth.key(ALICE, [names[0]])
        bob = auth.key(BOB, [names[1]])
        for gid in (ALICE, BOB):
            assert RW15.decapsulate(_pooled(gid, alice, bob), ct) != z


# -- the AND-gate share split (CIRCL TKN20's bug) ---------------------------------------------
def _in_span(rows: list[tuple[int, ...]], target: tuple[int, ...], p: int) -> bool:
    """Is ``target`` a linear combination of ``rows`` over GF(p)? (Gaussian elimination.)"""
    basis: list[list[int]] = []  # rows in echelon form, with their pivot columns
    pivots: list[int] = []

    def reduce(vector: list[int]) -> list[int]:
        vector = [x % p for x in vector]
        for row, col in zip(basis, pivots, strict=True):
            if vector[col]:
                f = vector[col]
                vector = [(a - f * b) % p for a, b in zip(vector, row, strict=True)]
        return vector

    for row in rows:
        vector = reduce(list(row))
        col = next((i for i, x in enumerate(vector) if x), None)
        if col is not None:
            inv = pow(vector[col], -1, p)
            basis.append([x * inv % p for x in vector])
            pivots.append(col)
    return not any(reduce(list(target)))


@settings(max_examples=150, deadline=None)
@given(case=policy_and_key_attributes())
def test_lsss_rows_span_the_target_exactly_when_satisfied(
    case: tuple[Node, frozenset[str]],
) -> None:
    policy, attrs = case
    canonical = parse_policy(to_text(policy))
    matrix = build_matrix(canonical)
    held = [row for row, label in zip(matrix.rows, matrix.labels, strict=True) if label in attrs]
    target = (1,) + (0,) * (matrix.columns - 1)
    assert _in_span(held, target, RW15.group.order) == satisfies(canonical, attrs)


def test_key_missing_one_and_child_fails_even_with_forged_coefficients(
    auth: Authorities,
) -> None:
    policy = parse_policy(
        "h1.dept:cardiology and reg.title:chief and 2 of (pj.a:1, h1.b:1 and reg.c:1, pj.d:1)"
    )
    names = [leaf.name for leaf in leaves(policy)]
    z, ct = RW15.encapsulate(auth.pks, policy)
    full = ["h1.dept:cardiology", "reg.title:chief", "pj.a:1", "h1.b:1", "reg.c:1"]
    assert RW15.decapsulate(auth.key(ALICE, full), ct) == z
    for missing in ("h1.dept:cardiology", "reg.title:chief", "reg.c:1"):
        # Without reg.c:1 the inner AND fails, so the 2 of (...) has one child: pj.a:1.
        held = [a for a in full if a != missing]
        key = auth.key(ALICE, held)
        with pytest.raises(DecryptionError, match="do not satisfy"):
            RW15.decapsulate(key, ct)
        # What a share-split bug would let through: weight 1 on every row held.
        rows = [i for i, name in enumerate(names) if name in key.components]
        assert RW15.combine(key, ct, names, dict.fromkeys(rows, 1)) != z


# -- randomness: no reuse across rows or attribute keys ---------------------------------------
def test_fresh_randomness_per_row_and_per_attribute(auth: Authorities) -> None:
    policy = parse_policy("h1.a:1 or h1.b:1 or h1.a:1 or (reg.c:1 and pj.d:1)")
    _, ct = RW15.encapsulate(auth.pks, policy)
    for index in (1, 2, 3):
        assert len({RW15.group.dump_g1(row[index]) for row in ct.rows}) == len(ct.rows)
    _, ct2 = RW15.encapsulate(auth.pks, policy)
    assert {RW15.group.dump_gt(r[0]) for r in ct.rows}.isdisjoint(
        RW15.group.dump_gt(r[0]) for r in ct2.rows
    )
    key = RW15.keygen(auth.sks["h1"], ALICE, ["h1.a:1", "h1.b:1", "h1.c:1"])
    assert len({RW15.group.dump_g1(kp) for _, kp in key.components.values()}) == 3


def test_gid_and_attribute_hashes_are_domain_separated() -> None:
    grp = RW15.group
    assert RW15.gid_hash(ALICE) != grp.hash_to_g2("rw15/attribute", RW15.label, ALICE)
    assert RW15.attribute_hash("h1.a:1") != grp.hash_to_g2("rw15/gid", RW15.label, "h1.a:1")
    other = Rw15(label="another/alliance")
    assert other.gid_hash(ALICE) != RW15.gid_hash(ALICE)
    assert other.g1 != RW15.g1 and other.g2 != RW15.g2


def test_keys_of_another_authority_instance_give_a_wrong_element(auth: Authorities) -> None:
    _, rogue = RW15.setup_authority("h1")  # same id, different secret
    policy = parse_policy("h1.role:doctor")
    z, ct = RW15.encapsulate(auth.pks, policy)
    assert RW15.decapsulate(RW15.keygen(rogue, ALICE, ["h1.role:doctor"]), ct) != z


# -- expiry -----------------------------------------------------------------------------------
def _issued(auth: Authorities, gid: str, attrs: list[str], expiry: dict[str, int]) -> Rw15UserKey:
    key = Rw15UserKey(gid, {})
    for owner in sorted({authority_of(a) for a in attrs}):
        mine = [a for a in attrs if authority_of(a) == owner]
        key = key.merge(issue(RW15, auth.sks[owner], gid, mine, expiry[owner]))
    return key


def test_expiry_is_enforced_per_authority(auth: Authorities) -> None:
    attrs = ["h1.dept:cardiology", "reg.title:chief"]
    both = parse_policy("h1.dept:cardiology and reg.title:chief")
    either = parse_policy("h1.dept:cardiology or reg.title:chief")
    fresh = _issued(auth, ALICE, attrs, {"h1": 1000, "reg": 1000})
    stale_h1 = _issued(auth, BOB, attrs, {"h1": 499, "reg": 1000})
    for epoch in (0, 499, 500, 1000):
        z, ct = RW15.encapsulate(auth.pks, bind_epoch(both, epoch))
        assert RW15.decapsulate(fresh, ct) == z
        if epoch <= 499:
            assert RW15.decapsulate(stale_h1, ct) == z
        else:
            with pytest.raises(DecryptionError):
                RW15.decapsulate(stale_h1, ct)
    z, ct = RW15.encapsulate(auth.pks, bind_epoch(either, 500))
    assert RW15.decapsulate(stale_h1, ct) == z  # through the regulator's fresh key
    only_h1 = _issued(auth, BOB, ["h1.dept:cardiology"], {"h1": 499})
    with pytest.raises(DecryptionError):
        RW15.decapsulate(only_h1, ct)
    with pytest.raises(DecryptionError):
        RW15.decapsulate(fresh, RW15.encapsulate(auth.pks, bind_epoch(both, 1001))[1])


def test_expiry_cover_of_one_authority_does_not_serve_another(auth: Authorities) -> None:
    # reg's title issued without any expiry cover, h1's with a long one: the reg clause
    # of a bound record needs reg's own cover.
    key = _issued(auth, ALICE, ["h1.dept:cardiology"], {"h1": 5000}).merge(
        RW15.keygen(auth.sks["reg"], ALICE, ["reg.title:chief"])
    )
    policy = bind_epoch(parse_policy("h1.dept:cardiology and reg.title:chief"), 10)
    _, ct = RW15.encapsulate(auth.pks, policy)
    with pytest.raises(DecryptionError):
        RW15.decapsulate(key, ct)


def test_reserved_attributes_are_refused(auth: Authorities) -> None:
    with pytest.raises(PolicyError, match="reserved"):
        issue(RW15, auth.sks["h1"], ALICE, ["h1._epoch.l0:1"], 10)
    with pytest.raises(PolicyError, match="reserved"):
        bind_epoch(parse_policy("h1._epoch.l0:1 or h1.a:1"), 10)
    assert all(a.startswith("h1._epoch.") for a in cover_attributes("h1", 77))


@settings(max_examples=200, deadline=None)
@given(
    case=policy_and_key_attributes(),
    expiries=st.fixed_dictionaries({a: st.integers(0, 40) for a in AUTHORITIES}),
    epoch=st.integers(0, 40),
)
def test_bound_policy_means_satisfied_by_unexpired_authorities(
    case: tuple[Node, frozenset[str]], expiries: dict[str, int], epoch: int
) -> None:
    """bind_epoch's semantics, checked with the boolean evaluator: the bound policy holds
    exactly when the attributes of the authorities still valid at ``epoch`` satisfy it."""
    policy, attrs = case
    event(f"satisfied: {satisfies(policy, attrs)}")
    held = set(attrs)
    for owner, expiry_epoch in expiries.items():
        held |= set(cover_attributes(owner, expiry_epoch))
    live = {a for a in attrs if expiries[authority_of(a)] >= epoch}
    if sum(1 for _ in leaves(_bind(policy, epoch))) > MAX_LEAVES:
        with pytest.raises(PolicyError, match="more than"):
            bind_epoch(policy, epoch)  # too large once bound: refused, not truncated
        return
    bound = bind_epoch(policy, epoch)
    assert satisfies(bound, held) == satisfies(policy, live)
    assert parse_policy(to_text(bound)) == bound
    assert all(isinstance(leaf, Attr) for leaf in leaves(bound))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    case=policy_and_key_attributes(max_depth=3),
    expiries=st.fixed_dictionaries({a: st.integers(0, 12) for a in AUTHORITIES}),
    epoch=st.integers(0, 12),
)
def test_expiry_bound_decryption_matches_the_model(
    auth: Authorities,
    case: tuple[Node, frozenset[str]],
    expiries: dict[str, int],
    epoch: int,
) -> None:
    policy, attrs = case
    if not attrs or sum(1 for _ in leaves(_bind(policy, epoch))) > 200:
        return  # nothing to issue, or a policy too slow for this test once bound
    key = _issued(auth, ALICE, sorted(attrs), expiries)
    z, ct = RW15.encapsulate(auth.pks, bind_epoch(policy, epoch))
    live = {a for a in attrs if expiries[authority_of(a)] >= epoch}
    event(f"satisfied: {satisfies(policy, attrs)}, by live keys: {satisfies(policy, live)}")
    if satisfies(policy, live):
        assert RW15.decapsulate(key, ct) == z
    else:
        with pytest.raises(DecryptionError):
            RW15.decapsulate(key, ct)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, RW15.group.order - 1))
def test_comb_tables_agree_with_scalar_multiplication(k: int) -> None:
    grp = RW15.group
    assert RW15._table_g1(RW15.g1)(k) == RW15.g1 * grp.scalar(k)
    assert RW15._table_gt(RW15.e)(k) == RW15.e ** grp.scalar(k)
