"""Hypothesis strategies for policies and attribute sets."""

from __future__ import annotations

from hypothesis import strategies as st

from crypto.policy import Attr, Gate, Node, to_text

ATTRIBUTES = [f"a{i}:v" for i in range(30)]


@st.composite
def policies(draw: st.DrawFn, max_depth: int = 4, universe: list[str] = ATTRIBUTES) -> Node:
    """Random and/or/threshold trees of depth <= max_depth over up to 30 attributes."""

    def node(depth: int) -> Node:
        if depth >= max_depth or draw(st.integers(0, 2)) == 0:
            return Attr(draw(st.sampled_from(universe)))
        n = draw(st.integers(2, 4))
        children = tuple(node(depth + 1) for _ in range(n))
        k = draw(st.integers(1, n))
        return Gate(k, children)

    tree = node(0)
    return tree


def policy_texts(max_depth: int = 4) -> st.SearchStrategy[str]:
    return policies(max_depth=max_depth).map(to_text)


attribute_sets = st.frozensets(st.sampled_from(ATTRIBUTES), max_size=30)
