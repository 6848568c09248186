"""Networks: the declaration of Neutron's network resource and its rules."""

from __future__ import annotations

from alcor.resources import kinds
from alcor.resources.model import Attr, Resource

resource = Resource(
    "network",
    "networks",
    [
        Attr("admin_state_up", kinds.Bool(), post=True, put=True, default=True),
        Attr("status", kinds.Str(16), default="ACTIVE"),
        Attr("shared", kinds.Bool(), post=True, put=True, default=False),
        Attr("mtu", kinds.Int(68, 9000), post=True, put=True, default=1450),
        Attr("router:external", kinds.Bool(), post=True, put=True, default=False),
        Attr("port_security_enabled", kinds.Bool(), post=True, put=True, default=True),
        Attr("provider:network_type", kinds.Enum("vxlan", "geneve"), post=True,
             admin_only=True, default="vxlan"),
        Attr("provider:physical_network", kinds.Str(64), post=True, admin_only=True,
             nullable=True, default=None),
        Attr("provider:segmentation_id", kinds.Int(1, 16777215), post=True, admin_only=True,
             nullable=True, default=None, unique=True),
        Attr("dns_domain", kinds.Str(255), post=True, put=True, default=""),
        Attr("availability_zone_hints", kinds.list_of(kinds.Str(255)), post=True, default=[],
             filter=False),
        Attr("subnets", kinds.list_of(kinds.Uuid()), stored=False, filter=False, sort=False),
        Attr("availability_zones", kinds.list_of(kinds.Str(255)), stored=False, filter=False),
        Attr("ipv4_address_scope", kinds.Uuid(), stored=False, filter=False, sort=False),
        Attr("ipv6_address_scope", kinds.Uuid(), stored=False, filter=False, sort=False),
        Attr("l2_adjacency", kinds.Bool(), stored=False, filter=False, sort=False),
    ],
    extensions=("network", "provider", "external-net", "net-mtu", "net-mtu-writable",
                "port-security", "dns-domain-ports", "availability_zone", "l2_adjacency"),
)
