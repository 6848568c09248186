"""References between resources, from their `Ref` declarations: checks on write, actions on
delete.

Why generic: which resource points at which, and what a delete does to the items pointing at
it, is data (Neutron keeps it as foreign keys plus hand-written checks in each plugin). Here a
kind declares `Attr("network_id", ..., ref=Ref("network", on_delete="cascade", owned=True))`
and this module does the rest for every kind alike, inside the request's unit of work:

* on create and update, every referenced id must exist and be visible to the caller, else the
  target's own NotFound (404, as Neutron answers for another project's object); `owned` and
  `same_project` add Neutron's ownership rules;
* on delete, referring items are refused, cleared or cascaded, in an order that lets each
  cascaded kind go before the kinds it itself refers to (floating IPs before the subnets
  their addresses come from).

Targets looked up during a unit of work are kept in its cache, so a kind's rules that need
the same row (a port needs its network's settings) read it without another query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor import errors
from alcor.resources import grants
from alcor.resources.context import Context
from alcor.resources.model import Attr, Item, Read, Resource

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork


def target(uow: UnitOfWork, ctx: Context, res: Resource, rid: str) -> Item | None:
    """The `res` item `rid` if `ctx` may see it (None otherwise), read once per unit of
    work."""
    from alcor.resources import crud

    key = ("ref", res.name, rid, ctx.project_id, ctx.roles, ctx.is_system)
    if key not in uow.cache:
        uow.cache[key] = crud.find(uow, res, ctx, rid)
    found: Item | None = uow.cache[key]
    return found


def _values(attr: Attr, item: Item) -> list[str]:
    value = item.get(attr.name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def reads(res: Resource, ctx: Context, items: list[Item]) -> list[Read]:
    """The lookups of `check` (`target` of each reference), for `UnitOfWork.prefetch`."""
    from alcor.resources import crud

    out = []
    for attr in res.refs():
        assert attr.ref is not None
        kind = Resource.declared(attr.ref.target)
        rids = dict.fromkeys(rid for item in items for rid in _values(attr, item))
        out += [crud.find_read(kind, ctx, rid) for rid in rids]  # a bulk create's one network
    return out


def check(uow: UnitOfWork, res: Resource, ctx: Context, items: Iterable[Item]) -> None:
    """Every reference of these (new or changed) items names a resource the caller may use."""
    refs = res.refs()
    if not refs:
        return
    for item in items:
        for attr in refs:
            if attr.name not in item:
                continue
            ref = attr.ref
            assert ref is not None
            kind = Resource.declared(ref.target)
            missing = []
            for rid in _values(attr, item):
                found = target(uow, ctx, kind, rid)
                if (
                    found is None
                    or (
                        ref.owned and not ctx.is_admin and found.get("project_id") != ctx.project_id
                    )
                    or (
                        ref.same_project
                        and found.get("project_id") != item.get("project_id")
                        and not grants.shared_with(uow, kind.name, rid, str(item.get("project_id")))
                    )
                ):
                    missing.append(rid)
            if missing:
                raise kind.not_found(", ".join(missing))


def _referring_ids(uow: UnitOfWork, res: Resource, attr: Attr, rid: str) -> list[str]:
    ref = attr.ref
    assert ref is not None
    if ref.through is not None:
        column = ref.through
        stmt = res.statement(
            f"referring:{attr.name}",
            lambda: sa.select(column).where(column == sa.bindparam("rid")).limit(1),
        )
    else:
        col = res.column(attr.name)
        stmt = res.statement(
            f"referring:{attr.name}",
            lambda: sa.select(res.column("id")).where(col == sa.bindparam("rid")),
        )
    return [str(row[0]) for row in uow.execute(stmt, {"rid": rid})]


def refuse_delete(uow: UnitOfWork, res: Resource, rid: str) -> None:
    """Raise the declared InUse error if anything that must outlive nothing refers to it."""
    for src, attr in res.referrers():
        ref = attr.ref
        assert ref is not None
        if ref.on_delete == "refuse" and _referring_ids(uow, src, attr, rid):
            raise (ref.in_use or (lambda i: _default_in_use(res, i)))(rid)


def _default_in_use(res: Resource, rid: str) -> errors.NeutronError:
    return errors.InUse(resource=res.name, id=rid)


def release_referrers(uow: UnitOfWork, res: Resource, item: Item) -> None:
    """Clear, then cascade, what refers to the item about to be deleted (as the system:
    the caller's right to delete the item is its right to take these along)."""
    from alcor.resources import crud

    rid = item["id"]
    system = Context.system(str(item.get("project_id") or ""))
    for src, attr in res.referrers():
        ref = attr.ref
        assert ref is not None
        if ref.on_delete == "clear":
            if ref.through is not None:
                through = ref.through
                uow.execute(through.table.delete().where(through == rid))
                continue
            for other in _referring_ids(uow, src, attr, rid):
                crud.update(uow, src, system, other, {attr.name: None})
        elif ref.on_delete == "cascade":
            for other in _referring_ids(uow, src, attr, rid):
                crud.delete(uow, src, system, other)
