"""Agents' rules: `alive` from the heartbeat, exactly as Neutron's agent_down_time rule."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor.config import ServerSettings
from alcor.resources import kinds
from alcor.resources.context import Context
from alcor.resources.model import Conn, Hooks, Item
from alcor.store.schema import hosts

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork


class AgentHooks(Hooks):
    """`alive` is derived from the heartbeat, exactly as Neutron's agent_down_time rule."""

    def __init__(self, settings: ServerSettings) -> None:
        self.down_time = settings.agent_down_time

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        if item.get("tunnel_ip"):
            item["configurations"] = {**item["configurations"], "tunneling_ip": item["tunnel_ip"]}

    def filters(self) -> dict[str, Callable[[list[str]], sa.ColumnElement[bool]]]:
        def alive(values: list[str]) -> sa.ColumnElement[bool]:
            wanted = kinds.Bool().check("alive", values[-1])
            fresh = hosts.c.heartbeat_at >= time.time() - self.down_time
            return fresh if wanted else sa.or_(hosts.c.heartbeat_at.is_(None), sa.not_(fresh))

        return {"alive": alive}

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        now = time.time()
        for it in items:
            beat = it.get("heartbeat_timestamp")
            it["alive"] = beat is not None and beat >= now - self.down_time
            it["resources_synced"] = None
