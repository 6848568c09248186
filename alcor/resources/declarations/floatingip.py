"""Floating IPs: addresses of an external network, NATed to a port's fixed IP.

A floating IP holds its address directly (the external subnet's IPAM pool records the
floating IP as owner) instead of through a `network:floatingip` port, so creating one is an
allocation and a row, not a port with a MAC. Deleting the external network deletes its
floating IPs (as Neutron does); deleting a port disassociates them.
"""

from __future__ import annotations

import sqlalchemy as sa

from alcor.resources import kinds
from alcor.resources.model import Attr, Ref, Resource, parent

resource = Resource(
    "floatingip",
    "floatingips",
    [
        Attr("floating_ip_address", kinds.IpAddress(), post=True),
        parent("floating_network_id", "network", on_delete="cascade"),
        Attr(
            "subnet_id",
            kinds.Uuid(),
            post=True,
            nullable=True,
            default=None,
            visible=False,
            filter=False,
            sort=False,
            ref=Ref("subnet"),
        ),
        Attr(
            "port_id",
            kinds.Uuid(),
            post=True,
            put=True,
            nullable=True,
            default=None,
            index=True,
            ref=Ref("port", on_delete="clear"),
        ),
        Attr(
            "fixed_ip_address", kinds.IpAddress(), post=True, put=True, nullable=True, default=None
        ),
        Attr("router_id", kinds.Uuid(), nullable=True, default=None, index=True),
        Attr("status", kinds.Str(16), default="DOWN"),
        Attr("port_details", kinds.Json(), stored=False, filter=False, sort=False),
    ],
    omit=("name",),
    extensions=("fip-port-details", "floatingip-pools"),  # the pools: `floatingip_pools`
    quota="floatingip",
    table_args=(
        sa.UniqueConstraint("floating_network_id", "floating_ip_address"),
        sa.UniqueConstraint("floating_network_id", "port_id", "fixed_ip_address"),
    ),
)
