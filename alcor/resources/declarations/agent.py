"""Agents: Neutron's `/v2.0/agents` view of the hypervisors (the `hosts` table).

Agents register themselves over NATS (see `alcor.southbound`); admins read them here, can
disable a host (`admin_state_up`), describe or delete it, and (an Alcor addition, as the
original node manager allowed) pre-register hosts singly or in bulk with a POST.
"""

from __future__ import annotations

from alcor.resources import kinds
from alcor.resources.model import Attr, Resource
from alcor.store.schema import hosts

AGENT_TIME = "%Y-%m-%d %H:%M:%S"

resource = Resource(
    "agent",
    "agents",
    [
        Attr("id", kinds.Uuid(), sort=True),
        Attr("host", kinds.Str(255), post=True, required=True, db_column="host_id"),
        Attr("agent_type", kinds.Str(64), post=True, default="Open vSwitch agent"),
        Attr("binary", kinds.Str(64), post=True, default="alcor-agent"),
        Attr("topic", kinds.Str(64), default="N/A"),
        Attr("admin_state_up", kinds.Bool(), post=True, put=True, default=True),
        Attr("description", kinds.Str(255), post=True, put=True, default=""),
        Attr("availability_zone", kinds.Str(255), post=True, nullable=True, default=None),
        Attr("configurations", kinds.Json(kinds.json_object), post=True, default={}, filter=False),
        Attr("tunnel_ip", kinds.IpAddress(), post=True, nullable=True, default=None),
        Attr("created_at", kinds.Timestamp(AGENT_TIME)),
        Attr("started_at", kinds.Timestamp(AGENT_TIME)),
        Attr("heartbeat_timestamp", kinds.Timestamp(AGENT_TIME), db_column="heartbeat_at"),
        Attr("alive", kinds.Bool(), stored=False, sort=False),
        Attr("resources_synced", kinds.Bool(), stored=False, filter=False, sort=False),
    ],
    table=hosts,
    standard=False,
    project_scoped=False,
    taggable=False,
    logged=False,
    # The zones themselves: `alcor.resources.availability_zones`.
    extensions=("agent", "agent_sort_key", "availability_zone", "availability_zone_filter"),
)
