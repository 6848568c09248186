"""Subnets' rules: CIDR, gateway, pool and IPv6 mode rules; each subnet is one IPAM pool."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alcor import errors
from alcor.ipam import errors as ipam_errors
from alcor.ipam import pools, prefixes
from alcor.ipam.tables import ipam_used
from alcor.resources import crud, grants, kinds
from alcor.resources.context import Context
from alcor.resources.declarations import network, port, subnetpool
from alcor.resources.declarations.rbac_policy import EXTERNAL, SHARED
from alcor.resources.declarations.subnet import AUTO_ADDRESS_MODES, resource
from alcor.resources.model import Conn, Hooks, Item, caller_project

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def default_pools(net: IpNet, gateway: str | None) -> list[tuple[int, int]]:
    """Neutron's default allocation pools: the CIDR minus network, broadcast (IPv4) and
    gateway addresses, as inclusive integer ranges."""
    first, last = int(net.network_address), int(net.broadcast_address)
    if first == last:
        return [(first, last)]
    lo, hi = first + 1, last - (1 if net.version == 4 else 0)
    if lo >= hi:
        return []
    if gateway is None:
        return [(lo, hi)]
    gw = int(ipaddress.ip_address(gateway))
    if not lo <= gw <= hi:
        return [(lo, hi)]
    return [r for r in ((lo, gw - 1), (gw + 1, hi)) if r[0] <= r[1]]


def pools_to_api(ranges: list[tuple[int, int]], version: int) -> list[dict[str, str]]:
    to_ip = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return [{"start": str(to_ip(a)), "end": str(to_ip(b))} for a, b in ranges]


def pools_from_api(pools_in: list[dict[str, str]], net: IpNet) -> list[tuple[int, int]]:
    """Validate client allocation pools against the CIDR; return sorted integer ranges."""
    ranges = []
    for pool in pools_in:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        if start.version != net.version or end.version != net.version or int(start) > int(end):
            raise errors.InvalidAllocationPool(
                f"The allocation pool {pool['start']}-{pool['end']} spans beyond the subnet cidr."
                if int(start) <= int(end)
                else None,
                pool=f"{pool['start']}-{pool['end']}",
            )
        bounds = (
            int(net.network_address) + (1 if net.num_addresses > 2 else 0),
            int(net.broadcast_address) - (1 if net.version == 4 and net.num_addresses > 2 else 0),
        )
        if int(start) < bounds[0] or int(end) > bounds[1]:
            raise errors.OutOfBoundsAllocationPool(
                pool=f"{pool['start']}-{pool['end']}", subnet_cidr=net
            )
        ranges.append((int(start), int(end)))
    ranges.sort()
    for (_a1, b1), (a2, _b2) in itertools.pairwise(ranges):
        if a2 <= b1:
            raise errors.OverlappingAllocationPools(subnet_cidr=net)
    return ranges


def _gateway_in_pools(gateway: str | None, ranges: list[tuple[int, int]]) -> bool:
    if gateway is None:
        return False
    gw = int(ipaddress.ip_address(gateway))
    return any(a <= gw <= b for a, b in ranges)


def _check_gateway(gateway: str | None, net: IpNet) -> None:
    if gateway is None:
        return
    gw = ipaddress.ip_address(gateway)
    if gw.version != net.version:
        raise errors.InvalidInput(
            f"Invalid input for operation: gateway_ip {gateway} does "
            f"not match the IP version of {net}."
        )
    if (
        gw in net
        and net.num_addresses > 2
        and (gw == net.network_address or (net.version == 4 and gw == net.broadcast_address))
    ):
        raise errors.InvalidInput(error_message=f"Gateway is not valid on subnet {net}")


def _check_ipv6_modes(item: Item, net: IpNet) -> None:
    """Neutron's IPv6 mode rules: none on IPv4 or without DHCP, the two modes equal when both
    are given, and EUI-64 addresses (SLAAC, DHCPv6-stateless) only in a /64."""
    ra, address = item.get("ipv6_ra_mode"), item.get("ipv6_address_mode")
    if not (ra or address):
        return
    if net.version == 4 or not item.get("enable_dhcp", True):
        raise errors.InvalidInput(
            error_message="ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp "
            "is set to False or ip_version is 4"
        )
    if ra and address and ra != address:
        raise errors.InvalidInput(
            error_message=f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to "
            f"'{address}' is not valid. If both attributes are set, they must be the same value"
        )
    if (address in AUTO_ADDRESS_MODES or ra in AUTO_ADDRESS_MODES) and net.prefixlen != 64:
        raise errors.InvalidInput(
            error_message=f"Invalid CIDR {net} for IPv6 address mode. OpenStack uses the "
            "EUI-64 address format, which requires the prefix to be /64"
        )


def _check_network_mtu(uow: UnitOfWork, ctx: Context, item: Item) -> None:
    """Neutron's _validate_subnet_network_mtu: no subnet on a network whose MTU is below
    the version's minimum (68 for any, 1280 for IPv6)."""
    t = network.resource.table
    mtu = uow.execute(sa.select(t.c.mtu).where(t.c.id == item["network_id"])).scalar()
    if not mtu or mtu >= network.SUBNET_MIN_MTU[6]:
        return
    if mtu < network.SUBNET_MIN_MTU[4]:
        raise errors.NetworkMTUSubnetConflict(
            net_id=item["network_id"], mtu=network.SUBNET_MIN_MTU[4]
        )
    if item["ip_version"] == 6:
        raise errors.NetworkMTUSubnetConflict(
            net_id=item["network_id"], mtu=network.SUBNET_MIN_MTU[6]
        )


