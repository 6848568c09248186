"""Networks: Neutron's network resource (with provider, external-net, MTU, port security)."""

from __future__ import annotations

import sqlalchemy as sa

from alcor.resources import kinds
from alcor.resources.model import Attr, Resource, availability_zones

# Overlay types: each network's segmentation id comes from one id space shared by all of
# them, because a host carries every overlay's key in the same tunnel-key field (a VXLAN 5
# and a Geneve 5 network would merge on a host).
OVERLAY_TYPES = ("vxlan", "geneve")
# Provider types on a physical network (a host reaches it through `bridge_mappings`); their
# segments are reserved per physical network, never drawn from the overlay id space.
PHYSNET_TYPES = ("flat",)
# Neutron's MTU when none is asked for: the 1500-byte physical MTU, less 50 bytes of VXLAN
# (or Geneve) encapsulation on an overlay.
# It is also the largest MTU a network of the type may ask for (ML2's max_mtu).
DEFAULT_MTU = {"vxlan": 1450, "geneve": 1450, "flat": 1500}
# How hosts learn the network's neighbours (`alcor.southbound.ondemand`): "auto" by the
# server's `neighbor_on_demand_threshold`, "preload" every host holds the whole table,
# "on_demand" hosts resolve the neighbours their VMs talk to at the first packet.
NEIGHBOR_RESOLUTIONS = ("auto", "preload", "on_demand")
# Neutron's IPV4_MIN_MTU and IPV6_MIN_MTU: a network below them takes no subnet of the
# version (NetworkMTUSubnetConflict); the network itself may have any MTU up to its max.
SUBNET_MIN_MTU = {4: 68, 6: 1280}

resource = Resource(
    "network",
    "networks",
    [
        Attr("admin_state_up", kinds.Bool(), post=True, put=True, default=True),
        Attr("status", kinds.Str(16), default="ACTIVE"),
        Attr("shared", kinds.Bool(), post=True, put=True, default=False),
        # No static default: it depends on the network type (`DEFAULT_MTU`, rules).
        # Neutron's non-negative integer; 0 asks for the default, more than the network
        # type allows is refused by the rules.
        Attr("mtu", kinds.Int(0), post=True, put=True),
        Attr("router:external", kinds.Bool(), post=True, put=True, default=False),
        # the default external network of `auto-allocated-topology` (one at most)
        Attr("is_default", kinds.Bool(), post=True, put=True, default=False),
        Attr("port_security_enabled", kinds.Bool(), post=True, put=True, default=True),
        Attr(
            "provider:network_type",
            kinds.Enum(*OVERLAY_TYPES, *PHYSNET_TYPES),
            post=True,
            default="vxlan",
        ),
        Attr(
            "provider:physical_network",
            kinds.Str(64),
            post=True,
            nullable=True,
            default=None,
        ),
        Attr(
            "provider:segmentation_id",
            kinds.Int(1, 16777215),
            post=True,
            nullable=True,
            default=None,
        ),
        Attr("dns_domain", kinds.Str(255), post=True, put=True, default=""),
        Attr(
            "alcor:neighbor_resolution",
            kinds.Enum(*NEIGHBOR_RESOLUTIONS),
            post=True,
            put=True,
            default="auto",
        ),
        *availability_zones(),
        Attr("subnets", kinds.list_of(kinds.Uuid()), stored=False, filter=False, sort=False),
        Attr("ipv4_address_scope", kinds.Uuid(), stored=False, filter=False, sort=False),
        Attr("ipv6_address_scope", kinds.Uuid(), stored=False, filter=False, sort=False),
        Attr("l2_adjacency", kinds.Bool(), stored=False, filter=False, sort=False),
    ],
    extensions=(
        "provider",
        "external-net",
        "net-mtu",
        "net-mtu-writable",
        "port-security",
        "dns-integration",
        "l2_adjacency",
        "network_availability_zone",
        "alcor-on-demand-neighbors",
    ),
    quota="network",
    table_args=(sa.UniqueConstraint("provider_network_type", "provider_segmentation_id"),),
)
