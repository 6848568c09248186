"""Networks' rules: segments (overlay ids, flat physical networks), shared/external
visibility, sharing changes.

What goes with a network when it is deleted (its subnets, its ACLs, the floating IPs of an
external network) and what keeps it (ports) is declared on those kinds' references to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor import errors
from alcor.config import ServerSettings
from alcor.ipam import errors as ipam_errors
from alcor.ipam import pools
from alcor.resources import availability_zones, grants
from alcor.resources.declarations import network, port, subnet, subnetpool
from alcor.resources.declarations.rbac_policy import EXTERNAL, SHARED
from alcor.resources.model import Conn, Hooks, Item, caller_project

if TYPE_CHECKING:
    from alcor.resources.context import Context
    from alcor.store.db import UnitOfWork

# Every overlay type draws from this one pool (it keeps the name it had before Geneve
# shared it); Geneve networks made before then hold their id in LEGACY_GENEVE_POOL.
OVERLAY_POOL = "vni:vxlan"
LEGACY_GENEVE_POOL = "vni:geneve"


def flat_pool(physical_network: str) -> str:
    """The one-value pool that a flat network of `physical_network` holds (ML2's
    `ml2_flat_allocations` row): the allocator's row locks make "one flat network per
    physical network" hold under concurrent creates on any number of servers."""
    return f"flat:{physical_network}"


def flat_networks(spec: str) -> list[str] | None:
    """Parse `flat_networks` as ML2 does: None = any name ("*"), [] = flat disabled."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    return None if "*" in names else names


def vni_ranges(spec: str) -> list[tuple[int, int]]:
    """Parse `vni_ranges` ("1:1000,5000:6000") into inclusive ranges."""
    ranges = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition(":")
        ranges.append((int(lo), int(hi or lo)))
    return ranges


class NetworkHooks(Hooks):
    """Segmentation id allocation, shared/external visibility, sharing changes."""

    def __init__(self, settings: ServerSettings) -> None:
        self.vni_ranges = vni_ranges(settings.vni_ranges)
        self.flat_networks = flat_networks(settings.flat_networks)

    def visible(self) -> sa.ColumnElement[bool]:
        t = network.resource.table
        return sa.or_(
            t.c.project_id == caller_project(),
            t.c.shared.is_(True),
            t.c.router_external.is_(True),
            t.c.id.in_(grants.granted_ids("network", (SHARED, EXTERNAL))),
        )

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        availability_zones.check_hints(uow, item.get("availability_zone_hints"))
        net_type = item["provider:network_type"]
        if net_type == "flat":
            self._reserve_flat(uow, item)
        else:
            self._reserve_overlay(uow, item)
        item["mtu"] = _checked_mtu(item.get("mtu"), net_type)

    def _reserve_flat(self, uow: UnitOfWork, item: Item) -> None:
        """ML2's flat type driver: validation (same order, same messages) and reservation."""
        physnet = item.get("provider:physical_network")
        if not physnet:
            raise errors.InvalidInput(
                error_message="physical_network required for flat provider network"
            )
        if self.flat_networks is not None and not self.flat_networks:
            raise errors.InvalidInput(error_message="Flat provider networks are disabled")
        if self.flat_networks and physnet not in self.flat_networks:
            raise errors.InvalidInput(
                error_message=f"physical_network '{physnet}' unknown for flat provider network"
            )
        if item.get("provider:segmentation_id"):
            raise errors.InvalidInput(
                error_message="segmentation_id prohibited for flat provider network"
            )
        pool = flat_pool(physnet)
        pools.ensure_pool(uow, pool, [(0, 0)])
        try:
            pools.allocate(uow, pool, item["id"], 0)
        except ipam_errors.ValueInUse:
            raise errors.FlatNetworkInUse(physical_network=physnet) from None

    def _reserve_overlay(self, uow: UnitOfWork, item: Item) -> None:
        """A tunnel id from the shared overlay pool (explicit or any free one)."""
        if item.get("provider:physical_network"):
            raise errors.InvalidInput(
                error_message="provider:physical_network specified for "
                f"{item['provider:network_type']} network"
            )
        pools.ensure_pool(uow, OVERLAY_POOL, self.vni_ranges)
        wanted = item.get("provider:segmentation_id")
        try:
            item["provider:segmentation_id"] = pools.allocate(uow, OVERLAY_POOL, item["id"], wanted)
        except ipam_errors.ValueInUse:
            raise errors.SegmentationIdInUse(seg_id=wanted) from None
        except ipam_errors.OutOfRange:
            raise errors.InvalidInput(
                error_message=f"segmentation_id {wanted} is outside the configured VNI ranges"
            ) from None
        except ipam_errors.PoolExhausted:
            raise errors.NoNetworkAvailable() from None

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        if "mtu" in changes:
            changes["mtu"] = _checked_mtu(changes["mtu"], old["provider:network_type"])
            _check_subnets_fit(uow, old["id"], changes["mtu"])
        if changes.get("shared") is False and old["shared"]:
            ports = port.resource.table
            other = uow.execute(
                sa.select(ports.c.id)
                .where(
                    ports.c.network_id == old["id"],
                    ports.c.project_id != old["project_id"],
                    ports.c.device_owner.not_like("network:%"),
                )
                .limit(1)
            ).first()
            if other is not None:
                raise errors.InvalidSharedSetting(network=old["id"])

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        if item["provider:network_type"] == "flat":
            pools.release(uow, flat_pool(item["provider:physical_network"]), 0, item["id"])
            return
        value, owner = item["provider:segmentation_id"], item["id"]
        pool = OVERLAY_POOL
        if (
            item["provider:network_type"] == "geneve"
            and pools.owner_of(uow, OVERLAY_POOL, value) != owner
        ):
            pool = LEGACY_GENEVE_POOL
        pools.release(uow, pool, value)

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        if not items:
            return
        subnets = subnet.resource.table
        by_net: dict[str, list[str]] = {it["id"]: [] for it in items}
        pools = subnetpool.resource.table
        rows = conn.execute(
            sa.select(
                subnets.c.network_id, subnets.c.id, subnets.c.ip_version, pools.c.address_scope_id
            )
            .select_from(subnets.outerjoin(pools, pools.c.id == subnets.c.subnetpool_id))
            .where(subnets.c.network_id.in_(list(by_net)))
            .order_by(subnets.c.created_at, subnets.c.id)
        )
        scopes: dict[tuple[str, int], str] = {}  # the scope of a network's subnets of a version
        for net_id, sid, version, scope in rows:
            by_net[net_id].append(sid)
            if scope:
                scopes[(net_id, version)] = scope
        _per_caller(conn, ctx, items)
        zones = availability_zones.of_networks(conn, by_net)
        for it in items:
            it["subnets"] = by_net[it["id"]]
            it["availability_zones"] = zones.get(it["id"], [])
            it["ipv4_address_scope"] = scopes.get((it["id"], 4))
            it["ipv6_address_scope"] = scopes.get((it["id"], 6))
            it["l2_adjacency"] = True

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return item["id"], None


