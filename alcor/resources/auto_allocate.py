""" "Get me a network" (`auto-allocated-topology`): what Nova asks for on `--nic auto`.

`GET /v2.0/auto-allocated-topology/{project}` answers the project's network, making it on
first ask as Neutron's `auto_allocate` service does: a network with one subnet from each
default subnet pool (IPv4, IPv6), a router with its gateway on the default external network
(`is_default`) and an interface on each subnet. Here it is one unit of work, so a failure
leaves nothing behind (Neutron cleans up by hand) and two concurrent first asks cannot both
make one (the second's insert of the project's row fails and its transaction rolls back; its
retry then finds the first's). `?fields=dry-run` only checks that it could; `DELETE` removes
the topology. Deleting the network or the router by hand forgets it, as Neutron's foreign
keys do (the network takes the record along, the router only its reference).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, events
from alcor.resources.context import Context
from alcor.resources.declarations import network, router, subnet, subnetpool
from alcor.resources.declarations.auto_allocated_topology import topologies
from alcor.resources.model import Item
from alcor.store.db import UnitOfWork

DRY_RUN = "dry-run"


def _project(ctx: Context, project_id: str) -> str:
    """The project asked for ("None" from clients that sent none: the caller's), which only an
    admin may name for another project."""
    if project_id == "None":
        project_id = ctx.project_id
    if not ctx.is_admin and project_id != ctx.project_id:
        raise errors.NeutronNotAuthorized()
    return project_id


def _default_external(uow: UnitOfWork) -> str:
    nets = network.resource.table
    found = uow.execute(
        sa.select(nets.c.id)
        .where(nets.c.is_default.is_(True), nets.c.router_external.is_(True))
        .order_by(nets.c.created_at)
        .limit(1)
    ).first()
    if found is None:
        raise errors.AutoAllocationFailure(reason="No default router:external network")
    return str(found[0])


def _default_pools(uow: UnitOfWork, ctx: Context) -> list[sa.Row[Any]]:
    """The default subnet pools the caller may use, IPv4 first."""
    pools = subnetpool.resource.table
    stmt = sa.select(pools.c.id, pools.c.ip_version).where(pools.c.is_default.is_(True))
    visible = crud.visibility(subnetpool.resource, ctx)
    if visible is not None:
        stmt = stmt.where(visible)
    stmt = stmt.order_by(pools.c.ip_version, pools.c.created_at)
    rows = uow.execute(stmt, crud.caller(ctx, {})).all()
    firsts: dict[int, sa.Row[Any]] = {}
    for row in rows:
        firsts.setdefault(row.ip_version, row)
    return [firsts[v] for v in sorted(firsts)]


def _existing(uow: UnitOfWork, project_id: str) -> sa.Row[Any] | None:
    return uow.execute(sa.select(topologies).where(topologies.c.project_id == project_id)).first()


def get(uow: UnitOfWork, ctx: Context, project_id: str, fields: list[str]) -> dict[str, Any]:
    """The project's topology (made now if it has none); `fields=dry-run` checks only."""
    project_id = _project(ctx, project_id)
    ctx.policy.enforce(ctx, "get_auto_allocated_topology", {"project_id": project_id})
    if DRY_RUN in fields:
        _default_external(uow)
        if not _default_pools(uow, ctx):
            raise errors.AutoAllocationFailure(reason="No default subnetpools defined")
        return {"id": "dry-run=pass", "project_id": project_id}
    if fields:
        raise errors.BadAutoAllocateRequest(msg="Unrecognized field")
    found = _existing(uow, project_id)
    if found is not None:
        return {"id": found.network_id, "project_id": project_id}
    external = _default_external(uow)
    pools = _default_pools(uow, ctx)
    if not pools:
        raise errors.AutoAllocationFailure(reason="Unable to provide project private network")
    system = Context.system(project_id)
    try:
        net = _make(uow, system, network.resource, {"name": "auto_allocated_network"})
        subnets = [
            _make(
                uow,
                system,
                subnet.resource,
                {
                    "name": f"auto_allocated_subnet_v{pool.ip_version}",
                    "network_id": net["id"],
                    "ip_version": pool.ip_version,
                    "subnetpool_id": pool.id,
                },
            )
            for pool in pools
        ]
    except (errors.BadRequest, errors.NotFound, errors.Conflict):
        raise errors.AutoAllocationFailure(
            reason="Unable to provide project private network"
        ) from None
    try:
        made = _make(
            uow,
            system,
            router.resource,
            {"name": "auto_allocated_router", "external_gateway_info": {"network_id": external}},
        )
        attach = router.resource.hooks.actions()["add_router_interface"]
        for sub in subnets:
            attach(uow, system, made["id"], {"subnet_id": sub["id"]})
    except (errors.BadRequest, errors.Conflict):
        raise errors.AutoAllocationFailure(
            reason="Unable to provide external connectivity"
        ) from None
    uow.execute(
        topologies.insert().values(
            project_id=project_id, network_id=net["id"], router_id=made["id"]
        )
    )
    return {"id": net["id"], "project_id": project_id}


def _make(uow: UnitOfWork, ctx: Context, res: Any, body: Item) -> Item:
    return crud.create(uow, res, ctx, crud.check_body(res, ctx, body, creating=True))


def delete(uow: UnitOfWork, ctx: Context, project_id: str) -> None:
    """DELETE: the router's interfaces, the router and the network go (nothing if none)."""
    project_id = _project(ctx, project_id)
    ctx.policy.enforce(ctx, "delete_auto_allocated_topology", {"project_id": project_id})
    found = _existing(uow, project_id)
    if found is None:
        return
    system = Context.system(project_id)
    uow.execute(topologies.delete().where(topologies.c.project_id == project_id))
    if found.router_id:
        detach = router.resource.hooks.actions()["remove_router_interface"]
        subs = subnet.resource.table
        for (sid,) in uow.execute(
            sa.select(subs.c.id).where(subs.c.network_id == found.network_id)
        ):
            detach(uow, system, found.router_id, {"subnet_id": sid})
        crud.delete(uow, router.resource, system, found.router_id)
    crud.delete(uow, network.resource, system, found.network_id)


# -- the default external network, and forgetting a topology whose parts are deleted ---------
def _check_default(uow: UnitOfWork, net: Item) -> None:
    """Neutron: one default external network at any time (`is_default` means nothing on a
    network that is not external)."""
    if not (net.get("is_default") and net.get("router:external")):
        return
    nets = network.resource.table
    other = uow.execute(
        sa.select(nets.c.id)
        .where(
            nets.c.is_default.is_(True),
            nets.c.router_external.is_(True),
            nets.c.id != net.get("id", ""),
        )
        .limit(1)
    ).first()
    if other is not None:
        raise errors.DefaultExternalNetworkExists(net_id=other[0])


def _creating(uow: UnitOfWork, ctx: Context, items: list[Item]) -> None:
    for item in items:
        _check_default(uow, item)


def _updating(uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
    if {"is_default", "router:external"} & changes.keys():
        _check_default(uow, {**old, **changes})


def _network_deleting(uow: UnitOfWork, ctx: Context, item: Item) -> None:
    uow.execute(topologies.delete().where(topologies.c.network_id == item["id"]))


def _router_deleting(uow: UnitOfWork, ctx: Context, item: Item) -> None:
    uow.execute(
        topologies.update().where(topologies.c.router_id == item["id"]).values(router_id=None)
    )


def install() -> None:
    events.on_creating("network", _creating)
    events.on_updating("network", _updating)
    events.on_deleting("network", _network_deleting)
    events.on_deleting("router", _router_deleting)