def _bad(msg: str) -> errors.NeutronError:
    return errors.BadSubnetsRequest(msg=msg)


def _pool_id(uow: UnitOfWork, ctx: Context, item: Item) -> str | None:
    """The pool to carve from: the one named, or with `use_default_subnetpool` the default
    pool of the subnet's IP version (Neutron's _get_subnetpool_id)."""
    if item.get("use_default_subnetpool") and item.get("subnetpool_id"):
        raise _bad("subnetpool_id and use_default_subnetpool cannot both be specified")
    if item.get("subnetpool_id") or not item.get("use_default_subnetpool"):
        return item.get("subnetpool_id")
    version = item["ip_version"]
    if item.get("cidr"):
        version = ipaddress.ip_network(item["cidr"]).version
    t = subnetpool.resource.table
    stmt = sa.select(t.c.id).where(t.c.is_default.is_(True), t.c.ip_version == version)
    clause = crud.visibility(subnetpool.resource, ctx)
    if clause is not None:
        stmt = stmt.where(clause)
    row = uow.execute(stmt.limit(1), crud.caller(ctx, {})).first()
    if row is None:
        raise _bad(f"No default subnetpool found for IPv{version}")
    return str(row[0])


def _from_pool(uow: UnitOfWork, ctx: Context, item: Item) -> None:
    """Carve the subnet's CIDR from its pool (Neutron's SubnetAllocator), under the pool's
    row lock: every carve from one pool reads the pool's allocations only after the previous
    carve committed, so no two overlap, with any number of servers on one PostgreSQL (on
    SQLite one writer commits at a time)."""
    if item.get("cidr") is not None and item.get("prefixlen") is not None:
        raise _bad("cidr and prefixlen must not be supplied together")
    pool_id = _pool_id(uow, ctx, item)
    if pool_id is None:
        if item.get("cidr") is None:
            raise _bad("a subnetpool must be specified in the absence of a cidr")
        return
    if item.get("cidr") is None and item.get("allocation_pools") is not None:
        raise _bad("allocation_pools allowed only for specific subnet requests.")
    pool = crud.fetch(uow, subnetpool.resource, ctx, pool_id, for_update=True)
    if item["ip_version"] != pool["ip_version"]:
        raise _bad(
            f"Cannot allocate IPv{item['ip_version']} subnet from IPv{pool['ip_version']} "
            "subnet pool"
        )
    if item.get("cidr") is not None:
        prefixlen = ipaddress.ip_network(item["cidr"]).prefixlen
    else:
        prefixlen = item.get("prefixlen") or pool["default_prefixlen"]
    if prefixlen > pool["max_prefixlen"]:
        raise errors.MaxPrefixSubnetAllocationError(
            prefixlen=prefixlen, max_prefixlen=pool["max_prefixlen"]
        )
    if prefixlen < pool["min_prefixlen"]:
        raise errors.MinPrefixSubnetAllocationError(
            prefixlen=prefixlen, min_prefixlen=pool["min_prefixlen"]
        )
    _check_pool_quota(uow, pool, item["project_id"], prefixlen)
    free = prefixes.free_blocks(pool["prefixes"], subnetpool.allocated(uow, pool_id))
    if item.get("cidr") is None:
        placed = prefixes.place(free, prefixlen)
        if placed is None:
            raise errors.SubnetAllocationError(
                reason=f"Insufficient prefix space to allocate subnet size /{prefixlen}"
            )
        item["cidr"] = str(placed)
    elif not prefixes.fits(free, item["cidr"]):
        raise errors.SubnetAllocationError(
            reason="Cannot allocate requested subnet from the available set of prefixes"
        )
    item["subnetpool_id"] = pool_id