def _per_caller(conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
    """Neutron's `shared` is "shared with the caller's project" (a grant to it or to `*`),
    and `router:external` is "some project may use it as external"."""
    pending = [it["id"] for it in items if not (it["shared"] and it["router:external"])]
    found = grants.of_objects(conn, "network", pending)
    if not found:
        return
    shared = {
        r.object_id for r in found if r.action == SHARED and r.target_tenant == ctx.project_id
    }
    external = {r.object_id for r in found if r.action == EXTERNAL}
    for it in items:
        it["shared"] = bool(it["shared"]) or it["id"] in shared
        it["router:external"] = bool(it["router:external"]) or it["id"] in external


def _checked_mtu(mtu: int | None, net_type: str) -> int:
    """ML2's network MTU: none or 0 is the type's largest, more than that a 400."""
    largest = network.DEFAULT_MTU[net_type]
    if not mtu:
        return largest
    if mtu > largest:
        raise errors.InvalidInput(error_message=f"Requested MTU is too big, maximum is {largest}")
    return mtu


def _check_subnets_fit(uow: UnitOfWork, network_id: str, mtu: int) -> None:
    """Neutron's _validate_change_network_mtu: an MTU too small for a subnet the network
    already has is a 409."""
    if mtu >= network.SUBNET_MIN_MTU[6]:
        return
    t = subnet.resource.table
    versions = {
        v for (v,) in uow.execute(sa.select(t.c.ip_version).where(t.c.network_id == network_id))
    }
    if versions and mtu < network.SUBNET_MIN_MTU[4]:
        raise errors.NetworkMTUSubnetConflict(net_id=network_id, mtu=network.SUBNET_MIN_MTU[4])
    if 6 in versions:
        raise errors.NetworkMTUSubnetConflict(net_id=network_id, mtu=network.SUBNET_MIN_MTU[6])
