"""Floating IPs: addresses of an external network, NATed to a port's fixed IP.

A floating IP holds its address directly (the external subnet's IPAM pool records the
floating IP as owner) instead of through a `network:floatingip` port, so creating one is an
allocation and a row, not a port with a MAC. Deleting the external network deletes its
floating IPs (as Neutron does); deleting a port disassociates them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alcor.resources import kinds
from alcor.resources.declarations import port
from alcor.resources.model import Attr, Conn, Ref, Resource, parent

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

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
        Attr("port_forwardings", kinds.Json(), stored=False, filter=False, sort=False),
    ],
    omit=("name",),
    extensions=("fip-port-details", "floatingip-pools"),  # the pools: `floatingip_pools`
    quota="floatingip",
    table_args=(
        sa.UniqueConstraint("floating_network_id", "floating_ip_address"),
        sa.UniqueConstraint("floating_network_id", "port_id", "fixed_ip_address"),
    ),
)


def router_for(
    conn: Conn | UnitOfWork, network_id: str, subnet_id: str, floating_network_id: str
) -> str | None:
    """The router with an interface on `subnet_id` (of `network_id`) and its gateway on the
    floating network: the one that NATs a floating IP of that network to an address of the
    subnet (an association or a port forwarding)."""
    p = port.resource.table
    gw = p.alias("gw")
    stmt = resource.statement(
        "router_for",
        lambda: (
            sa.select(p.c.device_id, p.c.fixed_ips)
            .join(gw, gw.c.device_id == p.c.device_id)
            .where(
                p.c.network_id == sa.bindparam("net"),
                p.c.device_owner == port.ROUTER_INTERFACE,
                gw.c.network_id == sa.bindparam("fnet"),
                gw.c.device_owner == port.ROUTER_GATEWAY,
            )
            .order_by(p.c.device_id)
        ),
    )
    rows: Any = conn.execute(stmt, {"net": network_id, "fnet": floating_network_id}).all()
    for router_id, fixed in rows:
        if any(f["subnet_id"] == subnet_id for f in fixed or []):
            return str(router_id)
    return None
