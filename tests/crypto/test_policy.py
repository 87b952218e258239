"""The policy language: grammar, precedence, errors with positions, canonical text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.errors import PolicyError
from crypto.policy import Attr, Gate, parse_policy, satisfies, to_text
from tests.crypto.strategies import policy_texts


def test_and_binds_tighter_than_or() -> None:
    tree = parse_policy("a:1 or b:1 and c:1")
    assert tree == Gate(1, (Attr("a:1"), Gate(2, (Attr("b:1"), Attr("c:1")))))


def test_parentheses_and_thresholds() -> None:
    tree = parse_policy("2 of (a:1, b:1 or c:1, d:1 and e:1) and (f:1 or g:1)")
    assert isinstance(tree, Gate) and tree.is_and
    threshold = tree.children[0]
    assert isinstance(threshold, Gate) and threshold.threshold == 2
    assert len(threshold.children) == 3


def test_keywords_are_case_insensitive_and_attributes_repeat() -> None:
    assert parse_policy("a:1 AND (a:1 Or b:2)") == parse_policy("a:1 and (a:1 or b:2)")


def test_authority_prefix() -> None:
    assert Attr("h1.role:doctor").authority == "h1"
    assert Attr("role:doctor").authority is None


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty"),
        ("a:1 or", 6, "end of policy"),
        ("(a:1 or b:1", 11, "')'"),
        ("a:1 b:1", 4, "'b:1'"),
        ("a:1 & b:1", 4, "'&'"),
        ("Role:Doctor", 0, "lowercase"),
        ("3 of (a:1, b:1)", 0, "threshold 3 of 2"),
        ("0 of (a:1, b:1)", 0, "threshold 0"),
        ("1 of a:1", 5, "'('"),
        ("doctor", 0, "name:value"),
        ("a:1 and and b:1", 8, "'and'"),
    ],
)
def test_syntax_errors_name_the_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(PolicyError) as error:
        parse_policy(text)
    assert error.value.position == position
    assert fragment in str(error.value)
    assert f"position {position}" in str(error.value)


def test_hostile_sizes_are_refused_cleanly() -> None:
    with pytest.raises(PolicyError, match="deeper"):
        parse_policy("(" * 100 + "a:1" + ")" * 100)
    with pytest.raises(PolicyError, match="more than"):
        parse_policy(" or ".join(["a:1"] * 1100))
    with pytest.raises(PolicyError, match="longer"):
        parse_policy("a:" + "x" * 70000)


@given(policy_texts())
def test_canonical_text_round_trips(text: str) -> None:
    tree = parse_policy(text)
    assert parse_policy(to_text(tree)) == tree
    assert to_text(parse_policy(to_text(tree))) == to_text(tree)


@given(st.text(max_size=60))
def test_random_text_parses_or_raises_policy_error(text: str) -> None:
    try:
        tree = parse_policy(text)
    except PolicyError:
        return
    assert parse_policy(to_text(tree)) == tree


def test_satisfies_threshold() -> None:
    tree = parse_policy("2 of (a:1, b:1, c:1)")
    assert satisfies(tree, {"a:1", "c:1"})
    assert not satisfies(tree, {"b:1"})
