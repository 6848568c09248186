"""Subnet pools' rules: Neutron's prefix and bound checks, one default pool per IP version,
prefix edits that never drop an allocated prefix, and onboarding a network's subnets.

Every edit of a pool's prefixes locks the pool's row (`crud.update` reads it FOR UPDATE), the
same lock a subnet carve holds (`rules.subnet`), so a prefix removal and a carve from it never
pass each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor import errors
from alcor.ipam import prefixes
from alcor.resources import crud, grants
from alcor.resources.context import Context
from alcor.resources.declarations import address_scope, network, port, subnet
from alcor.resources.declarations.rbac_policy import SHARED
from alcor.resources.declarations.subnetpool import PREFIXES, allocated, resource
from alcor.resources.model import Action, Conn, Hooks, Item, caller_project

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

_BOUNDS = ("min_prefixlen", "max_prefixlen", "default_prefixlen")
# uow.cache key: `remove_prefixes` is shrinking this pool (an update may only grow it)
_SHRINKING = "subnetpool_shrinking"


def _read_prefixes(item: Item) -> None:
    """Compact the prefixes and derive `ip_version` (SubnetPoolReader._read_prefix_info)."""
    given = item["prefixes"] or []
    if not given:
        raise errors.EmptySubnetPoolPrefixList()
    if len({ip.version for ip in prefixes.networks(given)}) > 1:
        raise errors.PrefixVersionMismatch()
    item["prefixes"] = prefixes.compact(given)
    item["ip_version"] = prefixes.networks(given)[0].version


def _read_bounds(item: Item) -> None:
    """Default and check min <= default <= max <= the version's width, with Neutron's
    errors (SubnetPoolHelper)."""
    version = item["ip_version"]
    if item.get("min_prefixlen") is None:
        item["min_prefixlen"] = prefixes.DEFAULT_MIN_PREFIXLEN[version]
    if item.get("max_prefixlen") is None:
        item["max_prefixlen"] = prefixes.MAX_PREFIXLEN[version]
    if item.get("default_prefixlen") is None:
        item["default_prefixlen"] = item["min_prefixlen"]
    lo, hi, default = (item[k] for k in _BOUNDS)
    checks = (
        ("min_prefixlen", lo, "max_prefixlen", hi, lo > hi),
        (
            "max_prefixlen",
            hi,
            "ip_version_max",
            prefixes.MAX_PREFIXLEN[version],
            hi > prefixes.MAX_PREFIXLEN[version],
        ),
        ("default_prefixlen", default, "min_prefixlen", lo, default < lo),
        ("default_prefixlen", default, "max_prefixlen", hi, default > hi),
    )
    for kind, value, base, base_value, bad in checks:
        if bad:
            raise errors.IllegalSubnetPoolPrefixBounds(
                prefix_type=kind, prefixlen=value, base_prefix_type=base, base_prefixlen=base_value
            )


def _check_default_unique(uow: UnitOfWork, item: Item) -> None:
    t = resource.table
    found = uow.execute(
        sa.select(t.c.id).where(
            t.c.is_default.is_(True), t.c.ip_version == item["ip_version"], t.c.id != item["id"]
        )
    ).first()
    if found is not None:
        raise errors.InvalidInput(
            error_message="A default subnetpool for this IP family has already been set. Only "
            "one default may exist per IP family"
        )


def _prefix_body(body: Item) -> list[str]:
    if not isinstance(body, dict) or set(body) != {"prefixes"}:
        raise errors.BadRequest("The request body must be {'prefixes': [...]}")
    return list(PREFIXES.check("prefixes", body["prefixes"]))


def _add_prefixes(uow: UnitOfWork, ctx: Context, rid: str, body: Item) -> Item:
    wanted = _prefix_body(body)
    pool = crud.fetch(uow, resource, ctx, rid, for_update=True)
    if wanted:
        pool = crud.update(uow, resource, ctx, rid, {"prefixes": pool["prefixes"] + wanted})
    return {"prefixes": pool["prefixes"]}


def _remove_prefixes(uow: UnitOfWork, ctx: Context, rid: str, body: Item) -> Item:
    """Neutron's remove_prefixes: prefixes outside the pool are a no-op, an allocated one is
    refused, the rest is the pool's address space less the removed ones."""
    wanted = _prefix_body(body)
    pool = crud.fetch(uow, resource, ctx, rid, for_update=True)
    if not wanted or not prefixes.overlaps(pool["prefixes"], wanted):
        return {"prefixes": pool["prefixes"]}
    if prefixes.overlaps(allocated(uow, rid), wanted):
        raise errors.IllegalSubnetPoolPrefixUpdate(
            msg="One or more the prefixes to be removed is in use by a subnet."
        )
    kept = [str(b) for b in prefixes.free_blocks(pool["prefixes"], wanted)]
    uow.cache[(_SHRINKING, rid)] = True
    item = crud.update(uow, resource, ctx, rid, {"prefixes": prefixes.compact(kept)})
    return {"prefixes": item["prefixes"]}


