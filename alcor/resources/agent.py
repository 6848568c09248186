"""Agents: Neutron's `/v2.0/agents` view of the hypervisors (the `hosts` table).

Agents register themselves over NATS (see `alcor.southbound`); admins read them here, can
disable a host (`admin_state_up`), describe or delete it, and (an Alcor addition, as the
original node manager allowed) pre-register hosts singly or in bulk with a POST.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from alcor.config import ServerSettings
from alcor.resources import kinds
from alcor.resources.context import Context
from alcor.resources.model import Attr, Hooks, Resource
from alcor.store.db import UnitOfWork
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
    admin_only=True,
    logged=False,
    extensions=("agent",),
)


class AgentHooks(Hooks):
    """`alive` is derived from the heartbeat, exactly as Neutron's agent_down_time rule."""

    def __init__(self, settings: ServerSettings) -> None:
        self.down_time = settings.agent_down_time

    def before_create(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        if item.get("tunnel_ip"):
            item["configurations"] = {**item["configurations"], "tunneling_ip": item["tunnel_ip"]}

    def filters(self) -> dict[str, Any]:
        def alive(values: list[str]) -> Any:
            wanted = kinds.Bool().check("alive", values[-1])
            fresh = hosts.c.heartbeat_at >= time.time() - self.down_time
            return fresh if wanted else sa.or_(hosts.c.heartbeat_at.is_(None), sa.not_(fresh))

        return {"alive": alive}

    def extend(self, conn: Any, ctx: Context, items: list[dict[str, Any]]) -> None:
        now = time.time()
        for it in items:
            beat = it.get("heartbeat_timestamp")
            it["alive"] = beat is not None and beat >= now - self.down_time
            it["resources_synced"] = None