def _check_pool_quota(uow: UnitOfWork, pool: Item, project_id: str, prefixlen: int) -> None:
    """The pool's `default_quota`: per project, in addresses (IPv4) or /64s (IPv6)."""
    quota = pool["default_quota"]
    if not quota:
        return
    t = resource.table
    held = uow.execute(
        sa.select(t.c.cidr).where(t.c.subnetpool_id == pool["id"], t.c.project_id == project_id)
    )
    version = pool["ip_version"]
    used = sum(
        prefixes.quota_units(n.prefixlen, version) for n in prefixes.networks(r[0] for r in held)
    )
    if used + prefixes.quota_units(prefixlen, version) > quota:
        raise errors.SubnetPoolQuotaExceeded()


def _check_pool_affinity(uow: UnitOfWork, item: Item, version: int) -> None:
    """Neutron's NetworkSubnetPoolAffinityError: a network's subnets of one IP version all
    come from the same pool (or none)."""
    t = resource.table
    rows = uow.execute(
        sa.select(t.c.subnetpool_id).where(
            t.c.network_id == item["network_id"], t.c.ip_version == version
        )
    )
    if any(r[0] != item.get("subnetpool_id") for r in rows):
        raise errors.NetworkSubnetPoolAffinityError()


Filter = Callable[[list[str]], sa.ColumnElement[bool]]


def _network_flag_filter(name: str, networks: sa.Select[Any] | sa.CompoundSelect[Any]) -> Filter:
    """`<name>=true|false` of subnets: a flag that is their network's (`networks`: the ids of
    networks that have it)."""

    def clause(values: list[str]) -> sa.ColumnElement[bool]:
        wanted = set()
        for value in values:
            try:
                wanted.add(kinds.Bool().parse(name, value))
            except errors.NeutronError:
                raise errors.BadRequest(
                    f"Invalid value '{kinds.shown(value)}' for filter {name}"
                ) from None
        flagged = resource.table.c.network_id.in_(networks)
        if wanted == {True}:
            return flagged
        return sa.not_(flagged) if wanted == {False} else sa.true()

    return clause


_NETS = network.resource.table
# Neutron's subnet `shared`, a hidden attribute that is its network's flag (a subnet has no
# sharing of its own).
shared_filter = _network_flag_filter(
    "shared", sa.select(_NETS.c.id).where(_NETS.c.shared.is_(True))
)
# `subnet-external-network`: a subnet's `router:external` is its network's, external to
# everyone (`*`) or to some project by RBAC.
_EXTERNAL_NETS = sa.union(
    sa.select(_NETS.c.id).where(_NETS.c.router_external.is_(True)),
    grants.granted_to_any("network", EXTERNAL),
)
external_filter = _network_flag_filter("router:external", _EXTERNAL_NETS)