def _onboard(uow: UnitOfWork, ctx: Context, rid: str, body: Item) -> list[Item]:
    """Neutron's onboard_network_subnets: the network's subnets of the pool's IP version join
    the pool, their CIDRs joining its prefixes, unless one overlaps an allocation."""
    net_id = body.get("network_id") if isinstance(body, dict) else None
    if not net_id:
        raise errors.InvalidInput(error_message="network_id must be specified.")
    net = crud.find(uow, network.resource, ctx, str(net_id))
    if net is None:
        raise network.resource.not_found(str(net_id))
    if not ctx.is_admin and net["project_id"] != ctx.project_id:
        raise errors.NotAuthorized()
    pool = crud.fetch(uow, resource, ctx, rid, for_update=True)
    s = subnet.resource.table
    rows = uow.execute(
        sa.select(s.c.id, s.c.cidr, s.c.subnetpool_id)
        .where(s.c.network_id == net["id"], s.c.ip_version == pool["ip_version"])
        .order_by(s.c.created_at, s.c.id)
    ).all()
    taken = allocated(uow, rid)
    joining = [r for r in rows if r.subnetpool_id != rid]
    for r in joining:
        if prefixes.overlaps([r.cidr], taken):
            raise errors.IllegalSubnetPoolUpdate(
                reason=f"Onboarding subnet {r.id}: {r.cidr} conflicts with allocated prefixes "
                f"in subnet pool {rid}"
            )
    crud.update(uow, resource, ctx, rid, {"prefixes": pool["prefixes"] + [r.cidr for r in joining]})
    system = Context.system()
    for r in joining:
        crud.update(uow, subnet.resource, system, r.id, {"subnetpool_id": rid})
    _republish_routers(uow, [r.id for r in joining])
    return [{"id": r.id, "cidr": r.cidr} for r in rows]


def _join_scope(uow: UnitOfWork, pool: Item) -> None:
    """Neutron's `_validate_address_scope_id`: the scope is of the pool's IP version, and no
    other pool of the scope overlaps this one's prefixes (checked under the scope's row lock,
    so two pools joining one scope at once never both pass)."""
    scope_id = pool.get("address_scope_id")
    if not scope_id:
        return
    scope = crud.fetch(uow, address_scope.resource, Context.system(), scope_id, for_update=True)
    if scope["ip_version"] != pool["ip_version"]:
        raise errors.IllegalSubnetPoolIpVersionAssociationToAddressScope(
            subnetpool_id=pool["id"], address_scope_id=scope_id, ip_version=scope["ip_version"]
        )
    t = resource.table
    others = uow.execute(
        sa.select(t.c.prefixes).where(t.c.address_scope_id == scope_id, t.c.id != pool["id"])
    )
    if any(prefixes.overlaps(row.prefixes, pool["prefixes"]) for row in others):
        raise errors.AddressScopePrefixConflict()


