"""oslo.policy's check language, parsed once and specialised per caller.

Why not oslo.policy itself: a list of 1,000 ports is checked per item and per field
(`get_port`, `get_port:binding:host_id`, ...), and oslo.policy walks the whole rule tree for
each, re-substituting every `%(...)s`. Here a rule is parsed once into a tree, and the tree is
*bound* to one caller's credentials: role checks and rule references fold into constants, and
what is left is a small function of the target (`project_id:%(project_id)s` becomes "the
target's project_id equals mine"). A caller who may never see `binding:host_id` costs nothing
per row, and one who may see everything of its own costs one comparison.

Grammar (oslo.policy's): `@` (always), `!` (never), an empty rule (always), `kind:match`
checks joined by `and`, `or`, `not` and parentheses. Kinds: `rule:NAME`, `role:NAME` (any
case), `field:RESOURCE:FIELD=VALUE` (Neutron's; `~regex` matches from the start), and the
generic `CRED:%(TARGET_KEY)s` or `CRED:LITERAL` (`project_id:%(network:project_id)s`,
`is_admin:True`), also `'LITERAL':%(TARGET_KEY)s`.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Target = Mapping[str, Any]
Residual = Callable[[Target], bool]
# A bound check: True, False, or what still depends on the target (with a cost: 0 reads the
# target's own attributes, 1 may need a lookup such as the network's project).
Bound = bool | tuple[Residual, int]


class Creds(Protocol):
    """What a check reads of the caller (`alcor.resources.context.Context` has these)."""

    @property
    def project_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...


class PolicySyntaxError(ValueError):
    """A rule that oslo.policy would not parse either."""


def target_value(target: Target, key: str) -> Any:
    """`target[key]`, or None: a target may compute some keys lazily (and fail to)."""
    try:
        return target[key]
    except KeyError:
        return None


class Node(abc.ABC):
    """One node of a parsed rule; `bind` folds it for one caller."""

    @abc.abstractmethod
    def bind(self, creds: Creds, rules: Callable[[str, Creds], Bound]) -> Bound: ...


@dataclass(frozen=True)
class Const(Node):
    value: bool

    def bind(self, creds: Creds, rules: Callable[[str, Creds], Bound]) -> Bound:
        return self.value


@dataclass(frozen=True)
class RuleRef(Node):
    name: str

    def bind(self, creds: Creds, rules: Callable[[str, Creds], Bound]) -> Bound:
        return rules(self.name, creds)


@dataclass(frozen=True)
class Role(Node):
    role: str

    def bind(self, creds: Creds, rules: Callable[[str, Creds], Bound]) -> Bound:
        return self.role.lower() in creds.roles


@dataclass(frozen=True)
class Field(Node):
    """Neutron's FieldCheck: the target's `field` equals `value` (or matches `~regex`)."""

    resource: str
    field: str
    value: str

    def bind(self, creds: Creds, rules: Callable[[str, Creds], Bound]) -> Bound:
        # Neutron: `networks:shared` on a port or subnet is its network's `shared`, as the
        # item's project sees it.
        keys = [self.field]
        if self.resource == "networks" and self.field == "shared":
            keys.append("network:shared")
        if self.value.startswith("~"):
            pattern = re.compile(self.value[1:])

            def match(found: Any) -> bool:
                return isinstance(found, str) and pattern.match(found) is not None
        else:
            wanted = _literal(self.value)

            def match(found: Any) -> bool:
                return found == wanted

        def check(target: Target) -> bool:
            for key in keys:
                found = target_value(target, key)
                if found is not None:
                    return match(found)
            return False

        return check, len(keys) - 1


def _literal(text: str) -> Any:
    """A rule's value as the attribute holds it (Neutron converts with the attribute's
    converter: booleans are the ones rules compare)."""
    return {"true": True, "false": False}.get(text.lower(), text)


_TEMPLATE = re.compile(r"^%\((?P<key>[^)]+)\)s$")


@dataclass(frozen=True)
class Generic(Node):
    """`left:right`: a credential (or a quoted literal) compared with a target key (or a
    literal)."""

    left: str
    right: str

    def bind(self, creds: Creds, rules: Callable[[str, Creds], Bound]) -> Bound:
        if self.left[:1] in "'\"":
            mine: Any = self.left[1:-1]
        else:
            mine = _cred(creds, self.left)
            if mine is None or mine == "":
                return False
        found = _TEMPLATE.match(self.right)
        if found is None:
            return str(mine) == self.right
        key = found.group("key")
        mine = str(mine)

        def check(target: Target) -> bool:
            try:
                value = target[key]
            except KeyError:
                return False
            return value is not None and (value == mine or str(value) == mine)

        # Keys of other items (`network:project_id`) and `tenant_id` are derived: dearer.
        return check, 1 if ":" in key or key == "tenant_id" else 0


def _cred(creds: Creds, name: str) -> Any:
    if name in ("project_id", "tenant_id", "tenant"):
        return creds.project_id
    if name == "user_id":
        return creds.user_id
    if name == "is_admin":
        return "admin" in creds.roles
    return getattr(creds, name, None)


@dataclass(frozen=True)
class Not(Node):
    inner: Node

    def bind(self, creds: Creds, rules: Callable[[str, Creds], Bound]) -> Bound:
        bound = self.inner.bind(creds, rules)
        if isinstance(bound, bool):
            return not bound
        fn, cost = bound
        return (lambda t: not fn(t)), cost


@dataclass(frozen=True)
class All(Node):
    parts: tuple[Node, ...]

    def bind(self, creds: Creds, rules: Callable[[str, Creds], Bound]) -> Bound:
        return _combine([p.bind(creds, rules) for p in self.parts], conjunction=True)


@dataclass(frozen=True)
class Any_(Node):
    parts: tuple[Node, ...]

    def bind(self, creds: Creds, rules: Callable[[str, Creds], Bound]) -> Bound:
        return _combine([p.bind(creds, rules) for p in self.parts], conjunction=False)


def _combine(bound: list[Bound], conjunction: bool) -> Bound:
    """Fold constants away; order what is left cheapest first (checks have no side
    effects, so `and`/`or` may be evaluated in any order)."""
    rest: list[tuple[Residual, int]] = []
    for b in bound:
        if isinstance(b, bool):
            if b is not conjunction:  # a False in an `and`, a True in an `or`
                return b
        else:
            rest.append(b)
    if not rest:
        return conjunction
    if len(rest) == 1:
        return rest[0]
    rest.sort(key=lambda r: r[1])
    fns = tuple(fn for fn, _ in rest)
    cost = max(c for _, c in rest)

    # Plain loops: a third cheaper than all()/any() over a generator, once per listed item.
    def every(target: Target) -> bool:
        for fn in fns:  # noqa: SIM110
            if not fn(target):
                return False
        return True

    def either(target: Target) -> bool:
        for fn in fns:  # noqa: SIM110
            if fn(target):
                return True
        return False

    return (every if conjunction else either), cost


# -- parsing -----------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    """oslo.policy's tokens: words split on blanks, with parentheses peeled off their ends
    (so `%(project_id)s` stays whole)."""
    out: list[str] = []
    for word in text.split():
        core = word.lstrip("(")
        out.extend("(" * (len(word) - len(core)))
        inner = core.rstrip(")")
        if inner:
            out.append(inner)
        out.extend(")" * (len(core) - len(inner)))
    return out


def parse(text: str) -> Node:
    """A rule's check string as a tree (oslo.policy's grammar)."""
    tokens = _tokens(text)
    if not tokens:
        return Const(True)
    node, pos = _parse_or(tokens, 0)
    if pos != len(tokens):
        raise PolicySyntaxError(f"unexpected {tokens[pos]!r} in rule {text!r}")
    return node


def _parse_or(tokens: list[str], pos: int) -> tuple[Node, int]:
    return _joined(tokens, pos, "or", _parse_and, Any_)


def _parse_and(tokens: list[str], pos: int) -> tuple[Node, int]:
    return _joined(tokens, pos, "and", _parse_not, All)


def _joined(
    tokens: list[str],
    pos: int,
    word: str,
    part: Callable[[list[str], int], tuple[Node, int]],
    join: Callable[[tuple[Node, ...]], Node],
) -> tuple[Node, int]:
    """Parts parsed by `part` separated by `word` (`and` binds tighter than `or`)."""
    node, pos = part(tokens, pos)
    parts = [node]
    while pos < len(tokens) and tokens[pos].lower() == word:
        node, pos = part(tokens, pos + 1)
        parts.append(node)
    return (parts[0] if len(parts) == 1 else join(tuple(parts))), pos


def _parse_not(tokens: list[str], pos: int) -> tuple[Node, int]:
    if pos >= len(tokens):
        raise PolicySyntaxError("rule ends too early")
    token = tokens[pos]
    if token.lower() == "not":
        inner, pos = _parse_not(tokens, pos + 1)
        return Not(inner), pos
    if token == "(":
        inner, pos = _parse_or(tokens, pos + 1)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise PolicySyntaxError("unbalanced parentheses")
        return inner, pos + 1
    return _check(token), pos + 1


def _check(token: str) -> Node:
    if token == "@":
        return Const(True)
    if token == "!":
        return Const(False)
    kind, sep, match = token.partition(":")
    if not sep:
        raise PolicySyntaxError(f"{token!r} is not a check")
    if kind == "rule":
        return RuleRef(match)
    if kind == "role":
        return Role(match)
    if kind == "field":
        resource, _, rest = match.partition(":")
        # `field:networks:router:external=True`: the field name may hold a colon itself.
        field, eq, value = rest.partition("=")
        if not eq:
            raise PolicySyntaxError(f"{token!r}: a field check needs FIELD=VALUE")
        return Field(resource, field, value)
    return Generic(kind, match)
