"""The policy language: parse, evaluate and print access policies.

Grammar (keywords are case-insensitive; whitespace is free)::

    policy    := or_expr
    or_expr   := and_expr ( "or" and_expr )*
    and_expr  := term ( "and" term )*
    term      := attribute | "(" or_expr ")" | K "of" "(" or_expr ( "," or_expr )* ")"
    attribute := name ":" value        name, value: [a-z0-9_.-]+ (lowercase)

Precedence: ``and`` binds tighter than ``or`` (``a or b and c`` is ``a or (b and c)``);
parentheses group; ``K of (x, y, z)`` is a threshold gate satisfied by at least K of its
children (1 <= K <= number of children). The same attribute may appear several times.
An attribute name may carry an authority prefix, ``h1.role:doctor``: the part of the name
before the first dot names the attribute authority that issues it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from crypto.errors import PolicyError

MAX_POLICY_CHARS = 65536
MAX_LEAVES = 1024
MAX_DEPTH = 64

_ATTR_RE = re.compile(r"[a-z0-9_.\-]+:[a-z0-9_.\-]+")
_TOKEN_RE = re.compile(
    r"\s*(?:(?P<attr>[A-Za-z0-9_.\-]+:[A-Za-z0-9_.\-]*)|(?P<num>\d+)(?![A-Za-z0-9_.\-:])"
    r"|(?P<word>[A-Za-z]+)(?![A-Za-z0-9_.\-:])|(?P<punct>[(),]))"
)


@dataclass(frozen=True)
class Attr:
    name: str  # "name:value", validated

    @property
    def authority(self) -> str | None:
        """The authority prefix of the attribute name (``h1`` in ``h1.role:doctor``)."""
        key = self.name.split(":", 1)[0]
        return key.split(".", 1)[0] if "." in key else None


@dataclass(frozen=True)
class Gate:
    threshold: int
    children: tuple[Node, ...]

    @property
    def is_and(self) -> bool:
        return self.threshold == len(self.children)

    @property
    def is_or(self) -> bool:
        return self.threshold == 1


Node = Attr | Gate


def validate_attribute(name: str) -> str:
    """Check an attribute string (``name:value``) and return it."""
    if not _ATTR_RE.fullmatch(name):
        raise PolicyError(
            f"invalid attribute {name!r}: expected name:value of lowercase letters, "
            "digits, '_', '.', '-'"
        )
    return name


@dataclass
class _Token:
    kind: str  # attr | num | and | or | of | ( | ) | , | end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise PolicyError(f"unexpected character {text[pos]!r}", pos)
        start = match.start(match.lastgroup or 0)
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "attr":
            if not _ATTR_RE.fullmatch(value):
                raise PolicyError(
                    f"invalid attribute {value!r}: use name:value of lowercase letters, "
                    "digits, '_', '.', '-'",
                    start,
                )
        elif kind == "word":
            kind = value.lower()
            if kind not in ("and", "or", "of"):
                raise PolicyError(f"unknown word {value!r} (attributes are name:value)", start)
        elif kind == "punct":
            kind = value
        tokens.append(_Token(kind, value, start))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.leaves = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self, kind: str, what: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            found = "end of policy" if token.kind == "end" else repr(token.text)
            raise PolicyError(f"expected {what}, found {found}", token.pos)
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.or_expr(0)
        self.take("end", "'and', 'or' or end of policy")
        return node

    def or_expr(self, depth: int) -> Node:
        children = [self.and_expr(depth)]
        while self.peek().kind == "or":
            self.index += 1
            children.append(self.and_expr(depth))
        return _gate(1, children)

    def and_expr(self, depth: int) -> Node:
        children = [self.term(depth)]
        while self.peek().kind == "and":
            self.index += 1
            children.append(self.term(depth))
        return _gate(len(children), children)

    def term(self, depth: int) -> Node:
        token = self.peek()
        if depth > MAX_DEPTH:
            raise PolicyError(f"policy nested deeper than {MAX_DEPTH} levels", token.pos)
        if token.kind == "attr":
            self.index += 1
            self.leaves += 1
            if self.leaves > MAX_LEAVES:
                raise PolicyError(f"policy has more than {MAX_LEAVES} attributes", token.pos)
            return Attr(token.text)
        if token.kind == "(":
            self.index += 1
            node = self.or_expr(depth + 1)
            self.take(")", "')'")
            return node
        if token.kind == "num":
            self.index += 1
            self.take("of", "'of' after a threshold")
            self.take("(", "'(' after 'of'")
            children = [self.or_expr(depth + 1)]
            while self.peek().kind == ",":
                self.index += 1
                children.append(self.or_expr(depth + 1))
            self.take(")", "',' or ')'")
            k = int(token.text)
            if not 1 <= k <= len(children):
                raise PolicyError(
                    f"threshold {k} of {len(children)} children: need 1 <= K <= {len(children)}",
                    token.pos,
                )
            if k in (1, len(children)):
                return _gate(k, children)  # an OR or an AND, flattened like one
            return Gate(k, tuple(children))
        found = "end of policy" if token.kind == "end" else repr(token.text)
        raise PolicyError(f"expected an attribute, '(' or a threshold, found {found}", token.pos)


def _gate(threshold: int, children: list[Node]) -> Node:
    if len(children) == 1:
        return children[0]
    # Flatten nested gates of the same kind: (a and (b and c)) == and(a, b, c).
    flat: list[Node] = []
    is_and = threshold == len(children)
    for child in children:
        same = isinstance(child, Gate) and (child.is_and if is_and else child.is_or)
        flat.extend(child.children if same and isinstance(child, Gate) else (child,))
    return Gate(len(flat) if is_and else 1, tuple(flat))


def parse_policy(text: str) -> Node:
    """Parse a policy string; raise :class:`PolicyError` naming the position on error."""
    if len(text) > MAX_POLICY_CHARS:
        raise PolicyError(f"policy longer than {MAX_POLICY_CHARS} characters")
    if not text.strip():
        raise PolicyError("empty policy", 0)
    return _Parser(text).parse()


def to_text(node: Node) -> str:
    """The canonical text of a policy; ``parse_policy(to_text(n)) == n``."""
    if isinstance(node, Attr):
        return node.name
    if node.is_or:
        return " or ".join(_wrapped(c, parent_is_and=False) for c in node.children)
    if node.is_and:
        return " and ".join(_wrapped(c, parent_is_and=True) for c in node.children)
    return f"{node.threshold} of ({', '.join(to_text(c) for c in node.children)})"


def _wrapped(child: Node, parent_is_and: bool) -> str:
    text = to_text(child)
    if isinstance(child, Gate) and (child.is_or or child.is_and) and parent_is_and != child.is_and:
        return f"({text})"
    return text


def satisfies(node: Node, attributes: Iterable[str] | frozenset[str]) -> bool:
    """Plain boolean evaluation of a policy against a set of attributes."""
    attrs = attributes if isinstance(attributes, frozenset) else frozenset(attributes)
    return _satisfies(node, attrs)


def _satisfies(node: Node, attrs: frozenset[str]) -> bool:
    if isinstance(node, Attr):
        return node.name in attrs
    count = 0
    for child in node.children:
        if _satisfies(child, attrs):
            count += 1
            if count >= node.threshold:
                return True
    return False


def leaves(node: Node) -> Iterator[Attr]:
    """The attribute leaves in left-to-right order (one per LSSS row)."""
    if isinstance(node, Attr):
        yield node
    else:
        for child in node.children:
            yield from leaves(child)