def _refuse_in_others_scope(uow: UnitOfWork, ctx: Context, pool: Item) -> None:
    """Neutron's `_check_subnetpool_update_allowed`: a pool in an address scope another
    project owns (shared with the pool's owner) changes only by an admin, since its prefixes
    are the scope owner's address space."""
    scope_id = pool.get("address_scope_id")
    if not scope_id or ctx.is_admin or ctx.is_system:
        return
    t = address_scope.resource.table
    owner = uow.execute(sa.select(t.c.project_id).where(t.c.id == scope_id)).scalar()
    if owner != ctx.project_id:
        raise errors.IllegalSubnetPoolUpdate(
            reason=f"subnetpool {pool['id']} cannot be updated when associated with shared "
            f"address scope {scope_id}"
        )


def _republish_routers(uow: UnitOfWork, subnet_ids: list[str]) -> None:
    """Log the routers with an interface on these subnets: their interfaces' address scope
    changed, so their hosts must hear it."""
    if not subnet_ids:
        return
    s, p = subnet.resource.table, port.resource.table
    nets = sa.select(s.c.network_id).where(s.c.id.in_(subnet_ids))
    rows = uow.execute(
        sa.select(p.c.device_id, p.c.fixed_ips).where(
            p.c.device_owner == port.ROUTER_INTERFACE, p.c.network_id.in_(nets)
        )
    )
    wanted = set(subnet_ids)
    for router_id in sorted(
        {r.device_id for r in rows if wanted & {f["subnet_id"] for f in r.fixed_ips or []}}
    ):
        uow.log("router", router_id, "update", 0)


def _pool_subnets(uow: UnitOfWork, pool_id: str) -> list[str]:
    s = subnet.resource.table
    return [r[0] for r in uow.execute(sa.select(s.c.id).where(s.c.subnetpool_id == pool_id))]


class SubnetPoolHooks(Hooks):
    """Prefixes, bounds, the default pool, shared visibility, prefix actions."""

    def visible(self) -> sa.ColumnElement[bool]:
        t = resource.table
        return sa.or_(
            t.c.project_id == caller_project(),
            t.c.shared.is_(True),
            t.c.id.in_(grants.granted_ids("subnetpool", (SHARED,))),
        )

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        grants.mark_shared(conn, "subnetpool", ctx.project_id, items)

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        _read_prefixes(item)
        _read_bounds(item)
        if item["is_default"]:
            _check_default_unique(uow, item)
        _join_scope(uow, item)

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        _refuse_in_others_scope(uow, ctx, old)
        new = {**old, **changes}
        if "prefixes" in changes:
            shrinking = uow.cache.get((_SHRINKING, old["id"]), False)
            if not shrinking and not prefixes.covers(changes["prefixes"], old["prefixes"]):
                raise errors.IllegalSubnetPoolPrefixUpdate(
                    msg="Existing prefixes must be a subset of the new prefixes"
                )
            _read_prefixes(new)
            changes["prefixes"] = new["prefixes"]
            if new["ip_version"] != old["ip_version"]:
                raise errors.PrefixVersionMismatch()
        _read_bounds(new)
        if new["is_default"] and not old["is_default"]:
            _check_default_unique(uow, new)
        if {"prefixes", "address_scope_id"} & changes.keys():
            _join_scope(uow, new)
        if new["address_scope_id"] != old["address_scope_id"]:
            # Neutron's network affinity check needs nothing here: a network's subnets of one
            # IP version all come from one pool (NetworkSubnetPoolAffinityError), so they move
            # between scopes together.
            _republish_routers(uow, _pool_subnets(uow, old["id"]))

    def actions(self) -> dict[str, Action]:
        return {
            "add_prefixes": _add_prefixes,
            "remove_prefixes": _remove_prefixes,
            "onboard_network_subnets": _onboard,
        }

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None
