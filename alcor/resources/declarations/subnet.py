"""Subnets: Neutron's subnet resource (IPv4/IPv6, pools, host routes, DHCP, service types)."""

from __future__ import annotations

from alcor import errors
from alcor.resources import kinds
from alcor.resources.model import Attr, Ref, Resource, parent

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")

resource = Resource(
    "subnet",
    "subnets",
    [
        parent("network_id", "network", on_delete="cascade", revises=True),
        Attr("ip_version", kinds.IntChoice(4, 6), post=True, required=True),
        Attr("cidr", kinds.Cidr(host_bits=True), post=True),
        Attr(
            "subnetpool_id",
            kinds.Uuid(),
            post=True,
            nullable=True,
            default=None,
            index=True,
            ref=Ref(
                "subnetpool",
                in_use=lambda _: errors.SubnetPoolDeleteError(
                    reason="Subnet pool has existing allocations"
                ),
            ),
        ),
        # Requests only (`subnet_allocation`, `default-subnetpools`): the size of the subnet
        # to carve from the pool, and whether to carve it from the default pool.
        Attr("prefixlen", kinds.Int(0), post=True, stored=False, visible=False, filter=False),
        Attr(
            "use_default_subnetpool",
            kinds.Bool(),
            post=True,
            stored=False,
            visible=False,
            filter=False,
        ),
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
        Attr(
            "dns_nameservers",
            kinds.list_of(kinds.IpAddress()),
            post=True,
            put=True,
            default=[],
            null_is_empty=True,
        ),
        Attr(
            "host_routes",
            kinds.dict_list(
                {"destination": kinds.Cidr(), "nexthop": kinds.IpAddress()},
                required=("destination", "nexthop"),
            ),
            post=True,
            put=True,
            default=[],
            null_is_empty=True,
            filter=False,
        ),
        Attr("enable_dhcp", kinds.Bool(), post=True, put=True, default=True),
        Attr("ipv6_ra_mode", kinds.Enum(*IPV6_MODES), post=True, nullable=True, default=None),
        Attr("ipv6_address_mode", kinds.Enum(*IPV6_MODES), post=True, nullable=True, default=None),
        Attr("service_types", kinds.list_of(kinds.Str(255)), post=True, put=True, default=[]),
        Attr("segment_id", kinds.Uuid(), post=True, nullable=True, default=None),
        Attr("dns_publish_fixed_ip", kinds.Bool(), post=True, put=True, default=False),
        # its network's `router:external` (`subnet-external-network`)
        Attr("router:external", kinds.Bool(), stored=False, default=False, sort=False),
    ],
    extensions=("subnet-service-types", "subnet-external-network"),
    quota="subnet",
)

# Address modes in which a port's address is the EUI-64 of its MAC, not an allocation.
AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")
