"""LSSS matrices: reconstruction exactly when satisfied, and it really spans (1, 0, ..., 0)."""

from __future__ import annotations

from hypothesis import given, settings

from crypto.lsss import build_matrix, reconstruction
from crypto.pairing import DEFAULT_GROUP
from crypto.policy import Node, leaves, parse_policy, satisfies
from tests.crypto.strategies import attribute_sets, policies

ORDER = DEFAULT_GROUP.order


def _check(policy: Node, attrs: frozenset[str]) -> None:
    matrix = build_matrix(policy)
    assert len(matrix.rows) == len(list(leaves(policy)))
    weights = reconstruction(policy, attrs, ORDER)
    assert (weights is not None) == satisfies(policy, attrs)
    if weights is not None:
        assert all(matrix.labels[row] in attrs for row in weights)
        combined = [
            sum(w * matrix.rows[row][col] for row, w in weights.items()) % ORDER
            for col in range(matrix.columns)
        ]
        assert combined == [1] + [0] * (matrix.columns - 1)


@settings(max_examples=300)
@given(policies(), attribute_sets)
def test_reconstruction_iff_satisfied(policy: Node, attrs: frozenset[str]) -> None:
    _check(policy, attrs)


def test_and_or_use_small_entries_and_unit_coefficients() -> None:
    policy = parse_policy("(a:1 and b:1 and c:1) or (d:1 and e:1)")
    matrix = build_matrix(policy)
    assert {x for row in matrix.rows for x in row} <= {-1, 0, 1}
    weights = reconstruction(policy, frozenset({"a:1", "b:1", "c:1"}), ORDER)
    assert weights == {0: 1, 1: 1, 2: 1}


def test_threshold_picks_cheapest_children() -> None:
    policy = parse_policy("2 of (a:1 and b:1 and c:1, d:1, e:1)")
    attrs = frozenset({"a:1", "b:1", "c:1", "d:1", "e:1"})
    weights = reconstruction(policy, attrs, ORDER)
    assert weights is not None and set(weights) == {3, 4}
    _check(policy, attrs)
