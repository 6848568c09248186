"""Subnets: the declaration of Neutron's subnet resource and its rules."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.ipam import errors as ipam_errors
from alcor.ipam import pools
from alcor.resources import kinds, network_acl
from alcor.resources.context import Context
from alcor.resources.model import Attr, Hooks, Resource
from alcor.store.db import UnitOfWork

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")

resource = Resource(
    "subnet",
    "subnets",
    [
        Attr("network_id", kinds.Uuid(), post=True, required=True, index=True),
        Attr("ip_version", kinds.IntChoice(4, 6), post=True, required=True),
        Attr("cidr", kinds.Cidr(), post=True),
        Attr("subnetpool_id", kinds.Uuid(), post=True, nullable=True, default=None),
        Attr("gateway_ip", kinds.IpAddress(), post=True, put=True, nullable=True),
        Attr(
            "allocation_pools",
            kinds.dict_list(
                {"start": kinds.IpAddress(), "end": kinds.IpAddress()}, required=("start", "end")
            ),
            post=True,
            put=True,
            filter=False,
        ),
        Attr("dns_nameservers", kinds.list_of(kinds.IpAddress()), post=True, put=True, default=[]),
        Attr(
            "host_routes",
            kinds.dict_list(
                {"destination": kinds.Cidr(), "nexthop": kinds.IpAddress()},
                required=("destination", "nexthop"),
            ),
            post=True,
            put=True,
            default=[],
            filter=False,
        ),
        Attr("enable_dhcp", kinds.Bool(), post=True, put=True, default=True),
        Attr("ipv6_ra_mode", kinds.Enum(*IPV6_MODES), post=True, nullable=True, default=None),
        Attr("ipv6_address_mode", kinds.Enum(*IPV6_MODES), post=True, nullable=True, default=None),
        Attr("service_types", kinds.list_of(kinds.Str(255)), post=True, put=True, default=[]),
        Attr("segment_id", kinds.Uuid(), post=True, nullable=True, default=None),
        Attr("dns_publish_fixed_ip", kinds.Bool(), post=True, put=True, default=False),
    ],
    extensions=("subnet-service-types",),
    quota="subnet",
)


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
            raise errors.typed(
                errors.BadRequest,
                "InvalidAllocationPool",
                f"The allocation pool {pool['start']}-{pool['end']} spans beyond the subnet cidr."
                if int(start) <= int(end)
                else f"The allocation pool {pool['start']}-{pool['end']} is not valid.",
            )
        bounds = (
            int(net.network_address) + (1 if net.num_addresses > 2 else 0),
            int(net.broadcast_address) - (1 if net.version == 4 and net.num_addresses > 2 else 0),
        )
        if int(start) < bounds[0] or int(end) > bounds[1]:
            raise errors.typed(
                errors.BadRequest,
                "OutOfBoundsAllocationPool",
                f"The allocation pool {pool['start']}-{pool['end']} spans "
                f"beyond the subnet cidr {net}.",
            )
        ranges.append((int(start), int(end)))
    ranges.sort()
    for (_a1, b1), (a2, _b2) in itertools.pairwise(ranges):
        if a2 <= b1:
            raise errors.typed(
                errors.BadRequest,
                "OverlappingAllocationPools",
                f"Found overlapping allocation pools for subnet {net}.",
            )
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
        raise errors.typed(
            errors.BadRequest,
            "InvalidInput",
            f"Invalid input for operation: Gateway is not valid on subnet {net}.",
        )


class SubnetHooks(Hooks):
    """CIDR, gateway and pool rules; each subnet is one IPAM pool (pool id = subnet id)."""

    def visible(self, ctx: Context) -> sa.ColumnElement[bool]:
        t = resource.table
        nets = network_table()
        return sa.or_(
            t.c.project_id == ctx.project_id,
            t.c.network_id.in_(
                sa.select(nets.c.id).where(
                    sa.or_(nets.c.shared.is_(True), nets.c.router_external.is_(True))
                )
            ),
        )

    def before_create(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        nets = network_table()
        query = sa.select(nets.c.id, nets.c.project_id, nets.c.shared).where(
            nets.c.id == item["network_id"]
        )
        net_row = uow.execute(query).first()
        if net_row is None or (not ctx.is_admin and net_row.project_id != ctx.project_id):
            raise errors.not_found("network", item["network_id"])
        if item.get("cidr") is None:
            raise errors.BadRequest(
                "Failed to parse request. Required attribute 'cidr' not specified"
                if item.get("subnetpool_id") is None
                else "Subnet pools are not supported by this server."
            )
        net = ipaddress.ip_network(item["cidr"])
        if net.version != item["ip_version"]:
            raise errors.InvalidInput(
                "Invalid input for operation: Cidr "
                f"{item['cidr']} does not match ip_version "
                f"{item['ip_version']}."
            )
        if net.version == 4 and (item.get("ipv6_ra_mode") or item.get("ipv6_address_mode")):
            raise errors.InvalidInput(
                "Invalid input for operation: ipv6_ra_mode or "
                "ipv6_address_mode cannot be set when enable_dhcp is "
                "set to False or ip_version is 4."
            )
        self._check_overlap(uow, item["network_id"], net, None)
        if "gateway_ip" not in item:
            item["gateway_ip"] = str(net.network_address + 1) if net.num_addresses > 2 else None
        _check_gateway(item["gateway_ip"], net)
        self._check_routes(item, net)
        if item.get("allocation_pools") is None:
            ranges = default_pools(net, item["gateway_ip"])
        else:
            ranges = pools_from_api(item["allocation_pools"], net)
            if _gateway_in_pools(item["gateway_ip"], ranges):
                raise errors.typed(
                    errors.Conflict,
                    "GatewayConflictWithAllocationPools",
                    f"Gateway ip {item['gateway_ip']} conflicts with allocation pool",
                )
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
                    f"Invalid input for operation: Requested subnet "
                    f"with cidr: {net} for network: {network_id} "
                    "overlaps with another subnet."
                )

    def _check_routes(self, item: dict[str, Any], net: IpNet) -> None:
        for route in item.get("host_routes") or []:
            dest = ipaddress.ip_network(route["destination"])
            hop = ipaddress.ip_address(route["nexthop"])
            if dest.version != net.version or hop.version != net.version:
                raise errors.InvalidInput(
                    f"Invalid input for operation: host route "
                    f"{route} does not match the subnet's IP version."
                )
        for ns in item.get("dns_nameservers") or []:
            if ipaddress.ip_address(ns).version != net.version:
                raise errors.InvalidInput(
                    f"Invalid input for operation: DNS nameserver {ns} "
                    "does not match the subnet's IP version."
                )

    def before_update(
        self, uow: UnitOfWork, ctx: Context, old: dict[str, Any], changes: dict[str, Any]
    ) -> None:
        net = ipaddress.ip_network(old["cidr"])
        gateway = changes.get("gateway_ip", old["gateway_ip"])
        _check_gateway(gateway, net)
        self._check_routes({**old, **changes}, net)
        if "allocation_pools" in changes:
            ranges = pools_from_api(changes["allocation_pools"], net)
            changes["allocation_pools"] = pools_to_api(ranges, net.version)
        else:
            ranges = pools_from_api(old["allocation_pools"], net)
        if _gateway_in_pools(gateway, ranges):
            raise errors.typed(
                errors.Conflict,
                "GatewayConflictWithAllocationPools",
                f"Gateway ip {gateway} conflicts with allocation pool",
            )
        if "gateway_ip" in changes and gateway is not None and gateway != old["gateway_ip"]:
            owner = pools.owner_of(uow, old["id"], int(ipaddress.ip_address(gateway)))
            if owner is not None:
                raise errors.typed(
                    errors.Conflict,
                    "GatewayIpInUse",
                    f"Current gateway ip {gateway} already in use by port "
                    f"{owner}. Unable to update.",
                )
        if "allocation_pools" in changes:
            pools.update_pool(uow, old["id"], ranges)

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        if pools.used_count(uow, item["id"]) > 0:
            raise errors.typed(
                errors.Conflict,
                "SubnetInUse",
                f"Unable to complete operation on subnet {item['id']}: One or "
                "more ports have an IP allocation from this subnet.",
            )
        with contextlib.suppress(ipam_errors.PoolNotFound):
            pools.delete_pool(uow, item["id"])
        network_acl.forget_subnet(uow, item["id"])


def network_table() -> sa.Table:
    from alcor.resources.network import resource as network

    return network.table
