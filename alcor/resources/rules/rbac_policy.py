"""RBAC policies' rules: who may grant what, duplicates, the `*` columns kept in step, and
Neutron's refusal to withdraw a grant that something still depends on.

A grant is in use while the projects it lets in (the target, or for `*` every project but the
owner that no other grant lets in) still have something on the object: ports or subnets on a
shared network, router gateways or floating IPs on an external one, ports in a shared
security group, subnets carved from a shared subnet pool, security group rules naming a
shared address group. Withdrawing it then is Neutron's 409 RbacPolicyInUse.

A network stays external while routers have their gateway on it (Neutron's
ExternalNetworkInUse): neither `router:external = false` nor withdrawing its last
`access_as_external` grant may pull the network from under them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, events, grants
from alcor.resources.context import Context
from alcor.resources.declarations import port, subnet
from alcor.resources.declarations.floatingip import resource as floatingip
from alcor.resources.declarations.port import ROUTER_GATEWAY
from alcor.resources.declarations.rbac_policy import (
    ACTIONS,
    EVERYONE,
    EVERYONE_COLUMNS,
    EXTERNAL,
    SHARED,
    resource,
)
from alcor.resources.declarations.security_group import port_security_groups
from alcor.resources.declarations.security_group import rule as sg_rule
from alcor.resources.model import Hooks, Item, Resource

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

rbac = resource.table


class RbacHooks(Hooks):
    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        kind, action = item["object_type"], item["action"]
        if action not in ACTIONS[kind]:
            raise errors.InvalidActionForType(
                action=action, object_type=kind, valid_actions=list(ACTIONS[kind])
            )
        _owned_object(uow, ctx, item)
        _refuse_pool_outside_scope(uow, item)
        _refuse_duplicate(uow, item, item["target_tenant"])
        if item["target_tenant"] == EVERYONE:
            _set_everyone(uow, item, True)

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        new_target = str(changes.get("target_tenant", old["target_tenant"]))
        if new_target == old["target_tenant"]:
            return
        _refuse_default_external(uow, old)
        _refuse_in_use(uow, old, new_target if old["action"] == EXTERNAL else None)
        _refuse_duplicate(uow, old, new_target)
        if old["target_tenant"] == EVERYONE:
            _set_everyone(uow, old, False)
        if new_target == EVERYONE:
            _set_everyone(uow, old, True)

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        if ctx.is_system:
            return  # the object itself is going
        _refuse_default_external(uow, item)
        _refuse_in_use(uow, item)
        if item["action"] == EXTERNAL and not _other_grants(uow, item):
            _refuse_gateways(uow, item["object_id"])
        if item["target_tenant"] == EVERYONE:
            _set_everyone(uow, item, False)

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None


def _owned_object(uow: UnitOfWork, ctx: Context, item: Item) -> None:
    kind = Resource.declared(item["object_type"])
    found = crud.find(uow, kind, ctx, item["object_id"])
    if found is None:
        raise kind.not_found(item["object_id"])
    if found["project_id"] != ctx.project_id and not ctx.is_admin:
        raise errors.InvalidInput(
            error_message=f"Only admins can manipulate policies on {kind.plural.replace('_', ' ')}"
            " they do not own"
        )


def _refuse_pool_outside_scope(uow: UnitOfWork, item: Item) -> None:
    """Neutron's SubnetPool.validate_rbac_policy_create: a pool in an address scope is shared
    only with projects the scope is shared with, else they would carve subnets into a scope
    they may not use."""
    if item["object_type"] != "subnetpool":
        return
    pools = Resource.declared("subnetpool").table
    scope = uow.execute(
        sa.select(pools.c.address_scope_id).where(pools.c.id == item["object_id"])
    ).scalar()
    if scope and not grants.shared_with(uow, "address_scope", scope, item["target_tenant"]):
        raise errors.InvalidInput(
            error_message=f"Failed to create RBAC policy on object {item['object_id']} because "
            "target project doesn't have access to associated address scope"
        )


def _refuse_duplicate(uow: UnitOfWork, item: Item, target: str) -> None:
    row = uow.execute(
        sa.select(rbac.c.id).where(
            rbac.c.object_type == item["object_type"],
            rbac.c.object_id == item["object_id"],
            rbac.c.action == item["action"],
            rbac.c.target_tenant == target,
        )
    ).first()
    if row is not None:
        raise errors.DuplicateRbacPolicy()


def _set_everyone(uow: UnitOfWork, grant: Item, on: bool) -> None:
    """Keep an object's `*` column (a network's `shared` / `router:external`, a subnet
    pool's or an address scope's `shared`) equal to "a `*` grant exists"."""
    columns = EVERYONE_COLUMNS.get(grant["object_type"])
    if columns is None:
        return
    kind = Resource.declared(grant["object_type"])
    column = kind.column(columns[grant["action"]])
    uow.execute(
        kind.table.update().where(kind.column("id") == grant["object_id"]).values({column.name: on})
    )
    if "revision_number" in kind.attrs:  # an address scope has no standard attributes
        crud.bump_revisions(uow, kind, [grant["object_id"]])


def _others(grant: Item) -> sa.Select[Any]:
    """Targets of the other grants of the same action on the same object."""
    return sa.select(rbac.c.target_tenant).where(
        rbac.c.object_type == grant["object_type"],
        rbac.c.object_id == grant["object_id"],
        rbac.c.action == grant["action"],
        rbac.c.id != grant["id"],
    )


def _other_grants(uow: UnitOfWork, grant: Item) -> bool:
    return uow.execute(_others(grant).limit(1)).first() is not None


def _let_in(
    uow: UnitOfWork,
    grant: Item,
    project: sa.ColumnElement[Any],
    owner_too: bool = False,
    new_target: str | None = None,
) -> Any:
    """Condition on `project` (a column): the projects that only this grant lets in. The
    owner needs no grant to use its object, except (`owner_too`, as Neutron counts them) its
    routers' gateways: an external network is external by its grants. A grant being moved
    to `new_target` still lets that project in."""
    others = _others(grant)
    kind = Resource.declared(grant["object_type"])
    owner = uow.execute(
        sa.select(kind.column("project_id")).where(kind.column("id") == grant["object_id"])
    ).scalar()
    everyone_else = uow.execute(others.where(rbac.c.target_tenant == EVERYONE).limit(1)).first()
    if everyone_else is not None:
        return sa.false()
    if new_target == EVERYONE:
        return sa.false()
    outsider = project != ""
    if new_target is not None:
        outsider = sa.and_(outsider, project != new_target)
    if not owner_too:
        outsider = sa.and_(outsider, project != (owner or ""))
    if grant["target_tenant"] == EVERYONE:
        return sa.and_(outsider, project.not_in(others))
    return sa.and_(outsider, project == grant["target_tenant"])


def _refuse_in_use(uow: UnitOfWork, grant: Item, new_target: str | None = None) -> None:
    """RbacPolicyInUse if the grant (being withdrawn, or moved to `new_target`) is what
    lets some project keep what it has on the object."""
    oid = grant["object_id"]
    ports, subnets, fips = port.resource.table, subnet.resource.table, floatingip.table
    if grant["object_type"] == "address_scope":
        pools = Resource.declared("subnetpool").table
        users = sa.select(pools.c.id).where(
            pools.c.address_scope_id == oid, _let_in(uow, grant, pools.c.project_id)
        )
        found = [("subnetpool", users)]
    elif grant["object_type"] == "security_group":
        users = sa.select(ports.c.id).where(
            ports.c.id.in_(
                sa.select(port_security_groups.c.port_id).where(
                    port_security_groups.c.security_group_id == oid
                )
            ),
            _let_in(uow, grant, ports.c.project_id),
        )
        found = [("port", users)]
    elif grant["object_type"] == "subnetpool":
        found = [
            (
                "subnet",
                sa.select(subnets.c.id).where(
                    subnets.c.subnetpool_id == oid, _let_in(uow, grant, subnets.c.project_id)
                ),
            )
        ]
    elif grant["object_type"] == "address_group":
        rules = sg_rule.table
        found = [
            (
                "security_group_rule",
                sa.select(rules.c.id).where(
                    rules.c.remote_address_group_id == oid,
                    _let_in(uow, grant, rules.c.project_id),
                ),
            )
        ]
    elif grant["action"] == SHARED:
        found = [
            (
                "port",
                sa.select(ports.c.id).where(
                    ports.c.network_id == oid, _let_in(uow, grant, ports.c.project_id)
                ),
            ),
            (
                "subnet",
                sa.select(subnets.c.id).where(
                    subnets.c.network_id == oid, _let_in(uow, grant, subnets.c.project_id)
                ),
            ),
        ]
    else:
        routers = Resource.declared("router").table
        gateways = sa.select(ports.c.device_id).where(
            ports.c.network_id == oid, ports.c.device_owner == ROUTER_GATEWAY
        )
        found = [
            (
                "router",
                sa.select(routers.c.id).where(
                    routers.c.id.in_(gateways),
                    _let_in(uow, grant, routers.c.project_id, True, new_target),
                ),
            ),
            (
                "floatingip",
                sa.select(fips.c.id).where(
                    fips.c.floating_network_id == oid,
                    _let_in(uow, grant, fips.c.project_id, new_target=new_target),
                ),
            ),
        ]
    for what, stmt in found:
        row = uow.execute(stmt.limit(1)).first()
        if row is not None:
            raise errors.RbacPolicyInUse(object_id=oid, details=f"{what} {row[0]} depends on it")


def _refuse_default_external(uow: UnitOfWork, grant: Item) -> None:
    """Neutron's rule: the default external network (`is_default`, where "get me a
    network" puts every project's router) stays external to everyone, so its `*`
    access_as_external grant can be neither withdrawn nor narrowed."""
    if grant["action"] != EXTERNAL or grant["target_tenant"] != EVERYONE:
        return
    nets = Resource.declared("network").table
    default = uow.execute(
        sa.select(nets.c.is_default).where(nets.c.id == grant["object_id"])
    ).scalar()
    if default:
        raise errors.RbacPolicyInUse(
            object_id=grant["object_id"],
            details="Default external networks must be shared to everyone.",
        )


def _refuse_gateways(uow: UnitOfWork, network_id: str) -> None:
    """Neutron's ExternalNetworkInUse: a network that routers have their gateway on stays
    external."""
    ports = port.resource.table
    row = uow.execute(
        sa.select(ports.c.id)
        .where(ports.c.network_id == network_id, ports.c.device_owner == ROUTER_GATEWAY)
        .limit(1)
    ).first()
    if row is not None:
        raise errors.ExternalNetworkInUse(net_id=network_id)


# -- following other kinds -----------------------------------------------------------------


def _created(kind: str) -> events.Created:
    """`shared` / `router:external` set at create time are `*` grants, as in Neutron."""

    def handler(uow: UnitOfWork, ctx: Context, item: Item) -> None:
        columns = EVERYONE_COLUMNS[kind].items()
        grants = [_grant(kind, item, action) for action, attr in columns if item.get(attr)]
        if grants:
            uow.execute(rbac.insert(), grants)

    return handler


def _network_updating(uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
    if changes.get("router:external") is False and old.get("router:external"):
        _refuse_gateways(uow, old["id"])


def _updated(kind: str) -> events.Updated:
    """Turning a `*` column on grants to `*`; turning it off withdraws the `*` grant, and for
    `router:external` every external grant (Neutron: no longer external for anyone)."""

    def handler(uow: UnitOfWork, ctx: Context, old: Item, new: Item) -> None:
        for action, attr in EVERYONE_COLUMNS[kind].items():
            if bool(new.get(attr)) == bool(old.get(attr)):
                continue
            if new.get(attr):
                uow.execute(rbac.insert(), [_grant(kind, new, action)])
                continue
            withdrawn = rbac.delete().where(
                rbac.c.object_type == kind,
                rbac.c.object_id == new["id"],
                rbac.c.action == action,
            )
            if action != EXTERNAL:
                withdrawn = withdrawn.where(rbac.c.target_tenant == EVERYONE)
            uow.execute(withdrawn)

    return handler


def _object_deleting(kind: str) -> events.Deleting:
    def handler(uow: UnitOfWork, ctx: Context, item: Item) -> None:
        uow.execute(rbac.delete().where(rbac.c.object_type == kind, rbac.c.object_id == item["id"]))

    return handler


def _grant(kind: str, item: Item, action: str) -> Item:
    return {
        "id": crud.new_id(),
        "project_id": item["project_id"],
        "object_type": kind,
        "object_id": item["id"],
        "action": action,
        "target_tenant": EVERYONE,
        "created_at": None,
    }


def install() -> None:
    for kind in EVERYONE_COLUMNS:
        events.on_created(kind, _created(kind))
        events.on_updated(kind, _updated(kind))
    events.on_updating("network", _network_updating)
    for kind in ACTIONS:
        events.on_deleting(kind, _object_deleting(kind))
