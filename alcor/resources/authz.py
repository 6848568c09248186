"""Neutron's policy applied to items: what a caller may see of a kind, and may do to an item.

The generic operations call these; no kind has its own authorization code. An item becomes a
policy target as Neutron builds one: its attributes, `tenant_id`, and keys of the items it
refers to (`network:project_id`, `security_group:project_id`, `ext_parent:project_id` for the
item's parent), looked up only when a rule needs them, once per request. A referenced item is
seen as the caller sees it (Neutron's `networks:shared` on a subnet or a port being made is
"is its network shared with the caller's project").

Which attributes a request *sets* decides which attribute rules apply (Neutron's
`_is_attribute_explicitly_set`): on create those given with a value other than the declared
default, on update those in the body; for a list of objects (`fixed_ips`) also the keys its
objects give (`create_port:fixed_ips:ip_address`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from alcor import errors
from alcor.policy.checks import Bound
from alcor.resources.context import Context
from alcor.resources.model import MISSING, Item, Resource

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

Conn = Any  # sa.Connection or UnitOfWork: both execute


class ItemTarget(Mapping[str, Any]):
    """An item as a policy target, without copying it; derived keys are computed on first
    use and kept."""

    __slots__ = ("conn", "derived", "item", "res", "seen", "viewer")

    def __init__(
        self, res: Resource, item: Item, conn: Conn, seen: dict[Any, Any], viewer: str
    ) -> None:
        self.res = res
        self.item = item
        self.conn = conn
        self.seen = seen  # referenced items already read in this request
        self.viewer = viewer  # the caller's project: referenced items are as it sees them
        self.derived: dict[str, Any] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(self.item)

    def __len__(self) -> int:
        return len(self.item)

    def __getitem__(self, key: str) -> Any:
        try:
            return self.item[key]
        except KeyError:
            pass
        if key not in self.derived:
            self.derived[key] = self._derive(key)
        return self.derived[key]

    def _derive(self, key: str) -> Any:
        if key == "tenant_id" and "project_id" in self.item:
            return self.item["project_id"]
        owner, sep, attr = key.partition(":")
        if not sep:
            raise KeyError(key)
        ref_attr = self.res.parent_attr() if owner == "ext_parent" else f"{owner}_id"
        decl = self.res.attrs.get(ref_attr or "")
        if decl is None or decl.ref is None or not self.item.get(decl.name):
            raise KeyError(key)
        kind = Resource.declared(decl.ref.target)
        found = referenced(self.conn, self.seen, kind, str(self.item[decl.name]), self.viewer)
        if found is None or attr not in found:
            raise KeyError(key)
        return found[attr]


def referenced(
    conn: Conn, seen: dict[Any, Any], res: Resource, rid: str, project: str | None
) -> Item | None:
    """Item `rid` of `res` as `project` sees it (computed attributes included), read once."""
    from alcor.resources import crud

    key = (res.name, rid, project)
    if key not in seen:
        found = crud.find(conn, res, Context.system(), rid)
        if found is not None:
            res.hooks.extend(conn, Context(project or "", frozenset()), [found])
        seen[key] = found
    result: Item | None = seen[key]
    return result


def read_rule(res: Resource, ctx: Context) -> Bound:
    """`get_<kind>` bound to the caller: True (sees all), False (none), or per item."""
    if ctx.is_system:
        return True
    return ctx.policy.bound(f"get_{res.policy_name}", ctx)


def readable(res: Resource, ctx: Context, conn: Conn, items: list[Item]) -> list[Item]:
    """The items the caller may see (`get_<kind>` per item, as Neutron filters lists)."""
    rule = read_rule(res, ctx)
    if rule is True:
        return items
    if rule is False:
        return []
    check, _ = rule
    # One target re-pointed from row to row: a list pays no allocation per item.
    target = ItemTarget(res, {}, conn, {}, ctx.project_id)
    shown = []
    for it in items:
        target.item = it
        if target.derived:
            target.derived = {}
        if check(target):
            shown.append(it)
    return shown


def hidden_fields(res: Resource, ctx: Context) -> tuple[tuple[str, ...], list[tuple[str, Any]]]:
    """Attributes `get_<kind>:<attr>` hides from this caller: always (constant), and those
    to decide per item (with their check)."""
    always: list[str] = []
    per_item: list[tuple[str, Any]] = []
    if ctx.is_system:
        return (), []
    for name in _field_rules(res, ctx, "get"):
        bound = ctx.policy.bound(f"get_{res.policy_name}:{name}", ctx)
        if bound is False:
            always.append(name)
        elif bound is not True:
            per_item.append((name, bound[0]))
    return tuple(always), per_item


def _field_rules(res: Resource, ctx: Context, action: str) -> list[str]:
    """Attributes of `res` that have an `<action>_<kind>:<attr>` rule (tags have their own
    API and are not fields to hide)."""
    policy = ctx.policy
    key = f"fields:{action}:{id(policy)}"
    names: list[str] = res.memo(
        key,
        lambda: [
            a for a in res.attrs if a != "tags" and policy.has(f"{action}_{res.policy_name}:{a}")
        ],
    )
    return names


def may_filter(res: Resource, ctx: Context, name: str) -> bool:
    """A caller may filter on an attribute it may see on every item."""
    if ctx.is_system or name == "tags" or not ctx.policy.has(f"get_{res.policy_name}:{name}"):
        return True
    return ctx.policy.bound(f"get_{res.policy_name}:{name}", ctx) is not False


def _explicit(res: Resource, item: Item, creating: bool) -> Iterable[str]:
    for name, value in item.items():
        attr = res.attrs.get(name)
        if attr is None or name in ("id", "project_id"):
            continue
        defaulted = attr.default is not MISSING and not callable(attr.default)
        if creating and defaulted and value == attr.default:
            continue
        yield name


def _sub_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value)
    if isinstance(value, list):
        return {k for v in value if isinstance(v, dict) for k in v}
    return set()


def enforce(
    conn: Conn,
    res: Resource,
    ctx: Context,
    action: str,
    item: Item,
    given: Item | None = None,
    seen: dict[Any, Any] | None = None,
) -> None:
    """Raise 403 unless `<action>_<kind>` allows `item`, and each attribute rule allows the
    attributes `given` sets (on create, `item` itself)."""
    if ctx.is_system:
        return
    policy = ctx.policy
    tgt = ItemTarget(res, item, conn, {} if seen is None else seen, ctx.project_id)
    policy.enforce(ctx, f"{action}_{res.policy_name}", tgt)
    creating = given is None
    for name in _explicit(res, item if given is None else given, creating):
        rule = f"{action}_{res.policy_name}:{name}"
        if policy.has(rule):
            policy.enforce(ctx, rule, tgt, f"({'rule:' + rule})")
        for sub in sorted(_sub_keys((item if given is None else given)[name])):
            if policy.has(f"{rule}:{sub}"):
                policy.enforce(ctx, f"{rule}:{sub}", tgt, f"(rule:{rule}:{sub})")


def enforce_update(conn: Conn, res: Resource, ctx: Context, old: Item, changes: Item) -> None:
    """`enforce` of an update as Neutron's controller does it: refused, the caller gets a
    404 rather than a 403 unless `get_<kind>` allows the item as the policy saw it there,
    with the attributes Neutron loads for the check (not the hidden ones: an address group
    shared by RBAC is visible through its hidden `shared`, yet an update by the target
    project is a 404, as neutron-tempest-plugin checks)."""
    try:
        enforce(conn, res, ctx, "update", {**old, **changes}, given=changes)
    except errors.PolicyNotAuthorized:
        shown = {k: v for k, v in old.items() if k not in res.attrs or res.attrs[k].visible}
        target = ItemTarget(res, shown, conn, {}, ctx.project_id)
        if not ctx.policy.check(ctx, f"get_{res.policy_name}", target):
            raise errors.NotFound() from None  # webob's HTTPNotFound, as Neutron raises it
        raise


def enforce_on(uow: UnitOfWork, res: Resource, ctx: Context, rule: str, rid: str) -> Item:
    """A member action's rule (`add_router_interface`) on a visible item: 404 if the caller
    may not see it, 403 if it may see but not act."""
    from alcor.resources import crud

    item = crud.fetch(uow, res, ctx, rid)
    if not ctx.is_system:
        ctx.policy.enforce(ctx, rule, ItemTarget(res, item, uow, {}, ctx.project_id))
    return item
