"""Address groups' rules: addresses normalised and deduplicated, edited only by the
`add_addresses` / `remove_addresses` actions with Neutron's errors.

Each action reads the group under its row lock (`crud.fetch(..., for_update=True)`), so two
concurrent edits of one group serialise instead of losing each other's addresses, and writes
through the generic update: revision bump, change-log row (the southbound then sends the group's
new address set to every host that follows it) and all.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, grants
from alcor.resources.context import Context
from alcor.resources.declarations.address_group import ADDRESSES, resource
from alcor.resources.declarations.rbac_policy import SHARED
from alcor.resources.model import Action, Conn, Hooks, Item, caller_project

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork


def _as_network(address: object) -> object:
    """A bare address as its host network ('10.0.0.1' -> '10.0.0.1/32'): the actions' bodies
    are not validated as the attribute is, Neutron reads each entry with netaddr.IPNetwork."""
    if isinstance(address, str) and "/" not in address:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        return f"{ip}/{ip.max_prefixlen}"
    return address


def _requested(body: Item) -> list[str]:
    """The normalised, deduplicated addresses of an action's body `{"addresses": [...]}`."""
    if not isinstance(body, dict) or set(body) != {"addresses"}:
        raise errors.BadRequest("The request body must be {'addresses': [...]}")
    addresses = body["addresses"]
    if isinstance(addresses, list):
        addresses = [_as_network(a) for a in addresses]
    return list(dict.fromkeys(ADDRESSES.check("addresses", addresses)))


def _edit(add: bool) -> Action:
    """`add_addresses` refuses addresses already in the group (AddressesAlreadyExist, 400),
    `remove_addresses` addresses not in it (AddressesNotFound, 404); either way nothing
    changes unless every address qualifies, as in Neutron."""

    def action(uow: UnitOfWork, ctx: Context, rid: str, body: Item) -> Item:
        wanted = _requested(body)
        current = crud.fetch(uow, resource, ctx, rid, for_update=True)["addresses"] or []
        if add:
            clash = [a for a in wanted if a in current]
            if clash:
                raise errors.AddressesAlreadyExist(addresses=clash, address_group_id=rid)
            new = current + wanted
        else:
            missing = [a for a in wanted if a not in current]
            if missing:
                raise errors.AddressesNotFound(addresses=missing, address_group_id=rid)
            new = [a for a in current if a not in wanted]
        item = crud.update(uow, resource, ctx, rid, {"addresses": new})
        return {"address_group": crud.render(resource, ctx, item)}

    return action


class AddressGroupHooks(Hooks):
    """Deduplicated addresses on create; the two editing actions; visible to the projects
    an RBAC grant shares it with (`rbac-address-group`)."""

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        grants.mark_shared(conn, "address_group", ctx.project_id, items)

    def visible(self) -> sa.ColumnElement[bool]:
        t = resource.table
        return sa.or_(
            t.c.project_id == caller_project(),
            t.c.id.in_(grants.granted_ids("address_group", (SHARED,))),
        )

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        item["addresses"] = list(dict.fromkeys(item["addresses"] or []))

    def actions(self) -> dict[str, Action]:
        return {"add_addresses": _edit(add=True), "remove_addresses": _edit(add=False)}

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None
