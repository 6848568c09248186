"""Address scopes' rules: shared scopes are seen by every project and never unshared (as
Neutron's AddressScopeDbMixin); a scope in use by subnet pools is not deleted (the pools'
reference refuses it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor import errors
from alcor.resources.context import Context
from alcor.resources.declarations.address_scope import resource
from alcor.resources.model import Hooks, Item, caller_project

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork


class AddressScopeHooks(Hooks):
    """Shared visibility; no unsharing."""

    def visible(self) -> sa.ColumnElement[bool]:
        t = resource.table
        return sa.or_(t.c.project_id == caller_project(), t.c.shared.is_(True))

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        if old["shared"] and changes.get("shared") is False:
            raise errors.AddressScopeUpdateError(
                address_scope_id=old["id"], reason="Shared address scope can't be unshared"
            )

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None