class SubnetHooks(Hooks):
    """CIDR, gateway and pool rules; each subnet is one IPAM pool (pool id = subnet id)."""

    def visible(self) -> sa.ColumnElement[bool]:
        t = resource.table
        nets = network.resource.table
        return sa.or_(
            t.c.project_id == caller_project(),
            t.c.network_id.in_(
                sa.select(nets.c.id).where(
                    sa.or_(nets.c.shared.is_(True), nets.c.router_external.is_(True))
                )
            ),
            t.c.network_id.in_(grants.granted_ids("network", (SHARED, EXTERNAL))),
        )

    def filters(self) -> dict[str, Filter]:
        return {"shared": shared_filter, "router:external": external_filter}

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        nets = {it["network_id"] for it in items}
        if not nets:
            return
        ext = _EXTERNAL_NETS.subquery()
        found = conn.execute(sa.select(ext.c.id).where(ext.c.id.in_(sorted(nets))))
        external = {r[0] for r in found}
        for it in items:
            it["router:external"] = it["network_id"] in external

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        _from_pool(uow, ctx, item)
        _check_network_mtu(uow, ctx, item)
        net = ipaddress.ip_network(item["cidr"])
        if net.version != item["ip_version"]:
            raise errors.InvalidInput(
                error_message=f"Cidr {item['cidr']} does not match ip_version {item['ip_version']}"
            )
        _check_ipv6_modes(item, net)
        self._check_overlap(uow, item["network_id"], net, None)
        _check_pool_affinity(uow, item, net.version)
        if "gateway_ip" not in item:
            item["gateway_ip"] = str(net.network_address + 1) if net.num_addresses > 2 else None
        _check_gateway(item["gateway_ip"], net)
        self._check_routes(item, net)
        if item.get("allocation_pools") is None:
            ranges = default_pools(net, item["gateway_ip"])
        else:
            ranges = pools_from_api(item["allocation_pools"], net)
            if _gateway_in_pools(item["gateway_ip"], ranges):
                raise errors.GatewayConflictWithAllocationPools(ip_address=item["gateway_ip"])
        item["allocation_pools"] = pools_to_api(ranges, net.version)
        pools.ensure_pool(uow, item["id"], ranges)

    def _check_overlap(
        self, uow: UnitOfWork, network_id: str, net: IpNet, own_id: str | None
    ) -> None:
        t = resource.table
        rows = uow.execute(sa.select(t.c.id, t.c.cidr).where(t.c.network_id == network_id))
        for row in rows:
            sid, cidr = row.id, row.cidr
            other = ipaddress.ip_network(cidr)
            if sid != own_id and other.version == net.version and other.overlaps(net):
                raise errors.InvalidInput(
                    error_message=f"Requested subnet with cidr: {net} for network: "
                    f"{network_id} overlaps with another subnet"
                )

    def _check_routes(self, item: Item, net: IpNet) -> None:
        for route in item.get("host_routes") or []:
            dest = ipaddress.ip_network(route["destination"])
            hop = ipaddress.ip_address(route["nexthop"])
            if dest.version != net.version or hop.version != net.version:
                raise errors.InvalidInput(
                    error_message=f"host route {route} does not match the subnet's IP version"
                )
        for ns in item.get("dns_nameservers") or []:
            if ipaddress.ip_address(ns).version != net.version:
                raise errors.InvalidInput(
                    error_message=f"DNS nameserver {ns} does not match the subnet's IP version"
                )

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        net = ipaddress.ip_network(old["cidr"])
        gateway = changes.get("gateway_ip", old["gateway_ip"])
        _check_gateway(gateway, net)
        self._check_routes({**old, **changes}, net)
        if "enable_dhcp" in changes:
            _check_ipv6_modes({**old, **changes}, net)
        if "allocation_pools" in changes:
            ranges = pools_from_api(changes["allocation_pools"], net)
            changes["allocation_pools"] = pools_to_api(ranges, net.version)
        else:
            ranges = pools_from_api(old["allocation_pools"], net)
        if _gateway_in_pools(gateway, ranges):
            raise errors.GatewayConflictWithAllocationPools(ip_address=gateway)
        if "gateway_ip" in changes and gateway != old["gateway_ip"]:
            _check_gateway_free(uow, old)
        if "gateway_ip" in changes and gateway is not None and gateway != old["gateway_ip"]:
            owner = pools.owner_of(uow, old["id"], int(ipaddress.ip_address(gateway)))
            if owner is not None:
                raise errors.GatewayIpInUse(ip_address=gateway, port_id=owner)
        if "allocation_pools" in changes:
            pools.update_pool(uow, old["id"], ranges)

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        if item["ipv6_address_mode"] in AUTO_ADDRESS_MODES:
            _drop_auto_addresses(uow, item["id"])
        if pools.used_count(uow, item["id"]) > 0:
            raise errors.SubnetInUse(subnet_id=item["id"])
        with contextlib.suppress(ipam_errors.PoolNotFound):
            pools.delete_pool(uow, item["id"])


ROUTER_INTERFACE_OWNERS = tuple(o for o in port.ROUTER_OWNERS if o != port.ROUTER_GATEWAY)


def _check_gateway_free(uow: UnitOfWork, old: Item) -> None:
    """Neutron: the gateway IP may not move (or go) while a router interface holds it."""
    if old["gateway_ip"] is None:
        return
    owner = pools.owner_of(uow, old["id"], int(ipaddress.ip_address(old["gateway_ip"])))
    if owner is None:
        return
    p = port.resource.table
    held = uow.execute(
        sa.select(p.c.id).where(p.c.id == owner, p.c.device_owner.in_(ROUTER_INTERFACE_OWNERS))
    ).first()
    if held is not None:
        raise errors.GatewayIpInUse(ip_address=old["gateway_ip"], port_id=owner)


def _drop_auto_addresses(uow: UnitOfWork, subnet_id: str) -> None:
    """Neutron deletes an auto-address subnet under the ports that use it: their EUI-64
    addresses there go (through an update of each port, so their hosts hear of it). Router
    ports keep theirs, so a subnet on a router stays in use."""
    p = port.resource.table
    owners = sa.select(ipam_used.c.owner).where(ipam_used.c.pool_id == subnet_id)
    rows = uow.execute(
        sa.select(p.c.id, p.c.fixed_ips).where(
            p.c.id.in_(owners), p.c.device_owner.not_like("network:%")
        )
    ).all()
    system = Context.system()
    for port_id, fixed_ips in rows:
        kept = [f for f in crud.json_value(fixed_ips) or [] if f["subnet_id"] != subnet_id]
        crud.update(uow, port.resource, system, port_id, {"fixed_ips": kept})
