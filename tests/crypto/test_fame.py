"""FAME: correctness against a plain boolean evaluator, and collusion resistance."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from crypto.errors import DecryptionError
from crypto.fame import Fame, FameMasterKey, FamePublicKey, FameUserKey
from crypto.policy import Node, parse_policy, satisfies
from tests.crypto.strategies import attribute_sets, policies

FAME = Fame()


@pytest.fixture(scope="module")
def authority() -> tuple[FamePublicKey, FameMasterKey]:
    return FAME.setup("t1")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(policy=policies(), attrs=attribute_sets)
def test_decrypts_exactly_when_satisfied(
    authority: tuple[FamePublicKey, FameMasterKey], policy: Node, attrs: frozenset[str]
) -> None:
    pk, msk = authority
    z, ct = FAME.encapsulate(pk, policy)
    if not attrs:
        assert not satisfies(policy, attrs)
        return
    key = FAME.keygen(pk, msk, sorted(attrs))
    if satisfies(policy, attrs):
        assert FAME.decapsulate(key, ct, policy) == z
    else:
        with pytest.raises(DecryptionError, match="do not satisfy"):
            FAME.decapsulate(key, ct, policy)


def test_same_attribute_in_several_rows(authority: tuple[FamePublicKey, FameMasterKey]) -> None:
    pk, msk = authority
    policy = parse_policy("(a:1 and b:1) or (a:1 and c:1) or 2 of (a:1, b:1, d:1)")
    z, ct = FAME.encapsulate(pk, policy)
    assert FAME.decapsulate(FAME.keygen(pk, msk, ["a:1", "c:1"]), ct, policy) == z
    assert FAME.decapsulate(FAME.keygen(pk, msk, ["b:1", "d:1"]), ct, policy) == z


def _merge(base: FameUserKey, other: FameUserKey) -> FameUserKey:
    """Pool two users' per-attribute components under one user's K0 and K'."""
    components = {**other.k, **base.k}
    return FameUserKey(
        authority=base.authority,
        attributes=tuple(sorted(components)),
        k0=base.k0,
        k=components,
        kp=base.kp,
    )


def test_colluding_users_cannot_combine_keys(
    authority: tuple[FamePublicKey, FameMasterKey],
) -> None:
    pk, msk = authority
    policy = parse_policy("role:doctor and dept:cardiology")
    z, ct = FAME.encapsulate(pk, policy)
    doctor_elsewhere = FAME.keygen(pk, msk, ["role:doctor", "dept:oncology"])
    cardiology_nurse = FAME.keygen(pk, msk, ["role:nurse", "dept:cardiology"])
    for user in (doctor_elsewhere, cardiology_nurse):
        with pytest.raises(DecryptionError):
            FAME.decapsulate(user, ct, policy)
    # Pooled components satisfy the policy syntactically; the per-key randomness (r1, r2,
    # sigma) makes the algebra give a wrong element, both ways round.
    for merged in (
        _merge(doctor_elsewhere, cardiology_nurse),
        _merge(cardiology_nurse, doctor_elsewhere),
    ):
        assert satisfies(policy, merged.attributes)
        assert FAME.decapsulate(merged, ct, policy) != z


def test_keys_of_another_authority_give_a_wrong_element(
    authority: tuple[FamePublicKey, FameMasterKey],
) -> None:
    pk, _ = authority
    other_pk, other_msk = FAME.setup("t1")  # same id, different master key
    policy = parse_policy("role:doctor")
    z, ct = FAME.encapsulate(pk, policy)
    stranger = FAME.keygen(other_pk, other_msk, ["role:doctor"])
    assert FAME.decapsulate(stranger, ct, policy) != z
