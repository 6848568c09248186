"""Address scopes' rules: shared scopes are seen by every project and never unshared (as
Neutron's AddressScopeDbMixin), and RBAC grants (`rbac-address-scope`) share one with a
project; `shared` reads "shared with the caller" (a grant to it or to everyone), as Neutron's
RBAC objects do; a scope in use by subnet pools is not deleted (the pools' reference refuses
it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor import errors
from alcor.resources import grants
from alcor.resources.context import Context
from alcor.resources.declarations.address_scope import resource
from alcor.resources.declarations.rbac_policy import SHARED
from alcor.resources.model import Conn, Hooks, Item, caller_project

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork


class AddressScopeHooks(Hooks):
    """Shared visibility; no unsharing."""

    def visible(self) -> sa.ColumnElement[bool]:
        t = resource.table
        granted = t.c.id.in_(grants.granted_ids(resource.name, (SHARED,)))
        return sa.or_(t.c.project_id == caller_project(), t.c.shared.is_(True), granted)

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        pending = [it["id"] for it in items if not it["shared"]]
        mine = {
            r.object_id
            for r in grants.of_objects(conn, resource.name, pending)
            if r.target_tenant == ctx.project_id
        }
        for it in items:
            it["shared"] = bool(it["shared"]) or it["id"] in mine

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        if old["shared"] and changes.get("shared") is False:
            raise errors.AddressScopeUpdateError(
                address_scope_id=old["id"], reason="Shared address scope can't be unshared"
            )

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None
