"""Policies as linear secret-sharing schemes (LSSS), Lewko-Waters style, with thresholds.

Each leaf of the policy tree becomes one row of a matrix M; a set of attributes satisfies the
policy exactly when some rows labelled by those attributes span (1, 0, ..., 0). Reading the
tree top-down with the root vector (1):

- OR: every child inherits the parent's vector.
- AND of n children: chained Lewko-Waters splits with n-1 new columns and entries in
  {0, 1, -1}: child 1 gets v|1, child k gets -1 in column k-1 and 1 in column k, the last
  child -1 in its column. All reconstruction coefficients are 1 (cheap to decrypt).
- K of n (1 < K < n): Shamir. Child i (1-based) gets v|(i, i^2, ..., i^(K-1)) in K-1 new
  columns; any K children reconstruct v with Lagrange coefficients at 0.

Reconstruction coefficients come from the same tree (no Gaussian elimination); tests check
them against the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto.policy import Attr, Gate, Node


@dataclass(frozen=True)
class LsssMatrix:
    rows: tuple[tuple[int, ...], ...]  # integer entries, each row of length `columns`
    labels: tuple[str, ...]  # attribute of each row
    columns: int


def build_matrix(policy: Node) -> LsssMatrix:
    """The LSSS matrix of a policy: one row per leaf, in left-to-right leaf order."""
    vectors: list[dict[int, int]] = []
    labels: list[str] = []
    columns = 1

    def visit(node: Node, vector: dict[int, int]) -> None:
        nonlocal columns
        if isinstance(node, Attr):
            vectors.append(vector)
            labels.append(node.name)
            return
        n, k = len(node.children), node.threshold
        if k == 1:
            for child in node.children:
                visit(child, vector)
        elif k == n:
            first = columns
            columns += n - 1
            for index, child in enumerate(node.children):
                child_vector = dict(vector) if index == 0 else {}
                if index > 0:
                    child_vector[first + index - 1] = -1
                if index < n - 1:
                    child_vector[first + index] = 1
                visit(child, child_vector)
        else:
            first = columns
            columns += k - 1
            for index, child in enumerate(node.children, start=1):
                child_vector = dict(vector)
                for power in range(1, k):
                    child_vector[first + power - 1] = index**power
                visit(child, child_vector)

    visit(policy, {0: 1})
    rows = tuple(tuple(v.get(c, 0) for c in range(columns)) for v in vectors)
    return LsssMatrix(rows=rows, labels=tuple(labels), columns=columns)


def reconstruction(policy: Node, attributes: frozenset[str], order: int) -> dict[int, int] | None:
    """Coefficients w_i (mod ``order``) with sum_i w_i * M_i = (1, 0, ..., 0).

    Uses only rows whose attribute is in ``attributes``, choosing for each OR/threshold the
    satisfied children with the fewest leaves (fewest pairing-group operations later).
    Returns ``None`` when the attributes do not satisfy the policy.
    """
    plan = _plan(policy, attributes)
    if plan is None:
        return None
    coefficients: dict[int, int] = {}
    _assign(policy, plan, 1, [0], coefficients, order)
    return {row: w for row, w in coefficients.items() if w % order}


# A plan records, per gate, which children to use; cost = number of leaves used.
@dataclass
class _Plan:
    cost: int
    chosen: list[tuple[int, _Plan | None]]  # (child index, child's plan) for gates


def _plan(node: Node, attrs: frozenset[str]) -> _Plan | None:
    if isinstance(node, Attr):
        return _Plan(1, []) if node.name in attrs else None
    options: list[tuple[int, int, _Plan]] = []
    for index, child in enumerate(node.children):
        child_plan = _plan(child, attrs)
        if child_plan is not None:
            options.append((child_plan.cost, index, child_plan))
    if len(options) < node.threshold:
        return None
    best = sorted(options, key=lambda o: (o[0], o[1]))[: node.threshold]
    best.sort(key=lambda o: o[1])
    return _Plan(sum(o[0] for o in best), [(o[1], o[2]) for o in best])


def _leaf_count(node: Node) -> int:
    return 1 if isinstance(node, Attr) else sum(_leaf_count(c) for c in node.children)


def _assign(
    node: Node,
    plan: _Plan,
    weight: int,
    next_row: list[int],
    out: dict[int, int],
    order: int,
) -> None:
    """Walk the tree in leaf order, giving each used row its coefficient."""
    if isinstance(node, Attr):
        row = next_row[0]
        out[row] = (out.get(row, 0) + weight) % order
        next_row[0] += 1
        return
    assert isinstance(node, Gate)
    chosen = dict(plan.chosen)
    lagrange: dict[int, int] = {}
    if 1 < node.threshold < len(node.children):
        points = [index + 1 for index in chosen]
        lagrange = {x - 1: _lagrange_at_zero(x, points, order) for x in points}
    for index, child in enumerate(node.children):
        child_plan = chosen.get(index)
        if child_plan is None:
            next_row[0] += _leaf_count(child)
            continue
        child_weight = weight * lagrange[index] % order if lagrange else weight
        _assign(child, child_plan, child_weight, next_row, out, order)


def _lagrange_at_zero(x: int, points: list[int], order: int) -> int:
    numerator, denominator = 1, 1
    for other in points:
        if other != x:
            numerator = numerator * (-other) % order
            denominator = denominator * (x - other) % order
    return numerator * pow(denominator, -1, order) % order
