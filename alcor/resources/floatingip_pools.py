"""`floatingip-pools`: GET /v2.0/floatingip_pools, where floating IPs can come from.

Neutron's FloatingIPPoolsDbMixin: every IPv4 subnet of an external network whose service
types admit floating IPs (none given, or `network:floatingip` among them). A read-only view
computed from subnets and networks, so it has no table, declaration or hooks of its own.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from alcor.resources.declarations import network, subnet

FLOATINGIP_SERVICE = "network:floatingip"


def pools(conn: sa.Connection) -> list[dict[str, Any]]:
    s, n = subnet.resource.table, network.resource.table
    rows = conn.execute(
        sa.select(s.c.id, s.c.name, s.c.network_id, s.c.project_id, s.c.cidr, s.c.service_types)
        .join(n, n.c.id == s.c.network_id)
        .where(n.c.router_external.is_(True), s.c.ip_version == 4)
        .order_by(s.c.created_at, s.c.id)
    )
    return [
        {
            "subnet_id": r.id,
            "subnet_name": r.name,
            "network_id": r.network_id,
            "project_id": r.project_id,
            "tenant_id": r.project_id,
            "cidr": r.cidr,
        }
        for r in rows
        if not r.service_types or FLOATINGIP_SERVICE in r.service_types
    ]
